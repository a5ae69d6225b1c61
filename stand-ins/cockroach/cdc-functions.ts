// The twin's own idea of which functions a CDC query may call, taken from CockroachDB's sources and
// deliberately not shared with the product (a wrong entry in a shared list could never fail a test;
// test/integration/twin-cdc.test.ts compares the product's allow-list with what the twin accepts).
//
// CockroachDB's rule (pkg/ccl/changefeedccl/cdceval/functions.go and func_resolver.go, v23.1+): a
// builtin in functionDenyList or with a volatile overload is refused; a stable one is refused unless
// cdcFunctions lists it (as useDefaultBuiltin); aggregate, generator and window functions are
// refused; immutable ones are allowed; "function %q unsupported by CDC" (42883). The twin judges
// volatility on PostgreSQL's catalogue, corrected below where CockroachDB's builtins differ.

/** cdcFunctions' own functions, evaluated per event: the event's MVCC time (statement/transaction_timestamp are overridden to it), operation, schema time, and the feed's creation time. */
export const COCKROACH_CDC_FUNCTIONS: readonly string[] = [
  "event_op",
  "event_schema_timestamp",
  "changefeed_creation_timestamp",
  "statement_timestamp",
  "transaction_timestamp",
];

/** Stable builtins cdcFunctions lets through (useDefaultBuiltin entries). */
export const COCKROACH_CDC_STABLE: readonly string[] = [
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
  "overlaps",
  "pg_collation_for",
  "pg_typeof",
  "quote_literal",
  "quote_nullable",
  "row_to_json",
  "timezone",
  "to_char",
  "to_json",
  "to_jsonb",
];

/**
 * Immutable in CockroachDB where PostgreSQL's catalogue says otherwise or has no such function
 * (pkg/sql/sem/builtins/builtins.go): concat and concat_ws take only strings there, so they are
 * Immutable ("In Postgres concat … is Stable … our version is Immutable"); length has no stable
 * overload there; sha1 is a CockroachDB builtin PostgreSQL lacks.
 */
export const COCKROACH_IMMUTABLE_NOT_IN_POSTGRES: readonly string[] = ["concat", "concat_ws", "length", "sha1"];

/** The name a FuncCall node of PostgreSQL's parse tree calls, lower-cased, without `pg_catalog.`. */
export function functionName(funcCall: { funcname: { String?: { sval?: string } }[] }): string {
  const parts = funcCall.funcname.map((n) => String(n.String?.sval)).filter((n) => n !== "pg_catalog");
  return parts.join(".").toLowerCase();
}
