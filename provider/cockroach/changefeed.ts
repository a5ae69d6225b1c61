// Changefeed: a CockroachDB CDC-query changefeed into Cloud Storage. Its Pulumi id is stable and
// the running job's id is an output, so every change is an update (research §6, §13):
// - sink, credentials or alterable options → PAUSE, ALTER, RESUME, then wait until the high-water
//   moves (the new sink really writes); if it does not, the old settings are restored.
// - query, initial_scan or cursor → a handoff: PAUSE the old job, read its high-water H, CREATE the
//   new feed WITH cursor = H, wait until it checkpoints, CANCEL the old one. Nothing before H is
//   lost; events after H may arrive twice (at-least-once).
// - on versions where ALTER silently drops a CDC query (cockroach #113491) sink and option changes
//   take the handoff path too.
// - a job found paused, failed, canceled or gone (after `refresh`) is healed: resumed, or restarted
//   from its last high-water.
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `changefeedOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, DeepInput, Operations, classifyDiff, defined, sameValue, validate, withoutProvider, importRefusal, refuseImport, engineFacing } from "../shared";
import { changefeedQueryOptionsSchema, buildChangefeedQuery, loadSqlParser, ChangefeedQueryOptions } from "../cdc/query";
import { sinkUriOptionsSchema, buildSinkUri, encodeCredentials, isPubSubSink, redactSinkUri, SinkUriOptions } from "../cdc/sink";
import { gcpClients, gcpConfigFrom, messageOf, statusOf, withRetry } from "../gcp/client";
import { changefeedOptionsSchema, renderChangefeedOptions, ChangefeedOptions } from "../cdc/statement";
import { ValidationError } from "../validation";
import { ConnectionLostError, Db, explain, withClient } from "./sql";
import { ENDED, JobRow, LIVE, RUNNING, WaitFailed, cancelJob, waitForJob, decimalGreater, jobIdText, laterHighWater, pauseJob, resumeJob, retryingError, showJob, waitPast } from "./jobs";
import { cancelAll, isMarker, markerFor, ownedLiveJobs } from "./reconcile";
import { DEFAULT_MAX_LAG_SECONDS, FeedHealth, feedHealth } from "./health";

export interface ChangefeedArgs {
  /** postgresql:// URL (secret). Default: `zitadel-audit-stream:cockroachUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /** The SELECT: builder options (default: the guide's columns, no payload), or `{ query: "SELECT …" }`. */
  query?: DeepInput<ChangefeedQueryOptions>;
  /** Where files go; `credentials` is the service account key (secret). */
  sink: DeepInput<SinkUriOptions>;
  /** WITH options of the changefeed. `cursor` and `initial_scan` count only when the feed is first created. */
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
   * The sink's service account is used by this feed alone (AuditStream's writer): once the feed runs
   * on its key, every other user-managed key of that account is deleted — the previous key of a
   * rotation, and any key a crash left unrecorded. Needs iam.serviceAccountKeys.list and .delete.
   */
  exclusiveKeys?: pulumi.Input<boolean>;
  /**
   * The `health` output calls the feed "lagging" when its high-water is older than this (default
   * 300: ten times CockroachDB's default checkpoint interval of 30 s).
   */
  maxLagSeconds?: pulumi.Input<number>;
}

