// What a logical replication slot's row in pg_replication_slots says about the stream. Pure:
// provider/postgres/pg-slot.ts runs the statements.
/** A slot name: what pg_create_logical_replication_slot accepts (ReplicationSlotValidateName). */
export const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

/** What pg_replication_slots says of one slot (PostgreSQL 13+), as read by provider/postgres/pg-slot.ts. */
export interface SlotRow {
  active: boolean;
  /** reserved | extended | unreserved | lost (pg_replication_slots.wal_status). */
  walStatus: string;
  /** Bytes of WAL the server keeps for this slot (current LSN - restart_lsn), as a string (INT8). */
  retainedBytes: string;
  confirmedFlushLsn: string;
}

export type SlotState = "streaming" | "idle" | "at-risk" | "lost";

/**
 * - "lost": the server dropped WAL the slot still needed (max_slot_wal_keep_size exceeded): events
 *   were lost, the slot cannot resume; a new slot and a backfill are needed.
 * - "at-risk": wal_status "unreserved": the next checkpoint may remove WAL it needs.
 * - "idle": nothing reads it (no engine connected): WAL piles up.
 * - "streaming": a consumer is connected and the WAL it needs is kept.
 * (PostgreSQL docs, "pg_replication_slots": wal_status.)
 */
export function slotState(r: SlotRow): SlotState {
  if (r.walStatus === "lost") return "lost";
  if (r.walStatus === "unreserved") return "at-risk";
  return r.active ? "streaming" : "idle";
}

/** The default bound on a streaming slot's retained WAL before it counts as lagging. */
export const DEFAULT_MAX_RETAINED_MB = 1024;

/** A slot's verdict in the health command's terms (the same states as a changefeed's). */
export interface SlotVerdict {
  state: "healthy" | "lagging" | "failing" | "stopped";
  /** One line: why, and what to do. */
  reason: string;
}

/** The verdict for a slot's row (undefined: no slot of that name). */
export function slotVerdict(name: string, r: SlotRow | undefined, maxRetainedMb = DEFAULT_MAX_RETAINED_MB): SlotVerdict {
  if (!r)
    return {
      state: "failing",
      reason: `slot ${name} does not exist: nothing keeps the stream's place; events written since it went are not streamed (recreate the stream and backfill)`,
    };
  const mb = Math.round(Number(r.retainedBytes) / 1048576);
  switch (slotState(r)) {
    case "lost":
      return {
        state: "failing",
        reason: `slot ${name} was invalidated (wal_status lost): PostgreSQL removed WAL it still needed, so events in the gap are lost; recreate the stream and backfill`,
      };
    case "at-risk":
      return {
        state: "lagging",
        reason: `slot ${name} holds ${mb} MB of WAL and is past max_slot_wal_keep_size (wal_status unreserved): the next checkpoint may invalidate it; start or speed up its engine now`,
      };
    case "idle":
      return { state: "stopped", reason: `no engine reads slot ${name}: ${mb} MB of WAL kept for it and growing; start the engine` };
    default:
      return mb > maxRetainedMb
        ? { state: "lagging", reason: `slot ${name} is read but holds ${mb} MB of WAL (more than ${maxRetainedMb} MB): the engine falls behind` }
        : { state: "healthy", reason: `slot ${name} is read, ${mb} MB of WAL retained` };
  }
}
