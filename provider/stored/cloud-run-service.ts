// The provider of every CloudRunService in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/cloud-run-service.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { cloudRunServiceOperations } from "../gcp/cloud-run-service";
import { engineProvider } from "../operations-provider";

export = engineProvider(cloudRunServiceOperations);
