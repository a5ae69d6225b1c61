// The provider of every CustomRole in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/custom-role.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { customRoleOperations } from "../gcp/custom-role";
import { engineProvider } from "../operations-provider";

export = engineProvider(customRoleOperations);
