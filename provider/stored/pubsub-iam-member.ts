// The provider of every PubSubIamMember in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/pubsub-iam-member.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { pubsubIamMemberOperations } from "../gcp/pubsub-iam-member";
import { engineProvider } from "../operations-provider";

export = engineProvider(pubsubIamMemberOperations);
