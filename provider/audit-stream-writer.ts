// What each of AuditStream's destinations builds the same way: its writer (an account of its own,
// unless the nodes' own identity writes, and its key), the sink's credential fields for that writer,
// and its changefeed. The destinations differ only in the role, the grant and the sink's target.
import * as pulumi from "@pulumi/pulumi";
import { ServiceAccount } from "./gcp/service-account";
import { ServiceAccountKey } from "./gcp/service-account-key";
import { Changefeed } from "./cockroach/changefeed";
import type { AuditStreamArgs } from "./audit-stream";

/** What every object-making resource of one stream carries: the stream's identity, and takeOver. */
export interface Owned {
  deployment: pulumi.Input<string>;
  takeOver?: pulumi.Input<string>;
}

export interface SinkWriter {
  account?: ServiceAccount;
  /** The member to grant the destination's role. */
  member: pulumi.Input<string>;
  key?: ServiceAccountKey;
}

/** The writer of one destination: `names` are the account's and the key's resource names and how the account presents itself. */
export function sinkWriter(name: string, args: AuditStreamArgs, owned: Owned, names: { account: string; key: string; displayName: string; description: string }, parent: pulumi.CustomResourceOptions): SinkWriter {
  const mode = args.credentials ?? "key";
  const account = mode === "implicit" ? undefined : new ServiceAccount(names.account, { displayName: names.displayName, description: names.description, project: args.project, ...owned }, parent);
  const member = account ? account.member : args.implicitMember;
  if (member === undefined) throw new Error(`AuditStream ${name}: credentials "implicit" needs implicitMember (the nodes' identity to grant)`);
  const key = mode === "key" ? new ServiceAccountKey(names.key, { serviceAccountEmail: account!.email, rotationTrigger: args.keyRotationTrigger }, parent) : undefined;
  return { account, member, key };
}

/**
 * The sink: `target` (bucket or topic fields) plus the writer's credentials: its key, the nodes'
 * identity (AUTH=implicit), or the nodes impersonating the writer through the given delegates.
 */
export function writerSink<T extends object>(args: AuditStreamArgs, writer: SinkWriter, target: pulumi.Input<T>): pulumi.Output<Record<string, unknown>> {
  const mode = args.credentials ?? "key";
  return pulumi.all([target, writer.key?.privateKeyBase64, writer.account?.email]).apply(([t, k, email]): Record<string, unknown> => ({
    ...(t as T),
    ...(mode === "key" ? { credentials: k! } : { auth: "implicit" as const }),
    ...(typeof mode === "object" ? { assumeRole: [...mode.assumeRole, email!] } : {}),
  }));
}

/** The destination's changefeed, with the stream's query and options; it prunes its writer's other keys when it has one. */
export function destinationChangefeed(resourceName: string, args: AuditStreamArgs, owned: Owned, sink: pulumi.Input<any>, dependsOn: pulumi.Resource[], parent: pulumi.CustomResourceOptions): Changefeed {
  return new Changefeed(
    resourceName,
    { connectionString: args.connectionString, sink, query: args.query, options: args.changefeedOptions, timeoutSeconds: args.timeoutSeconds, exclusiveKeys: (args.credentials ?? "key") === "key", maxLagSeconds: args.maxLagSeconds, ...owned },
    { ...parent, dependsOn },
  );
}
