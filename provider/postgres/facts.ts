// What a PostgreSQL server reports about itself, for preflight.ts: read-only queries any role can run.
import type { PgFacts, Platform } from "./preflight";

/** The host is told apart by its own logical-decoding setting (docs/postgres-hosts.md). */
const PLATFORM_SETTINGS: Record<string, Platform> = {
  "cloudsql.logical_decoding": "cloudsql",
  "alloydb.logical_decoding": "alloydb",
  "rds.logical_replication": "rds",
};

/** Anything that runs a statement with parameters: a pg Client, or a Db (provider/sql/db.ts). */
export interface Queryable {
  query<R = any>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export async function readFacts(c: Queryable): Promise<PgFacts> {
  const settings = await c.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name = ANY($1)", [
    ["server_version_num", "wal_level", "max_replication_slots", "max_wal_senders", "max_slot_wal_keep_size", ...Object.keys(PLATFORM_SETTINGS)],
  ]);
  const s = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]));
  const platform = Object.entries(PLATFORM_SETTINGS).find(([name]) => name in s)?.[1] ?? "self-managed";
  const slots = await c.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_replication_slots");
  const senders = await c.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_stat_replication");
  const columns = await c.query<{ column_name: string; data_type: string }>(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'eventstore' AND table_name = 'events2'",
  );
  return {
    serverVersionNum: Number(s.server_version_num),
    walLevel: s.wal_level,
    maxReplicationSlots: Number(s.max_replication_slots),
    slotsInUse: Number(slots.rows[0].n),
    maxWalSenders: Number(s.max_wal_senders),
    walSendersInUse: Number(senders.rows[0].n),
    // Reported in MB; -1 is unbounded.
    maxSlotWalKeepSizeMb: Number(s.max_slot_wal_keep_size ?? -1),
    platform,
    events2Columns: Object.fromEntries(columns.rows.map((r) => [r.column_name, r.data_type])),
  };
}
