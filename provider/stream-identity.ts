// StreamIdentity: the deployment identity every object of a stream carries (provider/ownership.ts,
// docs/identity.md). Its create makes 16 random hex characters and nothing else, so it is in state before
// anything with a side effect exists: a create of another resource cut short by a crash is then found
// by this identity on the next run, and an object made by a same-named deployment elsewhere (another
// backend, a stack whose state was lost) never carries it.
//
// AuditStream declares one without a parent (`<name>-identity`), so moving the stream under another
// parent keeps it; resources declared on their own share the stack's (`zitadel-audit-stream-identity`).
// Its delete, which comes after every resource that uses it, cancels any changefeed job still carrying
// the deployment: one a first create started and never recorded (the process died, or the cluster went
// away, right after CREATE CHANGEFEED), so that `pulumi destroy` leaves no job behind.
//
// The provider stored in state is `require(".../provider/stored/stream-identity.js")`
// (provider/operations-provider.ts): this file's path and its `streamIdentityOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { defineResource, defined, engineFacing, inputRules, withoutProvider } from "./engine";
import type { ArgsInSchema, TypedOperations, Outputs } from "./engine";
import { deploymentJobPrefix, isDeployment, newDeployment } from "./ownership";
import { URL_CONFIG_KEY, connectionStringSchema, where, withClient } from "./cockroach/sql";
import { liveJobsWithPrefix, cancelAll } from "./cockroach/reconcile";
import { drainVerdict, switchTimings, switchVerdict } from "./source-switch";
import type { ConfigLike } from "./engine/contract";

export interface StreamIdentityArgs {
  /** The cluster where the stream's changefeed jobs run (secret). Default: `zitadel-audit-stream:cockroachUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /**
   * Cancel, on delete, any changefeed job that still carries this identity. true: always (an
   * unreachable cluster fails the delete, naming the risk); false: never; default: only when a
   * connectionString or `zitadel-audit-stream:cockroachUrl` is set.
   */
  sweepJobs?: pulumi.Input<boolean>;
  /** The stream's source; absent: CockroachDB. A change is refused unless `switchFrom` names the old one (source-switch.ts). */
  source?: pulumi.Input<"cockroach" | "postgres">;
  /** The source being left, when switching (AuditStream `sourceSwitch.from`). */
  switchFrom?: pulumi.Input<"cockroach" | "postgres">;
}

export const streamIdentityInputs = z.strictObject({
  connectionString: connectionStringSchema,
  sweepJobs: z.boolean().optional(),
  source: z.enum(["cockroach", "postgres"]).optional(),
  switchFrom: z.enum(["cockroach", "postgres"]).optional(),
});
true satisfies ArgsInSchema<StreamIdentityArgs, typeof streamIdentityInputs>;

export type StreamIdentityInputs = z.output<typeof streamIdentityInputs>;

/** What a StreamIdentity keeps in state: its inputs and the deployment, made once. */
export type StreamIdentityState = StreamIdentityInputs & { deployment: string };

// Never a replacement: the identity must not change while objects carry it.
const RULES = inputRules({ schema: streamIdentityInputs, replace: [], update: ["connectionString", "sweepJobs", "source", "switchFrom"] });

