// The cloud-storage sink of the twin: parses a gs:// URI the way CockroachDB's GCS layer does
// (cockroach-changefeeds.md §3.1), redacts it (§3.2), names files (§4.1), and writes them the way
// its Go client would: a JWT-bearer token from the key's own token_uri, then an upload.
import * as crypto from "crypto";
import { SqlError } from "./wire";
import { KeyToken, sinkKeyJson } from "./key-token";

export interface GcsSink {
  bucket: string;
  prefix: string;
  partitionFormat: "daily" | "hourly" | "flat";
  fileSize: number;
  auth: "specified" | "implicit";
  /** The decoded key file (JSON text), when AUTH=specified. */
  credentials?: string;
  assumeRole?: string;
}

const GS_PARAMS = ["AUTH", "CREDENTIALS", "ASSUME_ROLE", "BEARER_TOKEN", "GOOGLE_BILLING_PROJECT"];
const SINK_PARAMS = ["partition_format", "file_size"];

/** Go's base64.StdEncoding: strict alphabet and padding; reports the first bad byte like Go does. */
export function goStdBase64Decode(s: string): Buffer {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\r" || s[i] === "\n") continue; // Go's decoder skips newlines
    if (!/[A-Za-z0-9+/=]/.test(s[i])) throw new Error(`illegal base64 data at input byte ${i}`);
    if (s[i] === "=" && /[^=\r\n]/.test(s.slice(i))) throw new Error(`illegal base64 data at input byte ${i}`);
  }
  const clean = s.replace(/[\r\n]/g, "");
  if (clean.length % 4 !== 0) throw new Error(`illegal base64 data at input byte ${clean.length - (clean.length % 4)}`);
  return Buffer.from(clean, "base64");
}

/** Go's url.ParseQuery: '+' means space, %XX escapes; the last of a repeated key wins here. */
export function goParseQuery(query: string): Map<string, string> {
  const params = new Map<string, string>();
  const dec = (x: string) => decodeURIComponent(x.replace(/\+/g, " "));
  for (const pair of query.split("&").filter(Boolean)) {
    const eq = pair.indexOf("=");
    params.set(dec(eq < 0 ? pair : pair.slice(0, eq)), eq < 0 ? "" : dec(pair.slice(eq + 1)));
  }
  return params;
}

/** Parses and validates a gs:// sink URI; errors read as CockroachDB's. */
export function parseGcsSink(uri: string): GcsSink {
  if (uri === "") throw new SqlError("XXUUU", "omit the SINK clause for inline results");
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/.exec(uri);
  if (!m) throw new SqlError("XXUUU", `no scheme found for sink URL "${uri}"`);
  const [, scheme, host, path, query = ""] = m;
  if (scheme !== "gs") throw new SqlError("XXUUU", `unsupported sink: ${scheme} (the twin serves gs:// sinks)`);
  const params = goParseQuery(query);
  const unknown = [...params.keys()].filter((k) => !GS_PARAMS.includes(k) && !SINK_PARAMS.includes(k));
  if (unknown.length) throw new SqlError("XXUUU", `unknown GS query parameters: ${unknown.join(", ")}`);
  const pf = params.get("partition_format") ?? "daily";
  if (!["daily", "hourly", "flat"].includes(pf)) throw new SqlError("XXUUU", `invalid partition_format of ${pf}`);
  let fileSize = 16 << 20;
  if (params.has("file_size")) {
    const fm = /^(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(params.get("file_size")!);
    if (!fm) throw new SqlError("42601", `parsing ${params.get("file_size")}: invalid size`);
    const unit: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1 << 20, gib: 1 << 30 };
    fileSize = Number(fm[1]) * unit[(fm[2] ?? "b").toLowerCase()];
  }
  const auth = (params.get("AUTH") ?? "specified").toLowerCase();
  const sink: GcsSink = {
    bucket: host,
    prefix: path.replace(/^\/+/, ""),
    partitionFormat: pf as GcsSink["partitionFormat"],
    fileSize,
    auth: auth === "implicit" ? "implicit" : "specified",
  };
  if (params.has("ASSUME_ROLE")) sink.assumeRole = params.get("ASSUME_ROLE");
  if (sink.auth === "specified") {
    const creds = params.get("CREDENTIALS");
    if (creds === undefined && !params.has("BEARER_TOKEN")) throw new SqlError("XXUUU", 'CREDENTIALS or BEARER_TOKEN must be set if "AUTH" is "specified"');
    if (params.has("BEARER_TOKEN")) throw new SqlError("0A000", "BEARER_TOKEN is not implemented by the twin");
    let decoded: Buffer;
    try {
      decoded = goStdBase64Decode(creds!);
    } catch (e) {
      throw new SqlError("XXUUU", `error getting credentials from CREDENTIALS: ${(e as Error).message}`);
    }
    try {
      const key = JSON.parse(decoded.toString("utf8"));
      if (key.type !== "service_account" || !key.private_key || !key.client_email) throw new Error("not a service account key");
    } catch (e) {
      throw new SqlError("XXUUU", `error getting credentials from CREDENTIALS: ${(e as Error).message}`);
    }
    sink.credentials = decoded.toString("utf8");
  }
  return sink;
}

