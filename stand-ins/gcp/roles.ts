// Predefined roles the emulator knows, and the permissions a custom role may hold.
// Role contents follow Google's predefined-role reference for Cloud Storage (subset this project touches).

export const STORAGE_BUCKET_PERMISSIONS = [
  "storage.buckets.create",
  "storage.buckets.delete",
  "storage.buckets.get",
  "storage.buckets.getIamPolicy",
  "storage.buckets.list",
  "storage.buckets.setIamPolicy",
  "storage.buckets.update",
];
export const STORAGE_OBJECT_PERMISSIONS = [
  "storage.objects.create",
  "storage.objects.delete",
  "storage.objects.get",
  "storage.objects.getIamPolicy",
  "storage.objects.list",
  "storage.objects.setIamPolicy",
  "storage.objects.update",
  "storage.managedFolders.list",
];
export const IAM_PERMISSIONS = [
  "iam.roles.create",
  "iam.roles.delete",
  "iam.roles.get",
  "iam.roles.list",
  "iam.roles.undelete",
  "iam.roles.update",
  "iam.serviceAccountKeys.create",
  "iam.serviceAccountKeys.delete",
  "iam.serviceAccountKeys.get",
  "iam.serviceAccountKeys.list",
  "iam.serviceAccounts.create",
  "iam.serviceAccounts.delete",
  "iam.serviceAccounts.disable",
  "iam.serviceAccounts.enable",
  "iam.serviceAccounts.get",
  "iam.serviceAccounts.list",
  "iam.serviceAccounts.undelete",
  "iam.serviceAccounts.update",
];

/**
 * The BigQuery permissions of the emulator's subset (datasets, tables and views, query jobs), as named in
 * Google's BigQuery roles reference (cloud.google.com/bigquery/docs/access-control).
 */
export const BIGQUERY_PERMISSIONS = [
  "bigquery.datasets.create",
  "bigquery.datasets.delete",
  "bigquery.datasets.get",
  "bigquery.datasets.getIamPolicy",
  "bigquery.datasets.setIamPolicy",
  "bigquery.datasets.update",
  "bigquery.datasets.updateTag",
  "bigquery.jobs.create",
  "bigquery.jobs.delete",
  "bigquery.jobs.get",
  "bigquery.jobs.list",
  "bigquery.jobs.listAll",
  "bigquery.jobs.update",
  "bigquery.tables.create",
  "bigquery.tables.createSnapshot",
  "bigquery.tables.delete",
  "bigquery.tables.export",
  "bigquery.tables.get",
  "bigquery.tables.getData",
  "bigquery.tables.getIamPolicy",
  "bigquery.tables.list",
  "bigquery.tables.setIamPolicy",
  "bigquery.tables.update",
  "bigquery.tables.updateData",
  "bigquery.tables.updateTag",
];

/**
 * The Pub/Sub permissions of the emulator's subset (topics and subscriptions), as named in Google's
 * Pub/Sub roles reference (cloud.google.com/iam/docs/roles-permissions/pubsub) and the per-method tables
 * of cloud.google.com/pubsub/docs/access-control. Snapshots, schemas, tag bindings and message transforms
 * are outside the subset.
 */
export const PUBSUB_PERMISSIONS = [
  "pubsub.subscriptions.consume",
  "pubsub.subscriptions.create",
  "pubsub.subscriptions.delete",
  "pubsub.subscriptions.get",
  "pubsub.subscriptions.getIamPolicy",
  "pubsub.subscriptions.list",
  "pubsub.subscriptions.setIamPolicy",
  "pubsub.subscriptions.update",
  "pubsub.topics.attachSubscription",
  "pubsub.topics.create",
  "pubsub.topics.delete",
  "pubsub.topics.detachSubscription",
  "pubsub.topics.get",
  "pubsub.topics.getIamPolicy",
  "pubsub.topics.list",
  "pubsub.topics.publish",
  "pubsub.topics.setIamPolicy",
  "pubsub.topics.update",
  "pubsub.topics.updateTag",
];

