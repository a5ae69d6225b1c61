// What a Changefeed does to its jobs: create one (finding it again when the answer was lost), start
// one from a high-water, hand off from one job to the next, alter one in place, and prove that a job
// delivers. Each step is read back; every message says what is true afterwards (checked), and a
// failure that changed something records it in state (the host's ErrorResourceInitFailed).
// Which of these an update needs is decided in plan.ts.
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).
import { buildSinkUri } from "../cdc/sink";
import { ChangefeedOptions, renderChangefeedOptions } from "../cdc/statement";
import { feedRows } from "../cdc/query";
import { defined, sameValue, withoutProvider } from "../engine";
import type { Identity } from "../ownership";
import { ConnectionLostError, Db, explain } from "./sql";
import {
  ENDED,
  JobRow,
  LIVE,
  WaitFailed,
  cancelJob,
  decimalGreater,
  jobIdText,
  laterHighWater,
  pauseJob,
  resumeJob,
  retryingError,
  showJob,
  toHlc,
  waitForJob,
  waitPast,
} from "./jobs";
import { cancelAll, liveJobsOf, newerJob } from "./reconcile";
import { DEFAULT_MAX_LAG_SECONDS, explainSinkError, feedHealth } from "./health";
import type { DeliveryProbe } from "./sink-checks";
import { GcWindow, readGcWindow, resumeAdvice } from "./gc";
import {
  alterFailedNoPreviousKey,
  alterRestoreFailed,
  alterRestored,
  createAnswerLost,
  gcWindowPassed,
  handoffUnsure,
  nothingToReadBack,
  startUnknown,
} from "./messages";

/** Options that take effect only when a feed is created (ALTER refuses them, cockroach-changefeeds.md §6). */
export const CREATE_ONLY = ["cursor", "initial_scan", "end_time"];

export const omit = (o: Record<string, unknown> = {}, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

/** Where a transition runs: the connection, the resource's inputs, identity and marker, and what state must record on failure. */
export interface Feed {
  c: Db;
  /** The checked inputs the job should run with. */
  i: any;
  identity: Identity;
  marker: string;
  timeout: number;
  /** The resource's Pulumi id, its job history and first start. */
  id: string;
  history: string[];
  startedAt: string | null;
  /** Makes a read-back probe for the sink (proof of delivery), or undefined when checkpoints must do. */
  probe?: (since: string) => Promise<DeliveryProbe>;
  /**
   * The sink's writer was shown to hold its permission before the job started (testIamPermissions with
   * its key). Without that (implicit or impersonated credentials), a job that wrote nothing yet has
   * proven nothing: the read-back waits for something to read.
   */
  accessChecked: boolean;
}

/** CockroachDB's HLC now: a new job's events start after it. */
export async function clusterTime(c: Db): Promise<string | null> {
  const r = await c.query("SELECT cluster_logical_timestamp()::STRING AS t").catch(() => undefined);
  return r?.rows[0]?.t ?? null;
}

/** The cluster's id, which tells one cluster from another whatever the URL says. */
export async function clusterId(c: Db): Promise<string> {
  return String((await c.query("SELECT crdb_internal.cluster_id()::STRING AS id")).rows[0]?.id ?? "");
}

/** The resource's outputs for a job row. */
export function outputs(
  i: any,
  job: JobRow,
  history: string[],
  startedAt: string | null,
  now: string | null,
  extra: Record<string, unknown> = {},
  window?: GcWindow,
) {
  return defined({
    ...withoutProvider(i),
    jobId: String(job.job_id),
    jobHistory: history,
    status: job.status,
    runningStatus: job.running_status ?? "",
    highWaterTimestamp: laterHighWater(job.high_water_timestamp, i.highWaterTimestamp),
    startedAt: startedAt ?? null,
    error: job.error ?? "",
    health: feedHealth(job.status === "unknown" ? undefined : job, now, i.maxLagSeconds ?? DEFAULT_MAX_LAG_SECONDS, window),
    ...extra,
  });
}

/**
 * An Error that Pulumi records in state (the dynamic host's ErrorResourceInitFailed): `id` and
 * `properties` become the resource's state even though the step failed, so the next `up` starts
 * from what is true. The sink's key is not written there (it may not be the one in use); the next
 * update sees the sink as changed and sets it again.
 */
/** What state holds in place of a sink key after a failure recorded it (the key in use is not known for sure). */
export const UNKNOWN_KEY = "(set again by the next pulumi up)";

export function stateSaying(
  message: string,
  inEffect: any,
  job: JobRow | undefined,
  f: Pick<Feed, "id" | "history" | "startedAt">,
  extra: Record<string, unknown> = {},
): Error {
  const sink = { ...inEffect.sink, credentials: inEffect.sink?.credentials ? UNKNOWN_KEY : undefined };
  const row = job ?? {
    job_id: inEffect.jobId ?? "",
    status: "unknown",
    running_status: null,
    high_water_timestamp: null,
    error: "",
    sink_uri: "",
    description: "",
  };
  const props = outputs({ ...inEffect, sink }, row, f.history, f.startedAt ?? null, null, extra);
  return Object.assign(new Error(message), { id: f.id, properties: { ...props, __provider: inEffect.__provider } });
}

function statementFor(f: Feed, options: Record<string, unknown>): string {
  return `CREATE CHANGEFEED INTO $1${renderChangefeedOptions(defined({ ...options, metrics_label: f.marker }) as ChangefeedOptions)} AS ${f.i.select}`;
}

/** Jobs of the lineage created after the `before` snapshot. */
async function madeSince(f: Feed, before: Set<string>): Promise<JobRow[]> {
  return (await liveJobsOf(f.c, f.identity, f.marker)).lineage.filter((j) => !before.has(String(j.job_id)));
}

/**
 * CREATE CHANGEFEED, once. If the connection drops before the answer, the job may exist: it is
 * found by its marker (a job of the lineage that was not there before) and adopted, or the CREATE is
 * sent again when there is none. A CREATE whose fate cannot be learned (the cluster stays away) fails
 * saying a job may exist; StreamIdentity's delete and the next update find it by its marker.
 */
export async function createJob(f: Feed, options: Record<string, unknown>): Promise<string> {
  const before = new Set((await liveJobsOf(f.c, f.identity, f.marker)).lineage.map((j) => String(j.job_id)));
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await f.c.query(statementFor(f, options), [buildSinkUri(f.i.sink)], { once: true });
      return String(r.rows[0].job_id);
    } catch (e) {
      if (!(e instanceof ConnectionLostError)) throw explain(e, "create changefeed");
      let made: JobRow[];
      try {
        made = await madeSince(f, before);
      } catch (lookup) {
        throw Object.assign(new Error(createAnswerLost(explain(e, "create changefeed").message, (lookup as Error).message, f.marker)), { maybeMade: true });
      }
      if (made.length > 0) {
        await cancelAll(f.c, made.slice(0, -1), 60_000);
        return String(made[made.length - 1].job_id);
      }
      if (attempt >= 3) throw explain(e, "create changefeed");
    }
  }
}

