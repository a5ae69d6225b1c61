// AuditStream: ZITADEL's guide "Streaming Audit Logs to External Systems" as one component —
// bucket → service account → custom role holding only storage.objects.create → bucket grant →
// key → kv.rangefeed.enabled → changefeed streaming eventstore.events2 into the bucket.
import * as pulumi from "@pulumi/pulumi";
import { Bucket, BucketArgs } from "./gcp/bucket";
import { CustomRole } from "./gcp/custom-role";
import { BucketIamMember, prefixCondition } from "./gcp/bucket-iam-member";
import { ClusterSetting } from "./cockroach/cluster-setting";
import { Changefeed } from "./cockroach/changefeed";
import type { ChangefeedQueryOptions } from "./cdc/query";
import type { ChangefeedOptions } from "./cdc/statement";
import type { DeepInput } from "./engine/contract";
import { STORAGE_LOCATIONS, member, serviceAccountEmail } from "./gcp/fields";
import { sinkUriOptionsSchema } from "./cdc/sink";
import { bucketName } from "./validation";
import { BigQueryDataset } from "./gcp/bigquery-dataset";
import { BigQueryTable } from "./gcp/bigquery-table";
import { BigQueryView } from "./gcp/bigquery-view";
import { BigQueryField, bigQuerySchema, bigQuerySourceUris, dedupViewQuery } from "./cdc/bigquery";
import { loadSqlParser } from "./cdc/query";
import type { FeedHealth } from "./cockroach/health";
import { AuditStreamPubSubArgs, pubsubDestination, pubsubProblems, pubsubWarnings } from "./audit-stream-pubsub";
import { Owned, destinationChangefeed, sinkWriter, writerSink } from "./audit-stream-writer";
import { StreamIdentity } from "./stream-identity";
import { EVENTS2_PRIMARY_KEY } from "./cdc/events2";
import { datasetId as datasetIdSchema, datasetReader, tableId as tableIdSchema } from "./gcp/fields";
import { bigQueryTableInputs } from "./gcp/bigquery-table";

