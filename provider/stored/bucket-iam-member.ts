// The provider of every BucketIamMember in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/bucket-iam-member.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { bucketIamMemberOperations } from "../gcp/bucket-iam-member";
import { engineProvider } from "../operations-provider";

export = engineProvider(bucketIamMemberOperations);
