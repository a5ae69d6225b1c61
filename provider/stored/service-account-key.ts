// The provider of every ServiceAccountKey in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/service-account-key.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { serviceAccountKeyOperations } from "../gcp/service-account-key";
import { engineProvider } from "../operations-provider";

export = engineProvider(serviceAccountKeyOperations);