/** Query the events in BigQuery: a dataset, an external table over the feed's files, a de-duplicating view. */
export interface AuditStreamBigQueryArgs {
  /** Default: the component's name in letters, digits and underscores, plus "_audit". */
  datasetId?: string;
  /** Default "US". Use the bucket's location or a multi-region containing it. */
  location?: string;
  /** The external table over the files. Default "events". */
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

export interface AuditStreamArgs {
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

const plain = (v: unknown) => !pulumi.Output.isInstance(v) && !(v instanceof Promise);

/**
 * AuditStream's arguments, checked in the program (so at preview) and strictly: unknown arguments,
 * wrong types and combinations that would silently mis-wire the stream are refused, each named.
 * Values given as Outputs are checked by the resources that receive them.
 */
export function auditStreamProblems(args: Record<string, unknown>): string[] {
  const known = ["connectionString", "project", "bucket", "existingBucket", "prefix", "partitionFormat", "query", "changefeedOptions", "credentials", "implicitMember", "keyRotationTrigger", "manageRangefeedSetting", "timeoutSeconds", "bigQuery", "maxLagSeconds", "destinations", "pubsub", "takeOver"];
  const problems: string[] = Object.keys(args)
    .filter((k) => !known.includes(k))
    .map((k) => `${k}: not an AuditStream argument (known: ${known.join(", ")})`);
  const c = args.credentials;
  const mode = c === undefined || c === "key" ? "key" : c === "implicit" ? "implicit" : typeof c === "object" && c !== null && !Array.isArray(c) ? "assumeRole" : "bad";
  if (mode === "bad") problems.push(`credentials: must be "key", "implicit" or { assumeRole: ["delegate@….iam.gserviceaccount.com", …] }, not ${JSON.stringify(c)}`);
  if (mode === "assumeRole") {
    const ar = (c as any).assumeRole;
    const extra = Object.keys(c as object).filter((k) => k !== "assumeRole");
    if (extra.length) problems.push(`credentials: unknown key ${extra.join(", ")} (only assumeRole)`);
    if (!Array.isArray(ar) || ar.length === 0) problems.push("credentials.assumeRole: must list at least one delegate service account");
    else ar.forEach((e: unknown, i: number) => {
      if (plain(e) && !serviceAccountEmail.safeParse(e).success) problems.push(`credentials.assumeRole.${i}: must be a service account email, not ${JSON.stringify(e)}`);
    });
  }
  if (args.keyRotationTrigger !== undefined && mode !== "key") problems.push('keyRotationTrigger: only with credentials "key" (there is no key to rotate otherwise)');
  if (args.implicitMember !== undefined && mode !== "implicit") problems.push('implicitMember: only with credentials "implicit" (it would grant an identity the feed never uses)');
  if (mode === "implicit" && args.implicitMember === undefined) problems.push('implicitMember: credentials "implicit" needs the nodes\' identity to grant, e.g. "serviceAccount:crl-cdc-sink-user-…@….iam.gserviceaccount.com"');
  if (mode === "implicit" && plain(args.implicitMember) && args.implicitMember !== undefined) {
    const m = member.safeParse(args.implicitMember);
    if (!m.success) problems.push(`implicitMember: ${m.error.issues[0].message}`);
  }
  if (args.existingBucket !== undefined && args.bucket !== undefined) problems.push("existingBucket: give either existingBucket or bucket settings, not both");
  if (args.existingBucket !== undefined && plain(args.existingBucket) && !bucketName.safeParse(args.existingBucket).success) problems.push(`existingBucket: not a bucket name: ${JSON.stringify(args.existingBucket)}`);
  if (args.prefix !== undefined && plain(args.prefix)) {
    const p = sinkUriOptionsSchema.safeParse({ bucket: "b-check", credentials: "x", prefix: args.prefix });
    const issue = p.success ? undefined : p.error.issues.find((i) => i.path[0] === "prefix");
    if (issue) problems.push(`prefix: ${issue.message}`);
  }
  if (args.takeOver !== undefined && plain(args.takeOver) && !/^([0-9a-f]{16}|legacy)$/.test(String(args.takeOver))) problems.push(`takeOver: must be the deployment an error named (16 hex characters), or "legacy", not ${JSON.stringify(args.takeOver)}`);
  // De-duplication of the files (the BigQuery view, any reader) needs every event's key in every line;
  // a Pub/Sub message carries the key beside the value whatever the columns.
  const q = args.query as Record<string, unknown> | undefined;
  const toFiles = !Array.isArray(args.destinations) || (args.destinations as unknown[]).includes("gcs");
  if (toFiles && q && plain(q) && Array.isArray(q.columns) && q.columns.every(plain)) {
    const missing = EVENTS2_PRIMARY_KEY.filter((c) => !(q.columns as unknown[]).includes(c));
    if (missing.length) problems.push(`query.columns: leaves out ${missing.join(", ")} of events2's primary key (${EVENTS2_PRIMARY_KEY.join(", ")}): the at-least-once duplicates could no longer be told apart; keep every key column`);
  }
  if (args.partitionFormat !== undefined && plain(args.partitionFormat) && !["flat", "daily", "hourly"].includes(args.partitionFormat as string)) problems.push(`partitionFormat: must be "flat", "daily" or "hourly", not ${JSON.stringify(args.partitionFormat)}`);
  if (args.manageRangefeedSetting !== undefined && typeof args.manageRangefeedSetting !== "boolean") problems.push(`manageRangefeedSetting: must be true or false, not ${JSON.stringify(args.manageRangefeedSetting)}`);
  if (args.timeoutSeconds !== undefined && plain(args.timeoutSeconds) && !(Number.isInteger(args.timeoutSeconds) && (args.timeoutSeconds as number) >= 5 && (args.timeoutSeconds as number) <= 3600)) problems.push("timeoutSeconds: must be a whole number of seconds from 5 to 3600");
  const o = args.changefeedOptions as Record<string, unknown> | undefined;
  if (o && plain(o)) {
    if (o.initial_scan === "only") problems.push('changefeedOptions.initial_scan: "only" ends the feed after the scan; an audit stream must keep streaming');
    if (o.end_time !== undefined) problems.push("changefeedOptions.end_time: ends the feed; an audit stream must keep streaming");
    if (o.metrics_label !== undefined) problems.push("changefeedOptions.metrics_label: set by the provider (it marks the stream's jobs)");
  }
  problems.push(...bigQueryProblems(args.bigQuery, o));
  problems.push(...pubsubProblems(args.pubsub, args.destinations));
  const destinations = (args.destinations as unknown[] | undefined) ?? ["gcs"];
  if (Array.isArray(destinations) && !destinations.includes("gcs")) {
    for (const k of ["bucket", "existingBucket", "prefix", "partitionFormat", "bigQuery"]) if (args[k] !== undefined) problems.push(`${k}: only with the "gcs" destination (destinations is ${JSON.stringify(destinations)})`);
  }
  const b = args.bucket as Record<string, unknown> | undefined;
  if (b && plain(b) && b.location !== undefined && plain(b.location) && !STORAGE_LOCATIONS.has(String(b.location).toUpperCase())) problems.push(`bucket.location: ${JSON.stringify(b.location)} is not a Cloud Storage location (https://cloud.google.com/storage/docs/locations)`);
  return problems;
}

function bigQueryProblems(bqa: unknown, options: Record<string, unknown> | undefined): string[] {
  if (bqa === undefined) return [];
  if (!bqa || typeof bqa !== "object" || Array.isArray(bqa)) return ["bigQuery: must be an object such as { datasetId: \"zitadel_audit\" }"];
  const a = bqa as Record<string, unknown>;
  const known = ["datasetId", "location", "tableName", "viewName", "readers", "schema", "connection", "readersScope"];
  if (a.readersScope !== undefined && a.readersScope !== "prefix" && a.readersScope !== "bucket") return [`bigQuery.readersScope: must be "prefix" or "bucket", not ${JSON.stringify(a.readersScope)}`];
  const problems = Object.keys(a).filter((k) => !known.includes(k)).map((k) => `bigQuery.${k}: not a bigQuery option (known: ${known.join(", ")})`);
  const check = (key: string, schema: { safeParse(v: unknown): { success: boolean; error?: any } }) => {
    const v = a[key];
    if (v === undefined || v === null || !plain(v)) return;
    const r = schema.safeParse(v);
    if (!r.success) problems.push(`bigQuery.${key}: ${r.error.issues[0].message}`);
  };
  check("datasetId", datasetIdSchema);
  check("tableName", tableIdSchema);
  check("viewName", tableIdSchema);
  if (a.viewName !== undefined && a.viewName !== null && a.viewName === (a.tableName ?? "events")) problems.push("bigQuery.viewName: must differ from tableName");
  if (a.readers !== undefined && !Array.isArray(a.readers)) problems.push('bigQuery.readers: must be a list of members such as ["group:auditors@example.com"]');
  else (a.readers as unknown[] | undefined)?.forEach((m, i) => {
    if (plain(m) && !datasetReader.safeParse(m).success) problems.push(`bigQuery.readers.${i}: must be "user:…", "serviceAccount:…" or "group:…" followed by an email, not ${JSON.stringify(m)}`);
  });
  const c = a.connection as Record<string, unknown> | undefined;
  if (c !== undefined) {
    if (!c || typeof c !== "object" || typeof c.id !== "string" || c.serviceAccount === undefined) problems.push('bigQuery.connection: must be { id: "project.location.connection", serviceAccount: "…@gcp-sa-bigquery-condel.iam.gserviceaccount.com" }');
    else {
      const id = bigQueryTableInputs.shape.connectionId.safeParse(c.id);
      if (!id.success) problems.push(`bigQuery.connection.id: ${id.error.issues[0].message}`);
      if (plain(c.serviceAccount) && !/^[^@\s:]+@[^@\s:]+\.[a-z]{2,}$/.test(String(c.serviceAccount))) problems.push(`bigQuery.connection.serviceAccount: must be the connection's service account email, not ${JSON.stringify(c.serviceAccount)}`);
    }
  }
  // The table reads bare NDJSON lines: other formats or envelopes would not match its schema.
  if (options && plain(options)) {
    if (options.format !== undefined && options.format !== "json") problems.push(`changefeedOptions.format: the BigQuery table reads NDJSON; with bigQuery the format must be "json", not ${JSON.stringify(options.format)}`);
    if (options.envelope === "wrapped") problems.push('changefeedOptions.envelope: with bigQuery the envelope must be "bare" (the table\'s columns are the row\'s columns)');
    if (options.compression === "zstd") problems.push('changefeedOptions.compression: BigQuery reads gzip, not zstd; use "gzip" or none with bigQuery');
  }
  return problems;
}

export class AuditStream extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly serviceAccountEmail: pulumi.Output<string | undefined>;
  readonly roleName: pulumi.Output<string>;
  readonly jobId: pulumi.Output<string>;
  readonly sinkUriRedacted: pulumi.Output<string>;
  readonly feedStatus: pulumi.Output<string>;
  readonly highWaterTimestamp: pulumi.Output<string | null>;
  /** The changefeed's health (healthy | lagging | failing | stopped, reason, lagSeconds) as of the last up or refresh. */
  readonly health: pulumi.Output<FeedHealth>;
  readonly changefeed: Changefeed;
  /** The stream's identity (its `deployment` is carried by every object and job it makes). */
  readonly identity: StreamIdentity;
  /** With `bigQuery`: the external table, `project.dataset.table`. */
  readonly bigQueryTableId: pulumi.Output<string | undefined>;
  /** With `bigQuery` and a view: the de-duplicating view, `project.dataset.view`. */
  readonly bigQueryViewId: pulumi.Output<string | undefined>;
  /** With `bigQuery`: a ready `bq query` command counting events per type through the view (or the table). */
  readonly bigQueryCommand: pulumi.Output<string | undefined>;
  /** With the "pubsub" destination: the topic, `projects/<p>/topics/<t>`. */
  readonly pubsubTopic: pulumi.Output<string | undefined>;
  /** With the "pubsub" destination: the SIEM's pull subscription, `projects/<p>/subscriptions/<s>`. */
  readonly pubsubSubscription: pulumi.Output<string | undefined>;
  /** With the "pubsub" destination and maxDeliveryAttempts: the subscription keeping dead-lettered messages. */
  readonly pubsubDeadLetterSubscription: pulumi.Output<string | undefined>;
  /** With the "pubsub" destination: its changefeed's job (the "gcs" one is `jobId`). */
  readonly pubsubJobId: pulumi.Output<string | undefined>;

