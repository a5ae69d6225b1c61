// AuditStream's arguments: the interfaces users write against, each argument listed once more in a
// table checked against them at compile time (`satisfies`), from which the unknown-argument checks
// and "which part of the stream owns this argument" come. The value checks live with the part that
// owns the argument: the source (sources/), the writer (writer.ts), each destination (destinations/).
//
// Why not one zod schema as the resources have: AuditStream runs in the program, where most values
// may still be Outputs (unknown at preview); each part checks the plain values it can and leaves the
// rest to the resources that receive them, whose schemas are strict. The table keeps the key lists
// single, which is what a zod object would have bought here.
import * as pulumi from "@pulumi/pulumi";
import type { BucketArgs } from "../gcp/bucket";
import type { ChangefeedQueryOptions } from "../cdc/query";
import type { ChangefeedOptions } from "../cdc/statement";
import type { DeepInput } from "../engine/contract";
import type { BigQueryField } from "../cdc/bigquery";

/** Query the events in BigQuery: a dataset, an external table over the feed's files, a de-duplicating view. */
export interface AuditStreamBigQueryArgs {
  /** Default: the component's name in letters, digits and underscores, plus "_audit". */
  datasetId?: string;
  /** Default "US". Use the bucket's location or a multi-region containing it. */
  location?: string;
  /** The external table over the files. Default "events"; with the PostgreSQL source the native table, default "events_pubsub". */
  tableName?: string;
  /** The view without the at-least-once duplicates. Default "events_dedup"; null for none. */
  viewName?: string | null;
  /**
   * Members who may query the events ("user:…", "serviceAccount:…", "group:…"): READER on the
   * dataset, and roles/storage.objectViewer (storage.objects.get, list) on the bucket, which
   * querying an external table needs. To run queries they also need bigquery.jobs.create in some
   * project (roles/bigquery.jobUser), usually their own.
   */
  readers?: pulumi.Input<string>[];
  /** The table's columns, for a raw query whose outputs are not events2 columns. Default: derived from `query`. */
  schema?: BigQueryField[];
  /**
   * A BigQuery connection (made with the BigQuery Connection API or `bq mk --connection`): the table
   * becomes a BigLake table, read as the connection's service account, which is granted
   * roles/storage.objectViewer on the bucket; readers then need no access to the bucket.
   */
  connection?: {
    /** "project.location.connection". */
    id: string;
    /** The connection's service account email (`bq show --connection` shows it). */
    serviceAccount: pulumi.Input<string>;
  };
  /**
   * What the readers (or the connection's account) may read in the bucket: "prefix" (default) the
   * stream's objects only, by an IAM Condition; "bucket" all of it — for an existing bucket without
   * uniform bucket-level access, which takes no conditions.
   */
  readersScope?: "prefix" | "bucket";
}

export interface AuditStreamPubSubArgs {
  /**
   * The Pub/Sub regional endpoint the feed publishes through, e.g. "us-east1": required with the
   * CockroachDB source (it needs one unless the feed is unordered); the PostgreSQL source's engine
   * uses Pub/Sub's global endpoint.
   */
  region?: string;
  /** The topic id. Default "<name>-events". */
  topicName?: string;
  /** The pull subscription for the SIEM's collector. Default "<name>-siem"; null for none. */
  subscriptionName?: string | null;
  /** Members who may pull from the subscription (roles/pubsub.subscriber), e.g. the collector's service account. */
  subscribers?: pulumi.Input<string>[];
  /** Default 60. */
  ackDeadlineSeconds?: number;
  /** Default "604800s" (7 days). */
  messageRetentionDuration?: string;
  /**
   * Dead-lettering: a message not acknowledged after this many deliveries (5-100) moves to the topic
   * "<topic>-dead-letter", kept by the subscription "<subscription>-dead-letter" (which the subscribers
   * may pull too). Needs resourcemanager.projects.get to find the project's Pub/Sub service agent.
   */
  maxDeliveryAttempts?: number;
}

/**
 * The PostgreSQL source (ZITADEL v3/v4): a replication role, a publication (two with a payload
 * allow-list) and a slot per publication on ZITADEL's database, and the configuration of the CDC
 * engine, Debezium Server, that streams each slot into the stream's Pub/Sub topic. The destinations
 * are subscriptions of that topic.
 */
