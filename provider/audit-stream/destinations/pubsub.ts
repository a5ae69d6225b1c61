// AuditStream's Pub/Sub destination, the SIEM's route (docs/pubsub-research.md §10): a topic, a
// writer that may only publish to it (a custom role holding exactly pubsub.topics.publish, granted on
// the topic), its own changefeed into `gcpubsub://`, and a pull subscription for the collector, with
// roles/pubsub.subscriber for the given members. Its writer is an account of its own, so a key
// rotation of one destination never deletes the key the other feed still uses.
//
// With maxDeliveryAttempts, dead-lettering is wired whole, as Google's dead-letter guide lists it
// (pubsub/docs/dead-letter-topics): the dead-letter topic, a subscription on it ("messages published
// to a topic with no subscriptions are lost", DeadLetterPolicy.dead_letter_topic), and the project's
// Pub/Sub service agent granted roles/pubsub.publisher on that topic and roles/pubsub.subscriber on
// the source subscription. Without those grants Pub/Sub forwards nothing and keeps redelivering.
import * as pulumi from "@pulumi/pulumi";
import type { ServiceAccount } from "../../gcp/service-account";

import { PubSubTopic } from "../../gcp/pubsub-topic";
import { PubSubSubscription } from "../../gcp/pubsub-subscription";
import { PubSubIamMember } from "../../gcp/pubsub-iam-member";
import { PubSubServiceAgent } from "../../gcp/pubsub-service-agent";
import type { Changefeed } from "../../cockroach/changefeed";
import { member as memberSchema, pubsubId } from "../../gcp/fields";
import { AuditStreamPubSubArgs, PUBSUB_OPTIONS, StreamContext, unknownKeys } from "../args";
import type { Source } from "../sources/cockroach";
import { ownsKey, roleAndWriter, writerSink } from "../writer";

/** Problems in the `pubsub` argument, each named (checked in the program, so at preview). */
export function pubsubProblems(p: unknown, destinations: unknown, source: "cockroach" | "postgres" = "cockroach"): string[] {
  const problems: string[] = [];
  if (destinations !== undefined) {
    if (
      !Array.isArray(destinations) ||
      destinations.length === 0 ||
      destinations.some((d) => d !== "gcs" && d !== "pubsub") ||
      new Set(destinations).size !== destinations.length
    ) {
      problems.push('destinations: must list "gcs", "pubsub" or both, e.g. ["gcs", "pubsub"]');
    } else if (destinations.includes("pubsub") && p === undefined) {
      if (source === "cockroach") problems.push('pubsub: the "pubsub" destination needs its settings, at least { region: "us-east1" }');
    }
  }
  if (p === undefined) return problems;
  if (!p || typeof p !== "object" || Array.isArray(p)) return [...problems, 'pubsub: must be an object such as { region: "us-east1" }'];
  const a = p as Record<string, unknown>;
  problems.push(...unknownKeys(a, PUBSUB_OPTIONS, "pubsub.", "a pubsub option"));
  if (source === "postgres" && a.region !== undefined)
    problems.push("pubsub.region: CockroachDB's only (the PostgreSQL source's engine publishes through Pub/Sub's global endpoint)");
  if (source === "cockroach" && (typeof a.region !== "string" || !/^[a-z]+-[a-z]+\d+$/.test(a.region)))
    problems.push('pubsub.region: must be a Google Cloud region such as "us-east1" (the endpoint CockroachDB publishes through)');
  for (const k of ["topicName", "subscriptionName"]) {
    if (typeof a[k] === "string" && !pubsubId.safeParse(a[k]).success) problems.push(`pubsub.${k}: ${pubsubId.safeParse(a[k]).error!.issues[0].message}`);
  }
  if (a.subscribers !== undefined && !Array.isArray(a.subscribers))
    problems.push('pubsub.subscribers: must be a list of members such as ["serviceAccount:siem@…"]');
  (Array.isArray(a.subscribers) ? a.subscribers : []).forEach((m, i) => {
    if (typeof m === "string" && !memberSchema.safeParse(m).success)
      problems.push(`pubsub.subscribers.${i}: ${memberSchema.safeParse(m).error!.issues[0].message}`);
  });
  if (a.subscriptionName === null && a.subscribers !== undefined)
    problems.push("pubsub.subscribers: there is no subscription to grant (subscriptionName is null)");
  if (a.subscriptionName === null && a.maxDeliveryAttempts !== undefined)
    problems.push("pubsub.maxDeliveryAttempts: there is no subscription to dead-letter from (subscriptionName is null)");
  if (
    a.maxDeliveryAttempts !== undefined &&
    !(Number.isInteger(a.maxDeliveryAttempts) && (a.maxDeliveryAttempts as number) >= 5 && (a.maxDeliveryAttempts as number) <= 100)
  )
    problems.push("pubsub.maxDeliveryAttempts: a whole number from 5 to 100");
  return problems;
}

/**
 * What the `pubsub` argument risks without being wrong, said at preview. Pub/Sub keeps nothing for a
 * topic without subscriptions ("messages published to a topic with no subscriptions are lost",
 * DeadLetterPolicy.dead_letter_topic; pubsub/docs/subscription-overview): with no subscription here,
 * events published before the user's own subscription exists are gone.
 */