export const changefeedInputs = z.strictObject({
  connectionString: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL").optional(),
  query: changefeedQueryOptionsSchema.default({}),
  sink: sinkUriOptionsSchema,
  options: changefeedOptionsSchema.default({}),
  timeoutSeconds: z.number().int().min(5, "at least 5 seconds").max(3600, "at most an hour").default(120),
  verifySinkAccess: z.boolean().default(true),
  exclusiveKeys: z.boolean().default(false),
  maxLagSeconds: z.number().int("must be a whole number of seconds").min(30, "at least 30 seconds (CockroachDB checkpoints every 30 s by default)").max(7 * 86_400, "at most a week").default(DEFAULT_MAX_LAG_SECONDS),
  /** Set by the constructor: `<project>/<stack>/<name>`, from which the job marker is derived. */
  owner: z.string({ error: "is set by the Changefeed constructor (project/stack/name)" }).min(1),
}).superRefine((i, ctx) => {
  // What a sink kind accepts (cockroach-changefeeds.md §2.2; docs/pubsub-research.md §1, §5).
  const o = i.options ?? {};
  const sink = i.sink as Record<string, unknown> | undefined;
  if (isPubSubSink(sink)) {
    if (sink.region === undefined && !o.unordered) ctx.addIssue({ code: "custom", path: ["sink", "region"], message: 'a Pub/Sub sink needs a region (e.g. "us-east1"), or the changefeed option unordered (which rules out resolved)' });
    if (o.format !== undefined && o.format !== "json") ctx.addIssue({ code: "custom", path: ["options", "format"], message: "a Pub/Sub sink takes format json" });
    if (o.compression !== undefined) ctx.addIssue({ code: "custom", path: ["options", "compression"], message: "compression applies to cloud storage files, not to Pub/Sub messages" });
  } else if (o.pubsub_sink_config !== undefined) {
    ctx.addIssue({ code: "custom", path: ["options", "pubsub_sink_config"], message: "applies to a Pub/Sub sink only (the sink is a bucket)" });
  }
  if (i.options?.metrics_label !== undefined) {
    ctx.addIssue({ code: "custom", path: ["options", "metrics_label"], message: "is set by the provider: it marks the jobs of this resource so that a job left by a crash is found (provider/cockroach/reconcile.ts). Leave it out." });
  }
});

/** Options that take effect only when a feed is created (ALTER refuses them, research §6). */
const CREATE_ONLY = ["cursor", "initial_scan", "end_time"];