/** Permissions a project-level custom role may include (others: 400 "Permission X is not valid."). */
export const KNOWN_PERMISSIONS = new Set([
  ...STORAGE_BUCKET_PERMISSIONS,
  ...STORAGE_OBJECT_PERMISSIONS,
  ...IAM_PERMISSIONS,
  ...BIGQUERY_PERMISSIONS,
  ...PUBSUB_PERMISSIONS,
  "resourcemanager.projects.get",
]);

// BigQuery's predefined roles, restricted to the permissions of the subset above (the real roles hold
// more: models, routines, connections, reservations, Dataplex …). Each list is the real role's list
// intersected with BIGQUERY_PERMISSIONS (plus resourcemanager.projects.get where the real role has it).
const BQ_DATA_VIEWER = [
  "bigquery.datasets.get",
  "bigquery.datasets.getIamPolicy",
  "bigquery.tables.createSnapshot",
  "bigquery.tables.export",
  "bigquery.tables.get",
  "bigquery.tables.getData",
  "bigquery.tables.getIamPolicy",
  "bigquery.tables.list",
  "resourcemanager.projects.get",
];
// dataEditor adds dataset creation and table writes, but neither dataset update nor dataset delete.
const BQ_DATA_EDITOR = [
  ...BQ_DATA_VIEWER,
  "bigquery.datasets.create",
  "bigquery.datasets.updateTag",
  "bigquery.tables.create",
  "bigquery.tables.delete",
  "bigquery.tables.update",
  "bigquery.tables.updateData",
  "bigquery.tables.updateTag",
];
const BQ_DATA_OWNER = [
  ...BQ_DATA_EDITOR,
  "bigquery.datasets.delete",
  "bigquery.datasets.setIamPolicy",
  "bigquery.datasets.update",
  "bigquery.tables.setIamPolicy",
];

/** The dataset access list's legacy role names and the predefined roles they stand for. */
export const BIGQUERY_LEGACY_ROLES: Record<string, string> = {
  READER: "roles/bigquery.dataViewer",
  WRITER: "roles/bigquery.dataEditor",
  OWNER: "roles/bigquery.dataOwner",
};

export const PREDEFINED_ROLES: Record<string, string[]> = {
  "roles/storage.admin": [...STORAGE_BUCKET_PERMISSIONS, ...STORAGE_OBJECT_PERMISSIONS],
  "roles/storage.objectAdmin": [
    "storage.managedFolders.list",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.update",
    "storage.objects.getIamPolicy",
    "storage.objects.setIamPolicy",
  ],
  "roles/storage.objectUser": [
    "storage.managedFolders.list",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.update",
  ],
  "roles/storage.objectCreator": ["storage.objects.create"],
  "roles/storage.objectViewer": ["storage.objects.get", "storage.objects.list", "storage.managedFolders.list"],
  "roles/storage.legacyBucketOwner": [
    "storage.buckets.get",
    "storage.buckets.update",
    "storage.buckets.getIamPolicy",
    "storage.buckets.setIamPolicy",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.list",
  ],
  "roles/storage.legacyBucketWriter": ["storage.buckets.get", "storage.objects.create", "storage.objects.delete", "storage.objects.list"],
  "roles/storage.legacyBucketReader": ["storage.buckets.get", "storage.objects.list"],
  "roles/storage.legacyObjectOwner": ["storage.objects.get", "storage.objects.update"],
  "roles/storage.legacyObjectReader": ["storage.objects.get"],
};

/**
 * BigQuery's predefined roles (subset lists above). Apart from PREDEFINED_ROLES, which holds the roles a
 * bucket policy accepts: Cloud Storage refuses a BigQuery role in a bucket binding.
 */
