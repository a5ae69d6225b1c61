// The provider of every PubSubSubscription in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/pubsub-subscription.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { pubsubSubscriptionOperations } from "../gcp/pubsub-subscription";
import { engineProvider } from "../operations-provider";

export = engineProvider(pubsubSubscriptionOperations);
