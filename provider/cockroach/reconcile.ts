// Which changefeed jobs belong to a Changefeed resource, including the ones its state never
// recorded (a crash or a cut connection right after CREATE CHANGEFEED), and which belong to a
// same-named resource of another deployment (never touched without takeOver).
//
// The mark: every job the provider creates carries `metrics_label = '<marker>'`, the resource's
// lineage (provider/ownership.ts jobMarker: its deployment and owner). CockroachDB keeps WITH options
// in the job description, only redacting the sink URI's secret parameters and options with a
// redaction function (webhook_auth_header, client_key, the schema registry user):
// makeChangefeedDescription in pkg/ccl/changefeedccl/changefeed_stmt.go re-renders the statement
// with every option, sorted (cockroach-changefeeds.md §3.2). So the marker reads back from `SHOW CHANGEFEED JOBS`.
// metrics_label only scopes the feed's metrics when server.child_metrics.enabled is on (cockroach-changefeeds.md
// §2.2); a per-stream scope is harmless there.
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).
import { Db } from "./sql";
import { JobRow, LIVE, cancelJob, listJobs } from "./jobs";
import { Identity, jobRelation } from "../ownership";

/** The job's `metrics_label`, read from its description. */
export function markerOf(j: JobRow): string | undefined {
  return /\bmetrics_label = '([^']*)'/.exec(typeof j.description === "string" ? j.description : "")?.[1];
}

const byId = (a: JobRow, b: JobRow) => (BigInt(a.job_id) < BigInt(b.job_id) ? -1 : 1);

/** Is job id `a` newer than `b`? (CockroachDB job ids grow with time: unique_rowid.) */
export const newerJob = (a: string, b: string): boolean => BigInt(a) > BigInt(b);

/** The live jobs that concern this resource, oldest first: its lineage's (plus `known` ids from before markers), and same-named foreign ones. */
export async function liveJobsOf(c: Db, id: Identity, marker: string, known: string[] = []): Promise<{ lineage: JobRow[]; foreign: JobRow[] }> {
  const live = (await listJobs(c)).filter((j) => LIVE.includes(j.status)).sort(byId);
  const relation = (j: JobRow) => (known.includes(String(j.job_id)) ? "lineage" : jobRelation(markerOf(j), id, marker));
  return { lineage: live.filter((j) => relation(j) === "lineage"), foreign: live.filter((j) => relation(j) === "foreign") };
}

/** Live jobs carrying the marker, or listed in `known` (jobs from before markers), oldest first. */
export async function ownedLiveJobs(c: Db, id: Identity, marker: string, known: string[] = []): Promise<JobRow[]> {
  return (await liveJobsOf(c, id, marker, known)).lineage;
}

/** Live jobs whose marker starts with `prefix` (a deployment's, for StreamIdentity's sweep), oldest first. */
export async function liveJobsWithPrefix(c: Db, prefix: string): Promise<JobRow[]> {
  return (await listJobs(c)).filter((j) => LIVE.includes(j.status) && (markerOf(j) ?? "").startsWith(prefix)).sort(byId);
}

/**
 * The jobs of its lineage a resource cancels beside its tracked job (on delete and refresh). While its
 * tracked job is live, every other one: no newer instance took over (taking over hands off, which
 * cancels the tracked job), so they are its own leftovers (a handoff cut short). Once the tracked job
 * has ended, only those no newer than it: a newer one is a replacement's or a moved copy's, which
 * handed off from it and still runs. With no tracked job (a first create that failed before its job
 * id was known), every job of the lineage.
 */
export function jobsToCancelBeside(lineage: JobRow[], tracked: string | undefined, trackedLive: boolean): JobRow[] {
  const others = lineage.filter((j) => String(j.job_id) !== tracked);
  if (!tracked || trackedLive) return others;
  return others.filter((j) => !newerJob(String(j.job_id), tracked));
}

/** Cancels each job (verified); returns their ids. */
export async function cancelAll(c: Db, jobs: JobRow[], timeout: number): Promise<string[]> {
  for (const j of jobs) await cancelJob(c, String(j.job_id), timeout);
  return jobs.map((j) => String(j.job_id));
}
