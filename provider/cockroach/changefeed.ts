// Changefeed: a CockroachDB CDC-query changefeed into Cloud Storage or Pub/Sub. Its Pulumi id is stable
// and the running job's id is an output, so every change is an update (cockroach-changefeeds.md §6, §13); which
// transition an update needs is decided in plan.ts, and the transitions are in transitions.ts:
// - sink, credentials or alterable options → PAUSE, ALTER, RESUME, then prove the new sink delivers;
//   if it does not, the old settings are restored.
// - query or initial_scan → a handoff: PAUSE the old job, read its high-water H, CREATE the new feed
//   WITH cursor = H, prove it delivers, CANCEL the old one. Nothing before H is lost; events after H may
//   arrive twice (at-least-once). A chosen options.cursor hands off from there (a gap is recorded).
// - on versions where ALTER silently drops a CDC query (cockroach #113491) sink and option changes
//   take the handoff path too.
// - a job found paused, failed, canceled or gone (after `refresh`) is healed: resumed, or restarted
//   from its last high-water. A job that retries a sink error the update did not cause is left running.
//
// Every job carries the resource's lineage in metrics_label (provider/ownership.ts): a job a crash left
// unrecorded is found and continued; a same-named deployment's job is never touched (without takeOver);
// delete never cancels a job newer than the tracked one (a replacement's).
//
// The provider stored in state is `require(".../provider/stored/changefeed.js")` (provider/operations-provider.ts):
// this file's path and its `changefeedOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { UNKNOWN, classifyDiff, defineResource, defined, engineFacing, sameValue, validate } from "../engine";
import type { ArgsInSchema, ConfigLike, DeepInput, TypedOperations, Outputs, Permissions } from "../engine";
import { changefeedQueryOptionsSchema, buildChangefeedQuery, loadSqlParser, ChangefeedQueryOptions } from "../cdc/query";
import { sinkUriOptionsSchema, buildSinkUri, isPubSubSink, redactSinkUri, SinkUriOptions } from "../cdc/sink";
import { changefeedOptionsSchema, ChangefeedOptions } from "../cdc/statement";
import { payloadWarning } from "../cdc/secret-events";
import { ValidationError, goDurationSeconds } from "../validation";
import { Identity, isJobMarker, isLegacyJobMarker, jobMarker, jobTakeOverValue } from "../ownership";
import { OWNED } from "../stream-identity";
import { Db, connectionStringSchema, explain, where, withClient } from "./sql";
import { LIVE, RUNNING, JobRow, cancelJob, decimalGreater, laterHighWater, resumeJob, retryingError, showJob, toHlc } from "./jobs";
import { cancelAll, jobsToCancelBeside, liveJobsOf, markerOf, newerJob } from "./reconcile";
import { DEFAULT_MAX_LAG_SECONDS, FeedHealth, feedHealth } from "./health";
import { planUpdate } from "./plan";
import { readGcWindow } from "./gc";
import {
  CREATE_ONLY,
  Feed,
  UNKNOWN_KEY,
  alterDropsQuery,
  alterInPlace,
  clusterId,
  clusterTime,
  createJob,
  handoff,
  omit,
  outputs,
  proveDelivery,
  restart,
  stateSaying,
} from "./transitions";
import { deliveryProbe, pruneKeys, verifySinkAccess } from "./sink-checks";
import { cancelMayHaveFailed, foreignJobRuns } from "./messages";

/**
 * What the deploying identity needs for a Changefeed into a bucket (permissions.ts assembles these):
 * proof of delivery lists what the job wrote; with exclusiveKeys (AuditStream), once the feed runs on
 * its key, the account's other keys go — after reading that the account is this stream's.
 * The changefeed's own writer needs only storage.objects.create on the bucket (the guide's custom role);
 * the access check before a feed uses a key (testIamPermissions) needs no permission at all.
 */
export const CHANGEFEED_PERMISSIONS: Permissions = {
  "create, update": ["storage.objects.list", "iam.serviceAccounts.get", "iam.serviceAccountKeys.list", "iam.serviceAccountKeys.delete"],
};