export interface AuditStreamCloudRunArgs {
  /** The Cloud Run region, e.g. "europe-west1" (near ZITADEL's database). */
  region: string;
  /**
   * Debezium Server's image as Cloud Run can pull it: Cloud Run cannot pull quay.io, where Debezium
   * publishes, directly, so through an Artifact Registry remote repository of https://quay.io, e.g.
   * "europe-west1-docker.pkg.dev/<project>/quay/debezium/server:3.6.1.Final" (README, "Running the engine").
   */
  image: string;
  /** vCPUs of the instance. Default "1". */
  cpu?: "1" | "2" | "4";
  /** Memory of the instance. Default "1Gi". */
  memory?: string;
  /**
   * Direct VPC egress, when the engine reaches the database on a private address (Cloud SQL or AlloyDB
   * private IP, a VM): the network and subnetwork; egress PRIVATE_RANGES_ONLY (default) keeps Pub/Sub on
   * Google's public route.
   */
  vpc?: { network: string; subnetwork?: string; egress?: "PRIVATE_RANGES_ONLY" | "ALL_TRAFFIC" };
}

export interface AuditStreamPostgresArgs {
  /** postgresql:// URL of ZITADEL's database for the objects' management (secret). Default: `zitadel-audit-stream:postgresUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /**
   * Where the engine reaches the database, when not where this program does (a private address,
   * a proxy). Default: the connection string's host, port and database.
   */
  engineDatabase?: { host: string; port?: number; dbname?: string; sslmode?: "disable" | "require" | "verify-ca" | "verify-full" };
  /**
   * Where the engine runs. "external" (default): the package renders its configuration and a container
   * spec (outputs `engines`), and you run exactly one copy of each on your cluster. "cloudRun": the
   * package runs it as a Cloud Run service per slot (one always-on instance, its own service account,
   * the password from Secret Manager): give `cloudRun`.
   */
  runtime?: "external" | "cloudRun";
  /** With runtime "cloudRun": where the engine runs and which image it pulls. */
  cloudRun?: AuditStreamCloudRunArgs;
  /** Change it to give the engine's database login a new generated password. */
  passwordRotationTrigger?: pulumi.Input<string>;
  /**
   * Accept PostgreSQL 14 (refused otherwise): it has no publication column lists or row filters, so
   * every inserted event leaves the database with its payload and the engine selects the events and
   * columns (README, "PostgreSQL 14"). Payloads, personal data, then reach the engine's process.
   */
  engineFilteringOnPg14?: boolean;
}

export interface AuditStreamArgs {
  /** Where the events come from: CockroachDB (default, ZITADEL v2) or `{ postgres: {…} }` (ZITADEL v3/v4). */
  source?: "cockroach" | { postgres: AuditStreamPostgresArgs };
  /**
   * Switch an existing stream's source: `{ from: "cockroach" }` to move it to PostgreSQL (ZITADEL v2 → v3/v4).
   * Without it a change of `source` is refused at preview. From CockroachDB the switch also waits until its
   * feeds delivered every event and ZITADEL stopped writing there (60 s of quiet): do it at ZITADEL's cutover,
   * after `zitadel mirror` and before ZITADEL v3/v4 writes to PostgreSQL. Remove it afterwards.
   */
  sourceSwitch?: { from: "cockroach" | "postgres" };
  /** CockroachDB URL (secret). Default: `zitadel-audit-stream:cockroachUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /** GCP project of the new resources. Default: `gcp:project`. */
  project?: pulumi.Input<string>;
  /** Settings of the bucket this component creates (compliance: retention, versioning, lifecycle, …). */
  bucket?: Omit<BucketArgs, "project">;
  /** Stream into this existing bucket instead of creating one (the grant is still added to it). */
  existingBucket?: pulumi.Input<string>;
  /** Object prefix inside the bucket. Default "events". */
  prefix?: pulumi.Input<string>;
  /** Default "flat", as in the guide. */
  partitionFormat?: pulumi.Input<"flat" | "daily" | "hourly">;
  /** What to stream: default the guide's columns without payload; `{ payload: { eventTypes: [...] } }` adds payload for those. */
  query?: DeepInput<ChangefeedQueryOptions>;
  /** WITH options of the changefeed. */
  changefeedOptions?: DeepInput<ChangefeedOptions>;
  /**
   * How CockroachDB authenticates to Cloud Storage. "key" (default): a key of the new service account
   * goes into the sink URI. "implicit": the nodes' own Google identity (grant it with
   * `implicitMember`). `{ assumeRole: [...] }`: the nodes impersonate the new service account through
   * the given delegates (each needs Service Account Token Creator on the next).
   */
  credentials?: "key" | "implicit" | { assumeRole: string[] };
  /** With credentials "implicit": the member to grant, e.g. "serviceAccount:crl-cdc-sink-user-…@….iam.gserviceaccount.com". */
  implicitMember?: pulumi.Input<string>;
  /** Change it to rotate the key: a new key is made, the feed switched, then the old key deleted. */
  keyRotationTrigger?: pulumi.Input<string>;
  /** Turn on kv.rangefeed.enabled. Default true. */
  manageRangefeedSetting?: boolean;
  /** How long changefeed updates may wait for a job to run (default 120 s). */
  timeoutSeconds?: pulumi.Input<number>;
  /** The feed's `health` is "lagging" past this many seconds behind (default 300). */
  maxLagSeconds?: pulumi.Input<number>;
  /** Make the events queryable in BigQuery (dataset, external table, de-duplicating view). */
  bigQuery?: AuditStreamBigQueryArgs;
  /**
   * Where the events go: "gcs" (the bucket, as in the guide), "pubsub" (a topic for a SIEM), or both,
   * each with its own changefeed job. Default: ["gcs"], plus "pubsub" when `pubsub` is given.
   */
  destinations?: ("gcs" | "pubsub")[];
  /** The Pub/Sub destination: topic, writer, changefeed and a pull subscription for the SIEM. */
  pubsub?: AuditStreamPubSubArgs;
  /**
   * Take over what a same-named deployment made (after this stack's state was lost, or a move to a
   * backend without its state): the deployment an error named, or "legacy" for objects from before
   * identities. Adopted objects and continued jobs are recorded in each resource's `takenOverFrom`.
   */
  takeOver?: pulumi.Input<string>;
}

