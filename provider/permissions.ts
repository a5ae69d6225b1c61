// The permissions the deploying identity (gcp:credentials, or ADC) needs, per resource and
// operation. Least privilege: a custom role with exactly DEPLOYER_PERMISSIONS runs the whole
// lifecycle (test/e2e/least-privilege.test.ts checks both ways against the emulator's IAM: every
// call is allowed, and every permission listed is used). The changefeed's own writer needs only
// storage.objects.create on the bucket (the guide's custom role); the access check before a feed
// uses a key (testIamPermissions) needs no permission at all.
export const PERMISSIONS_BY_OPERATION: Record<string, Record<string, string[]>> = {
  Bucket: {
    create: ["storage.buckets.create"],
    "read (refresh)": ["storage.buckets.get"],
    update: ["storage.buckets.update"],
    delete: ["storage.buckets.delete", "storage.objects.list", "storage.objects.delete"],
  },
  ServiceAccount: {
    create: ["iam.serviceAccounts.create", "iam.serviceAccounts.get"],
    "read (refresh)": ["iam.serviceAccounts.get"],
    update: ["iam.serviceAccounts.update"],
    delete: ["iam.serviceAccounts.delete"],
  },
  CustomRole: {
    create: ["iam.roles.create", "iam.roles.get"],
    "read (refresh)": ["iam.roles.get"],
    update: ["iam.roles.update"],
    delete: ["iam.roles.delete"],
  },
  // The grant's holder is recorded in a bucket label (grant-registry.ts): read and patched.
  BucketIamMember: {
    "create, update, delete": ["storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy", "storage.buckets.get", "storage.buckets.update"],
    "read (refresh)": ["storage.buckets.getIamPolicy"],
  },
  ServiceAccountKey: {
    create: ["iam.serviceAccountKeys.create"],
    "read (refresh)": ["iam.serviceAccountKeys.get"],
    delete: ["iam.serviceAccountKeys.delete"],
  },
  // Proof of delivery lists what the job wrote; with exclusiveKeys (AuditStream), once the feed runs on
  // its key, the account's other keys go — after reading that the account is this stream's.
  Changefeed: {
    "create, update": ["storage.objects.list", "iam.serviceAccounts.get", "iam.serviceAccountKeys.list", "iam.serviceAccountKeys.delete"],
  },
};

/** Every permission above, once, sorted: the custom role to give the deploying identity. */
export const DEPLOYER_PERMISSIONS: string[] = [...new Set(Object.values(PERMISSIONS_BY_OPERATION).flatMap((ops) => Object.values(ops).flat()))].sort();

/**
 * With AuditStream's `bigQuery` option (or the BigQuery resources), the deployer also needs these
 * (roles/bigquery.dataOwner on the project holds them). Creating an external table over Cloud
 * Storage also needs storage.buckets.get, storage.objects.get and storage.objects.list on the bucket
 * (BigQuery docs, "Create Cloud Storage external tables", required permissions); the emulator does
 * not check those at create, so least-privilege.test.ts checks the bigquery.* part both ways.
 */
export const BIGQUERY_PERMISSIONS_BY_OPERATION: Record<string, Record<string, string[]>> = {
  BigQueryDataset: {
    create: ["bigquery.datasets.create", "bigquery.datasets.get", "bigquery.datasets.update"],
    "read (refresh)": ["bigquery.datasets.get"],
    update: ["bigquery.datasets.get", "bigquery.datasets.update"],
    delete: ["bigquery.datasets.delete"],
  },
  BigQueryTable: {
    create: ["bigquery.tables.create", "storage.buckets.get", "storage.objects.get", "storage.objects.list"],
    "read (refresh)": ["bigquery.tables.get"],
    update: ["bigquery.tables.update"],
    delete: ["bigquery.tables.delete"],
  },
  BigQueryView: {
    create: ["bigquery.tables.create"],
    "read (refresh)": ["bigquery.tables.get"],
    update: ["bigquery.tables.update"],
    delete: ["bigquery.tables.delete"],
  },
};

/** Every permission of BIGQUERY_PERMISSIONS_BY_OPERATION, once, sorted. */
export const BIGQUERY_DEPLOYER_PERMISSIONS: string[] = [...new Set(Object.values(BIGQUERY_PERMISSIONS_BY_OPERATION).flatMap((ops) => Object.values(ops).flat()))].sort();

/**
 * With the Pub/Sub destination (or the Pub/Sub resources), the deployer also needs these
 * (roles/pubsub.admin holds them; reference/rest/v1, each method's IAM permission).
 * least-privilege.test.ts checks them both ways.
 */
export const PUBSUB_PERMISSIONS_BY_OPERATION: Record<string, Record<string, string[]>> = {
  PubSubTopic: {
    create: ["pubsub.topics.create"],
    "read (refresh)": ["pubsub.topics.get"],
    update: ["pubsub.topics.update"],
    delete: ["pubsub.topics.delete"],
  },
  PubSubSubscription: {
    create: ["pubsub.subscriptions.create", "pubsub.topics.attachSubscription"],
    "read (refresh)": ["pubsub.subscriptions.get"],
    update: ["pubsub.subscriptions.update"],
    delete: ["pubsub.subscriptions.delete"],
  },
  // Only with dead-lettering (AuditStream pubsub.maxDeliveryAttempts): the agent's email needs the project number.
  PubSubServiceAgent: {
    "create, read (refresh)": ["resourcemanager.projects.get"],
  },
  // The grant's holder is recorded in a label of the topic or subscription (grant-registry.ts).
  PubSubIamMember: {
    "create, delete": ["pubsub.topics.getIamPolicy", "pubsub.topics.setIamPolicy", "pubsub.subscriptions.getIamPolicy", "pubsub.subscriptions.setIamPolicy", "pubsub.topics.get", "pubsub.topics.update", "pubsub.subscriptions.get", "pubsub.subscriptions.update"],
    "read (refresh)": ["pubsub.topics.getIamPolicy", "pubsub.subscriptions.getIamPolicy"],
  },
  // A Changefeed into Pub/Sub proves delivery through a probe subscription on the topic (sink-checks.ts).
  "Changefeed (into Pub/Sub)": {
    "create, update": ["pubsub.subscriptions.create", "pubsub.topics.attachSubscription", "pubsub.subscriptions.consume", "pubsub.subscriptions.delete"],
  },
};

/** Every permission of PUBSUB_PERMISSIONS_BY_OPERATION, once, sorted. */
export const PUBSUB_DEPLOYER_PERMISSIONS: string[] = [...new Set(Object.values(PUBSUB_PERMISSIONS_BY_OPERATION).flatMap((ops) => Object.values(ops).flat()))].sort();
