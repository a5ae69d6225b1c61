// Switching a stream's source (CockroachDB → PostgreSQL, ZITADEL v2 → v3/v4): the same `pulumi up` makes
// the new source and stops the old one, so it is refused unless the user asks for it (AuditStream
// `sourceSwitch: { from }`), and from CockroachDB only once the old feeds have delivered everything
// ZITADEL wrote there and ZITADEL has stopped writing there (the cutover): then stopping them loses
// nothing. Why the cutover is the moment: events `zitadel mirror` copies into PostgreSQL before the
// slot exists are not streamed again (the slot streams only what is committed after it is made,
// cdc/debezium.ts), and events ZITADEL v2 writes to CockroachDB after its feed stops are not streamed
// at all. Pure decisions here (tested beside); the stream's identity asks them in its diff (preview and up).

import { decimalGreater } from "./cockroach/jobs";

export type SourceName = "cockroach" | "postgres";

export type SwitchVerdict =
  | { kind: "same" }
  | { kind: "refused"; why: string }
  /** Asked for: from CockroachDB the old feeds must be drained first (drainVerdict). */
  | { kind: "switch"; from: SourceName; to: SourceName };

const NAME: Record<SourceName, string> = { cockroach: "CockroachDB", postgres: "PostgreSQL" };

/** What a change of `source` needs. `was` absent: a stream made before sources existed, i.e. CockroachDB. */
export function switchVerdict(was: SourceName | undefined, now: SourceName, asked: SourceName | undefined): SwitchVerdict {
  const from = was ?? "cockroach";
  if (from === now) return { kind: "same" };
  if (asked !== from)
    return {
      kind: "refused",
      why:
        `source: this stream streams from ${NAME[from]}; switching to ${NAME[now]} stops that in the same \`pulumi up\`. ` +
        (from === "cockroach"
          ? "Switch at ZITADEL's cutover: after ZITADEL v2 stopped writing to CockroachDB and `zitadel mirror` copied the events to PostgreSQL, before ZITADEL v3/v4 writes there. "
          : "Stop ZITADEL's writes first: what the slot still holds when it is dropped is not streamed. ") +
        `Then set sourceSwitch: { from: "${from}" } on the stream and run \`pulumi up\` (remove it afterwards); nothing was changed.`,
    };
  return { kind: "switch", from, to: now };
}

/** One live changefeed of the stream, as SHOW CHANGEFEED JOBS has it. */
export interface FeedProgress {
  jobId: string;
  status: string;
  /** HLC decimal; null before its first checkpoint. */
  highWater: string | null;
}

/** How long CockroachDB must have been quiet (no event written) for the switch: ZITADEL v2 has stopped. */
export const QUIET_SECONDS = 60;
/** The quiet the drain check asks for (tests shorten it). */
export const switchTimings = { quietSeconds: QUIET_SECONDS };

/**
 * May the CockroachDB feeds stop now without losing an event? `latest`: the newest event's position
 * (an HLC decimal, null for no events), `quietSeconds`: how long ago it was written. Every live feed
 * must have emitted it (its high-water at or past it), and nothing may have been written for
 * QUIET_SECONDS (else ZITADEL v2 is still writing, and what it writes after the feeds stop is lost).
 */
export function drainVerdict(
  feeds: FeedProgress[],
  latest: string | null,
  quietSeconds: number,
  needed = QUIET_SECONDS,
): { ok: true } | { ok: false; why: string } {
  if (latest !== null && quietSeconds < needed)
    return {
      ok: false,
      why: `sourceSwitch: ZITADEL still writes to CockroachDB (its newest event is ${Math.max(0, Math.round(quietSeconds))} s old; the switch waits for ${needed} s of quiet): stop ZITADEL v2 first, then run \`pulumi up\` again; nothing was changed.`,
    };
  const behind = feeds.filter((f) => latest !== null && (f.highWater === null || decimalGreater(latest, f.highWater)));
  if (behind.length)
    return {
      ok: false,
      why: `sourceSwitch: changefeed job ${behind.map((f) => `${f.jobId} (${f.status}, high-water ${f.highWater ?? "none yet"})`).join(", ")} has not yet delivered every event (the newest is at ${latest}): let it catch up (\`npx zitadel-audit-stream health --stack\`), then run \`pulumi up\` again; nothing was changed.`,
    };
  return { ok: true };
}
