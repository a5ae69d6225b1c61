// Changefeed jobs of the twin: CREATE validation (options §2, sink §3, CDC rules §1.3, rangefeeds §7,
// licence §8), SHOW (§5.2), PAUSE/RESUME/CANCEL (§5.4), ALTER (§6), and the engine that evaluates
// each job's projection and filter on committed changes and writes NDJSON files (§4) into the
// emulated bucket, advancing the high-water only past what it durably wrote.
import * as crypto from "crypto";
import * as zlib from "zlib";
import type { PGlite } from "@electric-sql/pglite";
import { SqlError, Column, OID } from "./wire";
import { KvOption, valueText } from "./statements";
import { COCKROACH_CDC_FUNCTIONS, COCKROACH_CDC_STABLE, COCKROACH_IMMUTABLE_NOT_IN_POSTGRES, functionName } from "./cdc-functions";
import { GcsSink, GcsWriter, fileTimestamp, parseByteSize, parseGcsSink, partitionDir, redactSink } from "./gcs-sink";
import { NOT_FOR_PUBSUB, PubSubPublisher, PubSubSink, parsePubSubSink, pubsubMessage } from "./pubsub-sink";

const isPubSub = (sink: GcsSink | PubSubSink): sink is PubSubSink => (sink as PubSubSink).kind === "pubsub";

export type JobStatus = "pending" | "running" | "pause-requested" | "paused" | "cancel-requested" | "canceled" | "failed" | "succeeded";

export interface Job {
  id: string;
  description: string;
  user: string;
  status: JobStatus;
  runningStatus: string | null;
  created: Date;
  finished: Date | null;
  modified: Date;
  highWater: string | null;
  error: string;
  sinkUri: string;
  sink: GcsSink | PubSubSink;
  select: string;
  table: string;
  options: Record<string, string | true>;
  /** Changes with a timestamp above this are still to be emitted. */
  resumeFrom: string;
  /** Where the feed started reading (creation time or cursor): a feed that never checkpointed restarts here. */
  startFrom: string;
  /** Flushed but not yet checkpointed: the frontier advances to `ts` at `at`. */
  pendingFrontier?: { ts: string; at: number };
  scanPending: boolean;
  /** The sink instance (a new one each time the job starts or resumes, as each run builds its sink): its session id, its number, and its next file id. */
  sessionId: string;
  sinkId: number;
  fileId: number;
  lastResolved: number;
  lastCheckpoint?: number;
  /** When a pending job starts running. */
  startAt?: number;
  /** The statement time of CREATE, as changefeed_creation_timestamp() reports it (an HLC decimal). */
  createdHlc: string;
  /** The parse tree of `select`, kept so the engine does not parse it on every checkpoint. */
  ast?: any;
}

export interface TwinHost {
  withLock<T>(fn: (db: PGlite) => Promise<T>): Promise<T>;
  setting(name: string): string;
  version: string;
  storageEndpoint: string;
  implicitKeyFile?: string;
  /** Engine tick when a job sets no min_checkpoint_frequency (CockroachDB: 30s; the twin: ~1s). */
  defaultCheckpointMs: number;
  /** gc.ttlseconds: how old a cursor may be. */
  gcTtlSeconds: number;
  /** New jobs stay `pending` this long before they run (a slow or busy cluster); 0 = start at once. */
  jobStartDelayMs: number;
  clusterId: string;
}

const FLAG_OPTIONS = [
  "diff",
  "updated",
  "mvcc_timestamp",
  "key_in_value",
  "topic_in_value",
  "full_table_name",
  "unordered",
  "split_column_families",
  "encode_json_value_null_as_object",
  "protect_data_from_gc_on_pause",
  "ignore_disable_changefeed_replication",
  "no_initial_scan",
  "initial_scan_only",
  "virtual_columns",
];
const VALUE_OPTIONS = [
  "format",
  "envelope",
  "initial_scan",
  "cursor",
  "end_time",
  "min_checkpoint_frequency",
  "compression",
  "on_error",
  "gc_protect_expires_after",
  "schema_change_policy",
  "schema_change_events",
  "key_column",
  "metrics_label",
  "execution_locality",
  "lagging_ranges_threshold",
  "lagging_ranges_polling_interval",
];
/** Options that take a value or none ("resolved" bare means "as often as possible"). */
const OPTIONAL_VALUE = ["resolved", "initial_scan"];
const OTHER_SINK_OPTIONS = [
  "kafka_sink_config",
  "webhook_sink_config",
  "webhook_auth_header",
  "webhook_client_timeout",
  "pubsub_sink_config",
  "confluent_schema_registry",
  "avro_schema_prefix",
  "schema_topic",
  "topic_name",
];
const ENUMS: Record<string, string[]> = {
  format: ["json", "avro", "csv", "parquet", "protobuf"],
  envelope: ["wrapped", "bare", "key_only", "row", "enriched"],
  initial_scan: ["yes", "no", "only"],
  compression: ["gzip", "zstd"],
  on_error: ["pause", "fail"],
  schema_change_policy: ["backfill", "nobackfill", "stop", "ignore"],
  schema_change_events: ["default", "column_changes"],
};
const DURATIONS = ["resolved", "min_checkpoint_frequency", "gc_protect_expires_after", "lagging_ranges_threshold", "lagging_ranges_polling_interval"];
/** ALTER cannot SET or UNSET these (§6). */
const NOT_ALTERABLE = ["cursor", "initial_scan", "no_initial_scan", "initial_scan_only", "end_time"];

