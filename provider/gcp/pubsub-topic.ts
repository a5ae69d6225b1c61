// PubSubTopic: a Pub/Sub topic for the changefeed to publish to (the SIEM's route for Google Cloud
// logs). Replace-only: project, name; labels and message retention update in place. Created
// beforehand so the feed's writer needs only pubsub.topics.publish on it (docs/pubsub-research.md §7).
//
// The provider stored in state is `require(".../provider/stored/pubsub-topic.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubTopicOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { gcpClients, gcpConfigFrom } from "./client";
import { z } from "zod";
import { projectId, labels, pubsubId, seconds, identitySchema, PROJECT_DEFAULT } from "./fields";
import { createOrAdoptResource, deleteResource, patchResource, psOrUndefined } from "./pubsub-common";
import { identityOf } from "./ownership";
import { ownerLabels, userLabels } from "../ownership";
import { stackIdentity } from "../stream-identity";
import type { ArgsInSchema, ConfigLike, Operations } from "../engine/contract";
import { defined, withoutProvider } from "../engine/check";
import { engineFacing, defineResource } from "../engine/define";
import { noImport } from "../engine/no-import";
import type { Permissions } from "../engine/contract";
import { inputRules } from "../engine/rules";

const NO_IMPORT = noImport("PubSubTopic", "declare it without `import`: a topic this stack made carries its label and is adopted; to publish to a topic made elsewhere, give the Changefeed its name");

/** What the deploying identity needs, by operation (permissions.ts assembles these). */
export const PUBSUB_TOPIC_PERMISSIONS: Permissions = {
  create: ["pubsub.topics.create"],
  "read (refresh)": ["pubsub.topics.get"],
  update: ["pubsub.topics.update"],
  delete: ["pubsub.topics.delete"],
};

export interface PubSubTopicArgs {
  name: pulumi.Input<string>;
  project?: pulumi.Input<string>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Keep messages on the topic for replay (seek), e.g. "604800s"; unset: only subscriptions keep them. */
  messageRetentionDuration?: pulumi.Input<string>;
  /** The stream's identity (StreamIdentity.deployment), carried in a label. Default: the stack's. */
  deployment?: pulumi.Input<string>;
  /** Adopt an existing one of this name made by another deployment (the one the error names, or "legacy"): the recovery after a lost state. */
  takeOver?: pulumi.Input<string>;
}

export const pubsubTopicInputs = z.strictObject({
  project: projectId.optional(),
  name: pubsubId,
  labels: labels.default({}),
  /** How long the topic keeps messages for seek/replay; unset: not kept beyond subscriptions. */
  messageRetentionDuration: seconds(600, 31 * 86_400, "messageRetentionDuration").optional(),
  ...identitySchema,
});
true satisfies ArgsInSchema<PubSubTopicArgs, typeof pubsubTopicInputs>;

export type PubSubTopicInputs = z.output<typeof pubsubTopicInputs> & { project: string };

const REPLACE = ["project", "name"];
const UPDATE = ["labels", "messageRetentionDuration"];

const body = (i: PubSubTopicInputs) => defined({ labels: { ...i.labels, ...ownerLabels(identityOf(i)) }, messageRetentionDuration: i.messageRetentionDuration });

const RULES = inputRules({ schema: pubsubTopicInputs, ...PROJECT_DEFAULT, identity: true, replace: REPLACE, update: UPDATE });

export const pubsubTopicOperations: Operations = engineFacing({
  check: RULES.check,
  diff: RULES.diff,

  async create(config: ConfigLike | undefined, i: PubSubTopicInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const inputs = { ...i, project: i.project ?? gcp.project };
    const id = `projects/${inputs.project}/topics/${i.name}`;
    const takenOverFrom = await createOrAdoptResource(gcp, id, "topic", i, body(inputs), ["labels", ...(i.messageRetentionDuration ? ["messageRetentionDuration"] : [])]);
    return { id, outs: outputs({ ...inputs, takenOverFrom }) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(NO_IMPORT.refusal(id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const t = await psOrUndefined(gcp, `/${id}`, `read topic ${id}`);
    if (!t) return { id: "" };
    const labels = userLabels(t.labels);
    return { id, props: outputs({ ...props, labels, messageRetentionDuration: t.messageRetentionDuration }) };
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, checked: any) {
    const news = RULES.withSticky(olds, checked);
    const { updates } = RULES.changes(olds, news);
    if (updates.length === 0) return { outs: outputs(news) };
    const gcp = await gcpClients(gcpConfigFrom(config));
    await patchResource(gcp, id, "topic", body({ ...news, owner: news.owner ?? olds.owner }), updates, `update topic ${id}`);
    return { outs: outputs(news) };
  },

  async delete(config: ConfigLike | undefined, id: string, props: any) {
    // Subscriptions of the topic stay (Pub/Sub detaches them), with the messages they hold.
    await deleteResource(await gcpClients(gcpConfigFrom(config)), id, "topic", props ?? {});
  },
});

function outputs(i: any) {
  const rest = withoutProvider(i);
  return defined({ ...rest, fullName: `projects/${rest.project}/topics/${rest.name}`, takenOverFrom: rest.takenOverFrom ?? "" });
}

export interface PubSubTopic {
  readonly name: pulumi.Output<string>;
  readonly project: pulumi.Output<string>;
  /** `projects/<project>/topics/<name>`. */
  readonly fullName: pulumi.Output<string>;
}

/** A Pub/Sub topic. */
export class PubSubTopic extends defineResource<PubSubTopicArgs>("gcp", __filename, { pubsubTopicOperations }, NO_IMPORT, {
  owner: true,
  defaultDeployment: () => stackIdentity().deployment,
  outputs: ["project", "fullName", "takenOverFrom"],
}) {}