/** Into Pub/Sub, proof of delivery goes through a probe subscription on the topic (sink-checks.ts). */
export const CHANGEFEED_PUBSUB_PERMISSIONS: Permissions = {
  "create, update": ["pubsub.subscriptions.create", "pubsub.topics.attachSubscription", "pubsub.subscriptions.consume", "pubsub.subscriptions.delete"],
};

export interface ChangefeedArgs {
  /** postgresql:// URL (secret). Default: `zitadel-audit-stream:cockroachUrl`, then the PG* environment. Pointing it at another cluster replaces the feed. */
  connectionString?: pulumi.Input<string>;
  /** The SELECT: builder options (default: the guide's columns, no payload), or `{ query: "SELECT …" }`. */
  query?: DeepInput<ChangefeedQueryOptions>;
  /** Where files go; `credentials` is the service account key (secret). */
  sink: DeepInput<SinkUriOptions>;
  /**
   * WITH options of the changefeed. `cursor` and `initial_scan` count when the feed is first created;
   * changing `cursor` later starts the feed again from that time (a GC-window recovery or a backfill;
   * a skipped span is recorded in the output `gaps`).
   */
  options?: DeepInput<ChangefeedOptions>;
  /** How long an update may wait for a job to run and checkpoint (default 120). */
  timeoutSeconds?: pulumi.Input<number>;
  /**
   * Before creating the feed or switching its sink, ask Cloud Storage (testIamPermissions, with the
   * sink's own key) whether that key may create objects in the bucket. Default true. CockroachDB
   * itself does not check: a feed without access "succeeds" and retries forever (cockroach #43216).
   */
  verifySinkAccess?: pulumi.Input<boolean>;
  /**
   * How a new or switched job proves it delivers. "read-back" (default): something it wrote after it
   * started is read back from the sink (an object under the prefix, or a message through a probe
   * subscription on the topic), unless it selected no event since; "checkpoint": its first checkpoint.
   */
  proveDelivery?: pulumi.Input<"read-back" | "checkpoint">;
  /**
   * The sink's service account is used by this feed alone (AuditStream's writer): once the feed runs
   * on its key, every other user-managed key of that account is deleted — the previous key of a
   * rotation, and any key a crash left unrecorded. Only an account of this stream (docs/identity.md).
   */
  exclusiveKeys?: pulumi.Input<boolean>;
  /**
   * The `health` output calls the feed "lagging" when its high-water is older than this (default
   * 300: ten times CockroachDB's default checkpoint interval of 30 s). At least the checkpoint interval.
   */
  maxLagSeconds?: pulumi.Input<number>;
  /** The stream's identity (StreamIdentity.deployment). Default: the stack's. */
  deployment?: pulumi.Input<string>;
  /**
   * Continue from a job of the same name that another deployment made (this stack's state was lost,
   * or it moved to another backend): the deployment the error names, or "legacy". Recorded in `takenOverFrom`.
   */
  takeOver?: pulumi.Input<string>;
}

/** The longest a handoff may keep the old job paused: its pause, the new job's start and its proof. */
const handoffPauseSeconds = (timeoutSeconds: number) => 3 * timeoutSeconds;