/** Go's url.QueryEscape (unreserved kept, space '+', %XX upper-case). */
function goQueryEscape(s: string): string {
  return [...Buffer.from(s, "utf8")]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : b === 32 ? "+" : "%" + b.toString(16).toUpperCase().padStart(2, "0"),
    )
    .join("");
}

/** SanitizeExternalStorageURI: CREDENTIALS/BEARER_TOKEN → redacted; query re-encoded sorted by key. Written apart from the provider's own version on purpose: a stand-in sharing the code it tests would agree with its bugs. */
export function redactSink(uri: string): string {
  const q = uri.indexOf("?");
  if (q < 0) return uri;
  const pairs = uri
    .slice(q + 1)
    .split("&")
    .filter(Boolean)
    .map((p) => {
      const eq = p.indexOf("=");
      const k = decodeURIComponent((eq < 0 ? p : p.slice(0, eq)).replace(/\+/g, " "));
      const v = eq < 0 ? "" : decodeURIComponent(p.slice(eq + 1).replace(/\+/g, " "));
      return [k, k === "CREDENTIALS" || k === "BEARER_TOKEN" ? "redacted" : v] as [string, string];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return uri.slice(0, q) + "?" + pairs.map(([k, v]) => `${goQueryEscape(k)}=${goQueryEscape(v)}`).join("&");
}

/** YYYYMMDDHHMMSS + 9 nanosecond digits + 10 logical digits, from an HLC decimal (UTC, §4.1). */
export function fileTimestamp(hlc: string): string {
  const [wall, logical = "0"] = hlc.split(".");
  const ns = BigInt(wall);
  const d = new Date(Number(ns / 1_000_000n));
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const date = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
  return `${date}${String(ns % 1_000_000_000n).padStart(9, "0")}${logical.padEnd(10, "0").slice(0, 10)}`;
}

export function partitionDir(hlc: string, format: GcsSink["partitionFormat"]): string {
  if (format === "flat") return "";
  const d = new Date(Number(BigInt(hlc.split(".")[0]) / 1_000_000n));
  const day = d.toISOString().slice(0, 10);
  return format === "daily" ? `${day}/` : `${day}/${String(d.getUTCHours()).padStart(2, "0")}/`;
}

/** Writes objects with the sink's credentials: token from the key's token_uri, then a media upload. */
export class GcsWriter {
  private tokens?: KeyToken;
  constructor(
    private readonly sink: GcsSink,
    private readonly storageEndpoint: string,
    private readonly implicitKeyFile?: string,
    /** cloudstorage.write_chunk.size, read at each write. */
    private readonly chunkSize: () => number = () => 5 * 1024 * 1024,
  ) {}

  private async accessToken(): Promise<string> {
    this.tokens ??= new KeyToken(() => sinkKeyJson(this.sink, this.implicitKeyFile), "https://www.googleapis.com/auth/devstorage.read_write");
    return this.tokens.get();
  }

  /**
   * Uploads as CockroachDB's GCS sink does through Go's storage Writer (cockroach-changefeeds.md
   * §4.3: NewWriter, ChunkSize = cloudstorage.write_chunk.size, 5 MiB by default): a body under
   * one chunk in one multipart request, a larger one as a resumable upload in chunks, each sent
   * with X-GUploader-No-308 as Go's client sends it; no content type is set, so the library
   * sniffs one (net/http DetectContentType: "text/plain; charset=utf-8" for NDJSON).
   */
  async write(name: string, data: Buffer): Promise<void> {
    const objectName = [this.sink.prefix, name].filter(Boolean).join("/");
    const bucket = encodeURIComponent(this.sink.bucket);
    const auth = { authorization: `Bearer ${await this.accessToken()}` };
    const contentType = sniffContentType(data);
    const chunk = this.chunkSize();
    const check = async (res: Response, ok: (r: Response) => boolean = (r) => r.ok) => {
      if (ok(res)) return res;
      const body: any = await res.json().catch(() => ({}));
      throw new Error(`googleapi: Error ${res.status}: ${body?.error?.message ?? res.statusText}, ${body?.error?.errors?.[0]?.reason ?? ""}`);
    };
    if (chunk <= 0 || data.length < chunk) {
      const boundary = crypto.randomBytes(16).toString("hex");
      const body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ bucket: this.sink.bucket, contentType, name: objectName })}\r\n--${boundary}\r\nContent-Type: ${contentType}\r\n\r\n`,
        ),
        data,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      await check(
        await fetch(`${this.storageEndpoint}/upload/storage/v1/b/${bucket}/o?alt=json&uploadType=multipart`, {
          method: "POST",
          headers: { ...auth, "content-type": `multipart/related; boundary=${boundary}` },
          body,
        }),
      );
      return;
    }
    const init = await check(
      await fetch(`${this.storageEndpoint}/upload/storage/v1/b/${bucket}/o?alt=json&uploadType=resumable`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json", "x-upload-content-type": contentType },
        body: JSON.stringify({ bucket: this.sink.bucket, contentType, name: objectName }),
      }),
    );
    const session = init.headers.get("location")!;
    for (let at = 0; at < data.length; at += chunk) {
      const part = data.subarray(at, Math.min(at + chunk, data.length));
      const last = at + part.length >= data.length;
      const res = await fetch(session, {
        method: "PUT",
        headers: { ...auth, "content-range": `bytes ${at}-${at + part.length - 1}/${last ? data.length : "*"}`, "x-guploader-no-308": "yes" },
        body: part,
      });
      await check(res, (r) => r.ok && (last ? r.headers.get("x-http-status-code-override") !== "308" : r.headers.get("x-http-status-code-override") === "308"));
    }
  }
}

/** What Go's net/http DetectContentType says of the bodies a changefeed writes (gzip, or text). */
export function sniffContentType(data: Buffer): string {
  if (data.length >= 3 && data[0] === 0x1f && data[1] === 0x8b && data[2] === 0x08) return "application/x-gzip";
  const head = data.subarray(0, 512);
  return head.some((b) => b < 0x09 || (b > 0x0d && b < 0x20 && b !== 0x1b)) ? "application/octet-stream" : "text/plain; charset=utf-8";
}

/** A byte size as cluster settings take it: "5242880", "5 MiB", "5.0 MiB", "512KiB". */
export function parseByteSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$/i.exec(s);
  if (!m) return NaN;
  const unit: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };
  return Math.round(Number(m[1]) * unit[(m[2] ?? "b").toLowerCase()]);
}
