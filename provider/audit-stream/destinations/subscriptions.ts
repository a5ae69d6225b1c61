// The destinations of a source that publishes into the stream's topic (the PostgreSQL source's
// engine): Pub/Sub itself carries the events on, through export subscriptions (docs/pubsub-exports.md).
// - "gcs": the bucket, the project's Pub/Sub service agent granted roles/storage.objectCreator and
//   roles/storage.legacyBucketReader on it (what a Cloud Storage subscription needs, §3), and a Cloud
//   Storage subscription writing NDJSON files (one event per line) under the stream's prefix;
// - bigQuery: a dataset (the agent a WRITER of it, §5), a native table with the query's columns and
//   Pub/Sub's metadata columns, a BigQuery subscription into it, and the de-duplicating view;
// - "pubsub": the SIEM's pull subscription (destinations/pubsub.ts siemSubscription).
// Every subscription is made before any engine is told to publish (the engines' configuration
// depends on them in the component): Pub/Sub keeps nothing for a topic without subscriptions.
import * as pulumi from "@pulumi/pulumi";
import { BucketIamMember } from "../../gcp/bucket-iam-member";
import { PubSubServiceAgent } from "../../gcp/pubsub-service-agent";
import { PubSubSubscription } from "../../gcp/pubsub-subscription";
import type { PubSubTopic } from "../../gcp/pubsub-topic";
import { BigQueryNativeTable } from "../../gcp/bigquery-native-table";
import type { BigQueryView } from "../../gcp/bigquery-view";
import { BigQueryField, bigQuerySchema } from "../../cdc/bigquery";
import { AuditStreamBigQueryArgs, StreamContext } from "../args";
import { streamBucket } from "./gcs";
import { dedupView, streamDataset } from "./bigquery";

/** The columns a BigQuery subscription with writeMetadata fills (docs/pubsub-exports.md §4). */
export const METADATA_FIELDS: BigQueryField[] = [
  { name: "subscription_name", type: "STRING", mode: "NULLABLE", description: "The Pub/Sub subscription that wrote the row" },
  { name: "message_id", type: "STRING", mode: "NULLABLE", description: "Pub/Sub's id of the message" },
  { name: "publish_time", type: "TIMESTAMP", mode: "NULLABLE", description: "When the engine published the event" },
  { name: "attributes", type: "JSON", mode: "NULLABLE", description: "The message's attributes" },
];

/** The native table's columns: the query's events2 columns, then Pub/Sub's metadata. */
export function nativeTableSchema(query: unknown): BigQueryField[] {
  return [...bigQuerySchema((query ?? {}) as any), ...METADATA_FIELDS];
}

/**
 * Object names of the Cloud Storage subscription: "<prefix>/<UTC time>_<uuid>.ndjson"
 * (docs/pubsub-exports.md §2), so the files sort by time under the stream's prefix.
 */
export function filenamePrefix(prefix: string | undefined): string {
  const p = (prefix ?? "events").replace(/^\/+|\/+$/g, "");
  return p ? `${p}/` : "";
}

export interface TopicDestinations {
  bucketName?: pulumi.Output<string>;
  gcsSubscription?: PubSubSubscription;
  table?: BigQueryNativeTable;
  view?: BigQueryView;
  bigQuerySubscription?: PubSubSubscription;
  /** What the engines must wait for. */
  ready: pulumi.Resource[];
}

export function topicDestinations(ctx: StreamContext, topic: PubSubTopic, destinations: string[]): TopicDestinations {
  const { name, args, owned, parent } = ctx;
  const out: TopicDestinations = { ready: [] };
  const needsAgent = destinations.includes("gcs") || args.bigQuery !== undefined;
  const agent = needsAgent ? new PubSubServiceAgent(`${name}-pubsub-agent`, { project: args.project }, parent) : undefined;

  if (destinations.includes("gcs")) {
    const bucketName = streamBucket(ctx);
    const grants = ["roles/storage.objectCreator", "roles/storage.legacyBucketReader"].map(
      (role, i) => new BucketIamMember(`${name}-gcs-agent-${i}`, { bucket: bucketName, role, member: agent!.member }, parent),
    );
    out.bucketName = bucketName;
    out.gcsSubscription = new PubSubSubscription(
      `${name}-gcs-subscription`,
      {
        name: `${name}-gcs`,
        topic: topic.fullName,
        project: args.project,
        // A file a minute (the least Pub/Sub takes): events are readable in the bucket within about a
        // minute, at 1,440 files a day; Pub/Sub's price is by volume, not by file (docs/pubsub-exports.md §8).
        cloudStorage: pulumi
          .all([bucketName, args.prefix])
          .apply(([bucket, prefix]) => ({ bucket, filenamePrefix: filenamePrefix(prefix), filenameSuffix: ".ndjson", maxDuration: "60s" })),
        ...owned,
      },
      { ...parent, dependsOn: grants },
    );
    out.ready.push(out.gcsSubscription);
  }

  if (args.bigQuery) {
    const bq = bigQueryTables(ctx, args.bigQuery, agent!);
    out.table = bq.table;
    out.view = bq.view;
    out.bigQuerySubscription = new PubSubSubscription(
      `${name}-bigquery-subscription`,
      {
        name: `${name}-bigquery`,
        topic: topic.fullName,
        project: args.project,
        bigQuery: { table: bq.table.fullId, useTableSchema: true, writeMetadata: true, dropUnknownFields: true },
        ...owned,
      },
      { ...parent, dependsOn: [bq.dataset, bq.table] },
    );
    out.ready.push(out.bigQuerySubscription);
  }
  return out;
}

/** The dataset (the agent may write it, the readers read it), the native table and the view. */
function bigQueryTables(ctx: StreamContext, a: AuditStreamBigQueryArgs, agent: PubSubServiceAgent) {
  const { name, args, owned, parent } = ctx;
  // The agent is a WRITER of the dataset: what a BigQuery subscription needs (roles/bigquery.dataEditor; docs/pubsub-exports.md §5).
  const dataset = streamDataset(
    ctx,
    a,
    "ZITADEL audit events streamed from PostgreSQL by Debezium Server and a Pub/Sub BigQuery subscription (zitadel-audit-stream)",
    [agent.member],
  );
  const schema = nativeTableSchema(args.query);
  const table = new BigQueryNativeTable(
    // Its own resource name and default table id: a stream switched from CockroachDB still has its
    // external table "events" (<name>-table) until the switch's up deletes it; the two must not meet.
    `${name}-native-table`,
    {
      project: args.project,
      datasetId: dataset.datasetId,
      tableId: a.tableName ?? "events_pubsub",
      description: "The events as Pub/Sub's BigQuery subscription wrote them (at least once: the view removes the repeats)",
      schema,
      ...owned,
    },
    { ...parent, retainOnDelete: true },
  );
  const view = dedupView(ctx, a, dataset.datasetId, table.fullId, schema);
  return { dataset, table, view };
}