  constructor(name: string, args: AuditStreamArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("zitadel-audit-stream:index:AuditStream", name, {}, opts);
    const parent = { parent: this };
    const problems = auditStreamProblems(args as Record<string, unknown>);
    if (problems.length) throw new Error(`AuditStream ${name}: ${problems.join("; ")}`);

    const destinations = args.destinations ?? (args.pubsub ? ["gcs", "pubsub"] : ["gcs"]);
    const toGcs = destinations.includes("gcs");
    for (const warning of pubsubWarnings(args.pubsub, destinations)) void pulumi.log.warn(warning, this);
    // The stream's identity, made before anything else and carried by everything it makes. Without a
    // parent, so that moving the stream under another parent keeps it (docs/identity.md); its delete,
    // after all the rest, cancels any job a create cut short left behind.
    this.identity = new StreamIdentity(`${name}-identity`, { connectionString: args.connectionString, sweepJobs: true });
    const owned: Owned = { deployment: this.identity.deployment, takeOver: args.takeOver };
    const setting = args.manageRangefeedSetting === false ? undefined : new ClusterSetting(`${name}-rangefeeds`, { connectionString: args.connectionString }, parent);
    const pubsub = destinations.includes("pubsub") ? pubsubDestination(name, args, owned, args.pubsub!, setting ? [setting] : [], parent) : undefined;
    const gcs = toGcs ? this.gcsDestination(name, args, owned, setting, parent) : undefined;
    const primary = gcs?.changefeed ?? pubsub!.changefeed;
    this.changefeed = primary;

    const bigQuery = gcs && args.bigQuery ? this.bigQuery(name, args, owned, args.bigQuery, gcs.bucketName, parent) : undefined;
    this.bigQueryTableId = bigQuery ? bigQuery.table.fullId : pulumi.output(undefined);
    this.bigQueryViewId = bigQuery?.view ? bigQuery.view.fullId : pulumi.output(undefined);
    this.bigQueryCommand = bigQuery ? (bigQuery.view ?? bigQuery.table).fullId.apply((id) => `bq query --use_legacy_sql=false 'SELECT event_type, COUNT(*) AS events FROM \`${id}\` GROUP BY event_type ORDER BY events DESC'`) : pulumi.output(undefined);

    this.bucketName = gcs ? gcs.bucketName : pulumi.output("");
    this.serviceAccountEmail = gcs?.account ? gcs.account.email : pubsub?.account ? pubsub.account.email : pulumi.output(undefined);
    this.roleName = gcs ? gcs.roleName : pulumi.output("");
    this.jobId = primary.jobId;
    this.sinkUriRedacted = primary.sinkUriRedacted;
    this.feedStatus = primary.status;
    this.highWaterTimestamp = primary.highWaterTimestamp;
    this.pubsubTopic = pubsub ? pubsub.topic.fullName : pulumi.output(undefined);
    this.pubsubSubscription = pubsub?.subscription ? pubsub.subscription.fullName : pulumi.output(undefined);
    this.pubsubDeadLetterSubscription = pubsub?.deadLetterSubscription ? pubsub.deadLetterSubscription.fullName : pulumi.output(undefined);
    this.pubsubJobId = pubsub ? pubsub.changefeed.jobId : pulumi.output(undefined);
    // The worse of the feeds' verdicts, saying which feed it is when there are two.
    this.health = gcs && pubsub ? pulumi.all([gcs.changefeed.health, pubsub.changefeed.health]).apply(([a, b]) => worse(a, b)) : primary.health;
    this.registerOutputs({
      bucketName: this.bucketName,
      serviceAccountEmail: this.serviceAccountEmail,
      roleName: this.roleName,
      jobId: this.jobId,
      sinkUriRedacted: this.sinkUriRedacted,
      feedStatus: this.feedStatus,
      health: this.health,
      bigQueryTableId: this.bigQueryTableId,
      bigQueryViewId: this.bigQueryViewId,
      bigQueryCommand: this.bigQueryCommand,
      pubsubTopic: this.pubsubTopic,
      pubsubSubscription: this.pubsubSubscription,
      pubsubDeadLetterSubscription: this.pubsubDeadLetterSubscription,
      pubsubJobId: this.pubsubJobId,
    });
  }

