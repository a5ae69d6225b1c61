// The provider of every SecretManagerSecret in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/secret-manager-secret.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { secretManagerSecretOperations } from "../gcp/secret-manager-secret";
import { engineProvider } from "../operations-provider";

export = engineProvider(secretManagerSecretOperations);
