// PubSubSubscription: a pull subscription for the SIEM's collector (Splunk, Elastic and Datadog pull;
// docs/pubsub-research.md §10), or an export subscription Pub/Sub itself writes into Cloud Storage
// files or BigQuery rows (docs/pubsub-exports.md). Replace-only: project, name, topic, filter (Pub/Sub
// fixes a filter at creation); ack deadline, retention, dead-lettering, labels and the export update in place. It never expires
// (expirationPolicy with no ttl): Pub/Sub's default deletes a subscription after 31 idle days, with
// the messages it holds (reference/rest/v1/projects.subscriptions, expirationPolicy).
//
// The provider stored in state is `require(".../provider/stored/pubsub-subscription.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubSubscriptionOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor } from "./client";
import { z } from "zod";
import { PROJECT_DEFAULT, ProjectArgs, identitySchema, labels, projectId, pubsubId, seconds } from "./fields";
import { createInProject, deleteResource, patchResource, readResource } from "./pubsub-common";
import { identityOf } from "./ownership";
import { ownerLabels } from "../ownership";

import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs } from "../engine";
import { OWNED } from "../stream-identity";

export interface PubSubSubscriptionArgs extends ProjectArgs {
  name: pulumi.Input<string>;
  /** The topic's id (same project) or full name. */
  topic: pulumi.Input<string>;
  /** Default 60. */
  ackDeadlineSeconds?: pulumi.Input<number>;
  /** Default "604800s" (7 days, the most Pub/Sub keeps unacknowledged messages). */
  messageRetentionDuration?: pulumi.Input<string>;
  retainAckedMessages?: pulumi.Input<boolean>;
  /** An attribute filter, fixed once created. */
  filter?: pulumi.Input<string>;
  /** Deliver each ordering key's messages in publish order (fixed once created). Default false. */
  enableMessageOrdering?: pulumi.Input<boolean>;
  /** `projects/<p>/topics/<t>`: messages not acknowledged after maxDeliveryAttempts go there. */
  deadLetterTopic?: pulumi.Input<string>;
  maxDeliveryAttempts?: pulumi.Input<number>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * A Cloud Storage subscription: Pub/Sub itself writes the messages into text files in this bucket
   * (one message per line), as the project's Pub/Sub service agent, which needs
   * roles/storage.objectCreator and roles/storage.legacyBucketReader on the bucket before the
   * subscription is made (docs/pubsub-exports.md §3).
   */
  cloudStorage?: pulumi.Input<PubSubCloudStorageArgs>;
  /**
   * A BigQuery subscription: Pub/Sub writes each message as a row of this table (its JSON fields
   * as the table's columns), as the service agent, which needs roles/bigquery.dataEditor there.
   */
  bigQuery?: pulumi.Input<PubSubBigQueryArgs>;
}

export interface PubSubCloudStorageArgs {
  bucket: pulumi.Input<string>;
  /** Object names start with it, e.g. "events/". */
  filenamePrefix?: pulumi.Input<string>;
  /** Object names end with it, e.g. ".ndjson". */
  filenameSuffix?: pulumi.Input<string>;
  /** A file is closed after this long: "60s" to "600s", default "300s". */
  maxDuration?: pulumi.Input<string>;
  /** …or once this many bytes are in it (1000 to 10 GiB). */
  maxBytes?: pulumi.Input<number>;
}

export interface PubSubBigQueryArgs {
  /** "project.dataset.table": a native table. */
  table: pulumi.Input<string>;
  /** Default true: each message is a JSON object whose fields are the table's columns. */
  useTableSchema?: pulumi.Input<boolean>;
  /** Default true: also subscription_name, message_id, publish_time and attributes columns. */
  writeMetadata?: pulumi.Input<boolean>;
  /** Default true: fields the table has no column for are dropped (else the message stays in the backlog). */
  dropUnknownFields?: pulumi.Input<boolean>;
}