/** Which part of the stream owns an argument: the stream itself, its source, the writer, or a destination. */
export type Part = "stream" | "source" | "writer" | "gcs" | "pubsub";

/** Every AuditStream argument, once, with its owner (a key missing here or not in AuditStreamArgs does not compile). */
export const ARGUMENTS = {
  source: "stream",
  sourceSwitch: "stream",
  connectionString: "source",
  project: "stream",
  bucket: "gcs",
  existingBucket: "gcs",
  prefix: "gcs",
  partitionFormat: "gcs",
  query: "source",
  changefeedOptions: "source",
  credentials: "writer",
  implicitMember: "writer",
  keyRotationTrigger: "writer",
  manageRangefeedSetting: "source",
  timeoutSeconds: "source",
  maxLagSeconds: "source",
  bigQuery: "gcs",
  destinations: "stream",
  pubsub: "pubsub",
  takeOver: "stream",
} as const satisfies Record<keyof Required<AuditStreamArgs>, Part>;

/** The keys of T, each listed once: a key missing from the list, or not T's, does not compile. */
const keysOf =
  <T>() =>
  <const K extends readonly (keyof T)[]>(...keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, K[number]> })) =>
    keys;

/** Every option of `bigQuery`, once. */
export const BIGQUERY_OPTIONS = keysOf<AuditStreamBigQueryArgs>()(
  "datasetId",
  "location",
  "tableName",
  "viewName",
  "readers",
  "schema",
  "connection",
  "readersScope",
);

/** Every option of `pubsub`, once. */
export const PUBSUB_OPTIONS = keysOf<AuditStreamPubSubArgs>()(
  "region",
  "topicName",
  "subscriptionName",
  "subscribers",
  "ackDeadlineSeconds",
  "messageRetentionDuration",
  "maxDeliveryAttempts",
);

/** Arguments given that no table above lists, as "<path>: not a … (known: …)". */
export function unknownKeys(given: Record<string, unknown>, known: readonly string[], path: string, what: string): string[] {
  return Object.keys(given)
    .filter((k) => !known.includes(k))
    .map((k) => `${path}${k}: not ${what} (known: ${known.join(", ")})`);
}

/** A value the program can check now: not an Output or a promise (those are checked by the resources). */
export const plain = (v: unknown) => !pulumi.Output.isInstance(v) && !(v instanceof Promise);

/** What every object-making resource of one stream carries: the stream's identity, and takeOver. */
export interface Owned {
  deployment: pulumi.Input<string>;
  takeOver?: pulumi.Input<string>;
}

/** What each part of a stream builds with. */
export interface StreamContext {
  /** The component's name: resource names start with it. */
  name: string;
  args: AuditStreamArgs;
  owned: Owned;
  parent: pulumi.CustomResourceOptions;
}