const GC_EXPIRED = /older than the GC threshold/;

/**
 * A new job continuing from `cursor`; waits until it checkpoints past it and proves delivery. In a
 * handoff a job that fails here is cancelled (read back), since the old one is resumed instead; with
 * `keep` (no other job to fall back to) it is left running and recorded, as CockroachDB would run it.
 */
export async function startFrom(f: Feed, cursor: string, keep = false): Promise<{ jobId: string; job: JobRow }> {
  // The cursor as given goes to CockroachDB; as an HLC it bounds the proof (a chosen cursor may be a timestamp).
  const since = toHlc(cursor);
  const probe = f.probe ? await f.probe(since) : undefined;
  await probe?.open();
  let jobId: string;
  try {
    jobId = await createJob(f, { ...omit(f.i.options, ["initial_scan"]), cursor });
  } catch (e) {
    await probe?.close();
    if (GC_EXPIRED.test((e as Error).message)) {
      throw new Error(gcWindowPassed(cursor));
    }
    throw e;
  }
  try {
    const job = await proveDelivery(f, jobId, since, probe, { quiet: !keep });
    return { jobId, job };
  } catch (e) {
    if (keep) throw e;
    // A job that cannot deliver is not left beside the one the handoff resumes.
    const j = await showJob(f.c, jobId).catch(() => undefined);
    const canceled = await cancelJob(f.c, jobId, f.timeout).then(
      () => `the new job ${jobId} was canceled, read back`,
      (c) => `cancelling the new job ${jobId} failed too (${(c as Error).message}); the next \`pulumi up\` cancels it`,
    );
    throw Object.assign(
      new Error(`${(e as Error).message}${retryingError(j) ? "" : j?.running_status ? `; the job reported: ${j.running_status}` : ""} (${canceled})`),
      { newJob: jobId },
    );
  } finally {
    await probe?.close();
  }
}