export const SHOW_COLUMNS: Column[] = [
  { name: "job_id", oid: OID.int8 },
  { name: "description", oid: OID.text },
  { name: "user_name", oid: OID.text },
  { name: "status", oid: OID.text },
  { name: "running_status", oid: OID.text },
  { name: "created", oid: OID.timestamptz },
  { name: "started", oid: OID.timestamptz },
  { name: "finished", oid: OID.timestamptz },
  { name: "modified", oid: OID.timestamptz },
  { name: "high_water_timestamp", oid: OID.numeric },
  { name: "readable_high_water_timestamptz", oid: OID.timestamptz },
  { name: "error", oid: OID.text },
  { name: "sink_uri", oid: OID.text },
  { name: "full_table_names", oid: OID.textArray },
  { name: "topics", oid: OID.text },
  { name: "format", oid: OID.text },
];

/** Parses a Go duration ("10s", "1m30s", "500ms") to milliseconds. */
export function goDurationMs(s: string, option: string): number {
  if (s.startsWith("-")) throw new SqlError("22023", `negative durations are not accepted: ${option}='${s}'`);
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  while ((m = re.exec(s))) {
    total += Number(m[1]) * unit[m[2]];
    consumed += m[0].length;
  }
  if (consumed !== s.length || s === "") throw new SqlError("22023", `problem parsing option ${option}: time: invalid duration "${s}"`);
  return total;
}

function versionAtLeast(version: string, min: [number, number, number]): boolean {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
}

/** Before the October 2024 licence change patches, CHANGEFEED INTO needs an enterprise licence (§8). */
export function licenceRequired(version: string): boolean {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const firstFree: Record<string, number> = { "23.1": 29, "23.2": 15, "24.1": 7, "24.2": 5 };
  if (maj > 24 || (maj === 24 && min >= 3)) return false;
  const free = firstFree[`${maj}.${min}`];
  return free === undefined ? true : patch < free;
}

/** Versions whose ALTER CHANGEFEED silently drops a CDC query (cockroach #113491; fixed in 23.1.24, 23.2.7, 24.1.0). Written apart from the provider's own version on purpose: a stand-in sharing the code it tests would agree with its bugs. */
export function alterDropsQuery(version: string): boolean {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (maj === 23 && min === 1) return patch < 24;
  if (maj === 23 && min === 2) return patch < 7;
  return maj < 23;
}

export class Changefeeds {
  readonly jobs = new Map<string, Job>();
  private timer?: NodeJS.Timeout;
  private running = false;
  private counter = 0n;
  /** cloudStorageSinkIDAtomic: every sink a "node" builds gets the next number. */
  private sinks = 0;
  private parser: any;
  /** PostgreSQL's catalogue of functions: the volatilities of each name's overloads, and whether any aggregates or returns a set. */
  private functions = new Map<string, { volatility: Set<string>; aggregate: boolean; generator: boolean }>();
  /** The schema timestamp event_schema_timestamp() reports (the twin's tables do not change schema). */
  private schemaTs = "0";
  /** Primary-key columns per table, read once. */
  private readonly primaryKeys = new Map<string, string[]>();

  constructor(private readonly host: TwinHost) {}