export const pubsubSubscriptionInputs = z
  .strictObject({
    project: projectId.optional(),
    name: pubsubId,
    /** The topic's id in the same project, or its full name `projects/<p>/topics/<t>`. */
    topic: z
      .string()
      .regex(
        /^(projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/)?[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/,
        'must be a topic id or "projects/<project>/topics/<topic>"',
      ),
    ackDeadlineSeconds: z.number().int().min(10, "at least 10").max(600, "at most 600").default(60),
    /** How long unacknowledged messages are kept: default 7 days (the maximum), so a collector outage of days loses nothing. */
    messageRetentionDuration: seconds(600, 7 * 86_400, "messageRetentionDuration").default("604800s"),
    retainAckedMessages: z.boolean().default(false),
    /** An attribute filter (fixed once created). */
    filter: z.string().max(256).optional(),
    /** Absent rather than false by default: state written before this input existed diffs as unchanged. */
    enableMessageOrdering: z.boolean().optional(),
    deadLetterTopic: z
      .string()
      .regex(/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, 'must be "projects/<project>/topics/<topic>"')
      .optional(),
    maxDeliveryAttempts: z.number().int().min(5).max(100).optional(),
    labels: labels.default({}),
    /** Bounds and defaults: CloudStorageConfig (docs/pubsub-exports.md §1). */
    cloudStorage: z
      .strictObject({
        bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/, "must be a bucket name, without gs://"),
        filenamePrefix: z.string().default(""),
        filenameSuffix: z
          .string()
          .refine((x) => !x.endsWith("/"), "must not end in /")
          .default(""),
        maxDuration: seconds(60, 600, "cloudStorage.maxDuration").default("300s"),
        maxBytes: z
          .number()
          .int()
          .min(1000)
          .max(10 * 1024 ** 3)
          .optional(),
      })
      .optional(),
    /** BigQueryConfig (docs/pubsub-exports.md §4). */
    bigQuery: z
      .strictObject({
        table: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_]{1,1024}$/, 'must be "project.dataset.table"'),
        useTableSchema: z.boolean().default(true),
        writeMetadata: z.boolean().default(true),
        dropUnknownFields: z.boolean().default(true),
      })
      .optional(),
    ...identitySchema,
  })
  .refine((s) => s.maxDeliveryAttempts === undefined || s.deadLetterTopic !== undefined, { path: ["maxDeliveryAttempts"], message: "needs deadLetterTopic" })
  .refine((s) => !(s.cloudStorage && s.bigQuery), { path: ["bigQuery"], message: "a subscription writes to Cloud Storage or to BigQuery, not both" });
true satisfies ArgsInSchema<PubSubSubscriptionArgs, typeof pubsubSubscriptionInputs>;

export type PubSubSubscriptionInputs = z.output<typeof pubsubSubscriptionInputs> & { project: string };

/** What a PubSubSubscription keeps in state. */
export type PubSubSubscriptionState = PubSubSubscriptionInputs & {
  /** `projects/<project>/subscriptions/<name>`. */ fullName: string;
  /** The topic's full name. */ topicName: string;
  /** True after a refresh found its topic deleted (it then receives nothing). */ detached: boolean;
  /**
   * A Cloud Storage or BigQuery subscription's state as of the last up or refresh: "ACTIVE", or why
   * Pub/Sub is not writing ("PERMISSION_DENIED", "NOT_FOUND", "SCHEMA_MISMATCH"; messages wait in the
   * backlog meanwhile); "" for a pull subscription.
   */
  exportState: string;
  takenOverFrom: string;
};

const REPLACE = ["project", "name", "topic", "filter", "enableMessageOrdering"];
// A subscription's export changes in place (PATCH with its mask): a replacement would drop the
// messages it holds that are not yet written.
const UPDATE = [
  "ackDeadlineSeconds",
  "messageRetentionDuration",
  "retainAckedMessages",
  "deadLetterTopic",
  "maxDeliveryAttempts",
  "labels",
  "cloudStorage",
  "bigQuery",
];
const RULES = inputRules({
  schema: pubsubSubscriptionInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: REPLACE,
  update: UPDATE,
  // A replacement under the same name (a new filter, topic or ordering) must delete the old one first: the
  // name is taken until then. What the old one held is lost with it, as with any new subscription.
  deleteBeforeReplace: (olds, news) => olds.name === news.name && olds.project === news.project,
});

const MASK: Record<string, string> = {
  deadLetterTopic: "deadLetterPolicy",
  maxDeliveryAttempts: "deadLetterPolicy",
  cloudStorage: "cloudStorageConfig",
  bigQuery: "bigqueryConfig",
};

const topicName = (i: { project: string; topic: string }) => (i.topic.startsWith("projects/") ? i.topic : `projects/${i.project}/topics/${i.topic}`);

function body(i: PubSubSubscriptionInputs & { project: string }) {
  return defined({
    topic: topicName(i),
    ackDeadlineSeconds: i.ackDeadlineSeconds,
    messageRetentionDuration: i.messageRetentionDuration,
    retainAckedMessages: i.retainAckedMessages,
    filter: i.filter,
    enableMessageOrdering: i.enableMessageOrdering || undefined,
    deadLetterPolicy: i.deadLetterTopic ? { deadLetterTopic: i.deadLetterTopic, maxDeliveryAttempts: i.maxDeliveryAttempts ?? 5 } : undefined,
    expirationPolicy: {},
    labels: { ...i.labels, ...ownerLabels(identityOf(i)) },
    cloudStorageConfig: i.cloudStorage
      ? defined({ ...i.cloudStorage, maxBytes: i.cloudStorage.maxBytes === undefined ? undefined : String(i.cloudStorage.maxBytes), textConfig: {} })
      : undefined,
    bigqueryConfig: i.bigQuery ? { ...i.bigQuery } : undefined,
  });
}

