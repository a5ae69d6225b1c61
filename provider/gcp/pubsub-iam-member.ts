// PubSubIamMember: one member in one role binding of a topic's or subscription's IAM policy, e.g.
// roles/pubsub.publisher on the topic for the changefeed's writer, roles/pubsub.subscriber on the
// subscription for the SIEM's collector. Non-authoritative, like BucketIamMember (provider/gcp/iam-policy.ts).
//
// The provider stored in state is `require(".../provider/stored/pubsub-iam-member.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubIamMemberOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { Gcp, gcpClients, gcpConfigFrom, statusOf } from "./client";
import { PubSubIamMemberInputs, pubsubIamMemberInputs } from "./schemas";
import { changeMember, hasMember } from "./iam-policy";
import { pubsubTarget, recordGrant, releaseGrant } from "./grant-registry";
import { newInstance } from "../ownership";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, Operations, classifyDiff, defined, validate, importRefusal, refuseImport, engineFacing } from "../shared";

export interface PubSubIamMemberArgs {
  /** `projects/<p>/topics/<t>` or `projects/<p>/subscriptions/<s>`. */
  resource: pulumi.Input<string>;
  /** e.g. roles/pubsub.publisher, roles/pubsub.subscriber, or a custom role's full name. */
  role: pulumi.Input<string>;
  member: pulumi.Input<string>;
}

/** The resource's policy (GET …:getIamPolicy, pubsub-research §8), and its writer. */
function policyOf(gcp: Gcp, resource: string) {
  return {
    get: async () => {
      try {
        return (await gcp.pubsub.request("GET", `/${resource}:getIamPolicy`)).data;
      } catch (e) {
        if (statusOf(e) === 404) return undefined;
        throw e;
      }
    },
    set: async (policy: any) => {
      await gcp.pubsub.request("POST", `/${resource}:setIamPolicy`, { policy });
    },
  };
}

export const pubsubIamMemberOperations: Operations = engineFacing({
  async check(_config: ConfigLike | undefined, _olds: any, news: any) {
    const v = validate(pubsubIamMemberInputs, news);
    return v.inputs ? { inputs: v.inputs } : { failures: v.failures };
  },

  async diff(_config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    return classifyDiff(olds, news, { replace: ["resource", "role", "member"], update: [] });
  },

  async create(config: ConfigLike | undefined, i: PubSubIamMemberInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    await changeMember(policyOf(gcp, i.resource), i.role, i.member, "add", `grant ${i.role} to ${i.member} on ${i.resource}`);
    // This instance holds the binding now (a replacement or a moved copy makes a new instance).
    const instance = newInstance();
    const recorded = i.owner ? await recordGrant(pubsubTarget(gcp, i.resource), i.owner, i.role, i.member, instance) : false;
    return { id: `${i.resource}/${i.role}/${i.member}`, outs: outputs(i, recorded ? instance : undefined) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(importRefusal("PubSubIamMember", id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const policy = await policyOf(gcp, props.resource).get();
    return hasMember(policy, props.role, props.member) ? { id, props: outputs(props, props.instance) } : { id: "" };
  },

  async update(_config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    // Only a new provider text gets here (every field replaces).
    return { outs: outputs({ ...news, owner: olds.owner ?? news.owner }, olds.instance) };
  },

  async delete(config: ConfigLike | undefined, _id: string, props: any) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    await releaseGrant(pubsubTarget(gcp, props.resource), props.owner, props.role, props.member, props.instance, () =>
      changeMember(policyOf(gcp, props.resource), props.role, props.member, "remove", `revoke ${props.role} from ${props.member} on ${props.resource}`),
    );
  },
});

/** The grant's outputs: what it binds, and the instance that recorded it holds the binding (none: not recorded). */
function outputs(i: { resource: string; role: string; member: string; owner?: string }, instance: string | undefined) {
  return defined({ resource: i.resource, role: i.role, member: i.member, owner: i.owner, instance });
}

export interface PubSubIamMember {
  readonly resource: pulumi.Output<string>;
  readonly role: pulumi.Output<string>;
  readonly member: pulumi.Output<string>;
}

/** Grants one role on a topic or subscription to one member, leaving the rest of the policy alone. */
export class PubSubIamMember extends pulumi.dynamic.Resource {
  /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
  static get provider() {
    return operationsProvider(__filename, "pubsubIamMemberOperations", pubsubIamMemberOperations);
  }

  constructor(name: string, args: PubSubIamMemberArgs, opts?: pulumi.CustomResourceOptions) {
    super(PubSubIamMember.provider, name, { owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`, ...args, instance: undefined }, refuseImport("PubSubIamMember", name, opts), "gcp", "PubSubIamMember");
  }
}
