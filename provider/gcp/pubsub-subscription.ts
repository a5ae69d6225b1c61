// PubSubSubscription: a pull subscription for the SIEM's collector (Splunk, Elastic and Datadog pull;
// docs/pubsub-research.md §10). Replace-only: project, name, topic, filter (Pub/Sub fixes a filter
// at creation); ack deadline, retention, dead-lettering and labels update in place. It never expires
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
  /** `projects/<p>/topics/<t>`: messages not acknowledged after maxDeliveryAttempts go there. */
  deadLetterTopic?: pulumi.Input<string>;
  maxDeliveryAttempts?: pulumi.Input<number>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
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
    deadLetterTopic: z
      .string()
      .regex(/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, 'must be "projects/<project>/topics/<topic>"')
      .optional(),
    maxDeliveryAttempts: z.number().int().min(5).max(100).optional(),
    labels: labels.default({}),
    ...identitySchema,
  })
  .refine((s) => s.maxDeliveryAttempts === undefined || s.deadLetterTopic !== undefined, { path: ["maxDeliveryAttempts"], message: "needs deadLetterTopic" });
true satisfies ArgsInSchema<PubSubSubscriptionArgs, typeof pubsubSubscriptionInputs>;

export type PubSubSubscriptionInputs = z.output<typeof pubsubSubscriptionInputs> & { project: string };

/** What a PubSubSubscription keeps in state. */
export type PubSubSubscriptionState = PubSubSubscriptionInputs & {
  /** `projects/<project>/subscriptions/<name>`. */ fullName: string;
  /** The topic's full name. */ topicName: string;
  /** True after a refresh found its topic deleted (it then receives nothing). */ detached: boolean;
  takenOverFrom: string;
};

const REPLACE = ["project", "name", "topic", "filter"];
const UPDATE = ["ackDeadlineSeconds", "messageRetentionDuration", "retainAckedMessages", "deadLetterTopic", "maxDeliveryAttempts", "labels"];
const RULES = inputRules({ schema: pubsubSubscriptionInputs, ...PROJECT_DEFAULT, identity: true, replace: REPLACE, update: UPDATE });

const MASK: Record<string, string> = { deadLetterTopic: "deadLetterPolicy", maxDeliveryAttempts: "deadLetterPolicy" };

const topicName = (i: { project: string; topic: string }) => (i.topic.startsWith("projects/") ? i.topic : `projects/${i.project}/topics/${i.topic}`);

function body(i: PubSubSubscriptionInputs & { project: string }) {
  return defined({
    topic: topicName(i),
    ackDeadlineSeconds: i.ackDeadlineSeconds,
    messageRetentionDuration: i.messageRetentionDuration,
    retainAckedMessages: i.retainAckedMessages,
    filter: i.filter,
    deadLetterPolicy: i.deadLetterTopic ? { deadLetterTopic: i.deadLetterTopic, maxDeliveryAttempts: i.maxDeliveryAttempts ?? 5 } : undefined,
    expirationPolicy: {},
    labels: { ...i.labels, ...ownerLabels(identityOf(i)) },
  });
}

function outputs(i: any): PubSubSubscriptionState {
  const rest = withoutProvider(i);
  return defined({
    ...rest,
    fullName: `projects/${rest.project}/subscriptions/${rest.name}`,
    topicName: topicName(rest as { project: string; topic: string }),
    detached: rest.detached ?? false,
    takenOverFrom: rest.takenOverFrom ?? "",
  }) as PubSubSubscriptionState;
}

export const PUBSUB_SUBSCRIPTION_PERMISSIONS = collectionPermissions("pubsub.subscriptions", { create: ["pubsub.topics.attachSubscription"] });

export const pubsubSubscriptionOperations: TypedOperations<PubSubSubscriptionInputs, PubSubSubscriptionState> = engineFacing("PubSubSubscription", {
  ...RULES.handlers,

  async create(config, i) {
    const mask = ["ackDeadlineSeconds", "messageRetentionDuration", "retainAckedMessages", "deadLetterPolicy", "expirationPolicy", "labels"];
    const made = await createInProject(config, i, "subscription", body, mask);
    return { id: made.id, outs: outputs({ ...made.inputs, takenOverFrom: made.takenOverFrom }) };
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
      }),
    };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news) };
    const gcp = await clientsFor(config);
    const mask = [...new Set(updates.map((u) => MASK[u] ?? u))];
    await patchResource(gcp, id, "subscription", body({ ...news, owner: news.owner ?? olds.owner }), mask, `update subscription ${id}`);
    return { outs: outputs(news) };
  },

  async delete(config, id, props) {
    await deleteResource(await clientsFor(config), id, "subscription", props ?? {});
  },
});

export interface PubSubSubscription extends Outputs<Pick<PubSubSubscriptionState, "name" | "project" | "fullName" | "topicName" | "detached">> {}

/** A pull subscription that never expires. */
export class PubSubSubscription extends defineResource<PubSubSubscriptionArgs>(__filename, {
  operations: { pubsubSubscriptionOperations },
  ...OWNED,
  outputs: ["project", "fullName", "topicName", "detached", "takenOverFrom"],
  importInstead: "declare it without `import`: a subscription this stack made carries its label and is adopted; one made elsewhere is refused by name",
}) {}
