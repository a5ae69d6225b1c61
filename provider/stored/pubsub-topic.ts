// The provider of every PubSubTopic in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/pubsub-topic.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { pubsubTopicOperations } from "../gcp/pubsub-topic";
import { engineProvider } from "../operations-provider";

export = engineProvider(pubsubTopicOperations);
