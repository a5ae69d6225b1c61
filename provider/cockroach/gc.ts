// How long a stopped or lagging changefeed can still be resumed without losing events
// (docs/gc-window.md): CockroachDB garbage-collects old row versions of eventstore.events2 after its
// zone's gc.ttlseconds (default 14,400 s); a changefeed's protected timestamp holds them back at its
// high-water, but only while the job makes progress within gc_protect_expires_after (the job option, or
// the cluster setting changefeed.protect_timestamp.max_age, 4 days by default, for feeds created on
// v23.2+): then the protection expires and the job is cancelled (cockroach-changefeeds.md §2.2 gc_protect_expires_after, D11).
// So the deadline is the high-water's time plus the protection window when there is one, else plus the TTL.
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).
import type { Db } from "./sql";
import { goDurationSeconds } from "../validation";

export interface GcWindow {
  /** gc.ttlseconds of eventstore.events2's zone. */
  gcTtlSeconds: number;
  /** How long a job without progress keeps its protected timestamp; null: no expiry (max_age 0). */
  protectSeconds: number | null;
  /** Where protectSeconds comes from, for messages. */
  protectSource: string;
}

export const DEFAULT_GC_TTL_SECONDS = 14_400;
export const DEFAULT_PROTECT_SECONDS = 4 * 86_400;

/** Seconds in a CockroachDB INTERVAL as SHOW prints it ("96:00:00", "4 days", "1 day 02:00:00") or a Go duration ("96h0m0s"). */
export function intervalSeconds(text: string): number | undefined {
  const t = text.trim();
  if (/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(t)) return goDurationSeconds(t.replace("µs", "us"));
  const m = /^(?:(\d+) days?)?\s*(?:(-?\d+):(\d{2}):(\d{2}(?:\.\d+)?))?$/.exec(t);
  if (!m || (m[1] === undefined && m[2] === undefined)) return undefined;
  return Number(m[1] ?? 0) * 86_400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
}

/** gc.ttlseconds from `SHOW ZONE CONFIGURATION FROM TABLE`'s raw_config_sql. */
export function gcTtlFrom(rawConfigSql: string): number | undefined {
  const m = /gc\.ttlseconds\s*=\s*(\d+)/.exec(rawConfigSql);
  return m ? Number(m[1]) : undefined;
}

/** The window for a feed with these WITH options, read from the cluster; what cannot be read takes CockroachDB's default. */
export async function readGcWindow(c: Db, options: { gc_protect_expires_after?: string } | undefined, table = "eventstore.events2"): Promise<GcWindow> {
  const zone = await c.query(`SHOW ZONE CONFIGURATION FROM TABLE ${table}`).catch(() => undefined);
  const gcTtlSeconds = gcTtlFrom(String(zone?.rows[0]?.raw_config_sql ?? "")) ?? DEFAULT_GC_TTL_SECONDS;
  if (options?.gc_protect_expires_after)
    return {
      gcTtlSeconds,
      protectSeconds: goDurationSeconds(options.gc_protect_expires_after),
      protectSource: `gc_protect_expires_after ${options.gc_protect_expires_after}`,
    };
  const setting = await c.query("SHOW CLUSTER SETTING changefeed.protect_timestamp.max_age").catch(() => undefined);
  const raw = setting ? String(Object.values(setting.rows[0] ?? {})[0] ?? "") : "";
  const seconds = raw ? intervalSeconds(raw) : undefined;
  if (seconds === undefined)
    return { gcTtlSeconds, protectSeconds: DEFAULT_PROTECT_SECONDS, protectSource: "changefeed.protect_timestamp.max_age (default 4 days)" };
  return { gcTtlSeconds, protectSeconds: seconds === 0 ? null : seconds, protectSource: `changefeed.protect_timestamp.max_age ${raw}` };
}

/** The last moment a feed whose high-water is `hw` can be resumed without a gap, or null when its protection never expires. */
export function resumeDeadline(hw: string, w: GcWindow): { at: Date; why: string } | null {
  const ms = Number(BigInt(hw.split(".")[0]) / 1_000_000n);
  if (w.protectSeconds === null) return null;
  const protectedUntil = ms + w.protectSeconds * 1000;
  const ttlUntil = ms + w.gcTtlSeconds * 1000;
  return protectedUntil >= ttlUntil
    ? { at: new Date(protectedUntil), why: `its protected timestamp expires after ${w.protectSource} without progress, and CockroachDB then cancels the job` }
    : { at: new Date(ttlUntil), why: `eventstore.events2 keeps old versions for gc.ttlseconds ${w.gcTtlSeconds}` };
}

/** "resume before <time> (…), or events after <hw> can no longer be read", or a no-expiry note. */
export function resumeAdvice(hw: string | null | undefined, w: GcWindow | undefined): string {
  if (!hw) return "it never checkpointed: resume it soon";
  if (!w) return `resume it before its protected timestamp expires (gc_protect_expires_after), or events after high-water ${hw} can no longer be read`;
  const d = resumeDeadline(hw, w);
  if (!d)
    return `its protected timestamp does not expire (changefeed.protect_timestamp.max_age 0), so nothing is lost while it waits, but old versions pile up until it resumes`;
  return `resume it before ${d.at.toISOString()} (${d.why}), or events after high-water ${hw} can no longer be read`;
}
