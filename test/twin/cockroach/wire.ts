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

export function rowDescription(cols: Column[]): Buffer {
  const parts = [int16(cols.length)];
  for (const c of cols) parts.push(cstr(c.name), int32(0), int16(0), int32(c.oid), int16(-1), int32(-1), int16(0));
  return message("T", Buffer.concat(parts));
}

/** One row in text format; null is SQL NULL. */
export function dataRow(values: (string | null)[]): Buffer {
  const parts = [int16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(int32(-1));
    else {
      const b = Buffer.from(v, "utf8");
      parts.push(int32(b.length), b);
    }
  }
  return message("D", Buffer.concat(parts));
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
  const body = Buffer.concat([Buffer.from("S"), cstr("NOTICE"), Buffer.from("V"), cstr("NOTICE"), Buffer.from("C"), cstr("00000"), Buffer.from("M"), cstr(text), Buffer.from([0])]);
  return message("N", body);
}

/** Frontend messages the twin needs to read (type byte, then body after the length). */
export type Frontend =
  | { type: "Q"; sql: string }
  | { type: "P"; name: string; sql: string; paramTypes: number[] }
  | { type: "B"; portal: string; statement: string; params: (string | null)[] }
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
      const formats = Array.from({ length: nFormats }, readInt16);
      const nParams = readInt16();
      const params: (string | null)[] = [];
      for (let i = 0; i < nParams; i++) {
        const len = readInt32();
        if (len < 0) params.push(null);
        else {
          const binary = (formats.length === 1 ? formats[0] : formats[i] ?? 0) === 1;
          const raw = buf.subarray(pos, pos + len);
          params.push(binary ? raw.toString("hex") : raw.toString("utf8"));
          pos += len;
        }
      }
      return { type, portal, statement, params };
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
