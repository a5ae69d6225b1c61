// Changefeed job control: SHOW, PAUSE, RESUME and CANCEL, each verified by reading the job back,
// so no message claims a state the job is not in (cockroach-changefeeds.md §5.2–5.4).
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).
import { Db, explain } from "./sql";

export interface JobRow {
  job_id: string;
  status: string;
  running_status: string | null;
  high_water_timestamp: string | null;
  error: string;
  sink_uri: string;
  description: string;
}

/** Jobs that may still write to the sink (or resume and write). */
export const LIVE = ["running", "pending", "paused", "pause-requested", "retry-running"];
/** Jobs that are over or going away. */
export const ENDED = ["canceled", "cancel-requested", "failed", "succeeded", "reverting", "revert-failed", "retry-reverting"];
/** Jobs that are delivering, or about to. */
export const RUNNING = ["running", "pending", "retry-running"];

export function jobIdText(id: unknown): string {
  const s = String(id);
  if (!/^\d+$/.test(s)) throw new Error(`not a job id: ${s}`);
  return s;
}

/** `SHOW CHANGEFEED JOB id`: no row for an unknown or non-changefeed job (cockroach-changefeeds.md §5.2). */
export async function showJob(c: Db, jobId: string): Promise<JobRow | undefined> {
  const r = await c.query("SHOW CHANGEFEED JOB $1", [jobIdText(jobId)]);
  return r.rows[0];
}

/** `SHOW CHANGEFEED JOBS`: every changefeed, finished ones younger than 12 h (v24.3+, cockroach-changefeeds.md §5.2). */
export async function listJobs(c: Db): Promise<JobRow[]> {
  return (await c.query("SHOW CHANGEFEED JOBS")).rows;
}

/** A job that runs but cannot write: CockroachDB retries sink errors forever (cockroach #43216). */
export function retryingError(j: JobRow | undefined): string | undefined {
  const s = j?.running_status ?? "";
  return /^retryable error/i.test(s) ? s : undefined;
}

/** Why waitForJob gave up, with the last row it read (undefined: not found). */
export class WaitFailed extends Error {
  constructor(
    message: string,
    readonly job: JobRow | undefined,
  ) {
    super(message);
  }
}

/**
 * Polls the job until `done` holds, or fails (WaitFailed, naming the last status seen) after
 * `timeoutMs`, when the job failed or was canceled, or as soon as `stopIf` holds for the row read.
 */
export async function waitForJob(
  c: Db,
  jobId: string,
  what: string,
  done: (j: JobRow) => boolean,
  timeoutMs = 120_000,
  stopIf?: (j: JobRow | undefined) => boolean,
): Promise<JobRow> {
  const start = Date.now();
  const deadline = start + timeoutMs;
  let last: JobRow | undefined;
  for (;;) {
    last = await showJob(c, jobId);
    if (last && done(last)) return last;
    if (last && (last.status === "failed" || last.status === "canceled")) {
      throw new WaitFailed(`changefeed job ${jobId} is ${last.status} while waiting for ${what}${last.error ? `: ${last.error}` : ""}`, last);
    }
    if (stopIf?.(last)) throw new WaitFailed(`changefeed job ${jobId} reads ${last?.status ?? "not found"} while waiting for ${what}`, last);
    if (Date.now() > deadline) {
      const retrying = retryingError(last);
      throw new WaitFailed(
        `timed out after ${timeoutMs / 1000}s waiting for ${what} of job ${jobId} (last status: ${last?.status ?? "not found"}${retrying ? `; the job reports: ${retrying}` : ""})`,
        last,
      );
    }
    await new Promise((r) => setTimeout(r, pollDelay(start)));
  }
}

