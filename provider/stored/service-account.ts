// The provider of every ServiceAccount in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/service-account.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { serviceAccountOperations } from "../gcp/service-account";
import { engineProvider } from "../operations-provider";

export = engineProvider(serviceAccountOperations);