export const changefeedInputs = z
  .strictObject({
    connectionString: connectionStringSchema,
    query: changefeedQueryOptionsSchema.default({}),
    sink: sinkUriOptionsSchema,
    options: changefeedOptionsSchema.default({}),
    timeoutSeconds: z.number().int().min(5, "at least 5 seconds").max(3600, "at most an hour").default(120),
    verifySinkAccess: z.boolean().default(true),
    proveDelivery: z.enum(["read-back", "checkpoint"], { error: 'must be "read-back" or "checkpoint"' }).default("read-back"),
    exclusiveKeys: z.boolean().default(false),
    maxLagSeconds: z
      .number()
      .int("must be a whole number of seconds")
      .min(30, "at least 30 seconds (CockroachDB checkpoints every 30 s by default)")
      .max(7 * 86_400, "at most a week")
      .default(DEFAULT_MAX_LAG_SECONDS),
    /** Set by the constructor: `<project>/<stack>/<name>`, from which the job marker is derived. */
    owner: z.string({ error: "is set by the Changefeed constructor (project/stack/name)" }).min(1),
    deployment: z
      .string()
      .regex(/^[0-9a-f]{16}$/, "must be a StreamIdentity's deployment (16 hex characters)")
      .optional(),
    takeOver: z
      .string()
      .regex(/^([0-9a-f]{16}|legacy)$/, 'must be the deployment an error named (16 hex characters), or "legacy"')
      .optional(),
  })
  .superRefine((i, ctx) => {
    // What a sink kind accepts (cockroach-changefeeds.md §2.2; docs/pubsub-research.md §1, §5).
    const o = i.options ?? {};
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    const sink = i.sink as Record<string, unknown> | undefined;
    if (isPubSubSink(sink)) {
      if (sink.region === undefined && !o.unordered)
        issue(["sink", "region"], 'a Pub/Sub sink needs a region (e.g. "us-east1"), or the changefeed option unordered (which rules out resolved)');
      if (o.format !== undefined && o.format !== "json") issue(["options", "format"], "a Pub/Sub sink takes format json");
      if (o.compression !== undefined) issue(["options", "compression"], "compression applies to cloud storage files, not to Pub/Sub messages");
    } else if (o.pubsub_sink_config !== undefined) {
      issue(["options", "pubsub_sink_config"], "applies to a Pub/Sub sink only (the sink is a bucket)");
    }
    if (o.metrics_label !== undefined)
      issue(
        ["options", "metrics_label"],
        "is set by the provider: it marks the jobs of this resource so that a job left by a crash is found (provider/cockroach/reconcile.ts). Leave it out.",
      );
    // An audit stream must not end by itself, or stop on a schema change.
    if (o.initial_scan === "only")
      issue(["options", "initial_scan"], '"only" ends the job after the scan (status succeeded): an audit stream must keep streaming; use "yes" or "no"');
    if (o.end_time !== undefined) issue(["options", "end_time"], "ends the job at that time: an audit stream must keep streaming; leave it out");
    if (o.schema_change_policy === "stop")
      issue(
        ["options", "schema_change_policy"],
        '"stop" stops the feed at the next schema change of events2 (ZITADEL migrations make some): it would go silent; use "backfill" (the default) or "nobackfill"',
      );
    if (o.cursor !== undefined) {
      const problem = cursorProblem(o.cursor);
      if (problem) issue(["options", "cursor"], problem);
    }
    if (o.gc_protect_expires_after !== undefined && goDurationSeconds(o.gc_protect_expires_after) < handoffPauseSeconds(i.timeoutSeconds)) {
      issue(
        ["options", "gc_protect_expires_after"],
        `${o.gc_protect_expires_after} is shorter than a handoff may keep the old job paused (${handoffPauseSeconds(i.timeoutSeconds)} s: three times timeoutSeconds); its protected timestamp could expire mid-handoff and CockroachDB would cancel the job. Give at least ${handoffPauseSeconds(i.timeoutSeconds)}s (CockroachDB's default is 4 days)`,
      );
    }
    const checkpoint = o.min_checkpoint_frequency !== undefined ? goDurationSeconds(o.min_checkpoint_frequency) : 30;
    if (i.maxLagSeconds < checkpoint)
      issue(
        ["maxLagSeconds"],
        `${i.maxLagSeconds} s is less than the checkpoint interval (min_checkpoint_frequency ${checkpoint} s): a healthy feed would read as lagging between checkpoints`,
      );
  });

true satisfies ArgsInSchema<ChangefeedArgs, typeof changefeedInputs>;

export type ChangefeedInputs = z.output<typeof changefeedInputs>;

/** Why a cursor can never be right (a date that does not exist, or the future), or undefined. */
export function cursorProblem(cursor: string, now = Date.now()): string | undefined {
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(cursor)) ms = Number(BigInt(cursor.split(".")[0]) / 1_000_000n);
  else {
    ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(cursor) || !/T|\s/.test(cursor) ? cursor : `${cursor}Z`);
    const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(cursor);
    if (day && (Number.isNaN(ms) || new Date(Date.UTC(+day[1], +day[2] - 1, +day[3])).toISOString().slice(0, 10) !== day[0]))
      return `${cursor} is not a date (no such day)`;
  }
  if (Number.isNaN(ms)) return `${cursor} is not a timestamp`;
  if (ms > now + 60_000) return `${cursor} is in the future: CockroachDB refuses a cursor after its clock`;
  if (ms < Date.UTC(2015, 0, 1))
    return `${cursor} is before CockroachDB existed; give the time the feed should continue from (an HLC such as a job's high-water, or an ISO timestamp)`;
  return undefined;
}

