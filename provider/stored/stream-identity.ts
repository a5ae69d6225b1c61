// The provider of every StreamIdentity in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/stream-identity.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { streamIdentityOperations } from "../stream-identity";
import { engineProvider } from "../operations-provider";

export = engineProvider(streamIdentityOperations);
