// PubSubTopic: a Pub/Sub topic for the changefeed to publish to (the SIEM's route for Google Cloud
// logs). Replace-only: project, name; labels and message retention update in place. Created
// beforehand so the feed's writer needs only pubsub.topics.publish on it (docs/pubsub-research.md §7).
//
// The provider stored in state is `require(".../provider/stored/pubsub-topic.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubTopicOperations` export are stable API.
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

export interface PubSubTopicArgs extends ProjectArgs {
  name: pulumi.Input<string>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Keep messages on the topic for replay (seek), e.g. "604800s"; unset: only subscriptions keep them. */
  messageRetentionDuration?: pulumi.Input<string>;
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

/** What a PubSubTopic keeps in state. */
export type PubSubTopicState = PubSubTopicInputs & { fullName: string; takenOverFrom: string };

const REPLACE = ["project", "name"];
const UPDATE = ["labels", "messageRetentionDuration"];
const RULES = inputRules({ schema: pubsubTopicInputs, ...PROJECT_DEFAULT, identity: true, replace: REPLACE, update: UPDATE });

const body = (i: PubSubTopicInputs) =>
  defined({ labels: { ...i.labels, ...ownerLabels(identityOf(i)) }, messageRetentionDuration: i.messageRetentionDuration });

function outputs(i: any): PubSubTopicState {
  const rest = withoutProvider(i);
  return defined({ ...rest, fullName: `projects/${rest.project}/topics/${rest.name}`, takenOverFrom: rest.takenOverFrom ?? "" }) as PubSubTopicState;
}

export const PUBSUB_TOPIC_PERMISSIONS = collectionPermissions("pubsub.topics");

export const pubsubTopicOperations: TypedOperations<PubSubTopicInputs, PubSubTopicState> = engineFacing("PubSubTopic", {
  ...RULES.handlers,

  async create(config, i) {
    const made = await createInProject(config, i, "topic", body, ["labels", ...(i.messageRetentionDuration ? ["messageRetentionDuration"] : [])]);
    return { id: made.id, outs: outputs({ ...made.inputs, takenOverFrom: made.takenOverFrom }) };
  },

  async read(config, id, props) {
    const t = await readResource(await clientsFor(config), id, "topic");
    return t ? { id, props: outputs({ ...props, labels: t.labels, messageRetentionDuration: t.found.messageRetentionDuration }) } : { id: "" };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news) };
    const gcp = await clientsFor(config);
    await patchResource(gcp, id, "topic", body({ ...news, owner: news.owner ?? olds.owner }), updates, `update topic ${id}`);
    return { outs: outputs(news) };
  },

  async delete(config, id, props) {
    // Subscriptions of the topic stay (Pub/Sub detaches them), with the messages they hold.
    await deleteResource(await clientsFor(config), id, "topic", props ?? {});
  },
});

export interface PubSubTopic extends Outputs<{ name: string; project: string; /** `projects/<project>/topics/<name>`. */ fullName: string }> {}

/** A Pub/Sub topic. */
export class PubSubTopic extends defineResource<PubSubTopicArgs>(__filename, {
  operations: { pubsubTopicOperations },
  ...OWNED,
  outputs: ["project", "fullName", "takenOverFrom"],
  importInstead:
    "declare it without `import`: a topic this stack made carries its label and is adopted; to publish to a topic made elsewhere, give the Changefeed its name",
}) {}