/** The resource's identity as reconcile and ownership read it. */
const identityOf = (i: any): Identity => ({ owner: String(i.owner), deployment: i.deployment });

/** The resource's Pulumi id: stable, from its marker. */
const resourceId = (marker: string) => `changefeed-${marker.slice(-12)}`;

/** The transitions' context for this resource. */
function feed(c: Db, config: ConfigLike | undefined, i: any, f: { id: string; history: string[]; startedAt: string | null }): Feed {
  const identity = identityOf(i);
  return {
    c,
    i,
    identity,
    marker: i.marker,
    timeout: i.timeoutSeconds * 1000,
    ...f,
    probe: i.proveDelivery === "checkpoint" ? undefined : (since: string) => deliveryProbe(config, i, since, identity),
    accessChecked: i.verifySinkAccess !== false && !!i.sink?.credentials && i.sink.auth !== "implicit" && !i.sink.assumeRole,
  };
}

/** Deletes the writer's other keys once the job runs on its own key; what is left is recorded (`unusedKeys`) for the next up. */
async function pruned(config: ConfigLike | undefined, i: any, id: string, outs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const left = await pruneKeys(config, i, identityOf(i), isLegacyJobMarker(i.marker)).catch((e) => {
    throw Object.assign(new Error(`the changefeed runs (job ${outs.jobId}), but ${(e as Error).message}`), {
      id,
      properties: { ...outs, sink: { ...i.sink, credentials: UNKNOWN_KEY }, __provider: i.__provider },
    });
  });
  if (left.length === 0) return { ...outs, unusedKeys: [] };
  throw Object.assign(
    new Error(
      `the changefeed runs (job ${outs.jobId}), but deleting the other keys of its writer failed: ${left.join(", ")}. The next \`pulumi up\` tries again.`,
    ),
    {
      id,
      properties: { ...outs, unusedKeys: left, sink: { ...i.sink, credentials: UNKNOWN_KEY }, __provider: i.__provider },
    },
  );
}