/** PAUSE, then wait until the job reads back as paused. */
export async function pauseJob(c: Db, jobId: string, timeout: number): Promise<JobRow> {
  await c.query(`PAUSE JOB ${jobIdText(jobId)}`).catch((e) => {
    throw explain(e, `pause changefeed job ${jobId}`);
  });
  return waitForJob(c, jobId, "the pause", (j) => j.status === "paused", timeout);
}

/** RESUME (after a pending pause completes), then wait until the job reads back as running. */
export async function resumeJob(c: Db, jobId: string, timeout: number): Promise<JobRow> {
  const now = await showJob(c, jobId);
  if (!now) throw new Error(`cannot resume changefeed job ${jobId}: it does not exist`);
  if (RUNNING.includes(now.status)) return now;
  if (now.status === "pause-requested") await waitForJob(c, jobId, "the pause to complete", (j) => j.status !== "pause-requested", timeout);
  await c.query(`RESUME JOB ${jobIdText(jobId)}`).catch((e) => {
    throw explain(e, `resume changefeed job ${jobId}`);
  });
  return waitForJob(c, jobId, "the resume", (j) => RUNNING.includes(j.status), timeout);
}

/**
 * CANCEL, idempotently: a job already canceled, finished, failed or gone is fine; one whose pause
 * is still being requested (it refuses CANCEL, cockroach-changefeeds.md §5.4) is cancelled once paused. Verified:
 * returns only when the job reads back as canceled (or cancel-requested), or gone.
 */
export async function cancelJob(c: Db, jobId: string, timeout: number): Promise<void> {
  const job = await showJob(c, jobId);
  if (!job || ENDED.includes(job.status)) return;
  if (job.status === "pause-requested") await waitForJob(c, jobId, "the pause to complete", (j) => j.status !== "pause-requested", timeout);
  try {
    await c.query(`CANCEL JOB ${jobIdText(jobId)}`);
  } catch (e) {
    const now = await showJob(c, jobId);
    if (!now || ENDED.includes(now.status)) return;
    throw explain(e, `cancel changefeed job ${jobId}`);
  }
  const after = await showJob(c, jobId);
  if (after && !ENDED.includes(after.status)) throw new Error(`changefeed job ${jobId} still reads ${after.status} after CANCEL JOB`);
}

/** a > b for HLC decimals (wall.logical) without losing digits. */
export function decimalGreater(a: string, b: string): boolean {
  const [aw, al = "0"] = a.split(".");
  const [bw, bl = "0"] = b.split(".");
  if (BigInt(aw) !== BigInt(bw)) return BigInt(aw) > BigInt(bw);
  return BigInt(al.padEnd(10, "0")) > BigInt(bl.padEnd(10, "0"));
}

/** A cursor as an HLC decimal: an HLC or integer nanoseconds as they are, an ISO timestamp converted (UTC when it names no zone). */
export function toHlc(cursor: string): string {
  if (/^\d+(\.\d+)?$/.test(cursor)) return cursor;
  const ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(cursor) || !/T|\s/.test(cursor) ? cursor : `${cursor}Z`);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${cursor}`);
  return `${BigInt(ms) * 1_000_000n}.0000000000`;
}

/** The later of two high-waters (either may be missing). */
export function laterHighWater(a: string | null | undefined, b: string | null | undefined): string | null {
  if (!a) return b ?? null;
  if (!b) return a;
  return decimalGreater(a, b) ? a : b;
}

/** Waits until the job runs and has checkpointed past `h` (any checkpoint when `h` is null). */
export async function waitPast(c: Db, jobId: string, h: string | null, timeout: number, what: string): Promise<JobRow> {
  return waitForJob(
    c,
    jobId,
    what,
    (j) => j.status === "running" && !!j.high_water_timestamp && (h === null || decimalGreater(j.high_water_timestamp, h)),
    timeout,
  );
}

/** Poll interval: 200 ms for the first 5 s (a checkpoint is seen within that of landing), then 1 s. */
export function pollDelay(start: number): number {
  return Date.now() - start < 5_000 ? 200 : 1_000;
}
