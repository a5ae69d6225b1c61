// Input rules of the GCP resources, as zod schemas with defaults applied (gcp-apis.md §1.2, §1.3,
// §2.1, §2.3, §3, §1.5). `check` validates with these; defaults are filled there so that `diff`
// compares complete values.
//
// Reached from state only through the modules under provider/stored/ (provider/operations-provider.ts):
// its path may change.
import { z } from "zod";
import { bucketName } from "../validation";

/**
 * Cloud Storage locations (https://cloud.google.com/storage/docs/locations, "Available locations"):
 * multi-regions, predefined dual-regions, and regions. A new region means a new entry here.
 */
export const STORAGE_LOCATIONS = new Set(
  [
    "US", "EU", "ASIA", "NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1",
    "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1", "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
    "southamerica-east1", "southamerica-west1",
    "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10", "europe-west12",
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
    "australia-southeast1", "australia-southeast2",
    "me-central1", "me-central2", "me-west1", "africa-south1",
  ].map((l) => l.toUpperCase()),
);

/** Set by the resource constructors: project/stack/name, the seed of generated names (shared.ts physicalName). */
const ownerSchema = z.string().min(1).optional();

/**
 * The identity fields every object-making resource takes (provider/ownership.ts): the owner (set by the
 * constructor), the stream's deployment (StreamIdentity), the instance check makes, and takeOver.
 */
const identityFields = {
  owner: ownerSchema,
  deployment: z.string().regex(/^[0-9a-f]{16}$/, "must be a StreamIdentity's deployment (16 hex characters)").optional(),
  instance: z.string().regex(/^[0-9a-f]{8}$/).optional(),
  takeOver: z.string().regex(/^([0-9a-f]{16}|legacy)$/, 'must be the deployment an error named (16 hex characters), or "legacy"').optional(),
};

/** Room a description keeps for the identity marker (" [zitadel-audit-stream <36-character tag>]"). */
const MARKER_ROOM = 60;

export const projectId = z
  .string()
  .regex(/^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, "must be a Google Cloud project id (6-30 lowercase letters, digits and hyphens)");

const utf8Max = (max: number, what: string) =>
  z.string().refine((s) => Buffer.byteLength(s, "utf8") <= max, `${what} is at most ${max} bytes`);

export const STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"] as const;
const storageClass = z.enum(STORAGE_CLASSES, { error: `must be one of ${STORAGE_CLASSES.join(", ")}` });

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD");
const count = z.number().int("must be a whole number").min(0, "must not be negative");

const lifecycleRule = z
  .strictObject({
    action: z.strictObject({
      type: z.enum(["Delete", "SetStorageClass", "AbortIncompleteMultipartUpload"], {
        error: 'must be "Delete", "SetStorageClass" or "AbortIncompleteMultipartUpload"',
      }),
      storageClass: storageClass.optional(),
    }),
    condition: z
      .strictObject({
        age: count,
        createdBefore: date,
        isLive: z.boolean(),
        numNewerVersions: count,
        daysSinceNoncurrentTime: count,
        noncurrentTimeBefore: date,
        matchesPrefix: z.array(z.string().min(1)).min(1),
        matchesSuffix: z.array(z.string().min(1)).min(1),
        matchesStorageClass: z.array(storageClass).min(1),
      })
      .partial()
      .refine((c) => Object.keys(c).length > 0, "a lifecycle rule needs at least one condition"),
  })
  .superRefine((rule, ctx) => {
    if ((rule.action.type === "SetStorageClass") !== (rule.action.storageClass !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["action", "storageClass"], message: "storageClass is required with SetStorageClass, and only there" });
    }
  });