export const BIGQUERY_ROLES: Record<string, string[]> = {
  "roles/bigquery.dataViewer": BQ_DATA_VIEWER,
  "roles/bigquery.dataEditor": BQ_DATA_EDITOR,
  "roles/bigquery.dataOwner": BQ_DATA_OWNER,
  // user: run jobs, list own jobs, create datasets, read dataset metadata and list tables (no table data).
  "roles/bigquery.user": [
    "bigquery.datasets.create",
    "bigquery.datasets.get",
    "bigquery.datasets.getIamPolicy",
    "bigquery.jobs.create",
    "bigquery.jobs.list",
    "bigquery.tables.list",
    "resourcemanager.projects.get",
  ],
  "roles/bigquery.jobUser": ["bigquery.jobs.create", "resourcemanager.projects.get"],
  "roles/bigquery.admin": [...BIGQUERY_PERMISSIONS, "resourcemanager.projects.get"],
};

/** Member prefixes IAM accepts in a binding (gcp-apis.md §1.5). */
export const MEMBER_PATTERN =
  /^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|projectOwner|projectEditor|projectViewer|deleted:serviceAccount|deleted:user|deleted:group):.+|principal(Set)?:\/\/.+)$/;

// Pub/Sub's predefined roles, each the real role's list intersected with PUBSUB_PERMISSIONS (the real
// roles also hold snapshot, schema and tag-binding permissions). Publisher = publish only, without
// pubsub.topics.get (research doc §8, citing the access-control page); subscriber = consume +
// attachSubscription (§8; the real role also has pubsub.snapshots.seek). UNCONFIRMED against a stored
// copy of the roles page (written from Google's predefined-roles reference as remembered): viewer's
// get/list and resourcemanager.projects.get; editor = viewer + every non-IAM write, without
// getIamPolicy/setIamPolicy; admin = everything, the IAM methods included.
const PUBSUB_VIEWER = ["pubsub.subscriptions.get", "pubsub.subscriptions.list", "pubsub.topics.get", "pubsub.topics.list", "resourcemanager.projects.get"];
const PUBSUB_EDITOR = [
  ...PUBSUB_VIEWER,
  "pubsub.subscriptions.consume",
  "pubsub.subscriptions.create",
  "pubsub.subscriptions.delete",
  "pubsub.subscriptions.update",
  "pubsub.topics.attachSubscription",
  "pubsub.topics.create",
  "pubsub.topics.delete",
  "pubsub.topics.detachSubscription",
  "pubsub.topics.publish",
  "pubsub.topics.update",
  "pubsub.topics.updateTag",
];

/** Pub/Sub's predefined roles: the roles a topic or subscription policy accepts (besides custom roles). */
export const PUBSUB_ROLES: Record<string, string[]> = {
  "roles/pubsub.publisher": ["pubsub.topics.publish"],
  "roles/pubsub.subscriber": ["pubsub.subscriptions.consume", "pubsub.topics.attachSubscription"],
  "roles/pubsub.viewer": PUBSUB_VIEWER,
  "roles/pubsub.editor": PUBSUB_EDITOR,
  "roles/pubsub.admin": [...PUBSUB_PERMISSIONS, "resourcemanager.projects.get"],
};

const SECRETMANAGER_VIEWER = [
  "secretmanager.secrets.get",
  "secretmanager.secrets.getIamPolicy",
  "secretmanager.secrets.list",
  "secretmanager.versions.get",
  "secretmanager.versions.list",
];

/**
 * Secret Manager's predefined roles (cloud.google.com/iam/docs/roles-permissions/secretmanager;
 * docs/cloud-run-runtime.md §1.3): the accessor holds only versions.access, not secrets.get.
 */
export const SECRETMANAGER_ROLES: Record<string, string[]> = {
  "roles/secretmanager.secretAccessor": ["secretmanager.versions.access", "resourcemanager.projects.get", "resourcemanager.projects.list"],
  "roles/secretmanager.secretVersionAdder": ["secretmanager.versions.add"],
  "roles/secretmanager.viewer": SECRETMANAGER_VIEWER,
  "roles/secretmanager.admin": [
    ...SECRETMANAGER_VIEWER,
    "secretmanager.secrets.create",
    "secretmanager.secrets.delete",
    "secretmanager.secrets.setIamPolicy",
    "secretmanager.secrets.update",
    "secretmanager.versions.access",
    "secretmanager.versions.add",
    "secretmanager.versions.destroy",
    "secretmanager.versions.disable",
    "secretmanager.versions.enable",
  ],
};
