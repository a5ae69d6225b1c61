// Whether a PostgreSQL server can carry the stream, decided from what it reports (facts.ts reads them):
// the version, logical decoding, room for the stream's slots and WAL senders, and ZITADEL's events2.
// Every problem names the setting and the fix on the host it runs on (self-managed, Cloud SQL,
// AlloyDB, RDS/Aurora; docs/postgres-hosts.md). Pure.

export type Platform = "self-managed" | "cloudsql" | "alloydb" | "rds";

/** What the server reports, as facts.ts reads it. */
export interface PgFacts {
  /** server_version_num, e.g. 150018. */
  serverVersionNum: number;
  walLevel: string;
  maxReplicationSlots: number;
  /** Replication slots that exist now. */
  slotsInUse: number;
  maxWalSenders: number;
  /** WAL senders running now. */
  walSendersInUse: number;
  /** max_slot_wal_keep_size in MB; -1: unbounded. */
  maxSlotWalKeepSizeMb: number;
  platform: Platform;
  /** eventstore.events2's columns and their types (information_schema data_type); empty when the table is not there. */
  events2Columns: Record<string, string>;
}

export interface PreflightNeeds {
  /** Slots (and WAL senders) the stream adds: 1, or 2 with a payload allow-list (cdc/publication.ts). */
  slots: number;
  /** Filtering in the engine on PostgreSQL 14 was asked for explicitly (payloads then reach the engine's process). */
  engineFilteringOnPg14?: boolean;
}

export interface Preflight {
  problems: string[];
  warnings: string[];
}

/** ZITADEL's eventstore.events2 on PostgreSQL (docs/postgres-source.md §1): column → information_schema data_type. */
export const EVENTS2_PG_COLUMNS: Record<string, string> = {
  instance_id: "text",
  aggregate_type: "text",
  aggregate_id: "text",
  event_type: "text",
  sequence: "bigint",
  revision: "smallint",
  created_at: "timestamp with time zone",
  payload: "jsonb",
  creator: "text",
  owner: "text",
  position: "numeric",
  in_tx_order: "integer",
};

/** How to turn logical decoding on, per host (docs/postgres-hosts.md). */
const LOGICAL_DECODING: Record<Platform, string> = {
  "self-managed": "set wal_level = logical (ALTER SYSTEM SET wal_level = 'logical'; or postgresql.conf) and restart PostgreSQL",
  cloudsql:
    "set the database flag cloudsql.logical_decoding=on (gcloud sql instances patch <instance> --database-flags=cloudsql.logical_decoding=on; the instance may restart)",
  alloydb: "set the database flag alloydb.logical_decoding=on on the primary instance (the instance restarts)",
  rds: "set rds.logical_replication = 1 in the instance's custom parameter group (Aurora: the cluster parameter group) and reboot",
};

/** How to raise a replication limit, per host. */
const RAISE = (setting: string, platform: Platform) =>
  platform === "self-managed"
    ? `raise ${setting} (ALTER SYSTEM SET ${setting} = …) and restart PostgreSQL`
    : platform === "rds"
      ? `raise ${setting} in the parameter group and reboot`
      : `raise the database flag ${setting} (the instance restarts)`;

export function preflight(f: PgFacts, needs: PreflightNeeds): Preflight {
  const problems: string[] = [];
  const warnings: string[] = [];
  const major = Math.floor(f.serverVersionNum / 10000);
  if (major < 14) {
    problems.push(`PostgreSQL ${major}: ZITADEL v3 and v4 run on PostgreSQL 14 to 18; upgrade PostgreSQL`);
  } else if (major === 14 && !needs.engineFilteringOnPg14) {
    problems.push(
      "PostgreSQL 14 has no publication column lists or row filters (they came in 15), so payloads (personal data) would leave the database for the engine to drop: upgrade to PostgreSQL 15 or later, or set engineFilteringOnPg14: true to filter in the engine knowingly",
    );
  }
  if (f.walLevel !== "logical") problems.push(`wal_level is ${f.walLevel}, and a logical replication slot needs logical: ${LOGICAL_DECODING[f.platform]}`);
  const freeSlots = f.maxReplicationSlots - f.slotsInUse;
  if (freeSlots < needs.slots) {
    problems.push(
      `max_replication_slots is ${f.maxReplicationSlots} and ${f.slotsInUse} are in use; the stream needs ${needs.slots} more: ${RAISE("max_replication_slots", f.platform)}`,
    );
  }
  const freeSenders = f.maxWalSenders - f.walSendersInUse;
  if (freeSenders < needs.slots) {
    problems.push(
      `max_wal_senders is ${f.maxWalSenders} and ${f.walSendersInUse} are in use; the stream's engine needs ${needs.slots} more: ${RAISE("max_wal_senders", f.platform)}`,
    );
  }
  const columns = Object.keys(f.events2Columns);
  if (columns.length === 0) {
    problems.push(
      "eventstore.events2 is not in this database: connect to ZITADEL's database (the connection string's database name), where ZITADEL v3/v4 keeps its events",
    );
  } else {
    const missing = Object.keys(EVENTS2_PG_COLUMNS).filter((c) => !(c in f.events2Columns));
    const changed = Object.entries(EVENTS2_PG_COLUMNS).filter(([c, t]) => c in f.events2Columns && f.events2Columns[c] !== t);
    if (missing.length) problems.push(`eventstore.events2 has no column ${missing.join(", ")}: this is not ZITADEL's events table as v3/v4 create it`);
    if (changed.length)
      problems.push(
        `eventstore.events2's ${changed.map(([c, t]) => `${c} is ${f.events2Columns[c]}, not ${t}`).join("; ")}: this is not ZITADEL's events table as v3/v4 create it`,
      );
  }
  if (f.maxSlotWalKeepSizeMb < 0) {
    warnings.push(
      "max_slot_wal_keep_size is unbounded (-1): while the engine is stopped, the server keeps every WAL segment the slot has not confirmed, until its disk fills. Bound it (a size that covers the longest outage you accept) and watch the slot's retained WAL; past the bound PostgreSQL invalidates the slot, and events written meanwhile can no longer be streamed",
    );
  } else {
    warnings.push(
      `max_slot_wal_keep_size is ${f.maxSlotWalKeepSizeMb} MB: if the engine falls that far behind, PostgreSQL invalidates the slot and the events in the gap can no longer be streamed (the stream must be recreated); watch the slot's retained WAL`,
    );
  }
  return { problems, warnings };
}
