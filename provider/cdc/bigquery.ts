// BigQuery over the changefeed's files: the external table's schema derived from the CDC query,
// the source URIs that select exactly the data files, the view that removes the at-least-once
// duplicates, and example queries. Pure functions (the resources are provider/gcp/bigquery-*.ts).
//
// Sources (docs/bigquery-research.md has the probes and links):
// - Types: TEXT → STRING; INT8/INT4/INT2 → INT64 (CockroachDB writes bare JSON integers, exact,
//   cdc encoder_json.go via tree.AsJSON); TIMESTAMPTZ → TIMESTAMP (CockroachDB writes
//   "2026-11-28T19:20:16.672134Z", a canonical BigQuery timestamp: data-types#timestamp_type);
//   DECIMAL → BIGNUMERIC: ZITADEL's `position` is cluster_logical_timestamp(), 19 integer and
//   10 fraction digits; NUMERIC keeps 9 fraction digits and would round it, BIGNUMERIC keeps 38
//   (data-types#decimal_types); JSONB → JSON (loading NDJSON objects into a JSON column is
//   documented, loading-data-cloud-storage-json; whether a non-BigLake external table accepts
//   JSON is not written anywhere we found: the opt-in real-service suite checks it).
// - sourceUris: one `*`, which crosses `/` (external-data-cloud-storage#wildcard-support), so
//   `gs://b/<prefix>/*.ndjson` selects every data file of every partitionFormat and no
//   `.RESOLVED` file (cockroach-changefeeds.md §3: data files end `.ndjson`, `.ndjson.gz` with
//   compression gzip). CockroachDB's `2026-11-28/` folders are not hive partitions (no `key=`),
//   so no hivePartitioningOptions.
// - ignoreUnknownValues: CockroachDB may add `__crdb__` (updated, mvcc_timestamp, key_in_value);
//   without it a key matching no column is a bad record (tables#ExternalDataConfiguration).
import { EVENTS2_COLUMNS, EVENTS2_COLUMN_NAMES, EVENTS2_PRIMARY_KEY, Events2Column, GUIDE_COLUMNS } from "./events2";
import { ChangefeedQueryOptions, changefeedQueryOptionsSchema, validateRawQuery } from "./query";
import { ValidationError, parseOrThrow } from "../validation";

export type BigQueryType = "STRING" | "INT64" | "BIGNUMERIC" | "NUMERIC" | "TIMESTAMP" | "JSON" | "BOOL" | "FLOAT64" | "DATE";

export interface BigQueryField {
  name: string;
  type: BigQueryType;
  mode: "NULLABLE";
  description?: string;
}

/** CockroachDB type of an events2 column → the BigQuery type that holds its JSON encoding exactly. */
const BIGQUERY_TYPE: Record<(typeof EVENTS2_COLUMNS)[Events2Column], BigQueryType> = {
  TEXT: "STRING",
  BIGINT: "INT64",
  SMALLINT: "INT64",
  INTEGER: "INT64",
  TIMESTAMPTZ: "TIMESTAMP",
  JSONB: "JSON",
  DECIMAL: "BIGNUMERIC",
};

const DESCRIPTIONS: Partial<Record<Events2Column, string>> = {
  sequence: "The event's sequence within its aggregate; with instance_id, aggregate_type and aggregate_id it identifies the event.",
  position: "ZITADEL's global order (cluster_logical_timestamp at the event's commit), exact.",
  payload: "The event's payload (may hold personal data); NULL for event types not on the payload allow-list.",
  created_at: "When the event was written (UTC).",
};

function field(name: Events2Column, as: string = name): BigQueryField {
  const description = DESCRIPTIONS[name];
  return { name: as, type: BIGQUERY_TYPE[EVENTS2_COLUMNS[name]], mode: "NULLABLE", ...(description ? { description } : {}) };
}

/**
 * The external table's schema: one field per column the changefeed's SELECT writes, in its order.
 * Structured queries are mapped column by column (payload last, as the builder adds it). A raw
 * query is mapped when each output is an events2 column, `*`, or an expression named after an
 * events2 column (such as `CASE … THEN payload END AS payload`); anything else needs an explicit
 * schema, since its type cannot be known here. Raw queries need `await loadSqlParser()` first.
 */
export function bigQuerySchema(query: ChangefeedQueryOptions = {}): BigQueryField[] {
  const o = parseOrThrow("bigQuerySchema", changefeedQueryOptionsSchema, query ?? {});
  if (o.query === undefined) {
    const cols: Events2Column[] = [...(o.columns ?? GUIDE_COLUMNS)];
    if ((o.payload ?? "none") !== "none") cols.push("payload");
    return cols.map((c) => field(c));
  }
  validateRawQuery(o.query);
  const parser = require("libpg-query") as typeof import("libpg-query");
  const tree: any = parser.parseSync(o.query);
  const targets: any[] = tree.stmts[0].stmt.SelectStmt.targetList;
  const fields: BigQueryField[] = [];
  for (const t of targets) {
    const rt = t.ResTarget;
    const ref: any[] | undefined = rt.val?.ColumnRef?.fields;
    const last = ref?.[ref.length - 1];
    if (last?.A_Star) {
      fields.push(...EVENTS2_COLUMN_NAMES.map((c) => field(c)));
      continue;
    }
    const column = last?.String?.sval as string | undefined;
    const name: string | undefined = rt.name ?? column;
    const source =
      column && (EVENTS2_COLUMN_NAMES as string[]).includes(column)
        ? (column as Events2Column)
        : name && (EVENTS2_COLUMN_NAMES as string[]).includes(name)
          ? (name as Events2Column)
          : undefined;
    if (!name || !source) {
      throw new ValidationError("bigQuerySchema", [
        {
          field: "query",
          reason: `output ${name ? `"${name}"` : `#${fields.length + 1}`} is neither an events2 column nor named after one, so its BigQuery type is unknown: give bigQuery.schema explicitly`,
        },
      ]);
    }
    fields.push(field(source, name));
  }
  const seen = new Set<string>();
  for (const f of fields) {
    if (seen.has(f.name))
      throw new ValidationError("bigQuerySchema", [{ field: "query", reason: `column "${f.name}" is written twice; BigQuery needs unique column names` }]);
    seen.add(f.name);
  }
  return fields;
}