  /** The guide's pipeline into Cloud Storage: bucket, writer role and account, grant, key, changefeed. */
  private gcsDestination(name: string, args: AuditStreamArgs, owned: Owned, setting: ClusterSetting | undefined, parent: pulumi.CustomResourceOptions) {
    // An audit archive is kept on destroy unless forceDestroy says otherwise.
    const bucket =
      args.existingBucket === undefined
        ? new Bucket(`${name}-bucket`, { ...args.bucket, project: args.project, ...owned }, { ...parent, retainOnDelete: !args.bucket?.forceDestroy })
        : undefined;
    const bucketName = bucket ? bucket.name : pulumi.output(args.existingBucket!);

    const role = new CustomRole(
      `${name}-role`,
      { roleIdPrefix: `${name.replace(/[^a-zA-Z0-9_.]+/g, "_")}_writer`.slice(0, 57), title: "ZITADEL audit stream writer", description: "Create objects only: what a CockroachDB changefeed needs.", permissions: ["storage.objects.create"], project: args.project, ...owned },
      parent,
    );
    const writer = sinkWriter(name, args, owned, { account: `${name}-writer`, key: `${name}-key`, displayName: "ZITADEL audit stream writer", description: "CockroachDB changefeed into Cloud Storage" }, parent);
    const grant = new BucketIamMember(`${name}-grant`, { bucket: bucketName, role: role.name, member: writer.member }, parent);
    const sink = writerSink(args, writer, pulumi.all([bucketName, args.prefix, args.partitionFormat]).apply(([bucket, prefix, pf]) => ({ bucket, prefix: prefix ?? "events", partitionFormat: pf ?? "flat" })));
    const changefeed = destinationChangefeed(`${name}-changefeed`, args, owned, sink, [grant, ...(setting ? [setting] : [])], parent);
    return { bucketName, account: writer.account, roleName: role.name, changefeed };
  }