const omit = (o: Record<string, unknown> = {}, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

export const changefeedOperations: Operations = engineFacing({
  async check(_config: ConfigLike | undefined, olds: any, news: any) {
    if (typeof news.query?.query === "string") await loadSqlParser();
    const v = validate(changefeedInputs, news);
    if (!v.inputs) return { failures: v.failures };
    // The marker is fixed once the resource exists, so renaming the stack never orphans its job.
    const marker = isMarker(olds?.marker) ? olds.marker : markerFor(String(news.owner));
    if (!v.complete) return { inputs: { ...v.inputs, marker } };
    const i = v.inputs;
    try {
      const select = buildChangefeedQuery(i.query);
      const sinkUriRedacted = redactSinkUri(buildSinkUri(i.sink));
      return { inputs: defined({ ...i, marker, select, sinkUriRedacted }) };
    } catch (e) {
      if (e instanceof ValidationError) {
        const field = e.message.startsWith("buildSinkUri") ? "sink" : "query";
        return { failures: e.problems.map((p) => ({ property: [field, p.field].filter(Boolean).join("."), reason: p.reason })) };
      }
      throw e;
    }
  },

  async diff(config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    const d = classifyDiff(olds, news, { replace: [], update: ["select", "query", "sink", "options", "connectionString", "timeoutSeconds", "verifySinkAccess", "exclusiveKeys", "maxLagSeconds"] });
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
    if (health && (health.state === "failing" || health.state === "stopped")) console.log(`changefeed job ${olds.jobId} is ${health.state}: ${health.reason}`);
    if (job === "unreadable") return { ...d, changes: recorded };
    return { ...d, changes: recorded || needsHealing(job) !== undefined };
  },

  async create(config: ConfigLike | undefined, i: any) {
    await verifySinkAccess(config, i);
    const timeout = i.timeoutSeconds * 1000;
    return withClient(i.connectionString, config, async (c) => {
      const startedAt = await clusterTime(c);
      // A job this resource made but never recorded (an earlier create that crashed or lost its
      // connection) is continued from, never run beside: a second job would copy every event again.
      const owned = await ownedLiveJobs(c, i.marker);
      let jobId: string;
      if (owned.length > 0) {
        await cancelAll(c, owned.slice(0, -1), timeout);
        jobId = await handoff(c, String(owned[owned.length - 1].job_id), i, timeout, { olds: undefined, history: [] });
      } else {
        jobId = await createJob(c, i, i.options);
      }
      const job = await proveDelivery(c, jobId, i, startedAt, timeout, { id: `changefeed-${i.marker.slice(-12)}`, history: [jobId], startedAt });
      const outs = outputs(i, job, [jobId], startedAt, await clusterTime(c));
      await pruneKeys(config, i, { id: `changefeed-${i.marker.slice(-12)}`, outs });
      return { id: `changefeed-${i.marker.slice(-12)}`, outs };
    });
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(importRefusal("Changefeed", id));
    return withClient(props.connectionString, config, async (c) => {
      const job = await showJob(c, props.jobId).catch((e) => {
        throw explain(e, `read changefeed job ${props.jobId}`);
      });
      // Reconcile here too, so that no more than one job of this resource is live after a refresh:
      // beside a live tracked job, unrecorded ones are cancelled; without one, all but the newest
      // (which the next update continues from).
      const others = props.marker ? (await ownedLiveJobs(c, props.marker, props.jobHistory ?? [])).filter((j) => String(j.job_id) !== String(props.jobId)) : [];
      const live = !!job && LIVE.includes(job.status);
      const timeout = (props.timeoutSeconds ?? 120) * 1000;
      await cancelAll(c, live ? others : others.slice(0, -1), timeout);
      const adoptable = live ? undefined : others[others.length - 1];
      const note = adoptable ? `; job ${adoptable.job_id} of this resource, not recorded, runs: the next up continues from it` : "";
      // Never report the resource gone: the next update restarts it from the last high-water.
      const outs = job
        ? outputs(props, job, props.jobHistory, props.startedAt, await clusterTime(c))
        : { ...props, status: "missing", runningStatus: "job not found (garbage-collected, or the cluster was restored or replaced)", health: feedHealth(undefined, null) };
      return { id, props: { ...outs, runningStatus: `${outs.runningStatus ?? ""}${note}` } };
    });
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, news: any) {
    if (!sameValue(olds.sink, news.sink)) await verifySinkAccess(config, news);
    const timeout = news.timeoutSeconds * 1000;
    return withClient(news.connectionString, config, async (c) => {
      const history: string[] = [...(olds.jobHistory ?? [olds.jobId])];
      const marker = news.marker ?? olds.marker;
      const tracked = await showJob(c, olds.jobId);
      // Jobs of this resource state does not know (a handoff cut short) and older jobs still live.
      const owned = marker ? await ownedLiveJobs(c, marker, history) : [];
      const others = owned.filter((j) => String(j.job_id) !== String(olds.jobId));
      const trackedLive = !!tracked && LIVE.includes(tracked.status);
      const queryChanged = olds.select !== news.select || !sameValue(olds.options?.initial_scan, news.options?.initial_scan) || !sameValue(olds.options?.cursor, news.options?.cursor);
      const sinkChanged = !sameValue(olds.sink, news.sink);
      const optionsChanged = !sameValue(omit(olds.options, CREATE_ONLY), omit(news.options, CREATE_ONLY));
      const ctx = { id, history, startedAt: olds.startedAt, olds };
      let jobId: string = olds.jobId;
      if (trackedLive) {
        await cancelAll(c, others, timeout);
        if (queryChanged || ((sinkChanged || optionsChanged) && (await alterDropsQuery(c)))) {
          jobId = await handoff(c, olds.jobId, news, timeout, ctx);
        } else if (sinkChanged || optionsChanged) {
          await alterInPlace(c, olds, news, timeout, ctx);
        } else if (tracked!.status === "paused" || tracked!.status === "pause-requested") {
          await resumeJob(c, olds.jobId, timeout);
        } else if (retryingError(tracked)) {
          // Running but unable to write (a grant removed, a key deleted): if the sink's key may write
          // again, the job recovers by itself (CockroachDB retries sink errors); proveDelivery below
          // waits for its next checkpoint. If it may not, say so and change nothing.
          await verifySinkAccess(config, news);
        }
      } else if (others.length > 0) {
        // The tracked job ended, and a job of ours that state never recorded runs: its settings are
        // not known for sure, so continue from it with a handoff.
        await cancelAll(c, others.slice(0, -1), timeout);
        jobId = await handoff(c, String(others[others.length - 1].job_id), news, timeout, { ...ctx, olds: undefined });
      } else {
        const h = laterHighWater(tracked?.high_water_timestamp, olds.highWaterTimestamp);
        jobId = await restart(c, news, olds, h, timeout);
      }
      if (!history.includes(jobId)) history.push(jobId);
      // A job that was healed (resumed) must show a new checkpoint; a new one did in startFrom.
      const recovering = jobId === olds.jobId && trackedLive && tracked!.status === "running" && retryingError(tracked) !== undefined;
      const healed = jobId === olds.jobId && trackedLive && (tracked!.status !== "running" || recovering);
      const job = await proveDelivery(c, jobId, news, healed ? tracked!.high_water_timestamp : null, timeout, { ...ctx, history }, recovering);
      const outs = outputs(news, job, history, olds.startedAt, await clusterTime(c));
      await pruneKeys(config, news, { id, outs });
      return { outs };
    });
  },

  async delete(config: ConfigLike | undefined, _id: string, props: any) {
    const timeout = (props.timeoutSeconds ?? 120) * 1000;
    await withClient(props.connectionString, config, async (c) => {
      await cancelJob(c, props.jobId, timeout);
      // Jobs of this resource that state never recorded go too: destroy leaves none running.
      if (props.marker) await cancelAll(c, await ownedLiveJobs(c, props.marker, props.jobHistory ?? []), timeout);
    });
  },
}, ["connectionString", "sink"]);

/** Why the job needs an update to heal, or undefined when it runs well. */
export function needsHealing(job: JobRow | undefined): string | undefined {
  if (!job) return "the job is gone";
  if (!RUNNING.includes(job.status)) return `the job is ${job.status}`;
  return retryingError(job);
}

/** CockroachDB's HLC now: a new job's events start after it. */
async function clusterTime(c: Db): Promise<string | null> {
  const r = await c.query("SELECT cluster_logical_timestamp()::STRING AS t").catch(() => undefined);
  return r?.rows[0]?.t ?? null;
}

/**
 * An Error that Pulumi records in state (the dynamic host's ErrorResourceInitFailed): `id` and
 * `properties` become the resource's state even though the step failed, so the next `up` starts
 * from what is true. The sink's key is not written there (it may not be the one in use); the next
 * update sees the sink as changed and sets it again.
 */
function stateSaying(message: string, inEffect: any, job: JobRow | undefined, ctx: { id: string; history: string[]; startedAt?: string | null }, provider: unknown): Error {
  const sink = { ...inEffect.sink, credentials: inEffect.sink?.credentials ? "(set again by the next pulumi up)" : undefined };
  const row = job ?? { job_id: inEffect.jobId, status: "unknown", running_status: null, high_water_timestamp: null, error: "", sink_uri: "", description: "" };
  const props = outputs({ ...inEffect, sink }, row, ctx.history, ctx.startedAt ?? null, null);
  return Object.assign(new Error(message), { id: ctx.id, properties: { ...props, __provider: provider } });
}

/**
 * A new or switched feed counts as working only when it proves it: a checkpoint past `since` (the
 * feed's start, or anything for an update). A job that reports a retrying sink error (403, 404) fails
 * the step with that error; the job is paused first and state says so (see stateSaying).
 */
async function proveDelivery(c: Db, jobId: string, i: any, since: string | null, timeout: number, ctx: { id: string; history: string[]; startedAt?: string | null; olds?: any }, recovering = false): Promise<JobRow> {
  const delivered = (j: JobRow) => j.status === "running" && !retryingError(j) && !!j.high_water_timestamp && (since === null || decimalGreater(j.high_water_timestamp, since));
  // A job recovering from a sink error still shows the old error until its next checkpoint.
  const hopeless = (j: JobRow | undefined) => !j || ENDED.includes(j.status) || (!recovering && retryingError(j) !== undefined);
  try {
    return await waitForJob(c, jobId, "a checkpoint", delivered, timeout, hopeless);
  } catch (e) {
    if (!(e instanceof WaitFailed)) throw e;
    const j = e.job;
    const retrying = retryingError(j);
    const why = !j ? "is gone" : ENDED.includes(j.status) ? `is ${j.status}${j.error ? `: ${j.error}` : ""}` : retrying ? `cannot write to its sink: ${retrying}` : `did not checkpoint within ${timeout / 1000}s (status ${j.status})`;
    let left = "";
    let now = j;
    if (j && LIVE.includes(j.status)) {
      now = await pauseJob(c, jobId, timeout).catch(() => undefined);
      left = now?.status === "paused" ? ` It was paused (read back: paused); the next \`pulumi up\` resumes it from its last checkpoint, so no event is lost.` : ` Pausing it failed; the next \`pulumi up\` finds it by its marker.`;
    }
    throw stateSaying(`changefeed job ${jobId} ${why}.${left}`, i, now ?? j, ctx, i.__provider);
  }
}

/**
 * With exclusiveKeys: deletes every user-managed key of the sink's service account except the one
 * the feed now runs on (its JSON names both). Runs only after the feed proved it delivers with that
 * key. A failure keeps the feed and records the keys left (`unusedKeys`), which the next `up` retries.
 */
async function pruneKeys(config: ConfigLike | undefined, i: any, done: { id: string; outs: Record<string, unknown> }): Promise<void> {
  if (!i.exclusiveKeys || !i.sink?.credentials) return;
  const key = JSON.parse(Buffer.from(encodeCredentials(i.sink.credentials), "base64").toString("utf8"));
  const account = `projects/-/serviceAccounts/${key.client_email}`;
  const left: string[] = [];
  try {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const listed = await withRetry(() => gcp.iam.projects.serviceAccounts.keys.list({ name: account, keyTypes: ["USER_MANAGED"] }), { what: `list the keys of ${key.client_email}` });
    const others = (listed.data.keys ?? []).map((k) => k.name!).filter((n) => n.split("/").pop() !== key.private_key_id);
    for (const name of others) {
      await withRetry(() => gcp.iam.projects.serviceAccounts.keys.delete({ name }), { what: `delete unused key ${name}` }).catch((e) => {
        if (statusOf(e) !== 404) left.push(name);
      });
    }
    if (left.length === 0) return;
  } catch (e) {
    left.push(`(all keys of ${key.client_email}: ${messageOf(e)})`);
  }
  throw Object.assign(new Error(`the changefeed runs on key ${key.private_key_id}, but deleting the other keys of ${key.client_email} failed: ${left.join(", ")}. The next \`pulumi up\` tries again.`), {
    id: done.id,
    properties: { ...done.outs, unusedKeys: left, sink: { ...i.sink, credentials: "(set again by the next pulumi up)" }, __provider: i.__provider },
  });
}

/**
 * Proves, with the sink's own key, that it may create objects in the bucket or publish to the topic (retrying while a new
 * grant propagates), so that a missing grant fails `pulumi up` instead of a feed that silently
 * retries. Needs no permission itself. Skipped for implicit and impersonated credentials (the job's
 * first checkpoint proves those, see proveDelivery).
 */
async function verifySinkAccess(config: ConfigLike | undefined, i: any): Promise<void> {
  const sink = i.sink;
  if (i.verifySinkAccess === false || !sink.credentials || sink.auth === "implicit" || sink.assumeRole) return;
  const key = Buffer.from(encodeCredentials(sink.credentials), "base64").toString("utf8");
  const gcp = await gcpClients({ credentials: key, endpoint: gcpConfigFrom(config).endpoint });
  const email = JSON.parse(key).client_email;
  // What the sink's writer must hold, asked with its own key (testIamPermissions needs no permission):
  // storage.objects.create on the bucket, or pubsub.topics.publish on the topic (pubsub-research §7).
  const pubsub = isPubSubSink(sink);
  const permission = pubsub ? "pubsub.topics.publish" : "storage.objects.create";
  const target = pubsub ? `projects/${sink.project}/topics/${sink.topic}` : `gs://${sink.bucket}`;
  const what = pubsub ? `check that ${email} may publish to ${target}` : `check that ${email} may create objects in ${target}`;
  const ask = async (): Promise<string[]> =>
    pubsub
      ? ((await gcp.pubsub.request<{ permissions?: string[] }>("POST", `/${target}:testIamPermissions`, { permissions: [permission] })).data.permissions ?? [])
      : ((await gcp.storage.buckets.testIamPermissions({ bucket: sink.bucket, permissions: [permission] })).data.permissions ?? []);
  const missing = Object.assign(new Error("not granted"), { notGranted: true });
  try {
    await withRetry(
      async () => {
        if (!(await ask()).includes(permission)) throw missing;
      },
      { what, retryIf: (e) => (e as any).notGranted === true, deadlineMs: i.timeoutSeconds * 1000, baseDelayMs: 500 },
    );
  } catch (e) {
    // Only an answer that says "not granted" is a missing grant; a storm or an outage says so.
    if ((e as any).notGranted || (e as any).lastError?.notGranted) {
      const grant = pubsub ? "roles/pubsub.publisher on the topic" : "the guide's custom role, or roles/storage.objectCreator";
      throw new Error(`${what}: it may not (testIamPermissions answered without ${permission}). Grant ${permission} on the ${pubsub ? "topic" : "bucket"} to serviceAccount:${email} (${grant}) and run \`pulumi up\` again; the changefeed was left as it was.`);
    }
    if (statusOf(e) === 404) throw new Error(`${what}: the ${pubsub ? "topic" : "bucket"} does not exist`);
    throw new Error(`${what} failed (nothing was changed; run \`pulumi up\` again): ${messageOf(e)}`);
  }
}

function statementFor(i: any, options: Record<string, unknown>): string {
  return `CREATE CHANGEFEED INTO $1${renderChangefeedOptions(defined({ ...options, metrics_label: i.marker }) as ChangefeedOptions)} AS ${i.select}`;
}

/**
 * CREATE CHANGEFEED, once. If the connection drops before the answer, the job may exist: it is
 * found by its marker (a job of ours that was not there before) and adopted, or the CREATE is sent
 * again when there is none.
 */
async function createJob(c: Db, i: any, options: Record<string, unknown>): Promise<string> {
  const before = new Set((await ownedLiveJobs(c, i.marker)).map((j) => String(j.job_id)));
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await c.query(statementFor(i, options), [buildSinkUri(i.sink)], { once: true });
      return String(r.rows[0].job_id);
    } catch (e) {
      if (!(e instanceof ConnectionLostError)) throw explain(e, "create changefeed");
      const made = (await ownedLiveJobs(c, i.marker)).filter((j) => !before.has(String(j.job_id)));
      if (made.length > 0) {
        await cancelAll(c, made.slice(0, -1), 60_000);
        return String(made[made.length - 1].job_id);
      }
      if (attempt >= 3) throw explain(e, "create changefeed");
    }
  }
}

