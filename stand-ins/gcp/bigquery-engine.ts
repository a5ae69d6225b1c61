// The query engine behind the emulator's BigQuery subset: bqemulator (PyPI 1.4.0, DuckDB behind SQLGlot)
// as a child process, started on the first BigQuery call and stopped with the emulator. The emulator
// keeps all metadata and permissions itself (bigquery.ts); the engine holds mirror datasets, tables and
// views and runs queries. Its limits are in docs/bigquery-research.md.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ApiError } from "./errors";
import { freePort } from "../net";
import { repoRoot } from "../compiled";

/** Where tools/bqemulator/install.sh puts the venv ($BQEMULATOR_VENV overrides). */
export function bqemulatorVenv(): string {
  return process.env.BQEMULATOR_VENV || path.join(repoRoot, ".cache", "bqemulator", "venv");
}

export function bqemulatorInstalled(): boolean {
  return fs.existsSync(path.join(bqemulatorVenv(), "bin", "bqemulator"));
}

export interface EngineReply {
  status: number;
  json: any;
}

export class BigQueryEngine {
  private child?: ChildProcess;
  private starting?: Promise<void>;
  private base = "";
  private log: string[] = [];
  private logBytes = 0;
  private exited = false;
  private reportedExit = false;
  private readonly onExit = () => this.killGroup(this.child?.pid, "SIGKILL");
  /** How long the last start took (ms), for reports. */
  startupMs = 0;
  /** Every REST call made to the engine ("METHOD /path"), for tests. */
  readonly calls: string[] = [];

  constructor(
    private readonly project: string,
    /** BQEMU_GCS_LOCAL_ROOT: the engine reads gs:// load-job sources from here (unused by the emulator). */
    private readonly gcsRoot: string,
  ) {}

  /** Starts the engine once; later calls wait for the same start. 501 when the venv is missing. */
  ensure(): Promise<void> {
    if (this.child && !this.exited) return this.starting ?? Promise.resolve();
    if (this.child && this.exited) {
      // Its datasets, tables and views were in memory: a silent restart would answer from an empty engine.
      if (!this.reportedExit) this.printLog("exited unexpectedly");
      this.reportedExit = true;
      return Promise.reject(
        new ApiError(500, "bqemulator exited unexpectedly (its output is on the emulator's stderr); BigQuery calls fail until the emulator is restarted."),
      );
    }
    if (!bqemulatorInstalled()) {
      return Promise.reject(
        new ApiError(
          501,
          `The emulator's BigQuery subset needs bqemulator, which is not installed at ${bqemulatorVenv()}: run \`npm run setup\` (or bash tools/bqemulator/install.sh), or set BQEMULATOR_VENV.`,
        ),
      );
    }
    this.starting = this.start().catch((e) => {
      this.starting = undefined;
      throw e;
    });
    return this.starting;
  }