/**
 * No job of the lineage is live: start one from `cursor` (the last high-water, or the user's chosen
 * cursor). A job that never checkpointed is started again as it was first created (its initial scan,
 * or, without one, from the moment the first one started), so nothing is skipped.
 */
export async function restart(f: Feed, olds: any, cursor: string | null): Promise<{ jobId: string; job: JobRow }> {
  if (cursor) return startFrom(f, cursor, true);
  const scanned = (olds.options?.initial_scan ?? (olds.options?.cursor ? "no" : "yes")) !== "no";
  const from = olds.options?.cursor ?? (scanned ? undefined : olds.startedAt);
  if (!scanned && !from) {
    throw new Error(startUnknown(olds.jobId));
  }
  const since = from ? toHlc(from) : await clusterTime(f.c);
  const probe = f.probe && since ? await f.probe(since) : undefined;
  await probe?.open();
  try {
    const jobId = await createJob(f, defined({ ...f.i.options, cursor: from }));
    return { jobId, job: await proveDelivery(f, jobId, since, probe) };
  } finally {
    await probe?.close();
  }
}

/**
 * PAUSE `oldId` (read back), then start the new job from its high-water H (or the chosen `cursor`),
 * then CANCEL the old one. Nothing before H is lost; events after H may arrive twice (at-least-once).
 * On a failure, exactly one job is left: the new one is cancelled (read back) and the old one resumed
 * (read back); if either cannot be done, the state says which job is in which state and the next
 * `up` reconciles (it finds every job of the lineage by its marker).
 */
