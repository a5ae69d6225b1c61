// The provider of every Changefeed in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/changefeed.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { changefeedOperations } from "../cockroach/changefeed";
import { engineProvider } from "../operations-provider";

export = engineProvider(changefeedOperations);