export const changefeedOperations: TypedOperations<ChangefeedInputs, ChangefeedState> = engineFacing(
  "Changefeed",
  {
    async check(_config: ConfigLike | undefined, olds: any, news: any) {
      if (typeof news.query?.query === "string") await loadSqlParser();
      const v = validate(changefeedInputs, news);
      if (!v.inputs) return { failures: v.failures };
      // The identity is fixed once the resource exists (renaming the stack never orphans its job); a
      // resource from before identities keeps its marker (and so its running job).
      const deployment = typeof olds?.deployment === "string" ? olds.deployment : news.deployment;
      const marker = isJobMarker(olds?.marker) ? olds.marker : deployment === UNKNOWN ? UNKNOWN : jobMarker({ owner: String(news.owner), deployment });
      if (!v.complete) return { inputs: defined({ ...v.inputs, deployment, marker }) };
      const i = v.inputs;
      try {
        const select = buildChangefeedQuery(i.query);
        const sinkUriRedacted = redactSinkUri(buildSinkUri(i.sink));
        return { inputs: defined({ ...i, deployment, marker, select, sinkUriRedacted }) };
      } catch (e) {
        if (e instanceof ValidationError) {
          const field = e.message.startsWith("buildSinkUri") ? "sink" : "query";
          return { failures: e.problems.map((p) => ({ property: [field, p.field].filter(Boolean).join("."), reason: p.reason })) };
        }
        throw e;
      }
    },

    async diff(config: ConfigLike | undefined, _id: string, olds: any, news: any) {
      const d = classifyDiff(olds, news, {
        replace: [],
        update: [
          "select",
          "query",
          "sink",
          "options",
          "connectionString",
          "timeoutSeconds",
          "verifySinkAccess",
          "proveDelivery",
          "exclusiveKeys",
          "maxLagSeconds",
          "takeOver",
        ],
      });
      // Another cluster is another feed: the new one starts there, then the old one is cancelled.
      if (d.updates.includes("connectionString") && news.connectionString !== UNKNOWN && (await otherCluster(config, olds, news))) {
        return { ...d, replaces: ["connectionString"], changes: true, deleteBeforeReplace: false };
      }
      if (d.changes) return d;
      // Keys a failed prune left behind: the next update deletes them.
      if (Array.isArray(olds.unusedKeys) && olds.unusedKeys.length > 0) return { ...d, changes: true };
      // Drift without refresh: one read of the job (a preview too). An unreachable cluster is not drift.
      const job = await withClient(news.connectionString ?? olds.connectionString, config, (c) => showJob(c, olds.jobId), 0).catch(() => "unreadable" as const);
      // Drift a refresh recorded counts too, and is all there is when the cluster cannot be read.
      const recorded = typeof olds.status === "string" && !RUNNING.includes(olds.status);
      // A failing or stopped feed says why, in one line of the preview (dynamic providers' output is
      // shown as diagnostics, pulumi-dynamic.md §3.2); the update heals it.
      const health: FeedHealth | undefined = job === "unreadable" ? olds.health : feedHealth(job, null, olds.maxLagSeconds ?? DEFAULT_MAX_LAG_SECONDS);
      if (health && (health.state === "failing" || health.state === "stopped"))
        console.log(`changefeed job ${olds.jobId} is ${health.state}: ${health.reason}`);
      if (job === "unreadable") return { ...d, changes: recorded };
      return { ...d, changes: recorded || needsHealing(job) !== undefined };
    },

    async create(config: ConfigLike | undefined, i: any) {
      await verifySinkAccess(config, i);
      const id = resourceId(i.marker);
      return withClient(i.connectionString, config, async (c) => {
        const startedAt = await clusterTime(c);
        const cluster = await clusterId(c);
        const f = feed(c, config, i, { id, history: [], startedAt });
        // A job of this lineage that state never recorded (an earlier create that crashed or lost its
        // connection, or the instance this one replaces) is continued from, never run beside: a second
        // job would copy every event again. A same-named job of another deployment is left alone
        // unless takeOver names it.
        const { lineage, foreign } = await liveJobsOf(c, f.identity, f.marker);
        const takeable = foreign.filter((j) => i.takeOver !== undefined && jobTakeOverValue(markerOf(j) ?? "") === i.takeOver);
        if (foreign.length > takeable.length) {
          const others = foreign
            .filter((j) => !takeable.includes(j))
            .map((j) => `job ${j.job_id} (${j.status}, deployment ${jobTakeOverValue(markerOf(j) ?? "")})`);
          throw new Error(foreignJobRuns(others.join(", "), jobTakeOverValue(markerOf(foreign[0]) ?? "")));
        }
        const sources = [...takeable, ...lineage].sort((a, b) => (newerJob(String(a.job_id), String(b.job_id)) ? 1 : -1));
        const extra = { clusterId: cluster, takenOverFrom: takeable.length ? i.takeOver : "", gaps: [] as unknown[] };
        let job: JobRow;
        let jobId: string;
        if (sources.length > 0) {
          await cancelAll(c, sources.slice(0, -1), f.timeout);
          const done = await handoff(f, String(sources[sources.length - 1].job_id), { ...i, select: "(unknown: a job found by its marker)" });
          ({ jobId, job } = done);
        } else {
          const probe = f.probe && startedAt ? await f.probe(startedAt) : undefined;
          await probe?.open();
          try {
            try {
              jobId = await createJob(f, i.options);
            } catch (e) {
              // The job may exist: record the resource, so that destroy (or the next up) finds it by its marker.
              if ((e as { maybeMade?: boolean }).maybeMade) throw stateSaying((e as Error).message, { ...i, jobId: "" }, undefined, f, extra);
              throw e;
            }
            job = await proveDelivery({ ...f, history: [jobId] }, jobId, startedAt, probe);
          } finally {
            await probe?.close();
          }
        }
        const outs = outputs(i, job, [jobId], startedAt, await clusterTime(c), extra, await readGcWindow(c, i.options));
        return { id, outs: await pruned(config, i, id, outs) };
      });
    },

    async read(config: ConfigLike | undefined, id: string, props?: any) {
      return withClient(props.connectionString, config, async (c) => {
        const job = props.jobId
          ? await showJob(c, props.jobId).catch((e) => {
              throw explain(e, `read changefeed job ${props.jobId}`);
            })
          : undefined;
        // Reconcile here too, so that no more than one job of this resource is live after a refresh:
        // beside a live tracked job, unrecorded older ones are cancelled (never a newer one: a
        // replacement's); without one, all but the newest (which the next update continues from).
        const lineage = props.marker
          ? (await liveJobsOf(c, identityOf(props), props.marker, props.jobHistory ?? [])).lineage.filter((j) => String(j.job_id) !== String(props.jobId))
          : [];
        const live = !!job && LIVE.includes(job.status);
        const timeout = (props.timeoutSeconds ?? 120) * 1000;
        await cancelAll(c, live ? jobsToCancelBeside(lineage, props.jobId, true) : lineage.slice(0, -1), timeout);
        const adoptable = live ? undefined : lineage[lineage.length - 1];
        const note = adoptable ? `; job ${adoptable.job_id} of this resource, not recorded, runs: the next up continues from it` : "";
        // Never report the resource gone: the next update restarts it from the last high-water.
        const outs = job
          ? outputs(props, job, props.jobHistory, props.startedAt, await clusterTime(c), {}, await readGcWindow(c, props.options))
          : {
              ...props,
              status: "missing",
              runningStatus: "job not found (garbage-collected, or the cluster was restored or replaced)",
              health: feedHealth(undefined, null),
            };
        return { id, props: { ...outs, runningStatus: `${outs.runningStatus ?? ""}${note}` } };
      });
    },

    async update(config: ConfigLike | undefined, id: string, olds: any, news: any) {
      if (!sameValue(olds.sink, news.sink)) await verifySinkAccess(config, news);
      return withClient(news.connectionString, config, async (c) => {
        const history: string[] = [...(olds.jobHistory ?? (olds.jobId ? [olds.jobId] : []))];
        const marker = news.marker ?? olds.marker;
        const f = feed(c, config, { ...news, marker }, { id, history, startedAt: olds.startedAt ?? null });
        const tracked = olds.jobId ? await showJob(c, olds.jobId) : undefined;
        // Jobs of this resource state does not know (a handoff cut short, a crash) and older jobs still live.
        const others = (await liveJobsOf(c, f.identity, marker, history)).lineage.filter((j) => String(j.job_id) !== String(olds.jobId));
        const chosen = news.options?.cursor !== undefined && !sameValue(olds.options?.cursor, news.options?.cursor) ? String(news.options.cursor) : undefined;
        const plan = planUpdate({
          tracked: tracked ? { status: tracked.status, retrying: retryingError(tracked) !== undefined } : undefined,
          untracked: others.length,
          queryChanged: olds.select !== news.select || !sameValue(olds.options?.initial_scan, news.options?.initial_scan),
          cursorChosen: chosen !== undefined,
          sinkChanged: !sameValue(olds.sink, news.sink),
          optionsChanged: !sameValue(omit(olds.options, CREATE_ONLY), omit(news.options, CREATE_ONLY)),
          alterDropsQuery: await alterDropsQuery(c),
        });
        if (plan.cancelUntracked) await cancelAll(c, others, f.timeout);
        const gaps: unknown[] = [...(olds.gaps ?? [])];
        let jobId: string = olds.jobId;
        let job: JobRow;
        switch (plan.kind) {
          case "handoff": {
            const from = plan.from === "tracked" ? olds.jobId : String(others[others.length - 1].job_id);
            if (plan.from === "untracked") await cancelAll(c, others.slice(0, -1), f.timeout);
            const inEffect = plan.from === "tracked" ? olds : { ...news, select: "(unknown: a job found by its marker)" };
            const done = await handoff(f, from, inEffect, plan.cursor === "chosen" ? chosen : undefined);
            ({ jobId, job } = done);
            if (done.gap) gaps.push({ ...done.gap, at: new Date().toISOString(), reason: "options.cursor was set after the last high-water" });
            break;
          }
          case "restart": {
            const h = laterHighWater(tracked?.high_water_timestamp, olds.highWaterTimestamp);
            const cursor = plan.cursor === "chosen" ? chosen! : h;
            if (plan.cursor === "chosen" && h && decimalGreater(toHlc(chosen!), h))
              gaps.push({ from: h, to: chosen, at: new Date().toISOString(), reason: "options.cursor was set after the last high-water" });
            ({ jobId, job } = await restart({ ...f, history }, olds, cursor));
            break;
          }
          case "alter":
            job = await alterInPlace(f, olds);
            break;
          case "resume": {
            await resumeJob(c, olds.jobId, f.timeout);
            job = await proveDelivery(f, olds.jobId, tracked!.high_water_timestamp, undefined);
            break;
          }
          case "recheck":
            // Running but unable to write (a grant removed, a key deleted): if the sink's key may write
            // again, the job recovers by itself (CockroachDB retries sink errors); wait for its next
            // checkpoint. If it may not, say so and change nothing. It is never paused.
            await verifySinkAccess(config, news);
            job = await proveDelivery(f, olds.jobId, tracked!.high_water_timestamp, undefined, { recovering: true });
            break;
          default:
            job = tracked!;
        }
        if (!history.includes(jobId)) history.push(jobId);
        const outs = outputs(
          { ...news, marker },
          job,
          history,
          olds.startedAt ?? null,
          await clusterTime(c),
          { clusterId: olds.clusterId ?? (await clusterId(c)), takenOverFrom: olds.takenOverFrom ?? "", gaps },
          await readGcWindow(c, news.options),
        );
        return { outs: await pruned(config, news, id, outs) };
      });
    },

    async delete(config: ConfigLike | undefined, _id: string, props: any) {
      const timeout = (props.timeoutSeconds ?? 120) * 1000;
      try {
        await withClient(props.connectionString, config, async (c) => {
          // Its tracked job, and jobs of its lineage no newer than it (never a replacement's newer job).
          const lineage = props.marker ? (await liveJobsOf(c, identityOf(props), props.marker, props.jobHistory ?? [])).lineage : [];
          const tracked = props.jobId ? String(props.jobId) : undefined;
          const trackedLive = lineage.some((j) => String(j.job_id) === tracked);
          if (tracked) await cancelJob(c, tracked, timeout);
          await cancelAll(c, jobsToCancelBeside(lineage, tracked, trackedLive), timeout);
        });
      } catch (e) {
        throw new Error(
          cancelMayHaveFailed(
            explain(e, `cancel changefeed job ${props.jobId || "(of this resource)"}`).message,
            where(props.connectionString || config?.get("zitadel-audit-stream:cockroachUrl")),
            props.jobId,
            props.marker,
          ),
        );
      }
    },
  },
  ["connectionString", "sink"],
);