export async function handoff(
  f: Feed,
  oldId: string,
  inEffect: any,
  chosen?: string,
): Promise<{ jobId: string; job: JobRow; gap?: { from: string; to: string } }> {
  const history = f.history.includes(oldId) ? f.history : [...f.history, oldId];
  let paused: JobRow;
  try {
    paused = await pauseJob(f.c, oldId, f.timeout);
    if (!paused.high_water_timestamp) {
      // It never checkpointed: let it reach a first high-water, so nothing before it is skipped.
      await resumeJob(f.c, oldId, f.timeout);
      await waitPast(f.c, oldId, null, f.timeout, "a first checkpoint of the old job");
      paused = await pauseJob(f.c, oldId, f.timeout);
    }
  } catch (e) {
    // A pause that did not complete may still take effect: make sure the job runs again.
    const back = await resumeJob(f.c, oldId, f.timeout).catch((r) => r as Error);
    const now = back instanceof Error ? await showJob(f.c, oldId).catch(() => undefined) : back;
    const state =
      back instanceof Error
        ? `it reads ${now?.status ?? "unknown"} and resuming it failed (${back.message}); the next \`pulumi up\` resumes it`
        : `it was resumed (read back: ${back.status}) and delivers as before`;
    throw stateSaying(`pausing changefeed job ${oldId} for a handoff failed (${(e as Error).message}); ${state}. Nothing changed.`, inEffect, now, {
      ...f,
      history,
    });
  }
  const h = paused.high_water_timestamp!;
  const cursor = chosen ?? h;
  const gap = chosen && decimalGreater(toHlc(chosen), h) ? { from: h, to: chosen } : undefined;
  try {
    const started = await startFrom({ ...f, history }, cursor);
    await cancelJob(f.c, oldId, f.timeout).catch(async (e) => {
      const job = await showJob(f.c, started.jobId).catch(() => undefined);
      throw stateSaying(
        `the new job ${started.jobId} runs, but cancelling the previous job ${oldId} (paused) failed: ${(e as Error).message}. The next \`pulumi up\` cancels it.`,
        f.i,
        job,
        { ...f, history: [...history.filter((x) => x !== started.jobId), started.jobId] },
        gap ? { gaps: [gap] } : {},
      );
    });
    return { ...started, gap };
  } catch (e) {
    if ((e as any).id) throw e;
    const msg = (e as Error).message;
    // Whatever the failure, no job this handoff started may run beside the old one: any job of the
    // lineage newer than the old one is this handoff's (startFrom cancels the one it knows; a CREATE
    // whose answer was lost is found here).
    const strays = await liveJobsOf(f.c, f.identity, f.marker).then(
      (l) => l.lineage.filter((j) => newerJob(String(j.job_id), oldId)),
      (r) => r as Error,
    );
    const cleared = strays instanceof Error ? strays : await cancelAll(f.c, strays, f.timeout).catch((r) => r as Error);
    const window = await readGcWindow(f.c, f.i.options).catch(() => undefined);
    if (cleared instanceof Error) {
      const now = await showJob(f.c, oldId).catch(() => undefined);
      throw stateSaying(handoffUnsure(msg, cleared.message, oldId, h, resumeAdvice(h, window)), inEffect, now, { ...f, history });
    }
    const back = await resumeJob(f.c, oldId, f.timeout).catch((r) => r as Error);
    if (back instanceof Error) {
      throw stateSaying(
        `${msg}. The previous job ${oldId} stays paused at high-water ${h} (resuming it failed: ${back.message}); the next \`pulumi up\` resumes or continues it from there; ${resumeAdvice(h, window)}.`,
        inEffect,
        paused,
        { ...f, history },
      );
    }
    throw stateSaying(
      `${msg}. The previous job ${oldId} was resumed (read back: ${back.status}) and delivers as before${cleared.length ? `; the new job${cleared.length > 1 ? "s" : ""} ${cleared.join(", ")} ${cleared.length > 1 ? "were" : "was"} canceled (read back)` : ""}; nothing changed.`,
      inEffect,
      back,
      { ...f, history },
    );
  }
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
 * PAUSE, ALTER, RESUME, then prove the new settings deliver (read back from the new sink); if they do
 * not, ALTER back and prove the old settings work again. Each step is read back; what a message claims was checked.
 */
export async function alterInPlace(f: Feed, olds: any): Promise<JobRow> {
  const id = jobIdText(olds.jobId);
  const news = f.i;
  const sinkChanged = !sameValue(olds.sink, news.sink);
  const before = await pauseJob(f.c, id, f.timeout);
  const forward = alterClauses(olds, news, sinkChanged);
  try {
    await f.c.query(`ALTER CHANGEFEED ${id} ${forward.sql}`, forward.params);
  } catch (e) {
    const back = await resumeJob(f.c, id, f.timeout).catch((r) => r as Error);
    const state =
      back instanceof Error
        ? `it stays paused (resuming failed: ${back.message}); the next \`pulumi up\` resumes it`
        : `it was resumed unchanged (read back: ${back.status})`;
    throw stateSaying(`${explain(e, `alter changefeed job ${id}`).message}; ${state}.`, olds, back instanceof Error ? before : back, f);
  }
  const since = before.high_water_timestamp ?? (await clusterTime(f.c)) ?? null;
  const probe = f.probe && since ? await f.probe(since) : undefined;
  try {
    await probe?.open();
    await resumeJob(f.c, id, f.timeout);
    // A job that was retrying shows its old error until its next checkpoint: not a verdict on the new settings.
    return await proveDelivery(f, id, before.high_water_timestamp, probe, { quiet: true, recovering: true });
  } catch (e) {
    const failure = (e as Error).message;
    if (sinkChanged && olds.sink?.credentials === UNKNOWN_KEY) {
      // State does not hold the previous key (a failure recorded it so): nothing to go back to.
      const now = await showJob(f.c, id).catch(() => undefined);
      throw stateSaying(alterFailedNoPreviousKey(failure, now?.status ?? "unknown"), news, now, f);
    }
    const back = alterClauses(news, olds, sinkChanged);
    try {
      await pauseJob(f.c, id, f.timeout);
      await f.c.query(`ALTER CHANGEFEED ${id} ${back.sql}`, back.params);
      await resumeJob(f.c, id, f.timeout);
      const proof = await waitPast(f.c, id, before.high_water_timestamp, f.timeout, "a checkpoint with the previous settings");
      throw stateSaying(alterRestored(failure, proof.high_water_timestamp), olds, proof, f);
    } catch (r) {
      if ((r as any).id) throw r;
      const now = await showJob(f.c, id).catch(() => undefined);
      throw stateSaying(alterRestoreFailed(failure, (r as Error).message, now?.status ?? "unknown"), { ...news, options: olds.options }, now, f);
    }
  } finally {
    await probe?.close();
  }
}

/** Versions where ALTER CHANGEFEED silently drops a CDC query (fixed in 23.1.24, 23.2.7 and 24.1.0; cockroach-changefeeds.md §6). */
export async function alterDropsQuery(c: Db): Promise<boolean> {
  const v = String((await c.query("SELECT version()")).rows[0]?.version ?? "");
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) return false;
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (maj === 23 && min === 1) return patch < 24;
  if (maj === 23 && min === 2) return patch < 7;
  return maj < 23;
}

