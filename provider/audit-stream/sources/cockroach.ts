// AuditStream's CockroachDB source: kv.rangefeed.enabled (unless the user manages it) and, for each
// destination, a changefeed of eventstore.events2 into that destination's sink, with the stream's
// query and options. A source gives the destinations one thing: `feed(...)`, so a second source is a
// second file of this shape, not a branch in each destination.
import * as pulumi from "@pulumi/pulumi";
import { ClusterSetting } from "../../cockroach/cluster-setting";
import { Changefeed, ChangefeedArgs } from "../../cockroach/changefeed";
import { AuditStreamArgs, StreamContext, plain } from "../args";

/** What a destination asks of the stream's source. */
export interface Source {
  /**
   * The feed into one destination. `sink` is the destination's sink fields (target and credentials);
   * `dependsOn` what must exist before it writes (the writer's grant); `exclusiveKeys` lets the feed
   * delete its writer's other keys once it runs on its own.
   */
  feed(resourceName: string, sink: pulumi.Input<Record<string, unknown>>, dependsOn: pulumi.Resource[], exclusiveKeys: boolean): Changefeed;
}

/** The CockroachDB source of a stream (its cluster setting is made at once, before any feed). */
export function cockroachSource(ctx: StreamContext): Source {
  const { name, args, owned, parent } = ctx;
  const setting =
    args.manageRangefeedSetting === false ? undefined : new ClusterSetting(`${name}-rangefeeds`, { connectionString: args.connectionString }, parent);
  return {
    feed: (resourceName, sink, dependsOn, exclusiveKeys) =>
      new Changefeed(
        resourceName,
        {
          connectionString: args.connectionString,
          sink: sink as ChangefeedArgs["sink"],
          query: args.query,
          options: args.changefeedOptions,
          timeoutSeconds: args.timeoutSeconds,
          exclusiveKeys,
          maxLagSeconds: args.maxLagSeconds,
          ...owned,
        },
        { ...parent, dependsOn: [...dependsOn, ...(setting ? [setting] : [])] },
      ),
  };
}

/** Problems in the source's arguments, each named (checked in the program, so at preview). */
export function cockroachProblems(args: AuditStreamArgs & Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (args.manageRangefeedSetting !== undefined && typeof args.manageRangefeedSetting !== "boolean")
    problems.push(`manageRangefeedSetting: must be true or false, not ${JSON.stringify(args.manageRangefeedSetting)}`);
  const t = args.timeoutSeconds;
  if (t !== undefined && plain(t) && !(Number.isInteger(t) && (t as number) >= 5 && (t as number) <= 3600))
    problems.push("timeoutSeconds: must be a whole number of seconds from 5 to 3600");
  const o = args.changefeedOptions as Record<string, unknown> | undefined;
  if (o && plain(o)) {
    if (o.initial_scan === "only") problems.push('changefeedOptions.initial_scan: "only" ends the feed after the scan; an audit stream must keep streaming');
    if (o.end_time !== undefined) problems.push("changefeedOptions.end_time: ends the feed; an audit stream must keep streaming");
    if (o.metrics_label !== undefined) problems.push("changefeedOptions.metrics_label: set by the provider (it marks the stream's jobs)");
  }
  return problems;
}