export const streamIdentityOperations: TypedOperations<StreamIdentityInputs, StreamIdentityState> = engineFacing(
  "StreamIdentity",
  {
    ...RULES.handlers,

    // A change of source is checked here, at preview and up, before anything of the new source exists.
    async diff(config, id, olds, news) {
      const verdict = switchVerdict(olds.source, news.source ?? "cockroach", news.switchFrom);
      if (verdict.kind === "refused") throw new Error(verdict.why);
      if (verdict.kind === "switch" && verdict.from === "cockroach" && isDeployment(olds.deployment)) {
        const drained = await cockroachDrained(config, olds.connectionString, olds.deployment);
        if (!drained.ok) throw new Error(drained.why);
      }
      return RULES.handlers.diff(config, id, olds, news);
    },

    async create(_config, i) {
      const deployment = newDeployment();
      return { id: `identity-${deployment}`, outs: defined({ ...withoutProvider(i), deployment }) as StreamIdentityState };
    },

    async read(_config, id, props) {
      return { id, props: withoutProvider(props) as StreamIdentityState };
    },

    async update(_config, _id, olds, news) {
      return { outs: defined({ ...withoutProvider(news), deployment: olds.deployment }) as StreamIdentityState };
    },

    async delete(config, _id, props) {
      const deployment = props.deployment;
      const configured = !!props.connectionString || !!config?.get(URL_CONFIG_KEY);
      if (!isDeployment(deployment) || props.sweepJobs === false || (props.sweepJobs === undefined && !configured)) return;
      try {
        await withClient(props.connectionString, config, async (c) => {
          const left = await liveJobsWithPrefix(c, deploymentJobPrefix(deployment));
          if (left.length === 0) return;
          const ids = await cancelAll(c, left, 120_000);
          console.log(
            `canceled changefeed job${ids.length > 1 ? "s" : ""} ${ids.join(", ")} of deployment ${deployment}, which no resource in state recorded (a create cut short)`,
          );
        });
      } catch (e) {
        const msg = `could not make sure no changefeed job of deployment ${deployment} still runs on CockroachDB at ${where(props.connectionString || config?.get(URL_CONFIG_KEY))}: ${(e as Error).message}`;
        if (props.sweepJobs === true) {
          throw new Error(`${msg}. Run \`pulumi destroy\` again once the cluster answers (or, if the cluster is gone, \`pulumi state delete\` this identity).`);
        }
        console.log(`warning: ${msg}`);
      }
    },
  },
  ["connectionString"],
);

/**
 * Have the stream's CockroachDB feeds delivered every event, with ZITADEL no longer writing there
 * (source-switch.ts drainVerdict)? Its newest event by `position` (the commit's HLC in ZITADEL v2).
 */
async function cockroachDrained(config: ConfigLike | undefined, connectionString: string | undefined, deployment: string) {
  try {
    return await withClient(connectionString, config, async (c) => {
      const jobs = await liveJobsWithPrefix(c, deploymentJobPrefix(deployment));
      const r = (
        await c.query(
          `SELECT max("position")::STRING AS latest, ((cluster_logical_timestamp() - max("position")) / 1e9)::FLOAT8 AS quiet FROM eventstore.events2`,
        )
      ).rows[0];
      return drainVerdict(
        jobs.map((j) => ({ jobId: String(j.job_id), status: j.status, highWater: j.high_water_timestamp })),
        r?.latest ?? null,
        Number(r?.quiet ?? 0),
        switchTimings.quietSeconds,
      );
    });
  } catch (e) {
    return {
      ok: false as const,
      why: `sourceSwitch: could not make sure the CockroachDB feeds delivered every event (CockroachDB at ${where(connectionString || config?.get(URL_CONFIG_KEY))}: ${(e as Error).message}); nothing was changed.`,
    };
  }
}

export interface StreamIdentity extends Outputs<{ /** 16 hex characters, made once; every object of the stream carries it. */ deployment: string }> {}

/** The identity of one deployment of a stream: made once, kept in state, carried by every object the stream makes. */
export class StreamIdentity extends defineResource<StreamIdentityArgs>(__filename, {
  operations: { streamIdentityOperations },
  wrap: (args) => ({ connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined }),
  outputs: ["connectionString", "sweepJobs", "deployment"],
  importInstead:
    "declare it without `import`: it only holds the identity the stream's objects carry; after a lost state, set `takeOver` on the stream to the deployment its errors name",
}) {}

/** What a resource whose objects carry the stream's identity gives defineResource: its owner, and the stack's deployment by default. */
export const OWNED = { owner: true, defaultDeployment: () => stackIdentity().deployment } as const;

/** One per run of a program: keyed by the run's Stack resource (an inline Automation API program runs many times in one process). */
const stackIdentities = new WeakMap<object, StreamIdentity>();
const outsideAStack = {};

/**
 * The identity of resources declared on their own (not by an AuditStream, and without `deployment`):
 * one per stack, made the first time one is declared, without a parent so that moving resources keeps it.
 */
export function stackIdentity(): StreamIdentity {
  const key = pulumi.runtime.getStackResource() ?? outsideAStack;
  let id = stackIdentities.get(key);
  if (!id) {
    id = new StreamIdentity("zitadel-audit-stream-identity", {});
    stackIdentities.set(key, id);
  }
  return id;
}