  private async start(): Promise<void> {
    const t0 = Date.now();
    const [rest, grpc] = [await freePort(), await freePort()];
    fs.mkdirSync(this.gcsRoot, { recursive: true });
    this.log = [];
    this.logBytes = 0;
    this.exited = false;
    const bin = path.join(bqemulatorVenv(), "bin", "bqemulator");
    const child = spawn(bin, ["start", "--rest-port", String(rest), "--grpc-port", String(grpc), "--project", this.project, "--log-level", "warning"], {
      env: { ...process.env, BQEMU_GCS_LOCAL_ROOT: this.gcsRoot, BQEMU_ENABLE_FORMAT_EXTENSIONS: "false" },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so stop() ends uvicorn and anything it forked in one kill.
      detached: true,
    });
    this.child = child;
    const keep = (b: Buffer) => {
      this.log.push(b.toString("utf8"));
      this.logBytes += b.length;
      while (this.logBytes > 64 * 1024 && this.log.length > 1) this.logBytes -= Buffer.byteLength(this.log.shift()!);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    child.on("exit", () => {
      this.exited = true;
    });
    process.once("exit", this.onExit);
    this.base = `http://127.0.0.1:${rest}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.exited) {
        this.printLog("exited during start-up");
        throw new ApiError(500, `bqemulator exited during start-up (see the emulator's stderr for its output)`);
      }
      try {
        const res = await fetch(`${this.base}/healthz`);
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        this.printLog("did not answer /healthz within 60 s");
        await this.stop();
        throw new ApiError(500, "bqemulator did not start within 60 s");
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.startupMs = Date.now() - t0;
  }

  /** One REST call to the engine (path under /bigquery/v2/projects/<p>). */
  async call(method: string, p: string, body?: unknown): Promise<EngineReply> {
    await this.ensure();
    this.calls.push(`${method} ${p}`);
    let res: Response;
    try {
      res = await fetch(`${this.base}/bigquery/v2${p}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      this.printLog(`unreachable: ${(e as Error).message}`);
      throw new ApiError(500, `bqemulator is unreachable: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: any = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = { raw: text };
    }
    if (res.status >= 500) this.printLog(`${method} ${p} answered ${res.status}: ${text.slice(0, 500)}`);
    return { status: res.status, json };
  }

  /** A call that must succeed (2xx); anything else is the emulator's internal error. */
  async must(method: string, p: string, body?: unknown): Promise<any> {
    const r = await this.call(method, p, body);
    if (r.status >= 300) {
      throw new ApiError(500, `bqemulator ${method} ${p} answered ${r.status}: ${JSON.stringify(r.json).slice(0, 500)}`);
    }
    return r.json;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return Boolean(this.child) && !this.exited;
  }

  private printLog(why: string): void {
    console.error(`gcp emulator: bqemulator ${why}; its last output:\n${this.log.join("")}`);
  }

  private killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
    if (!pid || this.exited) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }

  async stop(): Promise<void> {
    process.removeListener("exit", this.onExit);
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    this.starting = undefined;
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    this.killGroup(child.pid, "SIGTERM");
    const timer = setTimeout(() => this.killGroup(child.pid, "SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------------------------------------
// Reading NDJSON as BigQuery's JSON reader does, for external tables (materialised before a query).
//
// Each line must be one JSON object whose keys name columns of the declared schema; each value must
// convert to its column's type, or the line is a bad record (BigQuery counts them against maxBadRecords;
// a bad value never becomes NULL). Numbers are read from the raw text, so INT64 above 2^53 and decimals
// stay exact (JSON.parse would round them).

/** The REST API's legacy type names, which tables.get and query schemas report. */
const TYPE_ALIASES: Record<string, string> = {
  INT64: "INTEGER",
  INTEGER: "INTEGER",
  FLOAT64: "FLOAT",
  FLOAT: "FLOAT",
  BOOL: "BOOLEAN",
  BOOLEAN: "BOOLEAN",
  STRING: "STRING",
  NUMERIC: "NUMERIC",
  BIGNUMERIC: "BIGNUMERIC",
  TIMESTAMP: "TIMESTAMP",
  DATE: "DATE",
  JSON: "JSON",
};

/** A declared type's legacy name, or undefined when the emulator's subset lacks it (RECORD, BYTES, DATETIME, TIME, GEOGRAPHY …). */
export function legacyType(type: string): string | undefined {
  return TYPE_ALIASES[String(type ?? "").toUpperCase()];
}

/**
 * The engine's column type for a declared type. BIGNUMERIC is kept as STRING (its exact canonical text):
 * bqemulator's BIGNUMERIC keeps 5 decimals and tables.insert with a BIGNUMERIC column answers 500
 * (docs/bigquery-research.md); query it with PARSE_BIGNUMERIC(col). NUMERIC (38 digits, scale 9) is exact
 * in the engine (DuckDB DECIMAL(38,9)), so it stays NUMERIC.
 */
export function engineType(legacy: string): string {
  return ({ INTEGER: "INT64", FLOAT: "FLOAT64", BOOLEAN: "BOOL", BIGNUMERIC: "STRING" } as Record<string, string>)[legacy] ?? legacy;
}

export interface SchemaField {
  name: string;
  type: string;
  mode?: string;
  description?: string;
}

type JNode = { k: "o"; e: [string, JNode][] } | { k: "a"; v: JNode[] } | { k: "s"; v: string } | { k: "n"; raw: string } | { k: "b"; v: boolean } | { k: "z" };

export class LineError extends Error {}

/** A JSON parser that keeps numbers as their source text. */
function parseRaw(text: string): JNode {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const fail = (what: string): never => {
    throw new LineError(`${what} at character ${i}`);
  };
  const value = (depth: number): JNode => {
    if (depth > 500) fail("Nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const e: [string, JNode][] = [];
      ws();
      if (text[i] === "}") {
        i++;
        return { k: "o", e };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("Expected a field name");
        const key = str();
        ws();
        if (text[i] !== ":") fail("Expected ':'");
        i++;
        e.push([key, value(depth + 1)]);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return { k: "o", e };
        }
        fail("Expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const v: JNode[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { k: "a", v };
      }
      for (;;) {
        v.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return { k: "a", v };
        }
        fail("Expected ',' or ']'");
      }
    }
    if (c === '"') return { k: "s", v: str() };
    if (text.startsWith("true", i)) return ((i += 4), { k: "b", v: true });
    if (text.startsWith("false", i)) return ((i += 5), { k: "b", v: false });
    if (text.startsWith("null", i)) return ((i += 4), { k: "z" });
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return c === undefined ? fail("Unexpected end of line") : fail(`Unexpected character '${c}'`);
    i += m[0].length;
    return { k: "n", raw: m[0] };
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      else if (text.charCodeAt(i) < 0x20) fail("Control character in string");
      i++;
    }
    if (i >= text.length) fail("Unterminated string");
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      return fail("Invalid string escape");
    }
  };
  const v = value(0);
  ws();
  if (i < text.length) fail("Unexpected data after the JSON value");
  return v;
}

/** Compact JSON text with numbers as written (the JSON column's value). */
function compact(n: JNode): string {
  switch (n.k) {
    case "o":
      return `{${n.e.map(([k, v]) => `${JSON.stringify(k)}:${compact(v)}`).join(",")}}`;
    case "a":
      return `[${n.v.map(compact).join(",")}]`;
    case "s":
      return JSON.stringify(n.v);
    case "n":
      return n.raw;
    case "b":
      return String(n.v);
    case "z":
      return "null";
  }
}

/** How BigQuery's reader names a value in "Could not convert value '…'" (its protobuf Value text). */
function describe(n: JNode): { proto: string; text: string } {
  switch (n.k) {
    case "s":
      return { proto: `string_value: ${JSON.stringify(n.v)}`, text: n.v };
    case "n":
      return { proto: `double_value: ${n.raw}`, text: n.raw };
    case "b":
      return { proto: `bool_value: ${n.v}`, text: String(n.v) };
    case "a":
      return { proto: "list_value", text: compact(n) };
    case "o":
      return { proto: "struct_value", text: compact(n) };
    case "z":
      return { proto: "null_value: NULL_VALUE", text: "null" };
  }
}

/** A decimal's exact value: unscaled integer and scale (value = unscaled / 10^scale). */
function parseDecimal(text: string): { unscaled: bigint; scale: number } | undefined {
  const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return undefined;
  const digits = (m[2] || "0") + (m[3] ?? "");
  let scale = (m[3] ?? "").length - Number(m[4] ?? 0);
  if (Math.abs(scale) > 10_000) return undefined;
  let unscaled = BigInt(digits);
  if (scale < 0) {
    unscaled *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { unscaled: m[1] === "-" ? -unscaled : unscaled, scale };
}

/** Rounds half away from zero to `scale` digits (BigQuery's default RoundingMode for NUMERIC/BIGNUMERIC writes). */
function rescale(d: { unscaled: bigint; scale: number }, scale: number): bigint {
  if (d.scale <= scale) return d.unscaled * 10n ** BigInt(scale - d.scale);
  const div = 10n ** BigInt(d.scale - scale);
  const neg = d.unscaled < 0n;
  const abs = neg ? -d.unscaled : d.unscaled;
  let q = abs / div;
  if ((abs % div) * 2n >= div) q += 1n;
  return neg ? -q : q;
}

/** Canonical decimal text: no exponent, no trailing fraction zeros ("1.50" → "1.5", "1e3" → "1000"). */
export function decimalText(unscaled: bigint, scale: number): string {
  const neg = unscaled < 0n;
  let s = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, "0");
  let frac = scale > 0 ? s.slice(s.length - scale) : "";
  s = scale > 0 ? s.slice(0, s.length - scale) : s;
  frac = frac.replace(/0+$/, "");
  const out = frac ? `${s}.${frac}` : s;
  return neg && out !== "0" ? `-${out}` : out;
}

/** Plain-notation decimal text for any decimal string ("-1E-9" → "-0.000000001"). */
export function plainDecimal(text: string): string {
  const d = parseDecimal(text);
  return d ? decimalText(d.unscaled, d.scale) : text;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const NUMERIC_LIMIT = 10n ** 38n; // 29 integer digits + 9 fraction digits
const BIGNUMERIC_MIN = -(2n ** 255n);
const BIGNUMERIC_MAX = 2n ** 255n - 1n;

const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/**
 * BigQuery's canonical timestamp text for loads (loading-data-cloud-storage-json, data-types#timestamp_type):
 * date with '-' or '/', 'T' or ' ', hh:mm[:ss[.ffffff]], then Z, UTC or ±hh[[:]mm]. At most 6 fraction
 * digits (microseconds); more are refused rather than silently cut.
 */
function timestampMicros(s: string): bigint | undefined {
  const m = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?)?$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((k) => Number(m[k] ?? 0));
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || se > 59 || y < 1) return undefined;
  let offsetMin = 0;
  const z = m[8];
  if (z && /^[+-]/.test(z)) {
    const zm = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(z)!;
    const oh = Number(zm[2]);
    const om = Number(zm[3] ?? 0);
    if (oh > 14 || om > 59) return undefined;
    offsetMin = (zm[1] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear, not Date.UTC, which reads years 0–99 as 1900–1999.
  const at = new Date(0);
  at.setUTCFullYear(y, mo - 1, d);
  at.setUTCHours(h, mi, se, 0);
  return BigInt(at.getTime()) * 1000n + BigInt((m[7] ?? "").padEnd(6, "0")) - BigInt(offsetMin) * 60_000_000n;
}

/** UTC text with 6 fraction digits, which the engine's insertAll takes for a TIMESTAMP. */
function microsText(micros: bigint): string {
  const ms = Number(micros / 1000n) - (micros % 1000n < 0n ? 1 : 0);
  const sub = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return new Date(ms).toISOString().slice(0, 19) + "." + String(sub).padStart(6, "0") + "Z";
}

/** One value under its column's type: the engine's insertAll value, or a LineError in BigQuery's words. */
function convert(n: JNode, type: string, field: string): unknown {
  const bad = (to: string): never => {
    const d = describe(n);
    throw new LineError(`Could not convert value '${d.proto}' to ${to}. Field: ${field}; Value: ${d.text}`);
  };
  switch (type) {
    case "STRING":
      // A JSON string only (numbers and booleans are refused, not coerced).
      return n.k === "s" ? n.v : bad("string");
    case "INTEGER": {
      const t = n.k === "n" ? n.raw : n.k === "s" ? n.v.trim() : undefined;
      if (t === undefined || !/^[+-]?\d+$/.test(t)) return bad("integer");
      const v = BigInt(t);
      if (v < INT64_MIN || v > INT64_MAX) return bad("integer");
      return v.toString();
    }
    case "FLOAT": {
      if (n.k === "n") return Number(n.raw);
      if (n.k === "s") {
        const t = n.v.trim();
        if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
        if (/^(nan|[+-]?inf(inity)?)$/i.test(t)) return t;
      }
      return bad("double");
    }
    case "BOOLEAN":
      return n.k === "b" ? n.v : bad("bool");
    case "NUMERIC":
    case "BIGNUMERIC": {
      const big = type === "BIGNUMERIC";
      const t = n.k === "n" ? n.raw : n.k === "s" ? n.v.trim() : undefined;
      const d = t === undefined ? undefined : parseDecimal(t);
      if (!d) return bad(big ? "bignumeric" : "numeric");
      const scale = big ? 38 : 9;
      const u = rescale(d, scale);
      if (big ? u < BIGNUMERIC_MIN || u > BIGNUMERIC_MAX : u <= -NUMERIC_LIMIT || u >= NUMERIC_LIMIT) {
        throw new LineError(`Invalid ${type} value: ${t} Field: ${field}; Value: ${t}`);
      }
      return decimalText(u, scale);
    }
    case "TIMESTAMP": {
      const micros = n.k === "s" ? timestampMicros(n.v.trim()) : undefined;
      if (micros === undefined) {
        if (n.k === "s")
          throw new LineError(
            `Couldn't convert value to timestamp: Could not parse '${n.v}' as a timestamp. Required format is YYYY-MM-DD HH:MM[:SS[.SSSSSS]] or YYYY/MM/DD HH:MM[:SS[.SSSSSS]] Field: ${field}; Value: ${n.v}`,
          );
        return bad("timestamp");
      }
      return microsText(micros);
    }
    case "DATE": {
      const m = n.k === "s" ? /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(n.v.trim()) : null;
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 12 || Number(m[3]) < 1 || Number(m[3]) > daysIn(Number(m[1]), Number(m[2]))) {
        if (n.k === "s")
          throw new LineError(
            `Couldn't convert value to date: Could not parse '${n.v}' as a date. Required format is YYYY-MM-DD Field: ${field}; Value: ${n.v}`,
          );
        return bad("date");
      }
      return `${m[1]}-${m[2].padStart(2, "0")}-${m[3].padStart(2, "0")}`;
    }
    case "JSON":
      return compact(n);
  }
  throw new LineError(`Unsupported type ${type}. Field: ${field}`);
}

/** One NDJSON line under the schema: the engine row, or a LineError (a bad record). */
export function convertLine(text: string, fields: SchemaField[], ignoreUnknownValues: boolean): Record<string, unknown> {
  const node = parseRaw(text);
  if (node.k !== "o") throw new LineError(node.k === "a" ? "Start of array encountered without start of object." : "Expected a JSON object.");
  const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
  const seen = new Map<string, JNode>();
  for (const [key, v] of node.e) {
    const f = byName.get(key.toLowerCase());
    if (!f) {
      if (ignoreUnknownValues) continue;
      throw new LineError(`No such field: ${key}.`);
    }
    if (seen.has(f.name)) throw new LineError(`Duplicate field: ${key}.`);
    seen.set(f.name, v);
  }
  const row: Record<string, unknown> = {};
  for (const f of fields) {
    const type = legacyType(f.type)!;
    const mode = String(f.mode ?? "NULLABLE").toUpperCase();
    const v = seen.get(f.name);
    if (mode === "REPEATED") {
      if (!v || v.k === "z") {
        row[f.name] = [];
        continue;
      }
      if (v.k !== "a") throw new LineError(`Expected an array for repeated field: ${f.name}.`);
      row[f.name] = v.v.map((x) => {
        if (x.k === "z") throw new LineError(`Only optional fields can be set to NULL. Field: ${f.name}; Value: NULL`);
        return convert(x, type, f.name);
      });
      continue;
    }
    if (!v || v.k === "z") {
      if (mode === "REQUIRED") throw new LineError(`Missing required field: ${f.name}.`);
      row[f.name] = null;
      continue;
    }
    if (v.k === "a" && type !== "JSON") throw new LineError(`Array specified for non-repeated field: ${f.name}.`);
    row[f.name] = convert(v, type, f.name);
  }
  return row;
}

/** The lines of an NDJSON file with their byte offsets; blank lines (and the empty one after the last newline) are skipped. */
export function* ndjsonLines(data: Buffer): Generator<{ position: number; text: string }> {
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    let text = data.subarray(start, end).toString("utf8");
    if (text.endsWith("\r")) text = text.slice(0, -1);
    if (text.trim() !== "") yield { position: start, text };
    start = end + 1;
  }
}