export const bucketInputs = z.strictObject({
  /** An explicit bucket name; otherwise `namePrefix` plus a random suffix. */
  name: bucketName.optional(),
  namePrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,55}$/, "must be up to 56 lowercase letters, digits, '-' and '_', starting with a letter or digit")
    .refine((s) => !s.startsWith("goog") && !/g[o0][o0]g[l1][e3]/.test(s), 'must not start with "goog" or contain "google"')
    .optional(),
  project: projectId.optional(),
  location: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{1,39}$/, 'must be a Cloud Storage location such as "US", "EU" or "europe-west3"')
    .transform((l) => l.toUpperCase())
    .refine((l) => STORAGE_LOCATIONS.has(l), { message: "is not a Cloud Storage location (multi-regions US, EU, ASIA; dual-regions such as NAM4, EUR4; regions such as europe-west3): https://cloud.google.com/storage/docs/locations" })
    .default("US"),
  storageClass: storageClass.default("STANDARD"),
  labels: z
    .record(
      z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, "label keys are 1-63 lowercase letters, digits, '_' and '-', starting with a letter"),
      z.string().regex(/^[a-z0-9_-]{0,63}$/, "label values are up to 63 lowercase letters, digits, '_' and '-'"),
    )
    .refine((l) => Object.keys(l).length <= 64, "at most 64 labels")
    .default({}),
  versioning: z.boolean().default(false),
  lifecycleRules: z.array(lifecycleRule).max(100, "at most 100 lifecycle rules").default([]),
  /** Objects cannot be deleted or overwritten for this long after they are written. */
  retentionPeriodSeconds: z
    .number()
    .int("must be whole seconds")
    .positive("must be greater than zero")
    .lt(3_155_760_000, "must be less than 100 years")
    .optional(),
  uniformBucketLevelAccess: z.boolean().default(true),
  publicAccessPrevention: z.enum(["enforced", "inherited"], { error: 'must be "enforced" or "inherited"' }).default("enforced"),
  /** Delete the bucket's objects on destroy. Without it a non-empty bucket is refused. */
  forceDestroy: z.boolean().default(false),
  replaceNonEmpty: z.boolean().optional(),
  ...identityFields,
}).refine((b) => b.name !== undefined || b.namePrefix !== undefined, { path: ["name"], message: "give name or namePrefix" });
export type BucketInputs = z.output<typeof bucketInputs> & { name: string; autoNamed: boolean; project: string };

export const serviceAccountInputs = z.strictObject({
  accountId: z
    .string()
    .min(6, "accountId is 6 to 30 characters")
    .max(30, "accountId is 6 to 30 characters")
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])$/, "accountId must match ^[a-z]([-a-z0-9]*[a-z0-9])$ (RFC 1035)")
    .optional(),
  namePrefix: z.string().regex(/^[a-z][-a-z0-9]{0,22}$/, "must be up to 23 lowercase letters, digits and '-', starting with a letter").optional(),
  project: projectId.optional(),
  displayName: utf8Max(100, "displayName").default(""),
  description: utf8Max(256 - MARKER_ROOM, "description").default(""),
  ...identityFields,
}).refine((a) => a.accountId !== undefined || a.namePrefix !== undefined, { path: ["accountId"], message: "give accountId or namePrefix" });
export type ServiceAccountInputs = z.output<typeof serviceAccountInputs> & { accountId: string; autoNamed: boolean; project: string };

export const permissionName = z
  .string()
  .regex(/^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2}$/, 'must be a permission name such as "storage.objects.create"');

export const customRoleInputs = z.strictObject({
  roleId: z.string().regex(/^[a-zA-Z0-9_.]{3,64}$/, "roleId is 3 to 64 letters, digits, '_' and '.'").optional(),
  roleIdPrefix: z.string().regex(/^[a-zA-Z0-9_.]{1,57}$/, "must be up to 57 letters, digits, '_' and '.'").optional(),
  project: projectId.optional(),
  title: utf8Max(100, "title").optional(),
  description: utf8Max(256 - MARKER_ROOM, "description").default(""),
  permissions: z
    .array(permissionName)
    .min(1, "a custom role needs at least one permission")
    .max(3000, "at most 3000 permissions")
    .transform((p) => [...new Set(p)].sort()),
  stage: z.enum(["ALPHA", "BETA", "GA", "DEPRECATED", "DISABLED", "EAP"], { error: "must be ALPHA, BETA, GA, DEPRECATED, DISABLED or EAP" }).default("GA"),
  ...identityFields,
}).refine((r) => r.roleId !== undefined || r.roleIdPrefix !== undefined, { path: ["roleId"], message: "give roleId or roleIdPrefix" });
export type CustomRoleInputs = z.output<typeof customRoleInputs> & { roleId: string; autoNamed: boolean; project: string; title: string };