/** A new job continuing from high-water `h`; waits until it checkpoints past `h`. */
async function startFrom(c: Db, i: any, h: string, timeout: number): Promise<string> {
  let jobId: string;
  try {
    jobId = await createJob(c, i, { ...omit(i.options, ["initial_scan"]), cursor: h });
  } catch (e) {
    if (/older than the GC threshold/.test((e as Error).message)) {
      throw new Error(`changefeed: its last high-water ${h} is older than CockroachDB's garbage-collection window (gc.ttlseconds), so the events since then can no longer be read by a changefeed. Nothing was changed. The files already delivered stay; to continue with a gap, set options.cursor to a recent time (the gap is then on record in your program) and run \`pulumi up\`.`);
    }
    throw e;
  }
  try {
    await waitPast(c, jobId, h, timeout, "the new job's first checkpoint");
  } catch (e) {
    // A job that cannot deliver is not left behind.
    const j = await showJob(c, jobId).catch(() => undefined);
    await cancelJob(c, jobId, timeout);
    throw new Error(`${(e as Error).message}${retryingError(j) ? "" : j?.running_status ? `; the job reported: ${j.running_status}` : ""} (the new job ${jobId} was canceled, read back)`);
  }
  return jobId;
}

/**
 * The tracked job is gone or ended and no job of ours runs: start again from the last high-water.
 * A job that never checkpointed is started again as it was first created (its initial scan, or,
 * without one, from the moment the first one started), so nothing is skipped.
 */