/** Does the new connection reach another cluster than the one the feed runs on? (An unreadable one counts as another: the feed must not be lost.) */
async function otherCluster(config: ConfigLike | undefined, olds: any, news: any): Promise<boolean> {
  const read = (url: string | undefined) => withClient(url, config, (c) => clusterId(c), 0).catch(() => undefined);
  const before = olds.clusterId ?? (await read(olds.connectionString));
  const after = await read(news.connectionString);
  if (after === undefined)
    throw new Error(
      `changefeed: the new connectionString does not answer (CockroachDB at ${where(news.connectionString)}), so whether it is the same cluster cannot be told. Check it and run \`pulumi up\` again; nothing was changed.`,
    );
  return before === undefined || before !== after;
}

/** Why the job needs an update to heal, or undefined when it runs well. */
export function needsHealing(job: JobRow | undefined): string | undefined {
  if (!job) return "the job is gone";
  if (!RUNNING.includes(job.status)) return `the job is ${job.status}`;
  return retryingError(job);
}

/** A span of events the feed skipped because a cursor was chosen after its last high-water. */
export interface Gap {
  from: string;
  to: string;
  at: string;
  reason: string;
}

/**
 * What a Changefeed keeps in state: its checked inputs and what the jobs showed. Each field says which
 * version first wrote it; a stack last written by an older version lacks the later fields, and each
 * reader says what a missing one means. 0.1.0's inputs had no proveDelivery, maxLagSeconds, deployment
 * or takeOver: check fills their defaults on the next up (deployment: the stack's StreamIdentity).
 */