  async start(): Promise<void> {
    const pgq = require("libpg-query");
    await pgq.loadModule();
    this.parser = pgq;
    await this.host.withLock(async (db) => {
      const rows = await db.query<{ name: string; v: string; k: string; s: boolean }>(
        `SELECT CASE WHEN n.nspname IN ('pg_catalog', 'public') THEN p.proname ELSE n.nspname || '.' || p.proname END AS name, p.provolatile AS v, p.prokind AS k, p.proretset AS s
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('pg_catalog', 'public', 'crdb_internal')`,
      );
      for (const r of rows.rows) {
        const f = this.functions.get(r.name) ?? { volatility: new Set<string>(), aggregate: false, generator: false };
        f.volatility.add(r.v);
        f.aggregate ||= r.k === "a" || r.k === "w";
        f.generator ||= r.s;
        this.functions.set(r.name, f);
      }
      this.schemaTs = (await db.query<{ ts: string }>("SELECT crdb_internal.twin_now()::text AS ts")).rows[0].ts;
    });
    this.timer = setInterval(() => void this.tick(), 100);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  // ------------------------------------------------------------------------------------------ CREATE

  private parseOptions(opts: KvOption[], params: (string | null)[]): Record<string, string | true> {
    const out: Record<string, string | true> = {};
    for (const o of opts) {
      const name = o.name.toLowerCase();
      const known =
        FLAG_OPTIONS.includes(name) ||
        VALUE_OPTIONS.includes(name) ||
        OPTIONAL_VALUE.includes(name) ||
        OTHER_SINK_OPTIONS.includes(name) ||
        name.startsWith("webhook_");
      if (!known) throw new SqlError("XXUUU", `invalid option "${name}"`);
      if (FLAG_OPTIONS.includes(name) && o.value) throw new SqlError("XXUUU", `option "${name}" does not take a value`);
      if (VALUE_OPTIONS.includes(name) && !o.value) throw new SqlError("XXUUU", `option "${name}" requires a value`);
      let v: string | true = o.value ? (valueText(o.value, params) ?? "") : true;
      if (
        typeof v === "string" &&
        ["format", "envelope", "compression", "schema_change_policy", "schema_change_events", "on_error", "initial_scan"].includes(name)
      )
        v = v.toLowerCase();
      out[name] = v;
    }
    if (out.initial_scan === true) out.initial_scan = "yes";
    if (out.no_initial_scan) {
      if (out.initial_scan) throw new SqlError("22023", "cannot specify both initial_scan and no_initial_scan");
      out.initial_scan = "no";
    }
    if (out.initial_scan_only) {
      if (out.initial_scan) throw new SqlError("22023", "cannot specify both initial_scan and initial_scan_only");
      out.initial_scan = "only";
    }
    for (const [k, values] of Object.entries(ENUMS)) {
      if (typeof out[k] === "string" && !values.includes(out[k] as string))
        throw new SqlError("22023", `unknown ${k}: ${out[k]}, valid values are: ${values.join(", ")}`);
    }
    for (const k of DURATIONS) if (typeof out[k] === "string") goDurationMs(out[k] as string, k);
    if (out.format === "csv" && out.initial_scan !== "only") throw new SqlError("22023", "format=csv is only usable with initial_scan_only");
    if (out.initial_scan === "only") {
      for (const k of ["end_time", "resolved", "diff", "mvcc_timestamp", "updated"])
        if (out[k] !== undefined) throw new SqlError("22023", `cannot specify both initial_scan='only' and ${k}`);
    }
    if (out.unordered && out.resolved !== undefined) throw new SqlError("22023", "resolved timestamps cannot be guaranteed to be correct in unordered mode");
    if (out.key_column !== undefined && !out.unordered) throw new SqlError("22023", "key_column requires the unordered option because it may not be unique");
    return out;
  }

  private checkSinkOptions(opts: Record<string, string | true>, pubsub = false): void {
    const refused = pubsub ? [...OTHER_SINK_OPTIONS.filter((k) => k !== "pubsub_sink_config" && k !== "topic_name"), ...NOT_FOR_PUBSUB] : OTHER_SINK_OPTIONS;
    for (const k of Object.keys(opts))
      if (refused.includes(k) || k.startsWith("webhook_")) throw new SqlError("XXUUU", `this sink is incompatible with option ${k}`);
    const format = (opts.format as string) ?? "json";
    if (pubsub && format !== "json") throw new SqlError("XXUUU", `this sink is incompatible with format=${format}`);
    if (!["json", "csv", "parquet"].includes(format)) throw new SqlError("XXUUU", `this sink is incompatible with format=${format}`);
    if (opts.envelope === "enriched") throw new SqlError("XXUUU", "envelope=enriched is incompatible with SELECT statement");
    if (opts.envelope !== undefined && !["bare", "wrapped"].includes(opts.envelope as string))
      throw new SqlError("XXUUU", `this sink is incompatible with envelope=${opts.envelope}`);
    if (format !== "json") throw new SqlError("0A000", `format=${format} is not implemented by the twin`);
    if (opts.compression === "zstd") throw new SqlError("0A000", "compression=zstd is not implemented by the twin");
  }

  /** CockroachDB's CDC-expression rules, judged on the PostgreSQL parse tree. */
  private checkSelect(select: string): { table: string; ast: any } {
    let ast: any;
    try {
      ast = this.parser.parseSync(select);
    } catch (e) {
      // PostgreSQL takes a keyword such as CASE as a bare column alias (`created_at CASE …` fails at
      // WHEN there); CockroachDB's bare_col_label excludes reserved keywords, so its parser stops at
      // the keyword itself (sql.y target_elem) — the guide's missing comma fails `at or near "case"`.
      const list = /^\s*select\b([\s\S]*?)\bfrom\b/i.exec(select)?.[1] ?? "";
      const bare = /[\w")\]]\s+(case|cast|array)\b/i.exec(list);
      const m = bare ? [bare[0], bare[1]] : /syntax error at or near "([^"]*)"/.exec((e as Error).message);
      throw new SqlError("42601", m ? `at or near "${m[1].toLowerCase()}": syntax error` : `syntax error: ${(e as Error).message}`);
    }
    const sel = ast.stmts?.[0]?.stmt?.SelectStmt;
    if (!sel || ast.stmts.length !== 1) throw new SqlError("42601", 'at or near "select": syntax error');
    if (!sel.fromClause || sel.fromClause.length !== 1 || !sel.fromClause[0].RangeVar) {
      throw new SqlError("XXUUU", "CREATE CHANGEFEED ... AS SELECT ... is not supported for more than 1 table");
    }
    if (sel.groupClause || sel.sortClause || sel.limitCount || sel.withClause || sel.distinctClause || (sel.op && sel.op !== "SETOP_NONE")) {
      throw new SqlError("42601", 'at or near "select": syntax error: CDC queries take one SELECT … FROM … WHERE');
    }
    const walk = (n: any): void => {
      if (Array.isArray(n)) return n.forEach(walk);
      if (!n || typeof n !== "object") return;
      for (const [k, v] of Object.entries(n)) {
        if (k === "SubLink") throw new SqlError("0A000", "sub-query expressions not supported by CDC");
        if (k === "SQLValueFunction")
          throw new SqlError(
            "42883",
            `function "${String((v as any).op)
              .replace("SVFOP_", "")
              .toLowerCase()}" unsupported by CDC`,
          );
        if (k === "FuncCall") this.checkFunction(v);
        if (k === "ColumnRef") {
          const fields = (v as any).fields as any[];
          const col = fields[fields.length - 1]?.String?.sval;
          if (col === "cdc_prev" || col === "crdb_internal_origin_timestamp") throw new SqlError("0A000", `${col} is not implemented by the twin`);
        }
        walk(v);
      }
    };
    walk(sel);
    const rv = sel.fromClause[0].RangeVar;
    const table = [rv.schemaname ?? "public", rv.relname].join(".");
    return { table, ast };
  }

  /** CockroachDB's function rules for CDC queries (cdc-functions.ts), judged on PostgreSQL's catalogue. */
  private checkFunction(call: any): void {
    const fn = functionName(call);
    if (COCKROACH_CDC_FUNCTIONS.includes(fn)) return;
    const f = this.functions.get(fn);
    if (call.over || call.agg_star || f?.aggregate || f?.generator)
      throw new SqlError("42883", `aggregate, generator, or window function "${fn}" unsupported by CDC`);
    if (COCKROACH_CDC_STABLE.includes(fn)) return;
    if (COCKROACH_IMMUTABLE_NOT_IN_POSTGRES.includes(fn)) return;
    if (!f) throw new SqlError("42883", `unknown function: ${fn}()`);
    if (f.volatility.has("v") || f.volatility.has("s")) throw new SqlError("42883", `function "${fn}" unsupported by CDC`);
  }