  /**
   * The dataset, the external table over the feed's data files (its schema follows the query, so
   * a query change updates it in place), the de-duplicating view, and the readers' grants.
   */
  private bigQuery(name: string, args: AuditStreamArgs, owned: Owned, a: AuditStreamBigQueryArgs, bucketName: pulumi.Output<string>, parent: pulumi.CustomResourceOptions) {
    const dataset = new BigQueryDataset(
      `${name}-dataset`,
      { datasetId: a.datasetId ?? `${name.replace(/[^A-Za-z0-9_]+/g, "_")}_audit`, location: a.location, project: args.project, readers: a.readers, description: "ZITADEL audit events streamed by a CockroachDB changefeed (zitadel-audit-stream)", ...owned },
      parent,
    );
    const schema: pulumi.Output<BigQueryField[]> = a.schema
      ? pulumi.output(a.schema)
      : pulumi.output(args.query as pulumi.Input<any>).apply(async (q: any) => {
          if (q?.query !== undefined) await loadSqlParser();
          return bigQuerySchema(q ?? {});
        });
    const compression = pulumi.output(args.changefeedOptions as pulumi.Input<any>).apply((o: any) => o?.compression as "gzip" | undefined);
    const table = new BigQueryTable(
      `${name}-table`,
      {
        project: args.project,
        datasetId: dataset.datasetId,
        tableId: a.tableName ?? "events",
        description: "The changefeed's NDJSON files, as written (at least once: a handoff or restart repeats some events; the view removes them)",
        schema,
        sourceUris: pulumi.all([bucketName, args.prefix, compression]).apply(([bucket, prefix, c]) => bigQuerySourceUris({ bucket, prefix: prefix ?? "events", compression: c })),
        compression: compression.apply((c) => (c === "gzip" ? "GZIP" : "NONE")),
        connectionId: a.connection?.id,
        ...owned,
      },
      parent,
    );
    const viewName = a.viewName === undefined ? "events_dedup" : a.viewName;
    const view =
      viewName === null
        ? undefined
        : new BigQueryView(
            `${name}-view`,
            { project: args.project, datasetId: dataset.datasetId, tableId: viewName, description: "One row per event: the table without the at-least-once duplicates", query: pulumi.all([table.fullId, schema]).apply(([id, s]) => dedupViewQuery(`\`${id}\``, s)), ...owned },
            parent,
          );
    // Whoever reads the files needs storage.objects.get and list: the readers, or with a connection
    // (BigLake) its service account alone — on the stream's prefix only (an IAM Condition), unless
    // readersScope "bucket" (a bucket without uniform bucket-level access takes no conditions).
    const condition = (a.readersScope ?? "prefix") === "prefix" ? pulumi.all([bucketName, args.prefix]).apply(([b, p]) => prefixCondition(b, p ?? "events")) : undefined;
    if (a.connection) {
      new BucketIamMember(`${name}-connection-reader`, { bucket: bucketName, role: "roles/storage.objectViewer", member: pulumi.interpolate`serviceAccount:${a.connection.serviceAccount}`, condition }, parent);
    } else {
      (a.readers ?? []).forEach((member, i) => new BucketIamMember(`${name}-reader-${i}`, { bucket: bucketName, role: "roles/storage.objectViewer", member, condition }, parent));
    }
    return { dataset, table, view };
  }
}

const RANK: Record<string, number> = { healthy: 0, lagging: 1, failing: 2, stopped: 3 };

/** The worse of the two feeds' verdicts (Cloud Storage first), its reason naming the feed. */
function worse(gcs: FeedHealth, pubsub: FeedHealth): FeedHealth {
  const [which, h] = (RANK[pubsub?.state] ?? 0) > (RANK[gcs?.state] ?? 0) ? ["Pub/Sub", pubsub] : ["Cloud Storage", gcs];
  return { ...h, reason: `${which} feed: ${h.reason}` };
}
