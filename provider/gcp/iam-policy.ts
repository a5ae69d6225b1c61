// One member in one role binding of a resource's IAM policy, added or removed by an etag-guarded
// read-modify-write that keeps every other binding and member: the rule BucketIamMember and
// PubSubIamMember share. Retried on 412/409 (a concurrent writer) and, for a bounded time, on 400
// "Service account … does not exist" (a new account not yet visible; gcp-apis.md §1.5, §2.2).
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { gcpError } from "./client";
import { etagConflict, iamNotYetVisible, iamPropagation, messageOf, statusOf, withRetry } from "./recovery";

export interface PolicyAccess {
  /** The resource's policy; undefined when the resource is gone (404). */
  get(): Promise<any | undefined>;
  set(policy: any): Promise<void>;
}

/** An IAM Condition on a binding (policy version 3): the binding grants only where the expression holds. */
export interface IamCondition {
  title: string;
  expression: string;
  description?: string;
}

/** The same condition (title and expression; none and none)? A binding is identified by its role and condition. */
const sameCondition = (a: IamCondition | undefined, b: IamCondition | undefined): boolean =>
  (!a && !b) || (!!a && !!b && a.title === b.title && a.expression === b.expression);

/** Is `member` in the binding of `role` with this condition (none: the unconditional one)? */
export function hasMember(policy: any, role: string, member: string, condition?: IamCondition): boolean {
  return Boolean(policy?.bindings?.some((b: any) => b.role === role && sameCondition(b.condition, condition) && (b.members ?? []).includes(member)));
}

/**
 * Adds or removes one member of one role binding (with `condition`, the binding of that role and
 * condition; policies holding conditions are written as version 3), keeping everything else.
 */
export async function changeMember(
  access: PolicyAccess,
  role: string,
  member: string,
  op: "add" | "remove",
  what: string,
  condition?: IamCondition,
): Promise<void> {
  await withRetry(
    async () => {
      const policy = await access.get();
      if (!policy) {
        if (op === "remove") return; // the resource is gone, and the grant with it
        throw Object.assign(new Error(`${what}: the resource does not exist`), { status: 404 });
      }
      const bindings: any[] = policy.bindings ?? [];
      const target = bindings.find((b) => b.role === role && sameCondition(b.condition, condition));
      const has = Boolean(target?.members?.includes(member));
      if ((op === "add") === has) return;
      if (op === "add") {
        if (target) target.members = [...target.members, member];
        else bindings.push({ role, members: [member], ...(condition ? { condition } : {}) });
      } else {
        target.members = target.members.filter((m: string) => m !== member);
      }
      const kept = bindings.filter((b) => (b.members ?? []).length > 0);
      // Conditional bindings need policy version 3 (IAM "Policy versions").
      await access.set({ ...policy, ...(kept.some((b) => b.condition) ? { version: 3 } : {}), bindings: kept });
    },
    { what, retryIf: (e) => etagConflict(e) || iamNotYetVisible(e), deadlineMs: iamPropagation.deadlineMs, baseDelayMs: 300 },
  ).catch((e) => {
    throw statusOf(e) === undefined && /still failing/.test(messageOf(e)) ? e : gcpError(e, what);
  });
}