  /**
   * The SELECT over `relation` in place of its table, with a hidden ordinal column appended, and
   * the CDC functions and crdb_internal_mvcc_timestamp turned into the event's values: the relation
   * carries __twin_mvcc (the event's MVCC time) and __twin_op (its operation).
   */
  private rewrite(select: string, ast: any, relation: string, creation: string): string {
    const sel = ast.stmts[0].stmt.SelectStmt;
    const rv = sel.fromClause[0].RangeVar;
    const start: number = rv.location;
    const nameMatch = /^("[^"]+"|[A-Za-z_][\w$]*)(\s*\.\s*("[^"]+"|[A-Za-z_][\w$]*)){0,2}/.exec(select.slice(start))!;
    const end = start + nameMatch[0].length;
    const alias = rv.alias?.aliasname ? "" : ` AS ${rv.relname}`;
    const fromKw = select.slice(0, start).search(/\bfrom\s*$/i);
    const edits: { at: number; end: number; text: string }[] = [
      { at: fromKw, end: fromKw, text: ", __twin_ord " },
      { at: start, end, text: `${relation}${alias}` },
    ];
    const values: Record<string, string> = {
      statement_timestamp: "hlc_to_timestamp(__twin_mvcc)",
      transaction_timestamp: "hlc_to_timestamp(__twin_mvcc)",
      event_op: "__twin_op",
      event_schema_timestamp: `'${this.schemaTs}'::numeric`,
      changefeed_creation_timestamp: `'${creation}'::numeric`,
    };
    // Targets named after what they compute, as CockroachDB names them (event_op, crdb_internal_mvcc_timestamp).
    const bare = new Set<any>((sel.targetList ?? []).filter((t: any) => !t.ResTarget.name).map((t: any) => t.ResTarget.val));
    const visit = (node: any): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (!node || typeof node !== "object") return;
      if (node.FuncCall) {
        const fn = functionName(node.FuncCall);
        const call = values[fn] ? /^[\w."]+\s*\(\s*\)/.exec(select.slice(node.FuncCall.location)) : null;
        if (call)
          edits.push({ at: node.FuncCall.location, end: node.FuncCall.location + call[0].length, text: `(${values[fn]})${bare.has(node) ? ` AS ${fn}` : ""}` });
      }
      if (node.ColumnRef) {
        const fields = node.ColumnRef.fields as any[];
        if (fields[fields.length - 1]?.String?.sval === "crdb_internal_mvcc_timestamp") {
          const ref = /^(?:[\w"]+\s*\.\s*)*"?crdb_internal_mvcc_timestamp"?/.exec(select.slice(node.ColumnRef.location))!;
          edits.push({
            at: node.ColumnRef.location,
            end: node.ColumnRef.location + ref[0].length,
            text: `__twin_mvcc${bare.has(node) ? " AS crdb_internal_mvcc_timestamp" : ""}`,
          });
        }
      }
      for (const v of Object.values(node)) visit(v);
    };
    visit(sel.targetList);
    visit(sel.whereClause);
    let out = select;
    for (const e of edits.sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + e.text + out.slice(e.end);
    return out;
  }

  /** Runs inside the statement's own hold on the session (the caller has the lock). */
  async create(db: PGlite, stmt: { sink?: any; options: KvOption[]; select: string }, params: (string | null)[], user: string): Promise<string> {
    if (licenceRequired(this.host.version) && !this.host.setting("enterprise.license")) {
      throw new SqlError(
        "XXC02",
        `use of CHANGEFEED requires an enterprise license. see https://cockroachlabs.com/pricing?cluster=${this.host.clusterId} for details on how to enable enterprise features`,
      );
    }
    const options = this.parseOptions(stmt.options, params);
    if (!stmt.sink) throw new SqlError("0A000", "sinkless changefeeds are not implemented by the twin; use INTO 'gs://…'");
    const sinkUri = valueText(stmt.sink, params) ?? "";
    const pubsub = sinkUri.startsWith("gcpubsub://");
    const gcs = pubsub ? undefined : parseGcsSink(sinkUri);
    this.checkSinkOptions(options, pubsub);
    const { table, ast } = this.checkSelect(stmt.select);
    const sink = gcs ?? parsePubSubSink(sinkUri, options, table.split(".").pop()!);
    if (user !== "root" && !this.host.setting(`twin.grants.${user}`).includes("CHANGEFEED")) {
      throw new SqlError("42501", `user ${user} requires the CHANGEFEED privilege on all target tables to be able to run an enterprise changefeed`);
    }
    const initialScan = (options.initial_scan as string) ?? (options.cursor ? "no" : "yes");
    if (initialScan !== "only" && this.host.setting("kv.rangefeed.enabled") !== "true") {
      // changefeedccl validateSettings: docs.URL names the running version's docs (docs/v24.3/…).
      const docs = /^v(\d+)\.(\d+)/.exec(this.host.version);
      throw new SqlError(
        "XXUUU",
        `rangefeeds require the kv.rangefeed.enabled setting. See https://www.cockroachlabs.com/docs/${docs ? `v${docs[1]}.${docs[2]}` : "stable"}/create-and-configure-changefeeds.html#enable-rangefeeds`,
      );
    }
    if (options.cursor && initialScan === "yes") throw new SqlError("0A000", "initial_scan with cursor is not implemented by the twin");
    {
      const exists = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`,
        table.split("."),
      );
      if (exists.rows[0].n === 0)
        throw new SqlError("42P01", `failed to resolve targets in the CHANGEFEED stmt: table "${table.split(".")[1]}" does not exist`);
      // The projection must type-check against the table (unknown columns and the like).
      try {
        await db.query(
          `SELECT * FROM (${this.rewrite(stmt.select, ast, `(SELECT *, 0 AS __twin_ord, 0::numeric AS __twin_mvcc, ''::text AS __twin_op FROM ${table} LIMIT 0)`, "0")}) __q LIMIT 0`,
        );
      } catch (e) {
        throw new SqlError((e as any).code ?? "42601", (e as Error).message);
      }
      await this.watch(db, table);
      const now = (await db.query<{ ts: string }>("SELECT crdb_internal.twin_now()::text AS ts")).rows[0].ts;
      let resumeFrom = now;
      if (typeof options.cursor === "string") resumeFrom = this.checkCursor(options.cursor, now);
      const id = String(BigInt(Date.now()) * 1_000_000n + ++this.counter * 1000n + BigInt(crypto.randomInt(1000)));
      const t = new Date();
      const job: Job = {
        id,
        description: "",
        user,
        status: this.host.jobStartDelayMs > 0 ? "pending" : "running",
        startAt: Date.now() + this.host.jobStartDelayMs,
        runningStatus: "running: waiting for first checkpoint",
        created: t,
        finished: null,
        modified: t,
        highWater: null,
        error: "",
        sinkUri,
        sink,
        select: stmt.select,
        table,
        options,
        resumeFrom,
        startFrom: resumeFrom,
        createdHlc: now,
        scanPending: initialScan !== "no",
        sessionId: crypto.randomBytes(8).toString("hex"),
        sinkId: ++this.sinks,
        fileId: 0,
        lastResolved: 0,
      };
      job.description = this.describe(job);
      this.jobs.set(id, job);
      return id;
    }
  }

  private checkCursor(cursor: string, now: string): string {
    let ts: bigint;
    if (/^\d+(\.\d+)?$/.test(cursor)) ts = BigInt(cursor.split(".")[0]);
    else {
      const ms = Date.parse(cursor);
      if (Number.isNaN(ms)) throw new SqlError("22023", `could not parse "${cursor}" as type decimal`);
      ts = BigInt(ms) * 1_000_000n;
    }
    const nowNs = BigInt(now.split(".")[0]);
    if (ts > nowNs) throw new SqlError("XXUUU", "cannot specify timestamp in the future");
    const threshold = nowNs - BigInt(this.host.gcTtlSeconds) * 1_000_000_000n;
    if (ts < threshold) {
      throw new SqlError(
        "XXUUU",
        `could not create changefeed: cursor ${cursor} is older than the GC threshold ${threshold}.0000000000`,
        "use a more recent cursor",
      );
    }
    return /^\d+\.\d+$/.test(cursor) ? cursor : `${ts}.0000000000`;
  }

  private async watch(db: PGlite, table: string): Promise<void> {
    const name = `twin_capture_${table.replace(/\W/g, "_")}`;
    const has = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = $1", [name]);
    if (has.rows[0].n === 0) {
      await db.exec(`CREATE TRIGGER ${name} AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION crdb_internal.twin_capture()`);
    }
  }

  private describe(job: Job): string {
    const opts = Object.keys(job.options)
      .sort()
      .map((k) => (job.options[k] === true ? k : `${k} = '${String(job.options[k]).replace(/'/g, "''")}'`));
    return `CREATE CHANGEFEED INTO '${redactSink(job.sinkUri)}'${opts.length ? ` WITH OPTIONS (${opts.join(", ")})` : ""} AS ${job.select}`;
  }

  // ------------------------------------------------------------------------------------------ SHOW / control

  job(idText: string | undefined, forAlter = false): Job {
    if (idText === undefined || !/^-?\d+$/.test(idText))
      throw new SqlError(forAlter ? "42804" : "22P02", forAlter ? "changefeed ID must be an INT value" : `could not parse "${idText}" as type int`);
    const job = this.jobs.get(idText);
    if (!job)
      throw new SqlError(
        "XXUUU",
        forAlter ? `could not load job with job id ${idText}: job with ID ${idText} does not exist` : `job with ID ${idText} does not exist`,
      );
    return job;
  }

  showRows(id?: string): (string | null)[][] {
    const jobs =
      id === undefined
        ? [...this.jobs.values()].filter((j) => !j.finished || Date.now() - j.finished.getTime() < 12 * 3600_000)
        : this.jobs.has(id)
          ? [this.jobs.get(id)!]
          : [];
    const ts = (d: Date | null) => (d ? d.toISOString().replace("T", " ").replace("Z", "+00") : null);
    return jobs.map((j) => {
      const values: Record<string, string | null> = {
        job_id: j.id,
        description: j.description,
        user_name: j.user,
        status: j.status,
        running_status: j.runningStatus,
        created: ts(j.created),
        started: ts(j.created),
        finished: ts(j.finished),
        modified: ts(j.modified),
        high_water_timestamp: j.highWater,
        readable_high_water_timestamptz: j.highWater ? ts(new Date(Number(BigInt(j.highWater.split(".")[0]) / 1_000_000n))) : null,
        error: j.error,
        sink_uri: redactSink(j.sinkUri),
        full_table_names: `{defaultdb.${j.table}}`,
        topics: isPubSub(j.sink) ? j.sink.topic : null,
        format: (j.options.format as string) ?? "json",
      };
      return this.showColumns().map((c) => values[c.name]);
    });
  }

  showColumns(): Column[] {
    return versionAtLeast(this.host.version, [25, 1, 0]) ? SHOW_COLUMNS : SHOW_COLUMNS.filter((c) => c.name !== "readable_high_water_timestamptz");
  }

  private setStatus(job: Job, status: JobStatus): void {
    job.status = status;
    job.modified = new Date();
    if (["canceled", "failed", "succeeded"].includes(status)) job.finished = job.modified;
  }

  /** The cluster loses every job (a restore into a new cluster, or jobs garbage-collected). */
  loseAllJobs(): void {
    this.jobs.clear();
  }

  control(action: "PAUSE" | "RESUME" | "CANCEL", idText: string | undefined, user: string): void {
    const job = this.job(idText);
    if (user !== "root" && user !== job.user) throw new SqlError("42501", `user ${user} does not have privileges for job ${job.id}`);
    const s = job.status;
    const wrong = (verb: string) => new SqlError("XXUUU", `job ${job.id}: job with state ${s} cannot be ${verb}`);
    if (action === "PAUSE") {
      if (s === "pause-requested" || s === "paused") return;
      if (!["pending", "running"].includes(s)) throw wrong("requested to be paused");
      this.setStatus(job, "pause-requested");
    } else if (action === "RESUME") {
      if (s === "running") return;
      if (s !== "paused") throw wrong("resumed");
      // Pausing and resuming change only the job's status (pkg/jobs: paused/unpaused call
      // ju.UpdateStatus alone); running_status keeps the last checkpoint's text until the
      // next checkpoint rewrites it (changeFrontier.checkpointJobProgress, which refuses to
      // write unless the job is running: md.CheckRunningOrReverting).
      this.setStatus(job, "running");
      job.sessionId = crypto.randomBytes(8).toString("hex");
      job.sinkId = ++this.sinks;
      job.fileId = 0;
    } else {
      if (s === "cancel-requested" || s === "canceled") return;
      if (!["pending", "running", "paused"].includes(s)) throw wrong("requested to be canceled");
      this.setStatus(job, "cancel-requested");
    }
  }

  alter(idText: string | undefined, set: KvOption[], unset: string[], targetChange: boolean, params: (string | null)[]): [string, string] {
    const job = this.job(idText, true);
    if (job.status !== "paused") throw new SqlError("XXUUU", `job ${job.id} is not paused`);
    if (targetChange) throw new SqlError("XXUUU", "cannot modify targets when using CDC query changefeed; consider recreating changefeed");
    const next = { ...job.options };
    let sinkUri = job.sinkUri;
    for (const o of set) {
      const name = o.name.toLowerCase();
      if (NOT_ALTERABLE.includes(name)) throw new SqlError("22023", `cannot alter option "${name}"`);
      if (name === "sink") {
        const uri = valueText(o.value, params) ?? "";
        const newScheme = uri.split("://")[0];
        const oldScheme = job.sinkUri.split("://")[0];
        if (newScheme !== oldScheme)
          throw new SqlError(
            "22023",
            `New sink type "${newScheme}" does not match original sink type "${oldScheme}". Altering the sink type of a changefeed is disallowed, consider creating a new changefeed instead.`,
          );
        if (newScheme === "gs") parseGcsSink(uri);
        sinkUri = uri;
        continue;
      }
      Object.assign(next, this.parseOptions([o], params));
    }
    for (const raw of unset) {
      const name = raw.toLowerCase();
      if (name === "sink") throw new SqlError("22023", 'cannot unset option "sink"');
      if (NOT_ALTERABLE.includes(name)) throw new SqlError("22023", `cannot alter option "${name}"`);
      if (![...FLAG_OPTIONS, ...VALUE_OPTIONS, ...OPTIONAL_VALUE].includes(name)) throw new SqlError("22023", `invalid option "${name}"`);
      delete next[name];
    }
    this.parseOptions(
      Object.entries(next).map(([name, v]) => ({ name, value: v === true ? undefined : { kind: "string" as const, value: v } })),
      [],
    );
    const pubsub = sinkUri.startsWith("gcpubsub://");
    this.checkSinkOptions(next, pubsub);
    const sink = pubsub ? parsePubSubSink(sinkUri, next, job.table.split(".").pop()!) : parseGcsSink(sinkUri);
    job.options = next;
    job.sinkUri = sinkUri;
    job.sink = sink;
    // The bug of #113491: these versions lose the CDC query on any ALTER.
    if (alterDropsQuery(this.host.version)) {
      job.select = `SELECT * FROM ${job.table}`;
      job.ast = undefined;
    }
    job.description = this.describe(job);
    job.modified = new Date();
    return [job.id, job.description];
  }

  // ------------------------------------------------------------------------------------------ engine

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const job of this.jobs.values()) {
        if (job.status === "pause-requested") {
          this.dropUnpersisted(job);
          this.setStatus(job, "paused");
        }
        if (job.status === "cancel-requested") this.setStatus(job, "canceled");
        if (job.status === "pending" && Date.now() >= (job.startAt ?? 0)) this.setStatus(job, "running");
        if (job.status !== "running") continue;
        if (job.pendingFrontier && Date.now() >= job.pendingFrontier.at) this.advanceFrontier(job);
        const every =
          typeof job.options.min_checkpoint_frequency === "string"
            ? goDurationMs(job.options.min_checkpoint_frequency, "min_checkpoint_frequency")
            : this.host.defaultCheckpointMs;
        if (Date.now() - (job.lastCheckpoint ?? 0) < every) continue;
        job.lastCheckpoint = Date.now();
        await this.step(job);
      }
    } finally {
      this.running = false;
    }
  }

  /** One checkpoint: read committed changes past the resume point, write them, then advance. */
  private async step(job: Job): Promise<void> {
    let batch: { now: string; lines: { ts: string; line: string; key: string }[] };
    try {
      batch = await this.host.withLock(async (db) => {
        const now = (await db.query<{ ts: string }>("SELECT crdb_internal.twin_now()::text AS ts")).rows[0].ts;
        const lines: { ts: string; line: string; key: string }[] = [];
        if (job.scanPending) {
          // As text, parsed keeping numbers' digits: INT8 above 2^53 and DECIMAL must not pass through a double.
          const rows = await db.query<{ r: string }>(`SELECT to_jsonb(t)::text AS r FROM ${job.table} t`);
          lines.push(
            ...(await this.evaluate(
              db,
              job,
              rows.rows.map((x) => ({ row: parseKeepingNumbers(x.r), mvcc: now })),
            )),
          );
        }
        const changes = await db.query<{ op: string; mvcc: string; row: string }>(
          "SELECT op, mvcc::text AS mvcc, row::text AS row FROM crdb_internal.twin_changes WHERE tbl = $1 AND mvcc > $2::numeric AND mvcc <= $3::numeric ORDER BY seq",
          [job.table, job.resumeFrom, now],
        );
        lines.push(
          ...(await this.evaluate(
            db,
            job,
            changes.rows.map((c) => ({ row: parseKeepingNumbers(c.row), mvcc: c.mvcc, deleted: c.op === "delete", op: c.op })),
          )),
        );
        return { now, lines };
      });
    } catch (e) {
      // Evaluation errors are terminal (§1.3); honour on_error=pause.
      job.error = (e as Error).message;
      this.dropUnpersisted(job);
      this.setStatus(job, job.options.on_error === "pause" ? "paused" : "failed");
      job.runningStatus = job.status === "paused" ? `job failed (${job.error}) but is being paused because of on_error=pause` : null;
      return;
    }
    try {
      const writer = this.writerFor(job);
      const resolved =
        job.options.resolved !== undefined &&
        Date.now() - job.lastResolved >= (job.options.resolved === true ? 0 : goDurationMs(job.options.resolved as string, "resolved"));
      const sink = job.sink;
      if (writer instanceof PubSubPublisher && isPubSub(sink)) {
        // One message a row; a resolved message is not wrapped (pubsub-research.md §3).
        const topic = sink.topic;
        await writer.publish([
          ...batch.lines.map((l) => pubsubMessage(l.key, l.line, topic)),
          ...(resolved ? [crdbJson({ __crdb__: { resolved: batch.now } })] : []),
        ]);
      } else if (writer instanceof GcsWriter && !isPubSub(sink)) {
        await this.writeFiles(job, writer, sink, batch.lines, nextHlc(job.resumeFrom));
        if (resolved)
          await writer.write(
            `${partitionDir(batch.now, sink.partitionFormat)}${fileTimestamp(batch.now)}.RESOLVED`,
            Buffer.from(crdbJson({ __crdb__: { resolved: batch.now } })),
          );
      }
      if (resolved) job.lastResolved = Date.now();
    } catch (e) {
      // Sink errors are retried forever and never fail the job (§4.3, #43216); they show here.
      job.runningStatus = `retryable error: ${(e as Error).message}`;
      return;
    }
    job.scanPending = false;
    job.resumeFrom = batch.now;
    // The files are flushed; the frontier (the job's persisted progress) follows a moment later,
    // as CockroachDB persists a checkpoint after the sink flushed (changefeed_processors.go
    // checkpointJobProgress). A pause, cancel or crash in between loses the step's progress, and
    // the rows after the high-water are emitted again: at-least-once, as real feeds deliver.
    const delay = goDurationMs(this.host.setting("twin.frontier_delay") || "0s", "twin.frontier_delay");
    job.pendingFrontier = { ts: batch.now, at: Date.now() + delay };
    if (delay <= 0) this.advanceFrontier(job);
  }

  private advanceFrontier(job: Job): void {
    const ts = job.pendingFrontier?.ts;
    job.pendingFrontier = undefined;
    if (!ts) return;
    job.highWater = ts;
    job.runningStatus = `running: resolved=${hlcString(ts)}`;
    job.modified = new Date();
    if (job.options.initial_scan === "only") this.setStatus(job, "succeeded");
    if (typeof job.options.end_time === "string" && BigInt(ts.split(".")[0]) >= BigInt(this.checkEndTime(job.options.end_time)))
      this.setStatus(job, "succeeded");
  }

  /** A job stops (pause, failure) before its last flush was checkpointed: it will read again from the high-water. */
  private dropUnpersisted(job: Job): void {
    if (!job.pendingFrontier) return;
    job.pendingFrontier = undefined;
    job.resumeFrom = job.highWater ?? job.startFrom;
    if (job.highWater === null && job.options.initial_scan !== "no" && !(job.options.cursor && job.options.initial_scan === undefined)) job.scanPending = true;
  }

  private checkEndTime(t: string): string {
    return /^\d+/.test(t) ? t.split(".")[0] : String(BigInt(Date.parse(t)) * 1_000_000n);
  }

  private writers = new WeakMap<Job, { uri: string; writer: GcsWriter | PubSubPublisher }>();
  private writerFor(job: Job): GcsWriter | PubSubPublisher {
    const cached = this.writers.get(job);
    if (cached && cached.uri === job.sinkUri) return cached.writer;
    const sink = job.sink;
    const writer = isPubSub(sink)
      ? new PubSubPublisher(sink, this.host.storageEndpoint, this.host.implicitKeyFile)
      : new GcsWriter(sink, this.host.storageEndpoint, this.host.implicitKeyFile, () => parseByteSize(this.host.setting("cloudstorage.write_chunk.size")));
    this.writers.set(job, { uri: job.sinkUri, writer });
    return writer;
  }

  /** Runs the job's SELECT over the given rows (as the table's records) and renders NDJSON lines. */
  private async evaluate(
    db: PGlite,
    job: Job,
    rows: { row: any; mvcc: string; deleted?: boolean; op?: string }[],
  ): Promise<{ ts: string; line: string; key: string }[]> {
    if (rows.length === 0) return [];
    const ast = (job.ast ??= this.checkSelect(job.select).ast);
    let pk = this.primaryKeys.get(job.table);
    if (!pk) {
      pk = (
        await db.query<{ col: string }>(
          `SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary`,
          [job.table],
        )
      ).rows.map((r) => r.col);
      this.primaryKeys.set(job.table, pk);
    }
    const key = pk;
    const records = rows.map((r, i) => {
      const rec = r.deleted ? Object.fromEntries(key.map((c) => [c, r.row[c]])) : r.row;
      // event_op(): 'delete', else 'insert' or 'update' with the diff option, 'upsert' without it (cdceval).
      const op = r.deleted ? "delete" : job.options.diff ? (r.op === "update" ? "update" : "insert") : "upsert";
      return { ...rec, __twin_ord: i, __twin_mvcc: r.mvcc, __twin_op: op };
    });
    const relation = `(SELECT (jsonb_populate_record(NULL::${job.table}, e.r)).*, (e.r->>'__twin_ord')::int AS __twin_ord, (e.r->>'__twin_mvcc')::numeric AS __twin_mvcc, e.r->>'__twin_op' AS __twin_op FROM jsonb_array_elements($1::jsonb) AS e(r))`;
    const sql = `SELECT row_to_json(__q)::text AS j FROM (${this.rewrite(job.select, ast, relation, job.createdHlc)}) __q`;
    const res = await db.query<{ j: string }>(sql, [jsonKeepingNumbers(records)]);
    return res.rows.map((r) => {
      const fields = parseKeepingNumbers(r.j);
      const ord = Number(fields.__twin_ord?.__raw ?? fields.__twin_ord);
      for (const k of Object.keys(fields)) if (k.startsWith("__twin_")) delete fields[k];
      const ts = rows[ord].mvcc;
      // The envelope's metadata (cdcevent/encoder_json.go initRawEnvelope): only what an option asks for.
      const meta: Record<string, unknown> = {
        ...(job.options.updated ? { updated: ts } : {}),
        ...(job.options.mvcc_timestamp ? { mvcc_timestamp: ts } : {}),
        ...(job.options.key_in_value ? { key: key.map((c) => rows[ord].row[c] ?? null) } : {}),
        ...(job.options.topic_in_value ? { topic: this.topicOf(job) } : {}),
      };
      if (Object.keys(meta).length) fields.__crdb__ = meta;
      // The message key: the primary key's values (a Pub/Sub message's "Key", pubsub-research.md §3).
      return { ts, line: crdbLine(fields), key: crdbJson(key.map((c) => rows[ord].row[c] ?? null)) };
    });
  }

  private topicOf(job: Job): string {
    return job.options.full_table_name ? `defaultdb.${job.table}` : job.table.split(".").pop()!;
  }

  /**
   * Writes a flush's files, named as sink_cloudstorage.go flushFile names them:
   * `<ts>-<session>-<processor>-<sink>-<file id %08x>-<topic>-<schema version %x>.ndjson`, where ts
   * and the partition are the frontier's inclusive lower bound when the flush began, shared by
   * all the flush's files (setDataFileTimestamp), so names never go back in time.
   */
  private async writeFiles(job: Job, writer: GcsWriter, sink: GcsSink, lines: { ts: string; line: string }[], lowerBound: string): Promise<void> {
    let i = 0;
    while (i < lines.length) {
      let size = 0;
      const start = i;
      while (i < lines.length && (i === start || size + lines[i].line.length + 1 <= sink.fileSize)) size += lines[i++].line.length + 1;
      const chunk = lines.slice(start, i);
      const topic = this.topicOf(job);
      const gz = job.options.compression === "gzip";
      const name = `${partitionDir(lowerBound, sink.partitionFormat)}${fileTimestamp(lowerBound)}-${job.sessionId}-1-${job.sinkId}-${(job.fileId++).toString(16).padStart(8, "0")}-${topic}-1.ndjson${gz ? ".gz" : ""}`;
      const body = Buffer.from(chunk.map((l) => l.line).join("\n") + "\n");
      await writer.write(name, gz ? zlib.gzipSync(body) : body);
    }
  }
}