/**
 * Does the feed select events committed in (since, hw]? Then files or messages holding them must be in
 * the sink once the high-water passed them (the sink flushes before the frontier advances). `unknown`
 * for a raw query (its WHERE may use CDC-only functions).
 */
async function selectsEventsBetween(f: Feed, since: string, hw: string): Promise<boolean | "unknown"> {
  const rows = feedRows(f.i.query ?? {});
  if (!rows) return "unknown";
  const where = [...rows.where, "created_at > hlc_to_timestamp($1::DECIMAL)", "created_at <= hlc_to_timestamp($2::DECIMAL)"];
  const r = await f.c.query(`SELECT 1 AS one FROM ${rows.table} WHERE ${where.join(" AND ")} LIMIT 1`, [since, hw]);
  return r.rows.length > 0;
}

/**
 * A new or switched feed counts as working only when it proves it: a checkpoint past `since` with no
 * sink error, and then, with a probe, something it wrote after it started read back from the sink
 * (or, when the feed selected no event since it started, nothing to read back). A job that reports a
 * retrying sink error fails the step with that error. The job is never paused here: a failure is
 * reported and recorded, and the job goes on as CockroachDB runs it (retrying; `health` says so).
 */
export async function proveDelivery(
  f: Feed,
  jobId: string,
  since: string | null,
  probe?: DeliveryProbe,
  opts: { recovering?: boolean; quiet?: boolean } = {},
): Promise<JobRow> {
  const deadline = Date.now() + f.timeout;
  const delivered = (j: JobRow) =>
    j.status === "running" && !retryingError(j) && !!j.high_water_timestamp && (since === null || decimalGreater(j.high_water_timestamp, since));
  // A job recovering from a sink error still shows the old error until its next checkpoint.
  const hopeless = (j: JobRow | undefined) => !j || ENDED.includes(j.status) || (!opts.recovering && retryingError(j) !== undefined);
  let job: JobRow;
  try {
    job = await waitForJob(f.c, jobId, "a checkpoint", delivered, f.timeout, hopeless);
    if (probe && since) {
      for (let first = true; ; first = false) {
        if (await probe.seen()) break;
        job = (await showJob(f.c, jobId)) ?? job;
        const retrying = retryingError(job);
        if (retrying) throw new WaitFailed(`changefeed job ${jobId} cannot write to its sink: ${retrying}`, job);
        const hw = job.high_water_timestamp ?? since;
        const expected = await selectsEventsBetween(f, since, hw);
        // Nothing selected since it started: nothing to read back. With the writer's access checked
        // beforehand that is enough; without it, wait for something it writes.
        if (expected === false && f.accessChecked) break;
        if (Date.now() > deadline) {
          const why =
            expected === true
              ? `it checkpointed past events it selects (committed after it started), but nothing it wrote since reached ${probe.where}`
              : expected === false
                ? nothingToReadBack(probe.where)
                : `nothing it wrote since it started reached ${probe.where} (its raw query may select no event since then)`;
          throw new WaitFailed(`changefeed job ${jobId} did not prove delivery within ${f.timeout / 1000}s: ${why}`, job);
        }
        if (!first) await new Promise((r) => setTimeout(r, 500));
      }
    }
    return job;
  } catch (e) {
    if (!(e instanceof WaitFailed)) throw e;
    const j = e.job;
    const retrying = retryingError(j);
    // A sink error says what to do about it (a grant, a bucket, a deleted key: rotate) — explainSinkError.
    const why = !j
      ? "is gone"
      : ENDED.includes(j.status)
        ? `is ${j.status}${j.error ? `: ${j.error}` : ""}`
        : retrying
          ? `cannot write to its sink: ${explainSinkError(retrying)}`
          : /prove delivery/.test(e.message)
            ? e.message.replace(/^changefeed job \d+ /, "")
            : `did not checkpoint within ${f.timeout / 1000}s (status ${j.status})`;
    const left =
      j && LIVE.includes(j.status)
        ? " It was left running, as CockroachDB runs it (it retries sink errors by itself): fix the cause, then `pulumi up` checks again; `health` and `npx zitadel-audit-stream health` say how it is."
        : "";
    if (opts.quiet) throw new Error(`changefeed job ${jobId} ${why}`);
    throw stateSaying(`changefeed job ${jobId} ${why}.${left}`, f.i, j, { ...f, history: f.history.includes(jobId) ? f.history : [...f.history, jobId] });
  }
}