export interface ChangefeedState extends ChangefeedInputs {
  /** The running job (a string: CockroachDB job ids exceed 2^53). It changes on a handoff. Since 0.1.0. */
  jobId: string;
  /** Every job this resource has run, oldest first. Since 0.1.0. */
  jobHistory: string[];
  /** The job's status as last read (running, paused, failed, …; "unknown" when a failure left it unread). Since 0.1.0. */
  status: string;
  /** CockroachDB's running_status: a retrying sink error shows here. Since 0.1.0. */
  runningStatus: string;
  /** The job's high-water, an HLC decimal (a string, every digit kept); null before the first checkpoint. Since 0.1.0. */
  highWaterTimestamp: string | null;
  /** The job's error, "" when none. Since 0.1.0. */
  error: string;
  /** The sink as CockroachDB shows it, CREDENTIALS=redacted. Since 0.1.0. */
  sinkUriRedacted: string;
  /** The SELECT the feed runs. Since 0.1.0. */
  select: string;
  /** The `metrics_label` every job of this resource carries, by which a job left by a crash is found (0.1.0's form is isLegacyJobMarker's). Since 0.1.0. */
  marker: string;
  /** CockroachDB's cluster time when the first job was created; null when no job ever checkpointed. Since 0.1.0. */
  startedAt: string | null;
  /**
   * healthy | lagging | failing | stopped, with the reason in one line and the high-water's lag, as of
   * the last create, update or refresh. After 0.1.0; missing: read anew by the next diff or refresh.
   */
  health?: FeedHealth;
  /** Keys of the writer's account that could not be deleted yet (exclusiveKeys): the next update tries again. After 0.1.0; missing: none. */
  unusedKeys?: string[];
  /** The cluster's id (`crdb_internal.cluster_id()`): a connection to another cluster replaces the feed. After 0.1.0; missing: recorded by the next update. */
  clusterId?: string;
  /** The deployment (or "legacy") whose job this feed took over with `takeOver`; "" when none. After 0.1.0; missing: none. */
  takenOverFrom?: string;
  /** Spans of events the feed skipped because a cursor was chosen after its last high-water. After 0.1.0; missing: none. */
  gaps?: Gap[];
}

