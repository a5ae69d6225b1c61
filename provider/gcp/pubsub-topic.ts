// PubSubTopic: a Pub/Sub topic for the changefeed to publish to (the SIEM's route for Google Cloud
// logs). Replace-only: project, name; labels and message retention update in place. Created
// beforehand so the feed's writer needs only pubsub.topics.publish on it (docs/pubsub-research.md §7).
//
// The provider stored in state is `require(".../provider/stored/pubsub-topic.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubTopicOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { defaultProject, gcpClients, gcpConfigFrom } from "./client";
import { PubSubTopicInputs, pubsubTopicInputs } from "./schemas";
import { createOrAdoptResource, deleteResource, patchResource, psOrUndefined } from "./pubsub-common";
import { identityOf } from "./ownership";
import { identityFields, ownerLabels, userLabels } from "../ownership";
import { stackIdentity } from "../stream-identity";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, Operations, classifyDiff, defined, validate, withoutProvider, importRefusal, refuseImport, engineFacing } from "../shared";

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

const REPLACE = ["project", "name"];
const UPDATE = ["labels", "messageRetentionDuration"];

const body = (i: PubSubTopicInputs) => defined({ labels: { ...i.labels, ...ownerLabels(identityOf(i)) }, messageRetentionDuration: i.messageRetentionDuration });

export const pubsubTopicOperations: Operations = engineFacing({
  async check(config: ConfigLike | undefined, olds: any, news: any) {
    const v = validate(pubsubTopicInputs, { project: defaultProject(gcpConfigFrom(config)), ...news });
    if (!v.inputs) return { failures: v.failures };
    return { inputs: defined({ ...v.inputs, ...identityFields(olds, news) }) };
  },

  async diff(_config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    return classifyDiff(olds, { ...news, project: news.project ?? olds.project }, { replace: REPLACE, update: UPDATE });
  },

  async create(config: ConfigLike | undefined, i: PubSubTopicInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const inputs = { ...i, project: i.project ?? gcp.project };
    const id = `projects/${inputs.project}/topics/${i.name}`;
    const takenOverFrom = await createOrAdoptResource(gcp, id, "topic", i, body(inputs), ["labels", ...(i.messageRetentionDuration ? ["messageRetentionDuration"] : [])]);
    return { id, outs: outputs({ ...inputs, takenOverFrom }) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(importRefusal("PubSubTopic", id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const t = await psOrUndefined(gcp, `/${id}`, `read topic ${id}`);
    if (!t) return { id: "" };
    const labels = userLabels(t.labels);
    return { id, props: outputs({ ...props, labels, messageRetentionDuration: t.messageRetentionDuration }) };
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, checked: any) {
    const news = { ...checked, project: checked.project ?? olds.project };
    const { updates } = classifyDiff(olds, news, { replace: REPLACE, update: UPDATE });
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
export class PubSubTopic extends pulumi.dynamic.Resource {
  /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
  static get provider() {
    return operationsProvider(__filename, "pubsubTopicOperations", pubsubTopicOperations);
  }

  constructor(name: string, args: PubSubTopicArgs, opts?: pulumi.CustomResourceOptions) {
    // Refused before anything is declared (the stack identity below is a resource too).
    refuseImport("PubSubTopic", name, opts);
    super(PubSubTopic.provider, name, { owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`, ...args, deployment: args.deployment ?? stackIdentity().deployment, project: args.project, fullName: undefined, takenOverFrom: undefined }, refuseImport("PubSubTopic", name, opts), "gcp", "PubSubTopic");
  }
}
