// The PostgreSQL side of the same `query` options a CockroachDB changefeed takes: which publications
// on eventstore.events2 carry the stream (PostgreSQL 15+ column lists and row filters do in the
// database what the changefeed's SELECT does), rendered as CREATE/ALTER PUBLICATION. Pure: the
// PostgreSQL resources run what this plans (docs/postgres-source.md).
//
// Why a payload allow-list is a second publication: a column list cannot vary by row, and PostgreSQL
// 15 refuses different column lists for one table across the publications one subscriber (one slot)
// reads (docs/postgres-source.md §3). So the events whose payload is allowed travel through their own
// publication (and slot) with `payload` in its column list, and the main publication's row filter
// leaves them out: every event is in exactly one of the two, and no other payload leaves the database.
import { ChangefeedQueryOptions, changefeedQueryOptionsSchema, feedRows } from "./query";
import { GUIDE_COLUMNS, quoteIdent, sqlString } from "./events2";
import { ValidationError, parseOrThrow } from "../validation";

/** One publication of the stream: its role, columns and row filter. */
export interface PlannedPublication {
  /** "events": every selected event without payload; "payload": the allow-listed types with it. */
  role: "events" | "payload";
  /** The column list, in events2's order as the options name them. */
  columns: string[];
  /** The row filter, SQL over events2's columns; "" for none. */
  where: string;
}

/** The publications for these options: one, or two with a payload allow-list. */
export function planPublications(opts: ChangefeedQueryOptions = {}): PlannedPublication[] {
  const o = parseOrThrow("planPublications", changefeedQueryOptionsSchema, opts ?? {});
  if (o.query !== undefined) {
    throw new ValidationError("planPublications", [
      {
        field: "query",
        reason:
          "a raw query is CockroachDB's CDC SELECT; a PostgreSQL source selects rows with a publication's row filter and column list: use columns, payload and filter instead",
      },
    ]);
  }
  const rows = feedRows(o)!;
  const columns = [...(o.columns ?? GUIDE_COLUMNS)];
  const payload = o.payload ?? "none";
  if (payload === "none") return [{ role: "events", columns, where: rows.where.join(" AND ") }];
  if (payload === "all") return [{ role: "events", columns: [...columns, "payload"], where: rows.where.join(" AND ") }];
  const types = `(${payload.eventTypes.map(sqlString).join(", ")})`;
  return [
    { role: "events", columns, where: [...rows.where, `event_type NOT IN ${types}`].join(" AND ") },
    { role: "payload", columns: [...columns, "payload"], where: [...rows.where, `event_type IN ${types}`].join(" AND ") },
  ];
}

const TABLE = "eventstore.events2";

/** `TABLE eventstore.events2 (cols) WHERE (…)`, as CREATE and ALTER … SET take it; no columns: the whole row (PostgreSQL 14's only form). */
function tableSpec(p: PlannedPublication): string {
  const columns = p.columns.length ? ` (${p.columns.map(quoteIdent).join(", ")})` : "";
  return `TABLE ${TABLE}${columns}${p.where ? ` WHERE (${p.where})` : ""}`;
}

/**
 * CREATE PUBLICATION for one planned publication. Insert-only: ZITADEL never updates events, and a
 * job that deletes old aggregates' events must not reach the audit stream as deletions.
 */
export function createPublicationSql(name: string, p: PlannedPublication): string {
  return `CREATE PUBLICATION ${quoteIdent(name)} FOR ${tableSpec(p)} WITH (publish = 'insert')`;
}

/**
 * ALTER PUBLICATION … SET TABLE: the new columns and filter apply from this statement's place in the
 * WAL on, for a slot that is already streaming (no gap, no leak: docs/postgres-source.md §2, test 3).
 */
export function alterPublicationSql(name: string, p: PlannedPublication): string {
  return `ALTER PUBLICATION ${quoteIdent(name)} SET ${tableSpec(p)}`;
}

/**
 * What the engine keeps when the database cannot select (PostgreSQL 14 has no publication row filters
 * or column lists; used only when asked for with engineFilteringOnPg14): per column, the values a kept
 * event has (absent: any), the event types it must not have, and the columns it publishes. The same
 * plan as planPublications, applied to each event by Debezium instead of by PostgreSQL: every selected
 * event in exactly one part, and payload only in the allow-listed part.
 */
export interface EngineFilter {
  instanceIds?: string[];
  aggregateTypes?: string[];
  eventTypes?: string[];
  notEventTypes?: string[];
  columns: string[];
}

export function engineFilterOf(opts: ChangefeedQueryOptions = {}, part: "events" | "payload"): EngineFilter {
  const plan = planPublications(opts).find((p) => p.role === part);
  if (!plan) throw new Error('part "payload" needs a payload allow-list: query.payload = { eventTypes: [...] }');
  const o = parseOrThrow("engineFilterOf", changefeedQueryOptionsSchema, opts ?? {});
  const allowed = typeof o.payload === "object" ? o.payload.eventTypes : undefined;
  const selected = o.filter?.eventTypes;
  const f: EngineFilter = { columns: plan.columns };
  if (o.filter?.instanceIds) f.instanceIds = [...o.filter.instanceIds];
  if (o.filter?.aggregateTypes) f.aggregateTypes = [...o.filter.aggregateTypes];
  if (part === "payload") f.eventTypes = selected ? allowed!.filter((t) => selected.includes(t)) : [...allowed!];
  else {
    if (selected) f.eventTypes = [...selected];
    if (allowed) f.notEventTypes = [...allowed];
  }
  return f;
}