async function restart(c: Db, news: any, olds: any, h: string | null, timeout: number): Promise<string> {
  if (h) return startFrom(c, news, h, timeout);
  const scanned = (olds.options?.initial_scan ?? (olds.options?.cursor ? "no" : "yes")) !== "no";
  const cursor = olds.options?.cursor ?? (scanned ? undefined : olds.startedAt);
  if (!scanned && !cursor) {
    throw new Error(`changefeed job ${olds.jobId} is gone and never checkpointed, and state does not record when it started (a stack from before version 0.3), so where to continue is unknown. Set options.cursor to the time the feed was first created (or earlier: duplicates, never gaps) and run \`pulumi up\`.`);
  }
  return createJob(c, news, defined({ ...news.options, cursor }));
}

/**
 * PAUSE old, read H, CREATE new WITH cursor = H, wait until it checkpoints, CANCEL old. Every
 * compensating step is read back; a failure leaves state saying which job is live and paused.
 */
async function handoff(c: Db, oldId: string, news: any, timeout: number, ctx: { olds?: any; history: string[]; id?: string; startedAt?: string | null }): Promise<string> {
  let paused = await pauseJob(c, oldId, timeout);
  if (!paused.high_water_timestamp) {
    // It never checkpointed: let it reach a first high-water, so nothing before it is skipped.
    await resumeJob(c, oldId, timeout);
    await waitPast(c, oldId, null, timeout, "a first checkpoint of the old job");
    paused = await pauseJob(c, oldId, timeout);
  }
  const h = paused.high_water_timestamp!;
  let newId: string;
  try {
    newId = await startFrom(c, news, h, timeout);
  } catch (e) {
    const msg = (e as Error).message;
    const state = { id: ctx.id ?? `changefeed-${String(news.marker).slice(-12)}`, history: ctx.history.includes(oldId) ? ctx.history : [...ctx.history, oldId], startedAt: ctx.startedAt };
    // What the old job runs: the recorded settings, or, for a job found by its marker, unknown
    // (so the next update hands off from it again).
    const inEffect = ctx.olds ?? { ...news, select: "(unknown: a job found by its marker)" };
    const back = await resumeJob(c, oldId, timeout).catch((r) => r as Error);
    if (back instanceof Error) {
      throw stateSaying(`${msg}. The previous job ${oldId} stays paused at high-water ${h} (resuming it failed: ${back.message}); the next \`pulumi up\` resumes or continues it from there, so no event is lost.`, inEffect, paused, state, news.__provider);
    }
    throw stateSaying(`${msg}. The previous job ${oldId} was resumed (read back: ${back.status}) and delivers as before; nothing changed.`, inEffect, back, state, news.__provider);
  }
  await cancelJob(c, oldId, timeout).catch(async (e) => {
    const job = await showJob(c, newId).catch(() => undefined);
    const state = { id: ctx.id ?? `changefeed-${String(news.marker).slice(-12)}`, history: [...ctx.history.filter((x) => x !== newId), oldId, newId], startedAt: ctx.startedAt };
    throw stateSaying(`the new job ${newId} runs, but cancelling the previous job ${oldId} (paused) failed: ${(e as Error).message}. The next \`pulumi up\` cancels it.`, news, job, state, news.__provider);
  });
  return newId;
}