function outputs(i: any): PubSubSubscriptionState {
  const rest = withoutProvider(i);
  return defined({
    ...rest,
    fullName: `projects/${rest.project}/subscriptions/${rest.name}`,
    topicName: topicName(rest as { project: string; topic: string }),
    detached: rest.detached ?? false,
    exportState: rest.exportState ?? "",
    takenOverFrom: rest.takenOverFrom ?? "",
  }) as PubSubSubscriptionState;
}

const exportStateOf = (s: any): string => String((s?.cloudStorageConfig ?? s?.bigqueryConfig)?.state ?? "");

/** An export config as Pub/Sub answers it (proto3 JSON: defaults left out, int64 as a string), in this resource's inputs. */
function cloudStorageRead(c: any): NonNullable<PubSubSubscriptionInputs["cloudStorage"]> {
  return defined({
    bucket: c.bucket,
    filenamePrefix: c.filenamePrefix ?? "",
    filenameSuffix: c.filenameSuffix ?? "",
    maxDuration: c.maxDuration ?? "300s",
    maxBytes: c.maxBytes === undefined ? undefined : Number(c.maxBytes),
  });
}

function bigQueryRead(c: any): NonNullable<PubSubSubscriptionInputs["bigQuery"]> {
  return {
    table: String(c.table ?? "").replace(":", "."),
    useTableSchema: c.useTableSchema ?? false,
    writeMetadata: c.writeMetadata ?? false,
    dropUnknownFields: c.dropUnknownFields ?? false,
  };
}

export const PUBSUB_SUBSCRIPTION_PERMISSIONS = collectionPermissions("pubsub.subscriptions", { create: ["pubsub.topics.attachSubscription"] });

export const pubsubSubscriptionOperations: TypedOperations<PubSubSubscriptionInputs, PubSubSubscriptionState> = engineFacing("PubSubSubscription", {
  ...RULES.handlers,

  async create(config, i) {
    const mask = [
      "ackDeadlineSeconds",
      "messageRetentionDuration",
      "retainAckedMessages",
      "deadLetterPolicy",
      "expirationPolicy",
      "labels",
      "cloudStorageConfig",
      "bigqueryConfig",
    ];
    const made = await createInProject(config, i, "subscription", body, mask);
    // Pub/Sub checks the bucket or table and the writer's grant at create (docs/pubsub-exports.md §7): made is ACTIVE.
    return { id: made.id, outs: outputs({ ...made.inputs, exportState: i.cloudStorage || i.bigQuery ? "ACTIVE" : "", takenOverFrom: made.takenOverFrom }) };
  },

  async read(config, id, props) {
    const read = await readResource(await clientsFor(config), id, "subscription");
    if (!read) return { id: "" };
    const { found: s, labels } = read;
    return {
      id,
      props: outputs({
        ...props,
        ackDeadlineSeconds: s.ackDeadlineSeconds ?? props.ackDeadlineSeconds,
        messageRetentionDuration: s.messageRetentionDuration ?? props.messageRetentionDuration,
        retainAckedMessages: s.retainAckedMessages ?? false,
        deadLetterTopic: s.deadLetterPolicy?.deadLetterTopic,
        maxDeliveryAttempts: s.deadLetterPolicy ? (s.deadLetterPolicy.maxDeliveryAttempts ?? props.maxDeliveryAttempts) : undefined,
        labels,
        detached: s.topic === "_deleted-topic_",
        cloudStorage: s.cloudStorageConfig ? cloudStorageRead(s.cloudStorageConfig) : undefined,
        bigQuery: s.bigqueryConfig ? bigQueryRead(s.bigqueryConfig) : undefined,
        exportState: exportStateOf(s),
      }),
    };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news) };
    const gcp = await clientsFor(config);
    const mask = [...new Set(updates.map((u) => MASK[u] ?? u))];
    const after = await patchResource(gcp, id, "subscription", body({ ...news, owner: news.owner ?? olds.owner }), mask, `update subscription ${id}`);
    return { outs: outputs({ ...news, exportState: exportStateOf(after) }) };
  },

  async delete(config, id, props) {
    await deleteResource(await clientsFor(config), id, "subscription", props ?? {});
  },
});

export interface PubSubSubscription
  extends Outputs<Pick<PubSubSubscriptionState, "name" | "project" | "fullName" | "topicName" | "detached" | "exportState">> {}

/** A subscription that never expires: pulled (the SIEM's), or written by Pub/Sub into Cloud Storage or BigQuery. */
export class PubSubSubscription extends defineResource<PubSubSubscriptionArgs>(__filename, {
  operations: { pubsubSubscriptionOperations },
  ...OWNED,
  outputs: ["project", "fullName", "topicName", "detached", "exportState", "takenOverFrom"],
  importInstead: "declare it without `import`: a subscription this stack made carries its label and is adopted; one made elsewhere is refused by name",
}) {}
