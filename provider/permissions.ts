// The permissions the deploying identity (gcp:credentials, or ADC) needs, per resource and operation,
// assembled from the rows each resource's file declares beside its operations. Least privilege: a
// custom role with exactly DEPLOYER_PERMISSIONS runs the whole lifecycle (test/e2e/least-privilege.test.ts
// checks both ways against the emulator's IAM: every call is allowed, and every permission listed is used).
import type { Permissions } from "./engine/contract";
import { BUCKET_PERMISSIONS } from "./gcp/bucket";
import { SERVICE_ACCOUNT_PERMISSIONS } from "./gcp/service-account";
import { CUSTOM_ROLE_PERMISSIONS } from "./gcp/custom-role";
import { BUCKET_IAM_MEMBER_PERMISSIONS } from "./gcp/bucket-iam-member";
import { SERVICE_ACCOUNT_KEY_PERMISSIONS } from "./gcp/service-account-key";
import { BIGQUERY_DATASET_PERMISSIONS } from "./gcp/bigquery-dataset";
import { BIGQUERY_TABLE_PERMISSIONS } from "./gcp/bigquery-table";
import { BIGQUERY_NATIVE_TABLE_PERMISSIONS } from "./gcp/bigquery-native-table";
import { BIGQUERY_VIEW_PERMISSIONS } from "./gcp/bigquery-view";
import { PUBSUB_TOPIC_PERMISSIONS } from "./gcp/pubsub-topic";
import { PUBSUB_SUBSCRIPTION_PERMISSIONS } from "./gcp/pubsub-subscription";
import { PUBSUB_SERVICE_AGENT_PERMISSIONS } from "./gcp/pubsub-service-agent";
import { PUBSUB_IAM_MEMBER_PERMISSIONS } from "./gcp/pubsub-iam-member";
import { CHANGEFEED_PERMISSIONS, CHANGEFEED_PUBSUB_PERMISSIONS } from "./cockroach/changefeed";
import { SECRET_MANAGER_SECRET_PERMISSIONS } from "./gcp/secret-manager-secret";
import { CLOUD_RUN_SERVICE_PERMISSIONS } from "./gcp/cloud-run-service";

type ByResource = Record<string, Record<string, string[]>>;

const copy = (rows: Record<string, Permissions>): ByResource =>
  Object.fromEntries(Object.entries(rows).map(([r, ops]) => [r, Object.fromEntries(Object.entries(ops).map(([op, ps]) => [op, [...ps]]))]));

/** Every permission of a table, once, sorted. */
const allOf = (table: ByResource): string[] => [...new Set(Object.values(table).flatMap((ops) => Object.values(ops).flat()))].sort();

/** The core pipeline: bucket, writer account, role, grant, key, and the changefeed's checks. */
export const PERMISSIONS_BY_OPERATION: ByResource = copy({
  Bucket: BUCKET_PERMISSIONS,
  ServiceAccount: SERVICE_ACCOUNT_PERMISSIONS,
  CustomRole: CUSTOM_ROLE_PERMISSIONS,
  BucketIamMember: BUCKET_IAM_MEMBER_PERMISSIONS,
  ServiceAccountKey: SERVICE_ACCOUNT_KEY_PERMISSIONS,
  Changefeed: CHANGEFEED_PERMISSIONS,
});

/** Every permission above, once, sorted: the custom role to give the deploying identity. */
export const DEPLOYER_PERMISSIONS: string[] = allOf(PERMISSIONS_BY_OPERATION);

/**
 * With AuditStream's `bigQuery` option (or the BigQuery resources), the deployer also needs these
 * (roles/bigquery.dataOwner on the project holds them).
 */
export const BIGQUERY_PERMISSIONS_BY_OPERATION: ByResource = copy({
  BigQueryDataset: BIGQUERY_DATASET_PERMISSIONS,
  BigQueryTable: BIGQUERY_TABLE_PERMISSIONS,
  BigQueryNativeTable: BIGQUERY_NATIVE_TABLE_PERMISSIONS,
  BigQueryView: BIGQUERY_VIEW_PERMISSIONS,
});

/** Every permission of BIGQUERY_PERMISSIONS_BY_OPERATION, once, sorted. */
export const BIGQUERY_DEPLOYER_PERMISSIONS: string[] = allOf(BIGQUERY_PERMISSIONS_BY_OPERATION);

/**
 * With the Pub/Sub destination (or the Pub/Sub resources), the deployer also needs these
 * (roles/pubsub.admin holds them; reference/rest/v1, each method's IAM permission).
 * least-privilege.test.ts checks them both ways.
 */
export const PUBSUB_PERMISSIONS_BY_OPERATION: ByResource = copy({
  PubSubTopic: PUBSUB_TOPIC_PERMISSIONS,
  PubSubSubscription: PUBSUB_SUBSCRIPTION_PERMISSIONS,
  PubSubServiceAgent: PUBSUB_SERVICE_AGENT_PERMISSIONS,
  PubSubIamMember: PUBSUB_IAM_MEMBER_PERMISSIONS,
  "Changefeed (into Pub/Sub)": CHANGEFEED_PUBSUB_PERMISSIONS,
});

/** Every permission of PUBSUB_PERMISSIONS_BY_OPERATION, once, sorted. */
export const PUBSUB_DEPLOYER_PERMISSIONS: string[] = allOf(PUBSUB_PERMISSIONS_BY_OPERATION);

/**
 * With the PostgreSQL source's runtime "cloudRun" (or the Cloud Run resources), the deployer also
 * needs these (docs/cloud-run-runtime.md §1.3, §2.3): roles/run.developer, roles/secretmanager.admin on
 * the project and roles/iam.serviceAccountUser on the engine's account hold them.
 */
export const CLOUD_RUN_PERMISSIONS_BY_OPERATION: ByResource = copy({
  SecretManagerSecret: SECRET_MANAGER_SECRET_PERMISSIONS,
  CloudRunService: CLOUD_RUN_SERVICE_PERMISSIONS,
});

/** Every permission of CLOUD_RUN_PERMISSIONS_BY_OPERATION, once, sorted. */
export const CLOUD_RUN_DEPLOYER_PERMISSIONS: string[] = allOf(CLOUD_RUN_PERMISSIONS_BY_OPERATION);
