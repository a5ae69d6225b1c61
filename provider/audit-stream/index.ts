// AuditStream: ZITADEL's guide "Streaming Audit Logs to External Systems" as one component. A source
// feeds each destination. CockroachDB (sources/cockroach.ts): a changefeed per destination (the guide's
// Cloud Storage bucket, with BigQuery over its files, and Pub/Sub for a SIEM), each with its own writer
// (writer.ts). PostgreSQL (sources/postgres.ts): role, publication(s), slot(s) and the engine's
// configuration, publishing into the stream's topic, whose subscriptions are the destinations
// (destinations/subscriptions.ts). Arguments and their checks: args.ts, validate.ts.
import * as pulumi from "@pulumi/pulumi";
import type { Changefeed } from "../cockroach/changefeed";
import { FeedHealth, HEALTH_RANK } from "../cockroach/health";
import { StreamIdentity } from "../stream-identity";
import { AuditStreamArgs, AuditStreamPostgresArgs, StreamContext } from "./args";
import { auditStreamProblems } from "./validate";
import { cockroachSource } from "./sources/cockroach";
import { gcsDestination } from "./destinations/gcs";
import { bigQueryDestination } from "./destinations/bigquery";
import { pubsubDestination, pubsubWarnings, siemSubscription } from "./destinations/pubsub";
import { EngineConfig, postgresSource } from "./sources/postgres";
import { cloudRunEngines } from "./sources/postgres-cloud-run";
import { topicDestinations } from "./destinations/subscriptions";

export type { AuditStreamArgs, AuditStreamBigQueryArgs, AuditStreamPubSubArgs, AuditStreamPostgresArgs, AuditStreamCloudRunArgs } from "./args";
export type { EngineConfig } from "./sources/postgres";
export { auditStreamProblems } from "./validate";

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
  /** The CockroachDB source's (first) changefeed; undefined with the PostgreSQL source. */
  readonly changefeed: Changefeed | undefined;
  /** PostgreSQL source: per slot, the engine's configuration and container spec (secret: it holds the database password). */
  readonly engines: pulumi.Output<EngineConfig[] | undefined>;
  /** PostgreSQL source: the engine's Google key (base64 JSON) with credentials "key" (secret). */
  readonly engineKey: pulumi.Output<string | undefined>;
  /** PostgreSQL source: the engine's database password (secret): the value of your secret `<name>-engine`, key "password", that the container spec reads. */
  readonly enginePassword: pulumi.Output<string | undefined>;
  /** PostgreSQL source: the replication slots, one per engine. */
  readonly slotNames: pulumi.Output<string[] | undefined>;
  /** PostgreSQL source with runtime "cloudRun": the engines' Cloud Run services, `projects/<p>/locations/<l>/services/<s>`. */
  readonly engineServices: pulumi.Output<string[] | undefined>;
  /** PostgreSQL source with "gcs": the Cloud Storage subscription. */
  readonly gcsSubscription: pulumi.Output<string | undefined>;
  /** PostgreSQL source with bigQuery: the BigQuery subscription. */
  readonly bigQuerySubscription: pulumi.Output<string | undefined>;
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
    const problems = auditStreamProblems(args as Record<string, unknown>);
    if (problems.length) throw new Error(`AuditStream ${name}: ${problems.join("; ")}`);

    const destinations = args.destinations ?? (args.pubsub ? ["gcs", "pubsub"] : ["gcs"]);
    for (const warning of pubsubWarnings(args.pubsub, destinations)) void pulumi.log.warn(warning, this);
    // The stream's identity, made before anything else and carried by everything it makes. Without a
    // parent, so that moving the stream under another parent keeps it (docs/identity.md); its delete,
    // after all the rest, cancels any job a create cut short left behind (CockroachDB only).
    const postgres = typeof args.source === "object" ? args.source.postgres : undefined;
    // A change of source is refused there unless sourceSwitch names the old one (provider/source-switch.ts).
    const switchFrom = args.sourceSwitch?.from;
    this.identity = new StreamIdentity(
      `${name}-identity`,
      postgres
        ? { sweepJobs: false, source: "postgres", ...(switchFrom ? { switchFrom } : {}) }
        : { connectionString: args.connectionString, sweepJobs: true, ...(switchFrom ? { switchFrom } : {}) },
    );
    const ctx: StreamContext = { name, args, owned: { deployment: this.identity.deployment, takeOver: args.takeOver }, parent: { parent: this } };
    const o = postgres ? postgresStream(ctx, postgres, destinations) : cockroachStream(ctx, destinations);
    this.changefeed = o.changefeed;
    this.bucketName = o.bucketName;
    this.serviceAccountEmail = o.serviceAccountEmail;
    this.roleName = o.roleName;
    this.jobId = o.jobId;
    this.sinkUriRedacted = o.sinkUriRedacted;
    this.feedStatus = o.feedStatus;
    this.highWaterTimestamp = o.highWaterTimestamp;
    this.health = o.health;
    this.bigQueryTableId = o.bigQueryTableId;
    this.bigQueryViewId = o.bigQueryViewId;
    this.bigQueryCommand = o.bigQueryCommand;
    this.pubsubTopic = o.pubsubTopic;
    this.pubsubSubscription = o.pubsubSubscription;
    this.pubsubDeadLetterSubscription = o.pubsubDeadLetterSubscription;
    this.pubsubJobId = o.pubsubJobId;
    this.engines = o.engines;
    this.engineServices = o.engineServices;
    this.engineKey = o.engineKey;
    this.enginePassword = o.enginePassword;
    this.slotNames = o.slotNames;
    this.gcsSubscription = o.gcsSubscription;
    this.bigQuerySubscription = o.bigQuerySubscription;
    const { changefeed: _feed, ...outputs } = o;
    void _feed;
    this.registerOutputs(outputs);
  }
}

