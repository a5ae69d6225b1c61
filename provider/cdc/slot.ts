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
