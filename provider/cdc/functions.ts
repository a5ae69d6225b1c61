// Which functions a CDC query may call, for the provider's raw-query check (provider/cdc/query.ts).
// The CockroachDB twin keeps its own list from CockroachDB's sources; a test runs every function
// allowed here through it (test/integration/twin-cdc.test.ts).
//
// CockroachDB's rule (pkg/ccl/changefeedccl/cdceval/functions.go, functionDenyList and
// cdcFunctions): a builtin with a volatile overload is refused, one with a stable overload is
// refused unless listed in cdcFunctions, aggregate, generator and window functions are refused,
// and immutable ones are allowed; "function %q unsupported by CDC" (42883). The CDC functions
// below are its own, evaluated per event.

/** CockroachDB's CDC functions (cdcFunctions): the event's MVCC time, operation and schema time, the feed's creation time. */
export const CDC_EVENT_FUNCTIONS = [
  "statement_timestamp",
  "transaction_timestamp",
  "event_op",
  "event_schema_timestamp",
  "changefeed_creation_timestamp",
] as const;

/** Stable builtins cdcFunctions allows (useDefaultBuiltin). */
export const CDC_STABLE_FUNCTIONS = [
  "age",
  "array_to_json",
  "array_to_string",
  "crdb_internal.cluster_id",
  "date_part",
  "date_trunc",
  "extract",
  "format",
  "jsonb_build_array",
  "jsonb_build_object",
  "row_to_json",
  "overlaps",
  "pg_collation_for",
  "pg_typeof",
  "quote_literal",
  "quote_nullable",
  "timezone",
  "to_char",
  "to_json",
  "to_jsonb",
] as const;

/**
 * Immutable builtins commonly used to shape audit records. The provider has no catalogue of every
 * builtin's volatility, so it allows these and refuses the rest rather than risk a changefeed
 * that fails at run time; each is immutable in CockroachDB (and the twin checks them against
 * PostgreSQL's catalogue).
 */
export const IMMUTABLE_FUNCTIONS = [
  "lower",
  "upper",
  "initcap",
  "length",
  "char_length",
  "octet_length",
  "substr",
  "substring",
  "left",
  "right",
  "btrim",
  "ltrim",
  "rtrim",
  "trim",
  "concat",
  "concat_ws",
  "replace",
  "split_part",
  "strpos",
  "position",
  "lpad",
  "rpad",
  "reverse",
  "repeat",
  "starts_with",
  "overlay",
  "regexp_replace",
  "md5",
  "sha1",
  "sha256",
  "sha512",
  "encode",
  "decode",
  "to_hex",
  "abs",
  "ceil",
  "ceiling",
  "floor",
  "round",
  "trunc",
  "mod",
  "jsonb_extract_path",
  "jsonb_extract_path_text",
  "json_extract_path",
  "json_extract_path_text",
  "jsonb_typeof",
  "jsonb_array_length",
  "jsonb_strip_nulls",
  "jsonb_set",
  "jsonb_pretty",
] as const;

/** Every function a CDC query may call, as the provider checks it. */
export const ALLOWED_CDC_FUNCTIONS: ReadonlySet<string> = new Set<string>([...CDC_EVENT_FUNCTIONS, ...CDC_STABLE_FUNCTIONS, ...IMMUTABLE_FUNCTIONS]);

/** The name a FuncCall node of PostgreSQL's parse tree calls, lower-cased, without `pg_catalog.` (e.g. "crdb_internal.cluster_id"). */
export function calledFunction(funcCall: { funcname: any[] }): string {
  return funcCall.funcname
    .map((n) => n.String?.sval as string)
    .filter((n) => n !== "pg_catalog")
    .join(".")
    .toLowerCase();
}

/** CockroachDB's hidden columns a CDC query may reference beside the table's own. */
export const CDC_HIDDEN_COLUMNS = ["cdc_prev", "crdb_internal_mvcc_timestamp", "crdb_internal_origin_timestamp"] as const;

/** A call of each function that parses (some have SQL's own syntax): for tests of both checks. */
export function sampleCall(fn: string): string {
  const special: Record<string, string> = {
    extract: "extract(epoch FROM created_at)",
    position: "position('.' IN event_type)",
    overlay: "overlay(event_type PLACING 'x' FROM 1)",
    overlaps: "(created_at, created_at) OVERLAPS (created_at, created_at)",
  };
  return special[fn] ?? ((CDC_EVENT_FUNCTIONS as readonly string[]).includes(fn) ? `${fn}()` : `${fn}(event_type)`);
}
