// The provider of every PgRole in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/pg-role.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { pgRoleOperations } from "../postgres/pg-role";
import { engineProvider } from "../operations-provider";

export = engineProvider(pgRoleOperations);
