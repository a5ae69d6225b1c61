// PostgreSQL wire-protocol messages the twin writes itself when it answers a CockroachDB-only
// statement (https://www.postgresql.org/docs/current/protocol-message-formats.html).
import { BackendError } from "pg-gateway";

export const OID = { bool: 16, int8: 20, text: 25, numeric: 1700, timestamptz: 1184, textArray: 1009 } as const;

export interface Column {
  name: string;
  oid: number;
}

/** A SQL error with its SQLSTATE, as CockroachDB reports it. */
export class SqlError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string) => Buffer.concat([Buffer.from(s, "utf8"), Buffer.from([0])]);
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

/** The format code of result column `i` from a Bind's list: none = text, one = all columns, else per column. */
export const formatOf = (formats: number[], i: number): number => (formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : (formats[i] ?? 0));

/** RowDescription; `formats` are the portal's result format codes (a statement's Describe has none: text). */
export function rowDescription(cols: Column[], formats: number[] = []): Buffer {
  const parts = [int16(cols.length)];
  cols.forEach((c, i) => parts.push(cstr(c.name), int32(0), int16(0), int32(c.oid), int16(-1), int32(-1), int16(formatOf(formats, i))));
  return message("T", Buffer.concat(parts));
}

/**
 * One row; values are the text forms, null is SQL NULL. Columns the client asked for in binary
 * (Bind's result format codes) are encoded as PostgreSQL's binary send functions do, as
 * CockroachDB honours the codes too (pkg/sql/pgwire/command_result.go, writeBinaryDatum).
 */
export function dataRow(values: (string | null)[], cols?: Column[], formats: number[] = []): Buffer {
  const parts: Buffer[] = [int16(values.length)];
  values.forEach((v, i) => {
    if (v === null) parts.push(int32(-1));
    else {
      const b = cols && formatOf(formats, i) === 1 ? binaryValue(cols[i].oid, v) : Buffer.from(v, "utf8");
      parts.push(int32(b.length), b);
    }
  });
  return message("D", Buffer.concat(parts));
}

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/** PostgreSQL's binary form of a value given in its text form (the types the twin itself answers with). */
export function binaryValue(oid: number, text: string): Buffer {
  switch (oid) {
    case OID.bool:
      return Buffer.from([/^(t|true|on|1)$/i.test(text) ? 1 : 0]);
    case OID.int8: {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(text));
      return b;
    }
    case OID.timestamptz: {
      // "2026-11-28 18:37:03.123456+00": microseconds since 2000-01-01 UTC.
      const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d(?::?\d\d)?)?$/.exec(text.trim());
      if (!m) throw new SqlError("22007", `cannot encode "${text}" as binary timestamptz`);
      const zone = !m[4] || m[4] === "Z" ? "Z" : m[4].length === 3 ? `${m[4]}:00` : m[4].replace(/^([+-]\d\d)(\d\d)$/, "$1:$2");
      const ms = Date.parse(`${m[1]}T${m[2]}${zone}`);
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(ms - PG_EPOCH_MS) * 1000n + BigInt((m[3] ?? "").padEnd(6, "0")));
      return b;
    }
    case OID.numeric:
      return numericBinary(text);
    case OID.textArray: {
      const inner = text.replace(/^\{|\}$/g, "");
      const items = inner === "" ? [] : inner.split(",").map((x) => x.replace(/^"|"$/g, ""));
      const parts = [int32(1), int32(0), int32(OID.text), int32(items.length), int32(1)];
      for (const it of items) {
        const b = Buffer.from(it, "utf8");
        parts.push(int32(b.length), b);
      }
      return Buffer.concat(parts);
    }
    default:
      return Buffer.from(text, "utf8");
  }
}

