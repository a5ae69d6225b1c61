// zitadel-audit-stream: Pulumi dynamic resources for ZITADEL's audit-log stream into Cloud Storage.
// Pure builders for the changefeed's SQL and sink URI.
export { buildChangefeedQuery, loadSqlParser, validateRawQuery, ChangefeedQueryOptions, MAX_LIST } from "./cdc/query";
export { buildSinkUri, redactSinkUri, encodeCredentials, isPubSubSink, SinkUriOptions, GcsSinkOptions, PubSubSinkOptions } from "./cdc/sink";
export { buildCreateChangefeedStatement, renderChangefeedOptions, ChangefeedOptions, CreateChangefeedStatementOptions } from "./cdc/statement";
export { bigQuerySchema, bigQuerySourceUris, sourceUriMatches, dedupViewQuery, exampleQueries, tableRef, BigQueryField, BigQueryType } from "./cdc/bigquery";
export { EVENTS2_COLUMNS, EVENTS2_PRIMARY_KEY, GUIDE_COLUMNS, DEFAULT_TABLE, Events2Column } from "./cdc/events2";
export { ValidationError, FieldProblem } from "./validation";

// GCP resources (the guide's first five steps).
export { Bucket, BucketArgs, LifecycleRule } from "./gcp/bucket";
export { ServiceAccount, ServiceAccountArgs } from "./gcp/service-account";
export { CustomRole, CustomRoleArgs } from "./gcp/custom-role";
export { BucketIamMember, BucketIamMemberArgs, prefixCondition } from "./gcp/bucket-iam-member";
export { ServiceAccountKey, ServiceAccountKeyArgs } from "./gcp/service-account-key";
export { BigQueryDataset, BigQueryDatasetArgs } from "./gcp/bigquery-dataset";
export { BigQueryTable, BigQueryTableArgs } from "./gcp/bigquery-table";
export { BigQueryNativeTable, BigQueryNativeTableArgs } from "./gcp/bigquery-native-table";
export { SecretManagerSecret, SecretManagerSecretArgs } from "./gcp/secret-manager-secret";
export { CloudRunService, CloudRunServiceArgs, CloudRunProbe } from "./gcp/cloud-run-service";
export { BigQueryView, BigQueryViewArgs } from "./gcp/bigquery-view";
export { PubSubTopic, PubSubTopicArgs } from "./gcp/pubsub-topic";
export { PubSubServiceAgent, PubSubServiceAgentArgs, pubsubServiceAgentEmail } from "./gcp/pubsub-service-agent";
export { PubSubSubscription, PubSubSubscriptionArgs, PubSubCloudStorageArgs, PubSubBigQueryArgs } from "./gcp/pubsub-subscription";
export { PubSubIamMember, PubSubIamMemberArgs } from "./gcp/pubsub-iam-member";
export { GcpConfig, ENDPOINT_ENV as GCP_ENDPOINT_ENV } from "./gcp/client";

// CockroachDB resources (the guide's changefeed steps).
export { ClusterSetting, ClusterSettingArgs } from "./cockroach/cluster-setting";
export { Changefeed, ChangefeedArgs } from "./cockroach/changefeed";
export { feedHealth, explainSinkError, FeedHealth, HealthState, DEFAULT_MAX_LAG_SECONDS } from "./cockroach/health";

// PostgreSQL resources (ZITADEL v3/v4: the stream's publication and slot; docs/postgres-source.md).
export { PgSlot, PgSlotArgs } from "./postgres/pg-slot";
export { PgPublication, PgPublicationArgs } from "./postgres/pg-publication";
export { PgRole, PgRoleArgs } from "./postgres/pg-role";
export { planPublications, PlannedPublication } from "./cdc/publication";
export { slotState, SlotState } from "./cdc/slot";

// Who made what: the identity every object and job of a stream carries (docs/identity.md).
export { StreamIdentity, StreamIdentityArgs } from "./stream-identity";

// The whole pipeline.
export { AuditStream, AuditStreamArgs, AuditStreamBigQueryArgs, auditStreamProblems } from "./audit-stream";
export type { AuditStreamPubSubArgs, AuditStreamPostgresArgs, AuditStreamCloudRunArgs, EngineConfig } from "./audit-stream";
export {
  DEPLOYER_PERMISSIONS,
  PERMISSIONS_BY_OPERATION,
  BIGQUERY_DEPLOYER_PERMISSIONS,
  BIGQUERY_PERMISSIONS_BY_OPERATION,
  PUBSUB_DEPLOYER_PERMISSIONS,
  PUBSUB_PERMISSIONS_BY_OPERATION,
} from "./permissions";
