// AuditStream: ZITADEL's guide "Streaming Audit Logs to External Systems" as one component. A source
// (sources/: CockroachDB's changefeeds) feeds each destination (destinations/: the guide's Cloud
// Storage bucket, with BigQuery over its files, and Pub/Sub for a SIEM); each destination has its own
// writer (writer.ts). Arguments and their checks: args.ts, validate.ts.
import * as pulumi from "@pulumi/pulumi";
import type { Changefeed } from "../cockroach/changefeed";
import type { FeedHealth } from "../cockroach/health";
import { StreamIdentity } from "../stream-identity";
import { AuditStreamArgs, StreamContext } from "./args";
import { auditStreamProblems } from "./validate";
import { cockroachSource } from "./sources/cockroach";
import { gcsDestination } from "./destinations/gcs";
import { bigQueryDestination } from "./destinations/bigquery";
import { pubsubDestination, pubsubWarnings } from "./destinations/pubsub";

export type { AuditStreamArgs, AuditStreamBigQueryArgs, AuditStreamPubSubArgs } from "./args";
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
    const problems = auditStreamProblems(args as Record<string, unknown>);
    if (problems.length) throw new Error(`AuditStream ${name}: ${problems.join("; ")}`);

    const destinations = args.destinations ?? (args.pubsub ? ["gcs", "pubsub"] : ["gcs"]);
    for (const warning of pubsubWarnings(args.pubsub, destinations)) void pulumi.log.warn(warning, this);
    // The stream's identity, made before anything else and carried by everything it makes. Without a
    // parent, so that moving the stream under another parent keeps it (docs/identity.md); its delete,
    // after all the rest, cancels any job a create cut short left behind.
    this.identity = new StreamIdentity(`${name}-identity`, { connectionString: args.connectionString, sweepJobs: true });
    const ctx: StreamContext = { name, args, owned: { deployment: this.identity.deployment, takeOver: args.takeOver }, parent: { parent: this } };
    const source = cockroachSource(ctx);
    const pubsub = destinations.includes("pubsub") ? pubsubDestination(ctx, args.pubsub!, source) : undefined;
    const gcs = destinations.includes("gcs") ? gcsDestination(ctx, source) : undefined;
    const primary = gcs?.changefeed ?? pubsub!.changefeed;
    this.changefeed = primary;

    const bigQuery = gcs && args.bigQuery ? bigQueryDestination(ctx, args.bigQuery, gcs.bucketName) : undefined;
    this.bigQueryTableId = bigQuery ? bigQuery.table.fullId : pulumi.output(undefined);
    this.bigQueryViewId = bigQuery?.view ? bigQuery.view.fullId : pulumi.output(undefined);
    this.bigQueryCommand = bigQuery
      ? (bigQuery.view ?? bigQuery.table).fullId.apply(
          (id) => `bq query --use_legacy_sql=false 'SELECT event_type, COUNT(*) AS events FROM \`${id}\` GROUP BY event_type ORDER BY events DESC'`,
        )
      : pulumi.output(undefined);

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
}

const RANK: Record<string, number> = { healthy: 0, lagging: 1, failing: 2, stopped: 3 };

/** The worse of the two feeds' verdicts (Cloud Storage first), its reason naming the feed. */
function worse(gcs: FeedHealth, pubsub: FeedHealth): FeedHealth {
  const [which, h] = (RANK[pubsub?.state] ?? 0) > (RANK[gcs?.state] ?? 0) ? ["Pub/Sub", pubsub] : ["Cloud Storage", gcs];
  return { ...h, reason: `${which} feed: ${h.reason}` };
}