/** NUMERIC's binary form: ndigits, weight, sign, dscale, then base-10000 digits (PostgreSQL numeric.c numeric_send). */
function numericBinary(text: string): Buffer {
  let s = text.trim();
  if (/^nan$/i.test(s)) return Buffer.concat([int16(0), int16(0), Buffer.from([0xc0, 0]), int16(0)]);
  let sign = 0;
  if (s.startsWith("-")) {
    sign = 0x4000;
    s = s.slice(1);
  }
  const [ip, fp = ""] = s.split(".");
  const intDigits = ip.replace(/^0+/, "");
  const padInt = intDigits.padStart(Math.ceil(intDigits.length / 4) * 4, "0");
  const padFrac = fp.padEnd(Math.ceil(fp.length / 4) * 4, "0");
  const groups: number[] = [];
  for (let i = 0; i < padInt.length; i += 4) groups.push(Number(padInt.slice(i, i + 4)));
  let weight = padInt.length / 4 - 1;
  for (let i = 0; i < padFrac.length; i += 4) groups.push(Number(padFrac.slice(i, i + 4)));
  while (groups.length && groups[0] === 0) {
    groups.shift();
    weight--;
  }
  while (groups.length && groups[groups.length - 1] === 0) groups.pop();
  if (!groups.length) {
    weight = 0;
    sign = 0;
  }
  const head = Buffer.alloc(8);
  head.writeInt16BE(groups.length, 0);
  head.writeInt16BE(weight, 2);
  head.writeUInt16BE(sign, 4);
  head.writeInt16BE(fp.length, 6);
  return Buffer.concat([head, ...groups.map(int16)]);
}

/** A parameter's value from its wire form: text as sent, binary decoded by the parameter's type. */
export function paramText(raw: Buffer | null, format: number, oid: number): string | null {
  if (raw === null) return null;
  if (format !== 1) return raw.toString("utf8");
  switch (oid) {
    case OID.int8:
      if (raw.length !== 8) throw new SqlError("08P01", `insufficient data left in message: int8 parameter of ${raw.length} bytes`);
      return raw.readBigInt64BE().toString();
    case OID.bool:
      return raw[0] ? "true" : "false";
    default:
      return raw.toString("utf8");
  }
}

export const commandComplete = (tag: string) => message("C", cstr(tag));
export const readyForQuery = (status: "I" | "T" | "E" = "I") => message("Z", Buffer.from(status, "latin1"));
export const parseComplete = () => message("1", Buffer.alloc(0));
export const bindComplete = () => message("2", Buffer.alloc(0));
export const closeComplete = () => message("3", Buffer.alloc(0));
export const noData = () => message("n", Buffer.alloc(0));
export const emptyQuery = () => message("I", Buffer.alloc(0));
export const parameterDescription = (oids: number[]) => message("t", Buffer.concat([int16(oids.length), ...oids.map(int32)]));

export function errorResponse(e: SqlError): Buffer {
  return Buffer.from(BackendError.create({ severity: "ERROR", code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }).flush());
}

export function noticeResponse(text: string): Buffer {
  const body = Buffer.concat([
    Buffer.from("S"),
    cstr("NOTICE"),
    Buffer.from("V"),
    cstr("NOTICE"),
    Buffer.from("C"),
    cstr("00000"),
    Buffer.from("M"),
    cstr(text),
    Buffer.from([0]),
  ]);
  return message("N", body);
}

/** Frontend messages the twin needs to read (type byte, then body after the length). */
export type Frontend =
  | { type: "Q"; sql: string }
  | { type: "P"; name: string; sql: string; paramTypes: number[] }
  | { type: "B"; portal: string; statement: string; params: (Buffer | null)[]; paramFormats: number[]; resultFormats: number[] }
  | { type: "D"; kind: "S" | "P"; name: string }
  | { type: "E"; portal: string }
  | { type: "C"; kind: "S" | "P"; name: string }
  | { type: "S" }
  | { type: "other"; code: string };