/** The next HLC timestamp after a decimal one (one logical tick later: hlc.Timestamp.Next). */
export function nextHlc(decimal: string): string {
  const [wall, logical = "0"] = decimal.split(".");
  return `${wall}.${(BigInt(logical.padEnd(10, "0").slice(0, 10)) + 1n).toString().padStart(10, "0")}`;
}

/** An HLC timestamp as hlc.Timestamp.String() prints it: `<seconds>.<nanoseconds, 9 digits>,<logical>`, from its decimal form. */
export function hlcString(decimal: string): string {
  const [wall, logical = "0"] = decimal.split(".");
  const w = BigInt(wall);
  return `${w / 1_000_000_000n}.${(w % 1_000_000_000n).toString().padStart(9, "0")},${BigInt(logical || "0")}`;
}

/** JSON.parse that keeps numbers as their source text (DECIMAL/INT8 must not lose digits). */
function parseKeepingNumbers(text: string): Record<string, any> {
  return JSON.parse(text, (_k, v, ctx?: { source?: string }) => (typeof v === "number" && ctx?.source ? { __raw: ctx.source } : v));
}

/** JSON text of a value parsed by parseKeepingNumbers: numbers written back digit for digit. */
function jsonKeepingNumbers(v: any): string {
  if (v && typeof v === "object" && "__raw" in v) return v.__raw;
  if (Array.isArray(v)) return `[${v.map(jsonKeepingNumbers).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .map((k) => `${JSON.stringify(k)}:${jsonKeepingNumbers(v[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/**
 * A row as CockroachDB's changefeed JSON encoder writes it: `tree.AsJSON` values built with
 * `json.NewObjectBuilder`, whose objects keep their keys sorted at every level, then `json.Format`,
 * which writes `{"a": 1, "b": [1, 2]}` (a space after each colon and comma) (pkg/util/json).
 * Columns' timestamps are rendered in UTC with a trailing Z (AsJSON with time.UTC); strings inside
 * a JSONB value are left as they are.
 */
function crdbLine(o: Record<string, any>): string {
  const top: Record<string, any> = {};
  for (const [k, v] of Object.entries(o)) top[k] = typeof v === "string" ? v.replace(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?)\+00:00$/, "$1Z") : v;
  return crdbJson(top);
}

function crdbJson(v: any): string {
  if (v && typeof v === "object" && "__raw" in v) return v.__raw;
  if (Array.isArray(v)) return `[${v.map(crdbJson).join(", ")}]`;
  if (v && typeof v === "object") {
    const keys = Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}: ${crdbJson(v[k])}`).join(", ")}}`;
  }
  return JSON.stringify(v);
}