/** The ALTER clauses that turn `from` into `to`. */
function alterClauses(from: any, to: any, sinkChanged: boolean): { sql: string; params: string[] } {
  const set: string[] = [];
  const params: string[] = [];
  if (sinkChanged) {
    params.push(buildSinkUri(to.sink));
    set.push("sink = $1");
  }
  const a = omit(from.options, CREATE_ONLY);
  const b = omit(to.options, CREATE_ONLY);
  const unset = Object.keys(a).filter((k) => b[k] === undefined);
  const changed = Object.keys(b).filter((k) => !sameValue(a[k], b[k]));
  const opts = renderChangefeedOptions(Object.fromEntries(changed.map((k) => [k, b[k]])) as ChangefeedOptions).replace(/^ WITH /, "");
  if (opts) set.push(opts);
  return { sql: [set.length ? `SET ${set.join(", ")}` : "", unset.length ? `UNSET ${unset.join(", ")}` : ""].filter(Boolean).join(" "), params };
}

/**
 * PAUSE, ALTER, RESUME, then wait until the high-water moves; if it does not, ALTER back and prove
 * the old settings work again. Each step is read back; what a message claims was checked.
 */
async function alterInPlace(c: Db, olds: any, news: any, timeout: number, ctx: { id: string; history: string[]; startedAt?: string | null }): Promise<void> {
  const id = jobIdText(olds.jobId);
  const sinkChanged = !sameValue(olds.sink, news.sink);
  const before = await pauseJob(c, id, timeout);
  const forward = alterClauses(olds, news, sinkChanged);
  try {
    await c.query(`ALTER CHANGEFEED ${id} ${forward.sql}`, forward.params);
  } catch (e) {
    const back = await resumeJob(c, id, timeout).catch((r) => r as Error);
    const state = back instanceof Error ? `it stays paused (resuming failed: ${back.message}); the next \`pulumi up\` resumes it` : `it was resumed unchanged (read back: ${back.status})`;
    throw stateSaying(`${explain(e, `alter changefeed job ${id}`).message}; ${state}.`, olds, back instanceof Error ? before : back, ctx, news.__provider);
  }
  try {
    await resumeJob(c, id, timeout);
    await waitPast(c, id, before.high_water_timestamp, timeout, "a checkpoint with the new settings");
    return;
  } catch (e) {
    const failure = (e as Error).message;
    const back = alterClauses(news, olds, sinkChanged);
    try {
      await pauseJob(c, id, timeout);
      await c.query(`ALTER CHANGEFEED ${id} ${back.sql}`, back.params);
      await resumeJob(c, id, timeout);
      const proof = await waitPast(c, id, before.high_water_timestamp, timeout, "a checkpoint with the previous settings");
      throw stateSaying(`the changefeed did not work with the new sink or options (${failure}), so the previous ones were set again, and the job checkpointed with them (high-water ${proof.high_water_timestamp}).`, olds, proof, ctx, news.__provider);
    } catch (r) {
      if ((r as any).id) throw r;
      const now = await showJob(c, id).catch(() => undefined);
      throw stateSaying(`the changefeed did not work with the new sink or options (${failure}), and restoring the previous ones failed too (${(r as Error).message}); the job reads ${now?.status ?? "unknown"}. The next \`pulumi up\` sets the sink and options again and resumes it.`, { ...news, options: olds.options }, now, ctx, news.__provider);
    }
  }
}

