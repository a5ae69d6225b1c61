// IAM policies set on one resource (a Cloud Storage bucket, a Pub/Sub topic or subscription): the
// bindings and etag, the checks setIamPolicy makes on roles and members, and what a policy grants.
// Each API keeps its own wire shape (storage#policy, the IAM v1 Policy) and its own etag rule.
import * as crypto from "crypto";
import { ApiError, invalid } from "./errors";
import type { Binding, EmulatorHost, ResourcePolicy } from "./model";

export type { Binding, ResourcePolicy } from "./model";
import { MEMBER_PATTERN } from "./roles";
import { RequestAttributes, conditionHolds } from "./conditions";

/**
 * Is `given` the etag `current`? Etags are protobuf `bytes` (Policy.etag, Role.etag), so they are
 * compared as the bytes they encode, not as text: Google's apitools clients (gcloud) decode a bytes
 * field's base64 and send it back url-safe (encoding_helper.py _SafeEncodeBytes), so "+" and "/" come
 * back as "-" and "_". A text comparison refused such a client's read-modify-write with a 412 whenever
 * the etag held either character (seen once in conformance's `gcloud storage buckets add-iam-policy-binding`).
 */
export function sameEtag(given: string, current: string): boolean {
  return Buffer.from(given, "base64").equals(Buffer.from(current, "base64"));
}

/** A fresh opaque etag for a policy that was just written. */
export function newPolicyEtag(): string {
  return crypto.randomBytes(6).toString("base64");
}

/**
 * Does the policy bind the service account `principal` to a role that holds `permission`? A binding
 * with a condition counts only when the condition holds for the request's `attrs` (none: it does not).
 */
export function policyGrants(emu: EmulatorHost, policy: ResourcePolicy, principal: string, permission: string, attrs?: RequestAttributes): boolean {
  const member = `serviceAccount:${principal}`;
  return policy.bindings.some(
    (b) =>
      b.members.includes(member) &&
      emu.rolePermissions(b.role).includes(permission) &&
      (!b.condition || (attrs !== undefined && conditionHolds(b.condition, attrs))),
  );
}

/**
 * The bindings of a policy being set, checked: each role must be one of `predefined` (the roles this
 * resource type accepts) or a live custom role; each member must have a known prefix and, for a service
 * account of this emulator, exist. Bindings without members are dropped and members deduplicated.
 * `checkBinding` runs first on each binding (a resource's own rules, e.g. about conditions).
 */
export function checkedBindings(
  emu: EmulatorHost,
  bindings: Binding[] | undefined,
  predefined: Record<string, string[]>,
  checkBinding: (b: Binding) => void = () => {},
): Binding[] {
  const out: Binding[] = [];
  for (const b of bindings ?? []) {
    checkBinding(b);
    checkRole(emu, b.role, predefined);
    for (const m of b.members ?? []) checkMember(emu, m);
    if ((b.members ?? []).length) out.push({ role: b.role, members: [...new Set(b.members)], ...(b.condition ? { condition: b.condition } : {}) });
  }
  return out;
}

function checkRole(emu: EmulatorHost, role: string, predefined: Record<string, string[]>): void {
  if (predefined[role]) return;
  const m = /^projects\/([^/]+)\/roles\/([^/]+)$/.exec(role ?? "");
  const custom = m ? emu.iam.roles.get(`${m[1]}/${m[2]}`) : undefined;
  if (!custom) throw invalid(`Role ${role} is not supported for this resource.`);
  if (custom.deleted) throw invalid(`You cannot bind a principal to the custom role ${role}: it is deleted.`);
}

function checkMember(emu: EmulatorHost, member: string): void {
  if (!MEMBER_PATTERN.test(member)) {
    throw invalid(`The member ${member} is of an unknown type. Please set a valid type prefix for the member.`);
  }
  if (member.startsWith("serviceAccount:")) {
    const email = member.slice("serviceAccount:".length);
    const sa = emu.iam.findByEmail(email);
    if (sa && /\.iam\.gserviceaccount\.com$/.test(email) && (sa.deleted || !emu.visible(sa))) {
      throw invalid(`Service account ${email} does not exist.`);
    }
    // Google-managed service agents exist without being created (the emulator knows Pub/Sub's).
    if (!sa && /@[^@]+\.iam\.gserviceaccount\.com$/.test(email) && !emu.resourcemanager.isServiceAgent(email))
      throw invalid(`Service account ${email} does not exist.`);
  }
}

/** An IAM v1 Policy as Pub/Sub and Secret Manager answer it: version 1 with its bindings, or the etag alone. */
export function iamPolicyJson(p: ResourcePolicy): unknown {
  const bindings = p.bindings.map((b) => ({ role: b.role, members: [...b.members] }));
  return bindings.length ? { version: 1, etag: p.etag, bindings } : { etag: p.etag };
}

/**
 * setIamPolicy on a resource with an IAM v1 policy (a Pub/Sub topic or subscription, a secret): the body's
 * policy checked against `current` and `roles`, as the new policy. No conditions here (`noConditions`
 * says so in the API's place).
 */
export function replacedPolicy(
  emu: EmulatorHost,
  body: { policy?: { bindings?: Binding[]; etag?: string } },
  current: ResourcePolicy,
  roles: Record<string, string[]>,
  noConditions: string,
): ResourcePolicy {
  if (!body.policy || typeof body.policy !== "object") throw invalid("You have passed an invalid argument to the service (argument=policy)."); // the dotnet#5378 form
  const { etag } = body.policy;
  if (etag && !sameEtag(etag, current.etag)) {
    // IAM's read-modify-write conflict (Resource Manager's text, e.g. pulumi-google-native#862); that Pub/Sub
    // and Secret Manager answer a stale etag with exactly this is UNCONFIRMED (docs/cloud-run-runtime.md §1.2).
    throw new ApiError(409, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.", {
      status: "ABORTED",
    });
  }
  const bindings = checkedBindings(emu, body.policy.bindings, roles, (b) => {
    if (b.condition) throw invalid(noConditions);
  });
  return { bindings, etag: newPolicyEtag() };
}
