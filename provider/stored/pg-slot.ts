// The provider of every PgSlot in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/pg-slot.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { pgSlotOperations } from "../postgres/pg-slot";
import { engineProvider } from "../operations-provider";

export = engineProvider(pgSlotOperations);