/** Versions where ALTER CHANGEFEED silently drops a CDC query (fixed in 23.1.24, 23.2.7 and 24.1.0; research §6). */
async function alterDropsQuery(c: Db): Promise<boolean> {
  const v = String((await c.query("SELECT version()")).rows[0]?.version ?? "");
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) return false;
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (maj === 23 && min === 1) return patch < 24;
  if (maj === 23 && min === 2) return patch < 7;
  return maj < 23;
}

function outputs(i: any, job: JobRow, history: string[], startedAt: string | null, now: string | null) {
  return defined({
    ...withoutProvider(i),
    jobId: String(job.job_id),
    jobHistory: history,
    status: job.status,
    runningStatus: job.running_status ?? "",
    highWaterTimestamp: laterHighWater(job.high_water_timestamp, i.highWaterTimestamp),
    startedAt: startedAt ?? null,
    error: job.error ?? "",
    health: feedHealth(job.status === "unknown" ? undefined : job, now, i.maxLagSeconds ?? DEFAULT_MAX_LAG_SECONDS),
  });
}

export interface Changefeed {
  /** The running job (a string: CockroachDB job ids exceed 2^53). It changes on a handoff. */
  readonly jobId: pulumi.Output<string>;
  /** Every job this resource has run, oldest first. */
  readonly jobHistory: pulumi.Output<string[]>;
  readonly status: pulumi.Output<string>;
  readonly runningStatus: pulumi.Output<string>;
  readonly highWaterTimestamp: pulumi.Output<string | null>;
  readonly error: pulumi.Output<string>;
  /**
   * healthy | lagging | failing | stopped, with the reason in one line and the high-water's lag,
   * as of the last create, update or refresh (`pulumi refresh` reads it anew).
   */
  readonly health: pulumi.Output<FeedHealth>;
  /** The sink as CockroachDB shows it, CREDENTIALS=redacted. */
  readonly sinkUriRedacted: pulumi.Output<string>;
  /** The SELECT the feed runs. */
  readonly select: pulumi.Output<string>;
  /** The `metrics_label` every job of this resource carries, by which a job left by a crash is found. */
  readonly marker: pulumi.Output<string>;
  /** CockroachDB's cluster time when the first job was created. */
  readonly startedAt: pulumi.Output<string | null>;
}

/** A CockroachDB changefeed streaming a CDC query into Cloud Storage. */
export class Changefeed extends pulumi.dynamic.Resource {
  /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
  static get provider() {
    return operationsProvider(__filename, "changefeedOperations", changefeedOperations);
  }

  constructor(name: string, args: ChangefeedArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      Changefeed.provider,
      name,
      {
        ...args,
        connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined,
        sink: pulumi.secret(args.sink),
        owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`,
        jobId: undefined,
        jobHistory: undefined,
        status: undefined,
        runningStatus: undefined,
        highWaterTimestamp: undefined,
        error: undefined,
        health: undefined,
        sinkUriRedacted: undefined,
        select: undefined,
        marker: undefined,
        startedAt: undefined,
        unusedKeys: undefined,
      },
      { ...refuseImport("Changefeed", name, opts), additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "sink", "connectionString"] },
      "cockroach",
      "Changefeed",
    );
  }
}
