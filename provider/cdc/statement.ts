// `CREATE CHANGEFEED INTO $1 [WITH ...] AS SELECT ...` for a CDC query into cloud storage.
// The options are the ones CockroachDB accepts for a CDC query on a `gs://` sink
// (cockroach-changefeeds.md §2.2); option values travel as string literals (§1.1 grammar).
import { z } from "zod";
import { ChangefeedQueryOptions, buildChangefeedQuery } from "./query";
import { sqlString } from "./events2";
import { PRINTABLE_ASCII, goDuration, parseOrThrow } from "../validation";

/** An AS OF SYSTEM TIME-style timestamp: HLC decimal, integer nanoseconds, or an ISO timestamp (cockroach-changefeeds.md §2.2 `cursor`). */
const timestamp = z
  .string()
  .regex(
    /^(\d{1,20}(\.\d{1,10})?|\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?)?)$/,
    'must be an HLC timestamp such as "1700000000000000000.0000000000", nanoseconds, or "2024-01-31T12:00:00Z"',
  );

const flag = z.literal(true, { error: "is a flag: set it to true or leave it out" });

/** WITH options of a CDC query into cloud storage. Keys are CockroachDB's own option names. */
export const changefeedOptionsSchema = z
  .strictObject({
    format: z.enum(["json", "parquet", "csv"], { error: 'cloud storage takes format "json", "parquet" or "csv"' }).optional(),
    envelope: z.enum(["bare", "wrapped"], { error: 'a CDC query into cloud storage takes envelope "bare" (its default) or "wrapped"' }).optional(),
    initial_scan: z.enum(["yes", "no", "only"], { error: 'must be "yes", "no" or "only"' }).optional(),
    cursor: timestamp.optional(),
    end_time: timestamp.optional(),
    resolved: z.union([flag, goDuration]).optional(),
    min_checkpoint_frequency: goDuration.optional(),
    compression: z.enum(["gzip", "zstd"], { error: 'must be "gzip" or "zstd"' }).optional(),
    on_error: z.enum(["pause", "fail"], { error: 'must be "pause" or "fail"' }).optional(),
    gc_protect_expires_after: goDuration.optional(),
    schema_change_policy: z.enum(["backfill", "nobackfill", "stop"], { error: 'must be "backfill", "nobackfill" or "stop"' }).optional(),
    schema_change_events: z.enum(["default", "column_changes"], { error: 'must be "default" or "column_changes"' }).optional(),
    diff: flag.optional(),
    updated: flag.optional(),
    mvcc_timestamp: flag.optional(),
    key_in_value: flag.optional(),
    topic_in_value: flag.optional(),
    full_table_name: flag.optional(),
    unordered: flag.optional(),
    encode_json_value_null_as_object: flag.optional(),
    key_column: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a column name")
      .optional(),
    metrics_label: z
      .string()
      .min(1)
      .max(128, "is at most 128 bytes")
      .regex(/^[A-Za-z0-9_.:-]+$/, "is letters, digits, '_', '.', ':' and '-'")
      .optional(),
    execution_locality: z
      .string()
      .regex(/^[a-z0-9_-]+=[A-Za-z0-9_.-]+(,[a-z0-9_-]+=[A-Za-z0-9_.-]+)*$/, 'must be "key=value[,key=value]", e.g. "region=us-east1"')
      .optional(),
    lagging_ranges_threshold: goDuration.optional(),
    lagging_ranges_polling_interval: goDuration.optional(),
    /**
     * Pub/Sub sinks only: batching and retries (docs/pubsub-research.md §5; CockroachDB's defaults are
     * 100 messages, 1 MB, 10 ms). Rendered as the JSON text CockroachDB parses.
     */
    pubsub_sink_config: z
      .strictObject({
        Flush: z
          .strictObject({ Messages: z.number().int().min(1).optional(), Bytes: z.number().int().min(1).optional(), Frequency: goDuration.optional() })
          .optional(),
        Retry: z.strictObject({ Max: z.number().int().min(0).optional(), Backoff: goDuration.optional() }).optional(),
      })
      .optional(),
  })
  .superRefine((o, ctx) => {
    const conflict = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (o.format === "csv" && o.initial_scan !== "only") conflict("format", 'format csv is only usable with initial_scan "only"');
    if (o.initial_scan === "only") {
      for (const k of ["end_time", "resolved", "diff", "mvcc_timestamp", "updated"] as const) {
        if (o[k] !== undefined) conflict(k, `cannot be combined with initial_scan "only"`);
      }
    }
    if (o.resolved !== undefined && o.unordered) conflict("resolved", "cannot be combined with unordered");
    if (o.key_column !== undefined && !o.unordered) conflict("key_column", "requires the unordered option");
    if (o.topic_in_value && o.format === "parquet") conflict("topic_in_value", "cannot be combined with format parquet");
    if (o.encode_json_value_null_as_object && o.format !== undefined && o.format !== "json") {
      conflict("encode_json_value_null_as_object", "requires format json");
    }
  });

export type ChangefeedOptions = z.input<typeof changefeedOptionsSchema>;

export interface CreateChangefeedStatementOptions {
  /** The SELECT: builder options, or a raw query under `query` (see buildChangefeedQuery). */
  query?: ChangefeedQueryOptions;
  options?: ChangefeedOptions;
  /**
   * Leave unset (the default) to get `INTO $1` and pass the sink URI as a bind parameter, so the
   * key never appears in statement text. Set it only to print a statement for psql.
   */
  inlineSink?: string;
}

/** Renders the WITH clause; options in key order, flags bare, values as string literals. */
export function renderChangefeedOptions(options: ChangefeedOptions = {}): string {
  const o = parseOrThrow("changefeed options", changefeedOptionsSchema, options ?? {});
  const parts = Object.keys(o)
    .sort()
    .flatMap((k) => {
      const v = (o as Record<string, unknown>)[k];
      if (v === undefined) return [];
      if (v === true) return [k];
      return [`${k} = ${sqlString(typeof v === "object" && v !== null ? JSON.stringify(v) : String(v))}`];
    });
  return parts.length ? ` WITH ${parts.join(", ")}` : "";
}

/** `CREATE CHANGEFEED INTO $1 [WITH ...] AS SELECT ...` */
export function buildCreateChangefeedStatement(opts: CreateChangefeedStatementOptions = {}): string {
  const select = buildChangefeedQuery(opts.query ?? {});
  let into = "$1";
  if (opts.inlineSink !== undefined) {
    parseOrThrow(
      "buildCreateChangefeedStatement",
      z.strictObject({ inlineSink: z.string().regex(PRINTABLE_ASCII, "must be printable ASCII (a built sink URI)") }),
      { inlineSink: opts.inlineSink },
    );
    into = sqlString(opts.inlineSink);
  }
  return `CREATE CHANGEFEED INTO ${into}${renderChangefeedOptions(opts.options)} AS ${select}`;
}
