// What each of AuditStream's destinations builds the same way: its writer (an account of its own,
// unless the nodes' own identity writes, and its key) and the sink's credential fields for that
// writer, and the custom role holding the one permission it needs. The destinations differ only in
// that permission, the grant and the sink's target.
import * as pulumi from "@pulumi/pulumi";
import { ServiceAccount } from "../gcp/service-account";
import { ServiceAccountKey } from "../gcp/service-account-key";
import { CustomRole } from "../gcp/custom-role";
import { member, serviceAccountEmail } from "../gcp/fields";
import { AuditStreamArgs, StreamContext, plain } from "./args";

export interface SinkWriter {
  account?: ServiceAccount;
  /** The member to grant the destination's role. */
  member: pulumi.Input<string>;
  key?: ServiceAccountKey;
}

/** The writer of one destination: `names` are the account's and the key's resource names and how the account presents itself. */
export function sinkWriter(ctx: StreamContext, names: { account: string; key: string; displayName: string; description: string }, keyless = false): SinkWriter {
  const { name, args, owned, parent } = ctx;
  // keyless: an account of its own that a runtime wears (Cloud Run's service identity), with no key to leak.
  const mode = keyless ? "account" : (args.credentials ?? "key");
  const account =
    mode === "implicit"
      ? undefined
      : new ServiceAccount(names.account, { displayName: names.displayName, description: names.description, project: args.project, ...owned }, parent);
  const member = account ? account.member : args.implicitMember;
  if (member === undefined) throw new Error(`AuditStream ${name}: credentials "implicit" needs implicitMember (the nodes' identity to grant)`);
  const key =
    mode === "key" ? new ServiceAccountKey(names.key, { serviceAccountEmail: account!.email, rotationTrigger: args.keyRotationTrigger }, parent) : undefined;
  return { account, member, key };
}

/** A destination's writer with its role; every name in it is stable (state holds the resources by name). */
export interface RoleAndWriter {
  /** Resource names of the role, the account and its key. */
  names: { role: string; account: string; key: string };
  /** What the role id says after the stream's name: `<stream>_<roleSuffix>` ("writer", "publisher"). */
  roleSuffix: string;
  /** The role's title and the account's display name. */
  title: string;
  /** The only permission the role holds, and why (the role's description). */
  permission: string;
  why: string;
  /** The account's description. */
  describe: string;
  /** An account without a key (a runtime runs as it). */
  keyless?: boolean;
}

/** A custom role with one permission and the writer it is for (sinkWriter); the destination grants the one to the other. */
export function roleAndWriter(ctx: StreamContext, w: RoleAndWriter): SinkWriter & { role: CustomRole } {
  const { name, args, owned, parent } = ctx;
  const role = new CustomRole(
    w.names.role,
    {
      roleIdPrefix: `${name.replace(/[^a-zA-Z0-9_.]+/g, "_")}_${w.roleSuffix}`.slice(0, 57),
      title: w.title,
      description: w.why,
      permissions: [w.permission],
      project: args.project,
      ...owned,
    },
    parent,
  );
  const writer = sinkWriter(ctx, { account: w.names.account, key: w.names.key, displayName: w.title, description: w.describe }, w.keyless);
  return { ...writer, role };
}

/** Whether the writer has a key of its own, which its feed may keep exclusive (deleting the account's other keys). */
export const ownsKey = (args: AuditStreamArgs) => (args.credentials ?? "key") === "key";

/**
 * The sink: `target` (bucket or topic fields) plus the writer's credentials: its key, the nodes'
 * identity (AUTH=implicit), or the nodes impersonating the writer through the given delegates.
 */
export function writerSink<T extends object>(args: AuditStreamArgs, writer: SinkWriter, target: pulumi.Input<T>): pulumi.Output<Record<string, unknown>> {
  const mode = args.credentials ?? "key";
  return pulumi.all([target, writer.key?.privateKeyBase64, writer.account?.email]).apply(
    ([t, k, email]): Record<string, unknown> => ({
      ...(t as T),
      ...(mode === "key" ? { credentials: k! } : { auth: "implicit" as const }),
      ...(typeof mode === "object" ? { assumeRole: [...mode.assumeRole, email!] } : {}),
    }),
  );
}

/** Problems in how the writer authenticates (credentials, implicitMember, keyRotationTrigger), each named. */
export function writerProblems(args: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const c = args.credentials;
  const mode =
    c === undefined || c === "key" ? "key" : c === "implicit" ? "implicit" : typeof c === "object" && c !== null && !Array.isArray(c) ? "assumeRole" : "bad";
  if (mode === "bad")
    problems.push(`credentials: must be "key", "implicit" or { assumeRole: ["delegate@….iam.gserviceaccount.com", …] }, not ${JSON.stringify(c)}`);
  if (mode === "assumeRole") {
    const ar = (c as any).assumeRole;
    const extra = Object.keys(c as object).filter((k) => k !== "assumeRole");
    if (extra.length) problems.push(`credentials: unknown key ${extra.join(", ")} (only assumeRole)`);
    if (!Array.isArray(ar) || ar.length === 0) problems.push("credentials.assumeRole: must list at least one delegate service account");
    else
      ar.forEach((e: unknown, i: number) => {
        if (plain(e) && !serviceAccountEmail.safeParse(e).success)
          problems.push(`credentials.assumeRole.${i}: must be a service account email, not ${JSON.stringify(e)}`);
      });
  }
  if (args.keyRotationTrigger !== undefined && mode !== "key")
    problems.push('keyRotationTrigger: only with credentials "key" (there is no key to rotate otherwise)');
  if (args.implicitMember !== undefined && mode !== "implicit")
    problems.push('implicitMember: only with credentials "implicit" (it would grant an identity the feed never uses)');
  if (mode === "implicit" && args.implicitMember === undefined)
    problems.push(
      'implicitMember: credentials "implicit" needs the nodes\' identity to grant, e.g. "serviceAccount:crl-cdc-sink-user-…@….iam.gserviceaccount.com"',
    );
  if (mode === "implicit" && plain(args.implicitMember) && args.implicitMember !== undefined) {
    const m = member.safeParse(args.implicitMember);
    if (!m.success) problems.push(`implicitMember: ${m.error.issues[0].message}`);
  }
  return problems;
}
