// The provider of every Bucket in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/bucket.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { bucketOperations } from "../gcp/bucket";
import { engineProvider } from "../operations-provider";

export = engineProvider(bucketOperations);