export const roleName = z
  .string()
  .regex(
    /^(roles\/[a-zA-Z0-9_.]{3,64}|projects\/([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]\/roles\/[a-zA-Z0-9_.]{3,64}|organizations\/\d+\/roles\/[a-zA-Z0-9_.]{3,64})$/,
    'must be "roles/<id>" or a custom role "projects/<project>/roles/<id>"',
  );

export const member = z
  .string()
  // Public principals would let anyone write (forge) audit records, or read them.
  .refine((m) => m !== "allUsers" && m !== "allAuthenticatedUsers", "must not be public (allUsers, allAuthenticatedUsers): anyone could then write or read audit records")
  .regex(
    /^((user|serviceAccount|group):[^@\s:]+@[^@\s:]+\.[a-z]{2,}|domain:[a-z0-9-]+(\.[a-z0-9-]+)+|(projectOwner|projectEditor|projectViewer):[a-z][a-z0-9-]{4,28}[a-z0-9])$/,
    'must be a principal such as "serviceAccount:name@project.iam.gserviceaccount.com", "user:…", "group:…" or "domain:…"',
  );

export const bucketIamMemberInputs = z.strictObject({
  bucket: bucketName,
  role: roleName,
  member,
  /** An IAM Condition (the bucket needs uniform bucket-level access); replace-only. */
  condition: z
    .strictObject({
      title: z.string().min(1, "a condition needs a title").max(100),
      expression: z.string().min(1, "a condition needs an expression").max(12_800),
      description: z.string().max(256).optional(),
    })
    .optional(),
  /** Set by the constructor (project/stack/name): the grant's lineage, recorded on the bucket (grant-registry.ts). */
  owner: ownerSchema,
});
export type BucketIamMemberInputs = z.output<typeof bucketIamMemberInputs>;

export const serviceAccountEmail = z
  .string()
  .regex(/^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9.:-]+\.iam\.gserviceaccount\.com$/, "must be a service account email such as name@project.iam.gserviceaccount.com");

export const serviceAccountKeyInputs = z.strictObject({
  serviceAccountEmail,
  // RSA-1024 is below NIST SP 800-131A's 2048-bit minimum for RSA signatures; IAM still offers it.
  keyAlgorithm: z.enum(["KEY_ALG_RSA_2048"], { error: 'must be "KEY_ALG_RSA_2048" (1024-bit RSA keys are too weak for credentials that sign audit writes)' }).default("KEY_ALG_RSA_2048"),
  /** Any value; changing it creates a new key, then deletes the old one. */
  rotationTrigger: z.string().max(256, "rotationTrigger is at most 256 characters").default(""),
});
export type ServiceAccountKeyInputs = z.output<typeof serviceAccountKeyInputs>;

// ---------------------------------------------------------------------------------------------
// BigQuery (reference/rest/v2: datasets, tables; docs/bigquery-research.md)

/** Dataset ids: letters, digits and underscores, at most 1,024 (datasets#datasetReference). */
export const datasetId = z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, "must be letters, digits and underscores (at most 1024)");
/** Table ids: we keep to letters, digits and underscores, at most 1,024 (tables#tableReference allows more). */
export const tableId = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,1023}$/, "must start with a letter or underscore, then letters, digits and underscores (at most 1024)");
const labels = z.record(
  z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, "label keys are lowercase letters, digits, '_' and '-', starting with a letter, at most 63"),
  z.string().regex(/^[a-z0-9_-]{0,63}$/, "label values are lowercase letters, digits, '_' and '-', at most 63"),
);
/** A dataset reader: an IAM principal of a kind dataset access entries can name. */
export const datasetReader = z
  .string()
  .regex(/^(user|serviceAccount|group):[^@\s:]+@[^@\s:]+\.[a-z]{2,}$/, 'must be "user:…", "serviceAccount:…" or "group:…" followed by an email');

export const bigQueryDatasetInputs = z.strictObject({
  datasetId,
  project: projectId.optional(),
  /** BigQuery locations are case-insensitive multi-regions ("US", "EU") or regions ("europe-west1"). */
  location: z.string().regex(/^[A-Za-z0-9-]{2,40}$/, 'must be a BigQuery location such as "US", "EU" or "europe-west1"').default("US"),
  description: utf8Max(16384, "description").default(""),
  labels: labels.default({}),
  readers: z.array(datasetReader).max(100).default([]).transform((r) => [...new Set(r)].sort()),
  ...identityFields,
});
export type BigQueryDatasetInputs = z.output<typeof bigQueryDatasetInputs> & { project: string };

export const bigQueryField = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,299}$/, "field names are letters, digits and underscores, starting with a letter or underscore"),
  type: z.enum(["STRING", "INT64", "BIGNUMERIC", "NUMERIC", "TIMESTAMP", "JSON", "BOOL", "FLOAT64", "DATE"], { error: "must be STRING, INT64, BIGNUMERIC, NUMERIC, TIMESTAMP, JSON, BOOL, FLOAT64 or DATE" }),
  mode: z.enum(["NULLABLE", "REQUIRED"]).default("NULLABLE"),
  description: z.string().max(1024).optional(),
});