/** The outputs a program reads. */
const OUTPUTS = [
  "jobId",
  "jobHistory",
  "status",
  "runningStatus",
  "highWaterTimestamp",
  "error",
  "health",
  "sinkUriRedacted",
  "select",
  "marker",
  "startedAt",
  "clusterId",
  "takenOverFrom",
  "gaps",
] as const;

export interface Changefeed extends Outputs<Pick<ChangefeedState, (typeof OUTPUTS)[number]>> {}

/** A CockroachDB changefeed streaming a CDC query into Cloud Storage or Pub/Sub. */
export class Changefeed extends defineResource<ChangefeedArgs>(__filename, {
  operations: { changefeedOperations },
  ...OWNED,
  wrap: (args) => ({ connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined, sink: pulumi.secret(args.sink) }),
  announce: (name, args) => {
    const payload =
      !pulumi.Output.isInstance(args.query) && !(args.query instanceof Promise) ? payloadWarning(args.query as { payload?: unknown } | undefined) : undefined;
    if (payload) void pulumi.log.warn(`Changefeed ${name}: ${payload}`);
  },
  outputs: [...OUTPUTS, "unusedKeys"],
  secretOutputs: ["sink", "connectionString"],
  importInstead:
    "declare it without `import`: a job this stack's resource of the same name made is found by its marker and continued; one made by another deployment of the same names is taken over with `takeOver`; a job made by hand cannot be adopted (cancel it once the declared one runs)",
}) {}