type Maybe<T> = pulumi.Output<T | undefined>;

/** What either source's stream gives the component. */
interface StreamOutputs {
  changefeed: Changefeed | undefined;
  bucketName: pulumi.Output<string>;
  serviceAccountEmail: Maybe<string>;
  roleName: pulumi.Output<string>;
  jobId: pulumi.Output<string>;
  sinkUriRedacted: pulumi.Output<string>;
  feedStatus: pulumi.Output<string>;
  highWaterTimestamp: pulumi.Output<string | null>;
  health: pulumi.Output<FeedHealth>;
  bigQueryTableId: Maybe<string>;
  bigQueryViewId: Maybe<string>;
  bigQueryCommand: Maybe<string>;
  pubsubTopic: Maybe<string>;
  pubsubSubscription: Maybe<string>;
  pubsubDeadLetterSubscription: Maybe<string>;
  pubsubJobId: Maybe<string>;
  engines: Maybe<EngineConfig[]>;
  engineServices: Maybe<string[]>;
  engineKey: Maybe<string>;
  enginePassword: Maybe<string>;
  slotNames: Maybe<string[]>;
  gcsSubscription: Maybe<string>;
  bigQuerySubscription: Maybe<string>;
}

const none = <T>(): Maybe<T> => pulumi.output(undefined);

/** A `bq query` counting events per type in this table or view. */
const countCommand = (id: pulumi.Output<string>) =>
  id.apply((t) => `bq query --use_legacy_sql=false 'SELECT event_type, COUNT(*) AS events FROM \`${t}\` GROUP BY event_type ORDER BY events DESC'`);