export const bigQueryTableInputs = z.strictObject({
  project: projectId.optional(),
  datasetId,
  tableId,
  description: utf8Max(16384, "description").default(""),
  schema: z.array(bigQueryField).min(1, "an external table needs at least one field"),
  sourceUris: z
    .array(z.string().regex(/^gs:\/\/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]\/[^*]*\*?[^*]*$/, 'must be "gs://<bucket>/<path>" with at most one "*"'))
    .min(1, "give at least one source URI"),
  compression: z.enum(["NONE", "GZIP"]).default("NONE"),
  ignoreUnknownValues: z.boolean().default(true),
  maxBadRecords: z.number().int().min(0).default(0),
  /** A BigQuery connection: the table becomes a BigLake table, read as the connection's service account. */
  connectionId: z
    .string()
    .regex(/^(projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/locations\/[A-Za-z0-9-]+\/connections\/[A-Za-z0-9_-]+|[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9-]+\.[A-Za-z0-9_-]+)$/, 'must be "project.location.connection" or "projects/<project>/locations/<location>/connections/<connection>"')
    .optional(),
  ...identityFields,
});
export type BigQueryTableInputs = z.output<typeof bigQueryTableInputs> & { project: string };

export const bigQueryViewInputs = z.strictObject({
  project: projectId.optional(),
  datasetId,
  tableId,
  description: utf8Max(16384, "description").default(""),
  /** GoogleSQL (the view is created with useLegacySql false). */
  query: z.string().min(1).max(256 * 1024),
  ...identityFields,
});
export type BigQueryViewInputs = z.output<typeof bigQueryViewInputs> & { project: string };

// ---------------------------------------------------------------------------------------------
// Pub/Sub (reference/rest/v1: projects.topics, projects.subscriptions; docs/pubsub-research.md §8)

/** Topic and subscription ids: 3-255 letters, digits and - _ . ~ + %, starting with a letter, not "goog…". */
export const pubsubId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, "must be 3-255 letters, digits and - _ . ~ + %, starting with a letter")
  .refine((t) => !t.toLowerCase().startsWith("goog"), 'must not start with "goog"');
/** A protobuf Duration in seconds, as the REST API writes it ("604800s"). */
const seconds = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+s$/, `${what} is whole seconds such as "604800s"`)
    .refine((d) => Number(d.slice(0, -1)) >= min && Number(d.slice(0, -1)) <= max, `${what} is from ${min}s to ${max}s`);

export const pubsubTopicInputs = z.strictObject({
  project: projectId.optional(),
  name: pubsubId,
  labels: labels.default({}),
  /** How long the topic keeps messages for seek/replay; unset: not kept beyond subscriptions. */
  messageRetentionDuration: seconds(600, 31 * 86_400, "messageRetentionDuration").optional(),
  ...identityFields,
});
export type PubSubTopicInputs = z.output<typeof pubsubTopicInputs> & { project: string };

export const pubsubSubscriptionInputs = z.strictObject({
  project: projectId.optional(),
  name: pubsubId,
  /** The topic's id in the same project, or its full name `projects/<p>/topics/<t>`. */
  topic: z.string().regex(/^(projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/)?[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, 'must be a topic id or "projects/<project>/topics/<topic>"'),
  ackDeadlineSeconds: z.number().int().min(10, "at least 10").max(600, "at most 600").default(60),
  /** How long unacknowledged messages are kept: default 7 days (the maximum), so a collector outage of days loses nothing. */
  messageRetentionDuration: seconds(600, 7 * 86_400, "messageRetentionDuration").default("604800s"),
  retainAckedMessages: z.boolean().default(false),
  /** An attribute filter (fixed once created). */
  filter: z.string().max(256).optional(),
  deadLetterTopic: z.string().regex(/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, 'must be "projects/<project>/topics/<topic>"').optional(),
  maxDeliveryAttempts: z.number().int().min(5).max(100).optional(),
  labels: labels.default({}),
  ...identityFields,
}).refine((s) => s.maxDeliveryAttempts === undefined || s.deadLetterTopic !== undefined, { path: ["maxDeliveryAttempts"], message: "needs deadLetterTopic" });
export type PubSubSubscriptionInputs = z.output<typeof pubsubSubscriptionInputs> & { project: string };

export const pubsubServiceAgentInputs = z.strictObject({
  project: projectId.optional(),
});
export type PubSubServiceAgentInputs = z.output<typeof pubsubServiceAgentInputs>;

export const pubsubIamMemberInputs = z.strictObject({
  /** `projects/<p>/topics/<t>` or `projects/<p>/subscriptions/<s>`. */
  resource: z.string().regex(/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/(topics|subscriptions)\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, 'must be "projects/<project>/topics/<topic>" or "projects/<project>/subscriptions/<subscription>"'),
  role: roleName,
  member,
  /** Set by the constructor (project/stack/name): the grant's lineage, recorded on the resource (grant-registry.ts). */
  owner: ownerSchema,
});
export type PubSubIamMemberInputs = z.output<typeof pubsubIamMemberInputs>;
