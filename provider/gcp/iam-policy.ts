// One member in one role binding of a resource's IAM policy, added or removed by an etag-guarded
// read-modify-write that keeps every other binding and member: the rule BucketIamMember and
// PubSubIamMember share. Retried on 412/409 (a concurrent writer) and, for a bounded time, on 400
// "Service account … does not exist" (a new account not yet visible; gcp-apis.md §1.5, §2.2).
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { gcpError, messageOf, statusOf, withRetry } from "./client";

/** How long a grant to a new service account keeps being retried while IAM catches up. */
export const PROPAGATION_DEADLINE_MS = 180_000;

export interface PolicyAccess {
  /** The resource's policy; undefined when the resource is gone (404). */
  get(): Promise<any | undefined>;
  set(policy: any): Promise<void>;
}

/** Is `member` in the unconditional binding of `role`? */
export function hasMember(policy: any, role: string, member: string): boolean {
  return Boolean(policy?.bindings?.some((b: any) => b.role === role && !b.condition && (b.members ?? []).includes(member)));
}

/** Adds or removes one member of one (unconditional) role binding, keeping everything else. */
export async function changeMember(access: PolicyAccess, role: string, member: string, op: "add" | "remove", what: string): Promise<void> {
  const notYetVisible = (e: unknown) => statusOf(e) === 400 && /Service account .* does not exist/.test(messageOf(e));
  const conflict = (e: unknown) => statusOf(e) === 412 || statusOf(e) === 409;
  await withRetry(
    async () => {
      const policy = await access.get();
      if (!policy) {
        if (op === "remove") return; // the resource is gone, and the grant with it
        throw Object.assign(new Error(`${what}: the resource does not exist`), { status: 404 });
      }
      const bindings: any[] = policy.bindings ?? [];
      const target = bindings.find((b) => b.role === role && !b.condition);
      const has = Boolean(target?.members?.includes(member));
      if ((op === "add") === has) return;
      if (op === "add") {
        if (target) target.members = [...target.members, member];
        else bindings.push({ role, members: [member] });
      } else {
        target.members = target.members.filter((m: string) => m !== member);
      }
      await access.set({ ...policy, bindings: bindings.filter((b) => (b.members ?? []).length > 0) });
    },
    { what, retryIf: (e) => conflict(e) || notYetVisible(e), deadlineMs: PROPAGATION_DEADLINE_MS, baseDelayMs: 300 },
  ).catch((e) => {
    throw statusOf(e) === undefined && /still failing/.test(messageOf(e)) ? e : gcpError(e, what);
  });
}