/** The CockroachDB source's stream: a changefeed per destination. */
function cockroachStream(ctx: StreamContext, destinations: string[]): StreamOutputs {
  const { args } = ctx;
  const source = cockroachSource(ctx);
  const pubsub = destinations.includes("pubsub") ? pubsubDestination(ctx, args.pubsub!, source) : undefined;
  const gcs = destinations.includes("gcs") ? gcsDestination(ctx, source) : undefined;
  const primary = gcs?.changefeed ?? pubsub!.changefeed;
  const bigQuery = gcs && args.bigQuery ? bigQueryDestination(ctx, args.bigQuery, gcs.bucketName) : undefined;
  return {
    changefeed: primary,
    bucketName: gcs ? gcs.bucketName : pulumi.output(""),
    serviceAccountEmail: gcs?.account ? gcs.account.email : pubsub?.account ? pubsub.account.email : none(),
    roleName: gcs ? gcs.roleName : pulumi.output(""),
    jobId: primary.jobId,
    sinkUriRedacted: primary.sinkUriRedacted,
    feedStatus: primary.status,
    highWaterTimestamp: primary.highWaterTimestamp,
    // The worse of the feeds' verdicts, saying which feed it is when there are two.
    health: gcs && pubsub ? pulumi.all([gcs.changefeed.health, pubsub.changefeed.health]).apply(([a, b]) => worse(a, b)) : primary.health,
    bigQueryTableId: bigQuery ? bigQuery.table.fullId : none(),
    bigQueryViewId: bigQuery?.view ? bigQuery.view.fullId : none(),
    bigQueryCommand: bigQuery ? countCommand((bigQuery.view ?? bigQuery.table).fullId) : none(),
    pubsubTopic: pubsub ? pubsub.topic.fullName : none(),
    pubsubSubscription: pubsub?.subscription ? pubsub.subscription.fullName : none(),
    pubsubDeadLetterSubscription: pubsub?.deadLetterSubscription ? pubsub.deadLetterSubscription.fullName : none(),
    pubsubJobId: pubsub ? pubsub.changefeed.jobId : none(),
    engines: none(),
    engineServices: none(),
    engineKey: none(),
    enginePassword: none(),
    slotNames: none(),
    gcsSubscription: none(),
    bigQuerySubscription: none(),
  };
}

/** The PostgreSQL source's stream: the engine publishes into the topic; the destinations subscribe to it. */
function postgresStream(ctx: StreamContext, pg: AuditStreamPostgresArgs, destinations: string[]): StreamOutputs {
  const source = postgresSource(ctx, pg);
  const dest = topicDestinations(ctx, source.topic, destinations);
  const siem = destinations.includes("pubsub") ? siemSubscription(ctx, ctx.args.pubsub ?? {}, source.topic, true) : {};
  // The engine publishes with an ordering key per aggregate: the SIEM's subscription delivers each in order.
  const subscriptions = [...dest.ready, ...(siem.subscription ? [siem.subscription] : [])];
  const onCloudRun = pg.runtime === "cloudRun" ? cloudRunEngines(ctx, pg, source, subscriptions) : undefined;
  return {
    changefeed: undefined,
    bucketName: dest.bucketName ?? pulumi.output(""),
    serviceAccountEmail: source.engineAccountEmail,
    roleName: pulumi.output(""),
    jobId: pulumi.output(""),
    sinkUriRedacted: pulumi.output(""),
    feedStatus: source.health.apply((h) => h.state),
    highWaterTimestamp: pulumi.output(null),
    health: source.health,
    bigQueryTableId: dest.table ? dest.table.fullId : none(),
    bigQueryViewId: dest.view ? dest.view.fullId : none(),
    bigQueryCommand: dest.table ? countCommand((dest.view ?? dest.table).fullId) : none(),
    pubsubTopic: source.topic.fullName,
    pubsubSubscription: siem.subscription ? siem.subscription.fullName : none(),
    pubsubDeadLetterSubscription: siem.deadLetterSubscription ? siem.deadLetterSubscription.fullName : none(),
    pubsubJobId: none(),
    // The engines' configuration is given out once every subscription exists: what an engine publishes
    // before a subscription exists never reaches it (Pub/Sub keeps nothing for a subscription not yet made).
    engines: pulumi.all([source.engines, pulumi.all(subscriptions.map((r) => r.urn))]).apply(([e]) => e),
    engineServices: onCloudRun ? pulumi.all(onCloudRun.services.map((r) => r.fullName)) : none(),
    engineKey: source.engineKey,
    enginePassword: pulumi.secret(source.role.password),
    slotNames: pulumi.all(source.parts.map((p) => p.slot.name)),
    gcsSubscription: dest.gcsSubscription ? dest.gcsSubscription.fullName : none(),
    bigQuerySubscription: dest.bigQuerySubscription ? dest.bigQuerySubscription.fullName : none(),
  };
}

/** The worse of the two feeds' verdicts (Cloud Storage first), its reason naming the feed. */
function worse(gcs: FeedHealth, pubsub: FeedHealth): FeedHealth {
  const [which, h] = (HEALTH_RANK[pubsub?.state] ?? 0) > (HEALTH_RANK[gcs?.state] ?? 0) ? ["Pub/Sub", pubsub] : ["Cloud Storage", gcs];
  return { ...h, reason: `${which} feed: ${h.reason}` };
}
