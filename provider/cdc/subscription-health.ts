// A destination subscription's verdict, from the subscription as Pub/Sub shows it: an export subscription
// (Cloud Storage, BigQuery) whose state is not ACTIVE has stopped writing — its messages wait in the
// backlog until the cause is fixed, and are lost once older than the retention (docs/pubsub-exports.md §3,
// §5); a subscription whose topic was deleted receives nothing more; one whose oldest unacknowledged
// message is older than the bound is lagging (its reader is behind). Pure: the health command reads.
import type { HealthState } from "../cockroach/health";

export interface SubscriptionVerdict {
  state: HealthState;
  reason: string;
}

const FIX: Record<string, string> = {
  PERMISSION_DENIED: "Pub/Sub's service agent lost its grant on the destination: grant it again (`pulumi up` restores the stream's grants)",
  NOT_FOUND: "the bucket or table it writes to is gone: `pulumi refresh` then `pulumi up` makes it again",
  SCHEMA_MISMATCH: "the table no longer fits the messages: restore its columns",
  IN_TRANSIT_LOCATION_RESTRICTION: "an organization policy forbids where the bucket is: move the stream's bucket",
};

/** `found` undefined: the subscription does not exist. */
export function subscriptionVerdict(
  name: string,
  found: { topic?: string; cloudStorageConfig?: { state?: string }; bigqueryConfig?: { state?: string }; messageRetentionDuration?: string } | undefined,
  backlog?: Backlog,
  maxAgeSeconds = DEFAULT_MAX_BACKLOG_AGE_SECONDS,
): SubscriptionVerdict {
  if (!found) return { state: "failing", reason: `subscription ${name} does not exist: nothing is delivered to it; \`pulumi up\` makes it again` };
  if (found.topic === "_deleted-topic_")
    return { state: "failing", reason: `subscription ${name}: its topic was deleted, so it receives nothing; \`pulumi up\` makes the topic again` };
  const exported = found.cloudStorageConfig ?? found.bigqueryConfig;
  const kind = found.cloudStorageConfig ? "Cloud Storage" : "BigQuery";
  if (exported && exported.state && exported.state !== "ACTIVE")
    return {
      state: "failing",
      reason: `${kind} subscription ${name} is ${exported.state}: it writes nothing and its messages wait, kept for ${found.messageRetentionDuration ?? "7 days"}: ${FIX[exported.state] ?? "see the subscription in the console"}`,
    };
  const what = exported ? `${kind} subscription ${name} is writing` : `subscription ${name} exists and is attached`;
  if (!backlog) return { state: "healthy", reason: what };
  const waiting = `${backlog.messages} message${backlog.messages === 1 ? "" : "s"} wait${backlog.messages === 1 ? "s" : ""}, the oldest for ${backlog.oldestAgeSeconds} s`;
  if (backlog.oldestAgeSeconds > maxAgeSeconds)
    return {
      state: "lagging",
      reason: `subscription ${name}: ${waiting} (over ${maxAgeSeconds} s): ${exported ? "Pub/Sub's export is behind" : "its reader (the SIEM's collector) is behind or stopped"}; unread messages are dropped after ${found.messageRetentionDuration ?? "7 days"}`,
    };
  return { state: "healthy", reason: `${what}; ${waiting}` };
}

/** The backlog as Cloud Monitoring's two Pub/Sub gauges give it (absent when Monitoring had no point). */
export interface Backlog {
  messages: number;
  oldestAgeSeconds: number;
}

/** Default bound on the oldest unacknowledged message's age before a subscription is lagging. */
export const DEFAULT_MAX_BACKLOG_AGE_SECONDS = 600;
