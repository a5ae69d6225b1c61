// PubSubSubscription: a pull subscription for the SIEM's collector (Splunk, Elastic and Datadog pull;
// docs/pubsub-research.md §10). Replace-only: project, name, topic, filter (Pub/Sub fixes a filter
// at creation); ack deadline, retention, dead-lettering and labels update in place. It never expires
// (expirationPolicy with no ttl): Pub/Sub's default deletes a subscription after 31 idle days, with
// the messages it holds (reference/rest/v1/projects.subscriptions, expirationPolicy).
//
// The provider stored in state is `require(".../provider/stored/pubsub-subscription.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubSubscriptionOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { defaultProject, gcpClients, gcpConfigFrom } from "./client";
import { PubSubSubscriptionInputs, pubsubSubscriptionInputs } from "./schemas";
import { createOrAdoptResource, deleteResource, patchResource, psOrUndefined } from "./pubsub-common";
import { identityOf } from "./ownership";
import { identityFields, ownerLabels, userLabels } from "../ownership";
import { stackIdentity } from "../stream-identity";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, Operations, classifyDiff, defined, validate, withoutProvider, importRefusal, refuseImport, engineFacing } from "../shared";

export interface PubSubSubscriptionArgs {
  name: pulumi.Input<string>;
  /** The topic's id (same project) or full name. */
  topic: pulumi.Input<string>;
  project?: pulumi.Input<string>;
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
  /** The stream's identity (StreamIdentity.deployment), carried in a label. Default: the stack's. */
  deployment?: pulumi.Input<string>;
  /** Adopt an existing one of this name made by another deployment (the one the error names, or "legacy"): the recovery after a lost state. */
  takeOver?: pulumi.Input<string>;
}

const REPLACE = ["project", "name", "topic", "filter"];
const UPDATE = ["ackDeadlineSeconds", "messageRetentionDuration", "retainAckedMessages", "deadLetterTopic", "maxDeliveryAttempts", "labels"];
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

export const pubsubSubscriptionOperations: Operations = engineFacing({
  async check(config: ConfigLike | undefined, olds: any, news: any) {
    const v = validate(pubsubSubscriptionInputs, { project: defaultProject(gcpConfigFrom(config)), ...news });
    if (!v.inputs) return { failures: v.failures };
    return { inputs: defined({ ...v.inputs, ...identityFields(olds, news) }) };
  },

  async diff(_config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    return classifyDiff(olds, { ...news, project: news.project ?? olds.project }, { replace: REPLACE, update: UPDATE });
  },

  async create(config: ConfigLike | undefined, i: PubSubSubscriptionInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const inputs = { ...i, project: i.project ?? gcp.project };
    const id = `projects/${inputs.project}/subscriptions/${i.name}`;
    const takenOverFrom = await createOrAdoptResource(gcp, id, "subscription", i, body(inputs), ["ackDeadlineSeconds", "messageRetentionDuration", "retainAckedMessages", "deadLetterPolicy", "expirationPolicy", "labels"]);
    return { id, outs: outputs({ ...inputs, takenOverFrom }) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(importRefusal("PubSubSubscription", id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const s = await psOrUndefined(gcp, `/${id}`, `read subscription ${id}`);
    if (!s) return { id: "" };
    const labels = userLabels(s.labels);
    return {
      id,
      props: outputs({
        ...props,
        ackDeadlineSeconds: s.ackDeadlineSeconds ?? props.ackDeadlineSeconds,
        messageRetentionDuration: s.messageRetentionDuration ?? props.messageRetentionDuration,
        retainAckedMessages: s.retainAckedMessages ?? false,
        deadLetterTopic: s.deadLetterPolicy?.deadLetterTopic,
        maxDeliveryAttempts: s.deadLetterPolicy ? s.deadLetterPolicy.maxDeliveryAttempts ?? props.maxDeliveryAttempts : undefined,
        labels,
        detached: s.topic === "_deleted-topic_",
      }),
    };
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, checked: any) {
    const news = { ...checked, project: checked.project ?? olds.project };
    const { updates } = classifyDiff(olds, news, { replace: REPLACE, update: UPDATE });
    if (updates.length === 0) return { outs: outputs(news) };
    const gcp = await gcpClients(gcpConfigFrom(config));
    const mask = [...new Set(updates.map((u) => MASK[u] ?? u))];
    await patchResource(gcp, id, "subscription", body({ ...news, owner: news.owner ?? olds.owner }), mask, `update subscription ${id}`);
    return { outs: outputs(news) };
  },

  async delete(config: ConfigLike | undefined, id: string, props: any) {
    await deleteResource(await gcpClients(gcpConfigFrom(config)), id, "subscription", props ?? {});
  },
});

function outputs(i: any) {
  const rest = withoutProvider(i);
  return defined({ ...rest, fullName: `projects/${rest.project}/subscriptions/${rest.name}`, topicName: topicName(rest as { project: string; topic: string }), detached: rest.detached ?? false, takenOverFrom: rest.takenOverFrom ?? "" });
}

export interface PubSubSubscription {
  readonly name: pulumi.Output<string>;
  readonly project: pulumi.Output<string>;
  /** `projects/<project>/subscriptions/<name>`. */
  readonly fullName: pulumi.Output<string>;
  /** The topic's full name. */
  readonly topicName: pulumi.Output<string>;
  /** True after a refresh found its topic deleted (it then receives nothing). */
  readonly detached: pulumi.Output<boolean>;
}

/** A pull subscription that never expires. */
export class PubSubSubscription extends pulumi.dynamic.Resource {
  /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
  static get provider() {
    return operationsProvider(__filename, "pubsubSubscriptionOperations", pubsubSubscriptionOperations);
  }

  constructor(name: string, args: PubSubSubscriptionArgs, opts?: pulumi.CustomResourceOptions) {
    // Refused before anything is declared (the stack identity below is a resource too).
    refuseImport("PubSubSubscription", name, opts);
    super(
      PubSubSubscription.provider,
      name,
      { owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`, ...args, deployment: args.deployment ?? stackIdentity().deployment, project: args.project, fullName: undefined, topicName: undefined, detached: undefined, takenOverFrom: undefined },
      refuseImport("PubSubSubscription", name, opts),
      "gcp",
      "PubSubSubscription",
    );
  }
}
