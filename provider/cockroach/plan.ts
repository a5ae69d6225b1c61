// Which transition an update of a Changefeed needs: a pure decision over what the job reads and what
// changed, with its table of cases in plan.test.ts. The I/O of each transition is in transitions.ts.
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).

/** What update knows before it acts. */
export interface UpdateFacts {
  /** The tracked job as it reads now: its status and whether it retries a sink error; undefined when gone. */
  tracked?: { status: string; retrying: boolean };
  /** Live jobs of this resource's lineage that state does not track (a handoff cut short, a crash). */
  untracked: number;
  /** The SELECT or initial_scan changed. */
  queryChanged: boolean;
  /** options.cursor changed to a value: the user chose where the feed starts (a GC-window recovery, a backfill). */
  cursorChosen: boolean;
  sinkChanged: boolean;
  /** An alterable option changed. */
  optionsChanged: boolean;
  /** This CockroachDB drops a CDC query on ALTER (cockroach #113491): sink and option changes hand off instead. */
  alterDropsQuery: boolean;
}

export type Transition =
  /** Pause the tracked job, start a new one from its high-water (or the chosen cursor), cancel the old. */
  | { kind: "handoff"; from: "tracked"; cursor: "high-water" | "chosen" }
  /** The tracked job ended; continue from the newest job of the lineage that state never recorded. */
  | { kind: "handoff"; from: "untracked"; cursor: "high-water" | "chosen" }
  /** PAUSE, ALTER, RESUME, prove the new settings, or restore the old ones. */
  | { kind: "alter" }
  /** The tracked job is paused: resume it (nothing about it changed). */
  | { kind: "resume" }
  /** It runs but retries a sink error the update did not cause: check the access again, never pause it. */
  | { kind: "recheck" }
  /** Nothing to do to the job. */
  | { kind: "none" }
  /** No job of the lineage is live: start one from the last high-water (or the chosen cursor). */
  | { kind: "restart"; cursor: "high-water" | "chosen" };

const LIVE = ["running", "pending", "paused", "pause-requested", "retry-running"];

/** The transition for these facts; `cancelUntracked` says whether unrecorded live jobs are cancelled first (beside a live tracked job). */
export function planUpdate(f: UpdateFacts): Transition & { cancelUntracked: boolean } {
  const cursor = f.cursorChosen ? "chosen" : "high-water";
  const live = f.tracked !== undefined && LIVE.includes(f.tracked.status);
  if (live) {
    const t = f.tracked!;
    const base = { cancelUntracked: f.untracked > 0 };
    if (f.queryChanged || f.cursorChosen || ((f.sinkChanged || f.optionsChanged) && f.alterDropsQuery))
      return { ...base, kind: "handoff", from: "tracked", cursor };
    if (f.sinkChanged || f.optionsChanged) return { ...base, kind: "alter" };
    if (t.status === "paused" || t.status === "pause-requested") return { ...base, kind: "resume" };
    if (t.retrying) return { ...base, kind: "recheck" };
    return { ...base, kind: "none" };
  }
  // Its settings are not known for sure (a job found by its marker): continue from it with a handoff.
  if (f.untracked > 0) return { kind: "handoff", from: "untracked", cursor, cancelUntracked: false };
  return { kind: "restart", cursor, cancelUntracked: false };
}
