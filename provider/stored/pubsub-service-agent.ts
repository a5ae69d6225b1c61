// The provider of every PubSubServiceAgent in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/pubsub-service-agent.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { pubsubServiceAgentOperations } from "../gcp/pubsub-service-agent";
import { engineProvider } from "../operations-provider";

export = engineProvider(pubsubServiceAgentOperations);
