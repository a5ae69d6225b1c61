// PubSubIamMember: one member in one role binding of a topic's or subscription's IAM policy, e.g.
// roles/pubsub.publisher on the topic for the changefeed's writer, roles/pubsub.subscriber on the
// subscription for the SIEM's collector. Non-authoritative, like BucketIamMember (provider/gcp/iam-policy.ts).
//
// The provider stored in state is `require(".../provider/stored/pubsub-iam-member.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubIamMemberOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { Gcp, clientsFor } from "./client";

import { z } from "zod";
import { ownerSchema, roleName, member } from "./fields";
import { changeMember, hasMember } from "./iam-policy";
import { pubsubTarget, recordGrant, releaseGrant } from "./grant-registry";
import { newInstance } from "../ownership";
import { defineResource, defined, engineFacing, inputRules } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs, Permissions } from "../engine";
import { notFound } from "./recovery";

/** What the deploying identity needs, by operation (permissions.ts assembles these). The grant's holder is recorded in a label of the topic or subscription (grant-registry.ts). */
export const PUBSUB_IAM_MEMBER_PERMISSIONS: Permissions = {
  "create, delete": [
    "pubsub.topics.getIamPolicy",
    "pubsub.topics.setIamPolicy",
    "pubsub.subscriptions.getIamPolicy",
    "pubsub.subscriptions.setIamPolicy",
    "pubsub.topics.get",
    "pubsub.topics.update",
    "pubsub.subscriptions.get",
    "pubsub.subscriptions.update",
  ],
  "read (refresh)": ["pubsub.topics.getIamPolicy", "pubsub.subscriptions.getIamPolicy"],
};

export interface PubSubIamMemberArgs {
  /** `projects/<p>/topics/<t>` or `projects/<p>/subscriptions/<s>`. */
  resource: pulumi.Input<string>;
  /** e.g. roles/pubsub.publisher, roles/pubsub.subscriber, or a custom role's full name. */
  role: pulumi.Input<string>;
  member: pulumi.Input<string>;
}

/** The resource's policy (GET …:getIamPolicy, pubsub-research.md §8), and its writer. */
function policyOf(gcp: Gcp, resource: string) {
  return {
    get: async () => {
      try {
        return (await gcp.pubsub.request("GET", `/${resource}:getIamPolicy`)).data;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
    set: async (policy: any) => {
      await gcp.pubsub.request("POST", `/${resource}:setIamPolicy`, { policy });
    },
  };
}

export const pubsubIamMemberInputs = z.strictObject({
  /** `projects/<p>/topics/<t>` or `projects/<p>/subscriptions/<s>`. */
  resource: z
    .string()
    .regex(
      /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/(topics|subscriptions)\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/,
      'must be "projects/<project>/topics/<topic>" or "projects/<project>/subscriptions/<subscription>"',
    ),
  role: roleName,
  member,
  /** Set by the constructor (project/stack/name): the grant's lineage, recorded on the resource (grant-registry.ts). */
  owner: ownerSchema,
});
true satisfies ArgsInSchema<PubSubIamMemberArgs, typeof pubsubIamMemberInputs>;

export type PubSubIamMemberInputs = z.output<typeof pubsubIamMemberInputs>;

/** What a PubSubIamMember keeps in state. */
export type PubSubIamMemberState = Pick<PubSubIamMemberInputs, "resource" | "role" | "member" | "owner"> & {
  /** Which instance of the grant holds the binding (grant-registry.ts). */ instance?: string;
};

const RULES = inputRules({ schema: pubsubIamMemberInputs, replace: ["resource", "role", "member"], update: [] });

export const pubsubIamMemberOperations: TypedOperations<PubSubIamMemberInputs, PubSubIamMemberState> = engineFacing("PubSubIamMember", {
  ...RULES.handlers,

  async create(config, i) {
    const gcp = await clientsFor(config);
    await changeMember(policyOf(gcp, i.resource), i.role, i.member, "add", `grant ${i.role} to ${i.member} on ${i.resource}`);
    // This instance holds the binding now (a replacement or a moved copy makes a new instance).
    const instance = newInstance();
    const recorded = i.owner ? await recordGrant(pubsubTarget(gcp, i.resource), i.owner, i.role, i.member, instance) : false;
    return { id: `${i.resource}/${i.role}/${i.member}`, outs: outputs(i, recorded ? instance : undefined) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const policy = await policyOf(gcp, props.resource).get();
    return hasMember(policy, props.role, props.member) ? { id, props: outputs(props, props.instance) } : { id: "" };
  },

  async update(_config, _id, olds, news) {
    // Only a new provider text gets here (every field replaces).
    return { outs: outputs({ ...news, owner: olds.owner ?? news.owner }, olds.instance) };
  },

  async delete(config, _id, props) {
    const gcp = await clientsFor(config);
    await releaseGrant(pubsubTarget(gcp, props.resource), props.owner, props.role, props.member, props.instance, () =>
      changeMember(policyOf(gcp, props.resource), props.role, props.member, "remove", `revoke ${props.role} from ${props.member} on ${props.resource}`),
    );
  },
});

/** The grant's outputs: what it binds, and the instance that recorded it holds the binding (none: not recorded). */
function outputs(i: { resource: string; role: string; member: string; owner?: string }, instance: string | undefined) {
  return defined({ resource: i.resource, role: i.role, member: i.member, owner: i.owner, instance });
}

export interface PubSubIamMember extends Outputs<{ resource: string; role: string; member: string }> {}

/** Grants one role on a topic or subscription to one member, leaving the rest of the policy alone. */
export class PubSubIamMember extends defineResource<PubSubIamMemberArgs>(__filename, {
  operations: { pubsubIamMemberOperations },
  owner: true,
  outputs: ["instance"],
  importInstead: "declare it without `import`: adding a member that is already bound is a no-op, so declaring it adopts it",
}) {}