/**
 * The source URIs of the changefeed's data files under `prefix`: every partitionFormat ("flat",
 * "daily", "hourly") writes below the prefix, and one `*` crosses `/`. `.RESOLVED` files do not end
 * in `.ndjson`, so they are not read.
 */
export function bigQuerySourceUris(o: { bucket: string; prefix?: string; compression?: "gzip" | "zstd" }): string[] {
  if (o.compression === "zstd") {
    throw new ValidationError("bigQuerySourceUris", [
      { field: "compression", reason: 'BigQuery reads gzip-compressed JSON, not zstd: use compression "gzip" or none with bigQuery' },
    ]);
  }
  const prefix = (o.prefix ?? "").replace(/^\/+|\/+$/g, "");
  return [`gs://${o.bucket}/${prefix ? `${prefix}/` : ""}*.ndjson${o.compression === "gzip" ? ".gz" : ""}`];
}

/**
 * Does a Cloud Storage object fall under a source URI? One `*` stands for any characters, `/`
 * included (external-data-cloud-storage#wildcard-support); without `*` the URI names one object.
 */
export function sourceUriMatches(uri: string, bucket: string, object: string): boolean {
  const m = /^gs:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!m || m[1] !== bucket) return false;
  const star = m[2].indexOf("*");
  if (star < 0) return m[2] === object;
  const head = m[2].slice(0, star);
  const tail = m[2].slice(star + 1);
  return object.length >= head.length + tail.length && object.startsWith(head) && object.endsWith(tail);
}

/** A table reference as GoogleSQL writes it: `project.dataset.table` in backticks. */
export function tableRef(project: string, dataset: string, table: string): string {
  return `\`${project}.${dataset}.${table}\``;
}

/**
 * The view without the at-least-once duplicates: one row per event, the event being its primary
 * key (instance_id, aggregate_type, aggregate_id, sequence). A handoff or a restart re-delivers
 * rows after the last checkpoint (cockroach-changefeeds.md §4); the copies are identical, so which
 * one is kept does not matter. Needs the four key columns in the table.
 */
export function dedupViewQuery(table: string, fields: BigQueryField[]): string {
  const names = new Set(fields.map((f) => f.name));
  const missing = EVENTS2_PRIMARY_KEY.filter((k) => !names.has(k));
  if (missing.length) {
    throw new ValidationError("dedupViewQuery", [
      {
        field: "query",
        reason: `the de-duplicating view needs the primary key columns (${EVENTS2_PRIMARY_KEY.join(", ")}); the query does not write ${missing.join(", ")}: add them, or set bigQuery.viewName to null`,
      },
    ]);
  }
  const order = names.has("created_at") ? " ORDER BY created_at" : "";
  return `SELECT * EXCEPT(_copy) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY ${EVENTS2_PRIMARY_KEY.join(", ")}${order}) AS _copy FROM ${table}) WHERE _copy = 1`;
}

/**
 * Example queries over the de-duplicated view (README "Querying the events in BigQuery").
 * Event types follow ZITADEL's naming (cockroach-changefeeds.md §11.2).
 */
export function exampleQueries(view: string, fields: BigQueryField[]): Record<string, string> {
  const has = (c: string) => fields.some((f) => f.name === c);
  const q: Record<string, string> = {};
  if (has("created_at") && has("event_type")) {
    q.eventsPerTypePerDay = `SELECT DATE(created_at) AS day, event_type, COUNT(*) AS events FROM ${view} GROUP BY day, event_type ORDER BY day DESC, events DESC`;
  }
  if (has("aggregate_type") && has("aggregate_id") && has("sequence")) {
    q.oneUsersHistory = `SELECT ${has("created_at") ? "created_at, " : ""}${has("event_type") ? "event_type, " : ""}sequence${has("creator") ? ", creator" : ""} FROM ${view} WHERE aggregate_type = 'user' AND aggregate_id = @user_id ORDER BY sequence`;
  }
  if (has("event_type")) {
    q.logins = `SELECT ${has("created_at") ? "created_at, " : ""}aggregate_id AS user_id, event_type FROM ${view} WHERE event_type IN ('user.human.password.check.succeeded', 'user.human.password.check.failed', 'user.token.added')${has("created_at") ? " ORDER BY created_at DESC" : ""}`;
    q.adminChanges = `SELECT ${has("created_at") ? "created_at, " : ""}${has("creator") ? "creator, " : ""}aggregate_type, aggregate_id, event_type FROM ${view} WHERE STARTS_WITH(event_type, 'instance.') OR event_type LIKE '%.member.%'${has("created_at") ? " ORDER BY created_at DESC" : ""}`;
  }
  return q;
}
