// BucketIamMember: one member in one role binding of a bucket's IAM policy. Non-authoritative: it
// adds and removes only its own member and never touches other bindings or members. Every change
// is an etag-guarded read-modify-write, retried on 412/409 (a concurrent writer) and, for a bounded
// time, on 400 "Service account … does not exist" (a new account not yet visible; gcp-apis.md §1.5, §2.2).
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `bucketIamMemberOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor, gcpError } from "./client";
import { notFound, withRetry } from "./recovery";
import { changeMember, hasMember } from "./iam-policy";
import { bucketTarget, recordGrant, releaseGrant } from "./grant-registry";
import { newInstance } from "../ownership";
import { z } from "zod";
import { bucketName } from "../validation";
import { ownerSchema, roleName, member } from "./fields";
import { defineResource, defined, engineFacing, inputRules, validate } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs, Permissions } from "../engine";

/** What the deploying identity needs, by operation (permissions.ts assembles these). The grant's holder is recorded in a bucket label (grant-registry.ts): read and patched. */
export const BUCKET_IAM_MEMBER_PERMISSIONS: Permissions = {
  "create, update, delete": ["storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy", "storage.buckets.get", "storage.buckets.update"],
  "read (refresh)": ["storage.buckets.getIamPolicy"],
};

export interface BucketIamMemberArgs {
  bucket: pulumi.Input<string>;
  /** `roles/...`, or a custom role's full name `projects/<project>/roles/<id>`. */
  role: pulumi.Input<string>;
  /** e.g. `serviceAccount:<email>`. */
  member: pulumi.Input<string>;
  /**
   * Grant only where an IAM Condition holds, e.g. objects under a prefix (AuditStream's readers: see
   * prefixCondition). Needs uniform bucket-level access on the bucket.
   */
  condition?: pulumi.Input<{ title: pulumi.Input<string>; expression: pulumi.Input<string>; description?: pulumi.Input<string> }>;
}

export const bucketIamMemberInputs = z.strictObject({
  bucket: bucketName,
  role: roleName,
  member,
  /** An IAM Condition (the bucket needs uniform bucket-level access); replace-only. */
  condition: z
    .strictObject({
      title: z.string().min(1, "a condition needs a title").max(100),
      expression: z.string().min(1, "a condition needs an expression").max(12_800),
      description: z.string().max(256).optional(),
    })
    .optional(),
  /** Set by the constructor (project/stack/name): the grant's lineage, recorded on the bucket (grant-registry.ts). */
  owner: ownerSchema,
});
true satisfies ArgsInSchema<BucketIamMemberArgs, typeof bucketIamMemberInputs>;

export type BucketIamMemberInputs = z.output<typeof bucketIamMemberInputs>;

/** What a BucketIamMember keeps in state. */
export type BucketIamMemberState = Pick<BucketIamMemberInputs, "bucket" | "role" | "member" | "condition" | "owner"> & {
  /** Which instance of the grant holds the binding (grant-registry.ts); none for a grant recorded nowhere. */ instance?: string;
};

// A binding is its role, member and condition: any change is another binding.
const RULES = inputRules({ schema: bucketIamMemberInputs, replace: ["bucket", "role", "member", "condition"], update: [] });

export const bucketIamMemberOperations: TypedOperations<BucketIamMemberInputs, BucketIamMemberState> = engineFacing("BucketIamMember", {
  async check(config, olds, news) {
    const v = validate(RULES.schema, news);
    if (!v.inputs) return { failures: v.failures };
    // A bucket named by the program (AuditStream's existingBucket) is checked to exist in preview,
    // once per new name (a no-op preview makes no call). Only "not found" refuses; no permission to
    // look is left to the grant itself.
    if (v.complete && v.inputs.bucket !== olds?.bucket) {
      const gcp = await clientsFor(config).catch(() => undefined);
      const missing =
        gcp &&
        (await withRetry(() => gcp.storage.buckets.get({ bucket: v.inputs!.bucket }), { what: `look up bucket ${v.inputs.bucket}`, deadlineMs: 20_000 }).then(
          () => false,
          notFound,
        ));
      if (missing)
        return {
          failures: [
            {
              property: "bucket",
              reason: `gs://${v.inputs.bucket} does not exist (with AuditStream: check existingBucket, or leave it out to create a bucket)`,
            },
          ],
        };
    }
    return { inputs: v.inputs };
  },

  diff: RULES.diff,

  async create(config, i) {
    const gcp = await clientsFor(config);
    await modifyPolicy(gcp, i, "add");
    // This instance holds the binding now (a replacement or a moved copy makes a new instance).
    const instance = newInstance();
    const recorded = i.owner ? await recordGrant(bucketTarget(gcp, i.bucket), i.owner, i.role, i.member, instance) : false;
    return { id: `${i.bucket}/${i.role}/${i.member}`, outs: outputs(i, recorded ? instance : undefined) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const policy = await withRetry(() => gcp.storage.buckets.getIamPolicy({ bucket: props.bucket, optionsRequestedPolicyVersion: 3 }), {
      what: `read IAM policy of ${props.bucket}`,
    }).catch((e) => {
      if (notFound(e)) return undefined;
      throw gcpError(e, `read IAM policy of ${props.bucket}`);
    });
    const present = hasMember(policy?.data, props.role, props.member, props.condition);
    return present ? { id, props: outputs(props, props.instance) } : { id: "" };
  },

  async update(_config, _id, olds, news) {
    // Only a new provider text gets here (every field replaces).
    return { outs: outputs({ ...news, owner: olds.owner ?? news.owner }, olds.instance) };
  },

  async delete(config, _id, props) {
    const gcp = await clientsFor(config);
    await releaseGrant(bucketTarget(gcp, props.bucket), props.owner, props.role, props.member, props.instance, () => modifyPolicy(gcp, props, "remove"));
  },
});

