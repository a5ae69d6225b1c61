// ZITADEL's eventstore.events2 on CockroachDB (cockroach-changefeeds.md §11.1) and the SQL
// spelling rules the builders use for it. Pure data and string functions.

/** Column name → CockroachDB type, as in ZITADEL's DDL. */
export const EVENTS2_COLUMNS = {
  instance_id: "TEXT",
  aggregate_type: "TEXT",
  aggregate_id: "TEXT",
  event_type: "TEXT",
  sequence: "BIGINT",
  revision: "SMALLINT",
  created_at: "TIMESTAMPTZ",
  payload: "JSONB",
  creator: "TEXT",
  owner: "TEXT",
  position: "DECIMAL",
  in_tx_order: "INTEGER",
} as const;

export type Events2Column = keyof typeof EVENTS2_COLUMNS;
export const EVENTS2_COLUMN_NAMES = Object.keys(EVENTS2_COLUMNS) as Events2Column[];

/** The primary key, which identifies one event: (instance_id, aggregate_type, aggregate_id, sequence). */
export const EVENTS2_PRIMARY_KEY: readonly Events2Column[] = ["instance_id", "aggregate_type", "aggregate_id", "sequence"];

/** The select list of ZITADEL's guide "Streaming Audit Logs to External Systems" (no payload: PII). */
export const GUIDE_COLUMNS: readonly Events2Column[] = ["instance_id", "aggregate_type", "aggregate_id", "owner", "event_type", "sequence", "created_at"];

export const DEFAULT_TABLE = "eventstore.events2";

/**
 * Words that cannot stand bare where the builders put identifiers. `owner` and `sequence` are
 * unreserved keywords (the guide uses them bare, and CockroachDB accepts that); `position` is a
 * column-name keyword in the PostgreSQL grammar CockroachDB follows, so we quote it to be safe,
 * as ZITADEL's own DDL does. The rest are reserved words a table or schema might be named after.
 */
const NEEDS_QUOTES = new Set([
  "position",
  "all",
  "analyse",
  "analyze",
  "and",
  "any",
  "array",
  "as",
  "asc",
  "asymmetric",
  "both",
  "case",
  "cast",
  "check",
  "collate",
  "column",
  "constraint",
  "create",
  "current_catalog",
  "current_date",
  "current_role",
  "current_schema",
  "current_time",
  "current_timestamp",
  "current_user",
  "default",
  "deferrable",
  "desc",
  "distinct",
  "do",
  "else",
  "end",
  "except",
  "false",
  "fetch",
  "for",
  "foreign",
  "from",
  "grant",
  "group",
  "having",
  "in",
  "index",
  "initially",
  "intersect",
  "into",
  "lateral",
  "leading",
  "limit",
  "localtime",
  "localtimestamp",
  "not",
  "nothing",
  "null",
  "offset",
  "on",
  "only",
  "or",
  "order",
  "placing",
  "primary",
  "references",
  "returning",
  "select",
  "session_user",
  "some",
  "symmetric",
  "table",
  "then",
  "to",
  "trailing",
  "true",
  "union",
  "unique",
  "user",
  "using",
  "variadic",
  "when",
  "where",
  "window",
  "with",
  "family",
]);

/** A plain lower-case SQL identifier: what the builders accept for table parts. */
export const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Quotes an identifier only when CockroachDB needs it (keyword, or anything but a plain lower-case name). */
export function quoteIdent(name: string): string {
  if (PLAIN_IDENTIFIER.test(name) && !NEEDS_QUOTES.has(name)) return name;
  if (name.includes("\u0000")) throw new Error("identifiers cannot contain NUL");
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal. Values reaching here are already validated; escaping is the second line of defence. */
export function sqlString(value: string): string {
  if (value.includes("\u0000")) throw new Error("string literals cannot contain NUL");
  return `'${value.replace(/'/g, "''")}'`;
}
