// Which changefeed jobs belong to a Changefeed resource, including the ones its state never
// recorded (a crash or a cut connection right after CREATE CHANGEFEED).
//
// The mark: every job the provider creates carries `metrics_label = '<marker>'`. CockroachDB keeps
// WITH options in the job description, only redacting the sink URI's secret parameters and
// options with a redaction function (webhook_auth_header, client_key, the schema registry user):
// makeChangefeedDescription in pkg/ccl/changefeedccl/changefeed_stmt.go re-renders the statement
// with every option, sorted (research §3.2). So the marker reads back from `SHOW CHANGEFEED JOBS`.
// metrics_label only scopes the feed's metrics when server.child_metrics.enabled is on (research
// §2.2); a per-stream scope is harmless there.
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).
import * as crypto from "crypto";
import { Db } from "./sql";
import { JobRow, LIVE, cancelJob, listJobs } from "./jobs";

const PREFIX = "zitadel-audit-stream.";

/** The marker of the resource with this identity (`<project>/<stack>/<resource name>`): stable, ≤ 128 bytes. */
export function markerFor(owner: string): string {
  return `${PREFIX}${crypto.createHash("sha256").update(owner).digest("hex").slice(0, 20)}`;
}

export function isMarker(s: unknown): s is string {
  return typeof s === "string" && new RegExp(`^${PREFIX.replace(".", "\\.")}[0-9a-f]{20}$`).test(s);
}

/** Whether the job carries this marker (and so was created for this resource). */
export function ownedBy(j: JobRow, marker: string): boolean {
  return typeof j.description === "string" && j.description.includes(`'${marker}'`);
}

/** Live jobs carrying the marker, or listed in `known` (jobs from before markers), oldest first. */
export async function ownedLiveJobs(c: Db, marker: string, known: string[] = []): Promise<JobRow[]> {
  const jobs = await listJobs(c);
  return jobs
    .filter((j) => LIVE.includes(j.status) && (ownedBy(j, marker) || known.includes(String(j.job_id))))
    .sort((a, b) => (BigInt(a.job_id) < BigInt(b.job_id) ? -1 : 1));
}

/** Cancels each job (verified); returns their ids. */
export async function cancelAll(c: Db, jobs: JobRow[], timeout: number): Promise<string[]> {
  for (const j of jobs) await cancelJob(c, String(j.job_id), timeout);
  return jobs.map((j) => String(j.job_id));
}