/** The grant's outputs: what it binds, and the instance that recorded it holds the binding (none: not recorded). */
function outputs(i: { bucket: string; role: string; member: string; owner?: string; condition?: unknown }, instance: string | undefined) {
  return defined({ bucket: i.bucket, role: i.role, member: i.member, condition: i.condition, owner: i.owner, instance });
}

/**
 * The IAM Condition that scopes a grant on `bucket` to the objects under `prefix`: reading them
 * (resource.name of an object, `projects/_/buckets/<b>/objects/<name>`) and listing them (a list call's
 * resource is the bucket, so the listing's own prefix is what is checked: the
 * storage.googleapis.com/objectListPrefix API attribute). IAM docs: "Resource attributes for IAM
 * Conditions" (Cloud Storage resource names) and "Attribute reference" (API attributes).
 */
export function prefixCondition(bucket: string, prefix: string): { title: string; expression: string; description: string } {
  const p = prefix.replace(/^\/+|\/+$/g, "");
  const under = p ? `${p}/` : "";
  return {
    title: `objects under ${under || "the bucket"}`.slice(0, 100),
    description: "zitadel-audit-stream: read and list only the stream's objects",
    expression: `resource.name.startsWith("projects/_/buckets/${bucket}/objects/${under}") || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("${under}")`,
  };
}

/** Adds or removes the member on the bucket's policy (provider/gcp/iam-policy.ts). */
async function modifyPolicy(gcp: any, i: BucketIamMemberInputs, op: "add" | "remove"): Promise<void> {
  const what = `${op === "add" ? "grant" : "revoke"} ${i.role} ${op === "add" ? "to" : "from"} ${i.member} on bucket ${i.bucket}`;
  const access = {
    get: async () => {
      try {
        return (await gcp.storage.buckets.getIamPolicy({ bucket: i.bucket, optionsRequestedPolicyVersion: 3 })).data;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
    set: async (policy: any) => {
      await gcp.storage.buckets.setIamPolicy({ bucket: i.bucket, requestBody: policy });
    },
  };
  await changeMember(access, i.role, i.member, op, what, i.condition);
}

export interface BucketIamMember extends Outputs<{ bucket: string; role: string; member: string }> {}

/** Grants one role on a bucket to one member, leaving the rest of the policy alone. */
export class BucketIamMember extends defineResource<BucketIamMemberArgs>(__filename, {
  operations: { bucketIamMemberOperations },
  owner: true,
  outputs: ["instance"],
  importInstead: "declare it without `import`: adding a member that is already bound is a no-op, so declaring it adopts it",
}) {}