export function pubsubWarnings(p: AuditStreamPubSubArgs | undefined, destinations: string[]): string[] {
  if (!p || !destinations.includes("pubsub") || p.subscriptionName !== null) return [];
  return [
    "pubsub.subscriptionName is null: Pub/Sub drops what is published to a topic without subscriptions, so events the feed publishes before your own subscription exists are lost. Create that subscription first (on the topic this stream names), or keep the stream's subscription.",
  ];
}

export interface PubSubDestination {
  topic: PubSubTopic;
  subscription?: PubSubSubscription;
  /** With maxDeliveryAttempts: the subscription that keeps dead-lettered messages. */
  deadLetterSubscription?: PubSubSubscription;
  changefeed: Changefeed;
  account?: ServiceAccount;
}

/** The Pub/Sub destination's resources, children of the component. */
export function pubsubDestination(ctx: StreamContext, p: AuditStreamPubSubArgs, source: Source): PubSubDestination {
  const { name, args, owned, parent } = ctx;
  const topic = new PubSubTopic(`${name}-topic`, { name: p.topicName ?? `${name}-events`, project: args.project, ...owned }, parent);
  const { subscription, deadLetterSubscription } = siemSubscription(ctx, p, topic);
  // The writer may publish to this topic and do nothing else.
  const writer = roleAndWriter(ctx, {
    names: { role: `${name}-publisher-role`, account: `${name}-publisher`, key: `${name}-publisher-key` },
    roleSuffix: "publisher",
    title: "ZITADEL audit stream publisher",
    permission: "pubsub.topics.publish",
    why: "Publish only: what a CockroachDB changefeed into Pub/Sub needs.",
    describe: "CockroachDB changefeed into Pub/Sub",
  });
  const grant = new PubSubIamMember(`${name}-publisher-grant`, { resource: topic.fullName, role: writer.role.name, member: writer.member }, parent);
  const sink = writerSink(
    args,
    writer,
    pulumi.all([topic.project, topic.name]).apply(([project, t]) => ({ project, topic: t, region: p.region })),
  );
  const changefeed = source.feed(`${name}-pubsub-changefeed`, sink, [grant], ownsKey(args));
  return { topic, subscription, deadLetterSubscription, changefeed, account: writer.account };
}

/**
 * The SIEM's pull subscription of `topic`, with roles/pubsub.subscriber for the subscribers and, with
 * maxDeliveryAttempts, dead-lettering wired whole (see the header). Any source's topic takes it.
 */
export function siemSubscription(
  ctx: StreamContext,
  p: AuditStreamPubSubArgs,
  topic: PubSubTopic,
  ordered = false,
): { subscription?: PubSubSubscription; deadLetterSubscription?: PubSubSubscription } {
  const { name, args, owned, parent } = ctx;
  const topicName = p.topicName ?? `${name}-events`;
  const deadLetter =
    p.maxDeliveryAttempts !== undefined
      ? new PubSubTopic(`${name}-dead-letter`, { name: `${topicName}-dead-letter`, project: args.project, ...owned }, parent)
      : undefined;
  const subscriptionName = p.subscriptionName ?? `${name}-siem`;
  const subscription =
    p.subscriptionName === null
      ? undefined
      : new PubSubSubscription(
          `${name}-subscription`,
          {
            name: subscriptionName,
            topic: topic.fullName,
            project: args.project,
            ackDeadlineSeconds: p.ackDeadlineSeconds,
            messageRetentionDuration: p.messageRetentionDuration,
            deadLetterTopic: deadLetter?.fullName,
            maxDeliveryAttempts: p.maxDeliveryAttempts,
            ...(ordered ? { enableMessageOrdering: true } : {}),
            ...owned,
          },
          parent,
        );
  (p.subscribers ?? []).forEach(
    (member, i) => new PubSubIamMember(`${name}-subscriber-${i}`, { resource: subscription!.fullName, role: "roles/pubsub.subscriber", member }, parent),
  );
  const deadLetterSubscription = deadLetter && subscription ? deadLettering(ctx, p, subscriptionName, deadLetter, subscription) : undefined;
  return { subscription, deadLetterSubscription };
}

/** The dead-letter topic's subscription and the service agent's two grants (see the header). */
function deadLettering(
  ctx: StreamContext,
  p: AuditStreamPubSubArgs,
  subscriptionName: string,
  deadLetter: PubSubTopic,
  subscription: PubSubSubscription,
): PubSubSubscription {
  const { name, args, owned, parent } = ctx;
  const kept = new PubSubSubscription(
    `${name}-dead-letter-subscription`,
    { name: `${subscriptionName}-dead-letter`, topic: deadLetter.fullName, project: args.project, ...owned },
    parent,
  );
  (p.subscribers ?? []).forEach(
    (member, i) => new PubSubIamMember(`${name}-dead-letter-subscriber-${i}`, { resource: kept.fullName, role: "roles/pubsub.subscriber", member }, parent),
  );
  const agent = new PubSubServiceAgent(`${name}-pubsub-agent`, { project: args.project }, parent);
  new PubSubIamMember(`${name}-dead-letter-publisher`, { resource: deadLetter.fullName, role: "roles/pubsub.publisher", member: agent.member }, parent);
  new PubSubIamMember(`${name}-dead-letter-forwarder`, { resource: subscription.fullName, role: "roles/pubsub.subscriber", member: agent.member }, parent);
  return kept;
}
