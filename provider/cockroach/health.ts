// A changefeed's health, from what CockroachDB shows of its job: the worst failure of an audit
// stream is silence, and a feed that cannot write keeps `status = running` (CockroachDB retries sink
// errors forever, cockroach #43216; cockroach-changefeeds.md §4.3) with `running_status = retryable error: …`.
// Pure: the job row and the cluster's time in, one verdict out.
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).
import type { JobRow } from "./jobs";
import { GcWindow, resumeAdvice, resumeDeadline } from "./gc";

export type HealthState = "healthy" | "lagging" | "failing" | "stopped";

/** The verdicts from best to worst: where several feeds, slots or checks make one stream's verdict, the worst wins. */
export const HEALTH_RANK: Record<HealthState, number> = { healthy: 0, lagging: 1, failing: 2, stopped: 3 };

export interface FeedHealth {
  state: HealthState;
  /** One line: why, and what to do. */
  reason: string;
  /** Seconds between the cluster's time and the job's high-water; null before the first checkpoint. */
  lagSeconds: number | null;
  /**
   * For a feed that is not delivering (stopped, failing, lagging): the last moment it can be resumed
   * without losing events (gc.ttlseconds, the protected timestamp's expiry; provider/cockroach/gc.ts),
   * as an ISO time; absent when healthy, unknown or never expiring.
   */
  resumeBefore?: string;
}

/**
 * Default for `maxLagSeconds`: ten times CockroachDB's default checkpoint interval
 * (`min_checkpoint_frequency`, 30 s), so ordinary checkpoint gaps and a slow flush never count as
 * lagging, while a feed that stopped advancing shows within minutes.
 */
export const DEFAULT_MAX_LAG_SECONDS = 300;

/** Nanoseconds of an HLC decimal ("1700000000000000000.0000000001"), as a bigint. */
function hlcNanos(hlc: string): bigint | undefined {
  const m = /^(\d+)(\.\d+)?$/.exec(hlc.trim());
  return m ? BigInt(m[1]) : undefined;
}

/** What a retryable sink error means for the person reading it. */
export function explainSinkError(runningStatus: string, advice = "nothing is lost while the high-water is within the GC window"): string {
  const s = runningStatus.replace(/^retryable error:\s*/i, "");
  // Google's 403 names the permission: "… does not have storage.objects.create access to …" /
  // "Permission 'pubsub.topics.publish' denied on resource …".
  const permission = /Permission '([^']+)' denied|does not have ([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+) access/.exec(s);
  // Pub/Sub's refusal names no permission ("User not authorized to perform this action."), but a
  // publisher needs only one (docs/pubsub-research.md §7).
  const pubsub = /code = PermissionDenied|User not authorized to perform this action/.test(s);
  const name = permission?.[1] ?? permission?.[2] ?? (pubsub ? "pubsub.topics.publish" : undefined);
  if (/\b403\b|forbidden|permission|access denied/i.test(s)) {
    return `the sink refuses the feed's writer (HTTP 403${name ? `, ${name} missing` : ""}): grant it again (the writer's role on the ${pubsub ? "topic" : "bucket"}), then \`pulumi up\`; CockroachDB keeps retrying meanwhile: ${advice} — ${s}`;
  }
  // Credentials before "not found": a deleted account or key reads "account not found", which is no missing bucket.
  if (/\b401\b|invalid_grant|unauthenticated|invalid jwt|account (not found|disabled)|key .*(deleted|disabled|not found)/i.test(s)) {
    return `the sink does not accept the feed's credentials (a deleted or disabled key or account): rotate the key (keyRotationTrigger) and \`pulumi up\`; a key deleted out of band is also replaced by \`pulumi refresh\` then \`pulumi up\` — ${s}`;
  }
  if (/\b404\b|not ?found|no such bucket|does not exist/i.test(s)) return `the sink's bucket or topic is gone (HTTP 404): recreate it (\`pulumi up\`) — ${s}`;
  return `the feed cannot write to its sink and keeps retrying — ${s}`;
}

/**
 * The verdict for one job read back with `SHOW CHANGEFEED JOB` at cluster time `nowHlc` (from
 * `cluster_logical_timestamp()`, so the lag is measured on the cluster's clock, not this machine's).
 */
export function feedHealth(
  job: (JobRow & { created?: unknown }) | undefined,
  nowHlc: string | null,
  maxLagSeconds = DEFAULT_MAX_LAG_SECONDS,
  window?: GcWindow,
): FeedHealth {
  if (!job)
    return {
      state: "stopped",
      reason: "the job is gone (garbage-collected, or the cluster was restored or replaced): `pulumi up` restarts it from its last high-water",
      lagSeconds: null,
    };
  const now = nowHlc ? hlcNanos(nowHlc) : undefined;
  const high = job.high_water_timestamp ? hlcNanos(String(job.high_water_timestamp)) : undefined;
  const lagSeconds = now !== undefined && high !== undefined ? Math.max(0, Number((now - high) / 1_000_000n) / 1000) : null;
  const status = String(job.status);
  const detail = job.error ? `: ${job.error}` : job.running_status ? ` (${job.running_status})` : "";
  // Not delivering: until when it can still catch up without a gap (window read from the cluster).
  const hw = job.high_water_timestamp ? String(job.high_water_timestamp) : null;
  const deadline = hw && window ? resumeDeadline(hw, window) : null;
  const late = (h: Omit<FeedHealth, "resumeBefore">): FeedHealth => (deadline ? { ...h, resumeBefore: deadline.at.toISOString() } : h);
  const advice = resumeAdvice(hw, window);
  if (status === "paused" || status === "pause-requested")
    return late({ state: "stopped", reason: `the job is ${status}${detail}: \`pulumi up\` resumes it from its last checkpoint; ${advice}`, lagSeconds });
  if (!["running", "pending", "retry-running"].includes(status))
    return late({ state: "stopped", reason: `the job is ${status}${detail}: \`pulumi up\` restarts it from its last high-water; ${advice}`, lagSeconds });
  if (/^retryable error/i.test(job.running_status ?? "")) return late({ state: "failing", reason: explainSinkError(job.running_status!, advice), lagSeconds });
  if (lagSeconds !== null && lagSeconds > maxLagSeconds) {
    return late({
      state: "lagging",
      reason: `the high-water is ${Math.round(lagSeconds)} s behind the cluster's clock (more than maxLagSeconds ${maxLagSeconds}): the feed is slow or stuck; see changefeed.max_behind_nanos; ${advice}`,
      lagSeconds,
    });
  }
  if (high === undefined) {
    const created = job.created instanceof Date ? job.created.getTime() : typeof job.created === "string" ? Date.parse(job.created) : NaN;
    const age = now !== undefined && Number.isFinite(created) ? Number(now / 1_000_000n) - created : NaN;
    if (Number.isFinite(age) && age / 1000 > maxLagSeconds)
      return {
        state: "lagging",
        reason: `no checkpoint in the ${Math.round(age / 1000)} s since the job was created (maxLagSeconds ${maxLagSeconds})`,
        lagSeconds,
      };
    return { state: "healthy", reason: `the job is ${status}; no checkpoint yet`, lagSeconds };
  }
  return { state: "healthy", reason: `the job is ${status}, ${lagSeconds === null ? "checkpointing" : `${Math.round(lagSeconds)} s behind`}`, lagSeconds };
}