export function readFrontend(data: Uint8Array): Frontend {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const type = String.fromCharCode(buf[0]);
  let pos = 5;
  const readCstr = () => {
    const end = buf.indexOf(0, pos);
    const s = buf.toString("utf8", pos, end);
    pos = end + 1;
    return s;
  };
  const readInt16 = () => {
    const v = buf.readInt16BE(pos);
    pos += 2;
    return v;
  };
  const readInt32 = () => {
    const v = buf.readInt32BE(pos);
    pos += 4;
    return v;
  };
  switch (type) {
    case "Q":
      return { type, sql: readCstr() };
    case "P": {
      const name = readCstr();
      const sql = readCstr();
      const n = readInt16();
      const paramTypes = Array.from({ length: n }, readInt32);
      return { type, name, sql, paramTypes };
    }
    case "B": {
      const portal = readCstr();
      const statement = readCstr();
      const nFormats = readInt16();
      const paramFormats = Array.from({ length: nFormats }, readInt16);
      const nParams = readInt16();
      const params: (Buffer | null)[] = [];
      for (let i = 0; i < nParams; i++) {
        const len = readInt32();
        if (len < 0) params.push(null);
        else {
          params.push(Buffer.from(buf.subarray(pos, pos + len)));
          pos += len;
        }
      }
      const nResults = readInt16();
      const resultFormats = Array.from({ length: nResults }, readInt16);
      return { type, portal, statement, params, paramFormats, resultFormats };
    }
    case "D":
    case "C": {
      const kind = String.fromCharCode(buf[pos++]) as "S" | "P";
      return { type, kind, name: readCstr() };
    }
    case "E":
      return { type, portal: readCstr() };
    case "S":
      return { type };
    default:
      return { type: "other", code: type };
  }
}

/** A StartupMessage's parameters, or undefined for anything else (SSLRequest, GSSENCRequest, CancelRequest). */
export function readStartup(data: Uint8Array): Record<string, string> | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 8 || buf.readInt32BE(0) !== buf.length || buf.readInt32BE(4) !== 196608) return undefined;
  const params: Record<string, string> = {};
  let pos = 8;
  while (pos < buf.length && buf[pos] !== 0) {
    const k = buf.toString("utf8", pos, buf.indexOf(0, pos));
    pos = buf.indexOf(0, pos) + 1;
    params[k] = buf.toString("utf8", pos, buf.indexOf(0, pos));
    pos = buf.indexOf(0, pos) + 1;
  }
  return params;
}

/** GSSENCRequest (psql may send it before SSLRequest): the server answers "N", no encryption. */
export const isGssEncRequest = (data: Uint8Array) => data.byteLength === 8 && Buffer.from(data.buffer, data.byteOffset, 8).readInt32BE(4) === 80877104;

/** AuthenticationCleartextPassword: the server asks for the password (CockroachDB's password login over a connection). */
export const passwordRequest = () => message("R", int32(3));

/** The password of a PasswordMessage ('p'), or undefined for any other message. */
export function readPassword(data: Uint8Array): string | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 5 || buf[0] !== "p".charCodeAt(0)) return undefined;
  const end = buf.indexOf(0, 5);
  return buf.toString("utf8", 5, end < 0 ? buf.length : end);
}

/** AuthenticationOk, a ParameterStatus per entry, BackendKeyData and ReadyForQuery: the answer to a trusted startup. */
export function startupReply(status: [string, string][], pid: number, secret: number): Buffer {
  return Buffer.concat([
    message("R", int32(0)),
    ...status.map(([k, v]) => message("S", Buffer.concat([cstr(k), cstr(v)]))),
    message("K", Buffer.concat([int32(pid), int32(secret)])),
    readyForQuery("I"),
  ]);
}

/**
 * The message with the names it carries (statement and/or portal) passed through `rename`: Parse
 * (statement), Bind (portal, statement), Describe/Close (one, after the kind byte), Execute (portal).
 */
export function renameInMessage(data: Uint8Array, rename: (name: string) => string): Uint8Array {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const type = String.fromCharCode(buf[0]);
  const count = type === "B" ? 2 : ["P", "D", "C", "E"].includes(type) ? 1 : 0;
  if (!count) return data;
  let pos = type === "D" || type === "C" ? 6 : 5;
  const head = buf.subarray(1, pos).subarray(4);
  const names: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const end = buf.indexOf(0, pos);
    names.push(cstr(rename(buf.toString("utf8", pos, end))));
    pos = end + 1;
  }
  return message(type, Buffer.concat([head, ...names, buf.subarray(pos)]));
}

/** Query and Parse messages, for a statement the twin rewrote before PGlite runs it. */
export const queryMessage = (sql: string) => message("Q", cstr(sql));
export const parseMessage = (name: string, sql: string, paramTypes: number[]) =>
  message("P", Buffer.concat([cstr(name), cstr(sql), int16(paramTypes.length), ...paramTypes.map(int32)]));
