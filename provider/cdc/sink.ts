// The sink URI of a changefeed: `gs://` (cockroach-changefeeds.md §3) or `gcpubsub://`
// (pubsub-research.md §1), and its redacted form (cockroach-changefeeds.md §3.2).
import { z } from "zod";
import { ValidationError, bucketName, parseOrThrow } from "../validation";

const serviceAccountEmail = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.-]{0,99}\.iam\.gserviceaccount\.com$|^[a-z0-9][a-z0-9._-]{0,99}@developer\.gserviceaccount\.com$/,
    "must be a service account email such as name@project.iam.gserviceaccount.com",
  );

/** Object prefix inside the bucket: ASCII path segments, no empty, "." or ".." segment. */
const objectPrefix = z
  .string()
  .max(512, "prefix is at most 512 characters")
  .transform((p) => p.replace(/^\/+|\/+$/g, ""))
  .refine((p) => p === "" || /^[A-Za-z0-9._=-]+(\/[A-Za-z0-9._=-]+)*$/.test(p), {
    message: "prefix is a path of letters, digits, '.', '_', '-' and '=' separated by single '/'",
  })
  .refine((p) => !p.split("/").some((seg) => seg === "." || seg === ".."), {
    message: 'prefix cannot contain "." or ".." segments',
  });

/** How the sink authenticates, for either kind: AUTH, CREDENTIALS and ASSUME_ROLE (§3.1; pubsub-research.md §1). */
function authRules(o: { auth?: string; credentials?: string }, ctx: z.RefinementCtx): void {
  const auth = o.auth ?? (o.credentials !== undefined ? "specified" : undefined);
  if (auth === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["credentials"],
      message: 'give the service account key in "credentials", or set auth: "implicit" to use the nodes\' own credentials',
    });
  } else if (auth === "specified" && o.credentials === undefined) {
    ctx.addIssue({ code: "custom", path: ["credentials"], message: 'auth "specified" needs "credentials" (the key)' });
  } else if (auth === "implicit" && o.credentials !== undefined) {
    ctx.addIssue({ code: "custom", path: ["credentials"], message: 'auth "implicit" takes no "credentials"; drop one of them' });
  }
}

const authFields = {
  auth: z.enum(["specified", "implicit"], { error: 'must be "specified" or "implicit"' }).optional(),
  credentials: z.string().min(1, "credentials must not be empty").optional(),
  assumeRole: z.array(serviceAccountEmail).min(1, "assumeRole must name at least one service account").max(10).optional(),
};

/**
 * A Pub/Sub destination: `gcpubsub://<project>?region=<region>&topic_name=<topic>&AUTH=…&CREDENTIALS=…`
 * (pubsub-research.md §1). One topic receives every row; the sink publishes `{"Key":[…],"Value":{…},"Topic":"…"}`
 * (pubsub-research.md §3). Without `region` CockroachDB needs `WITH unordered`, which rules out `resolved` (§1).
 */
export const pubsubSinkOptionsSchema = z
  .strictObject({
    /** The GCP project of the topic. */
    project: z.string().regex(/^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, "must be a Google Cloud project id"),
    /** The topic id (created beforehand: the writer needs only pubsub.topics.publish on it). */
    topic: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, "must be a topic id: 3-255 letters, digits and - _ . ~ + %, starting with a letter")
      .refine((t) => !t.toLowerCase().startsWith("goog"), 'must not start with "goog"'),
    /** The Pub/Sub regional endpoint, e.g. "us-east1"; leave it out only with the changefeed option `unordered`. */
    region: z
      .string()
      .regex(/^[a-z]+-[a-z]+\d+$/, 'must be a Google Cloud region such as "us-east1"')
      .optional(),
    ...authFields,
  })
  .superRefine(authRules);

export type PubSubSinkOptions = z.input<typeof pubsubSinkOptionsSchema>;

/** Is this sink a Pub/Sub destination (it names a topic) rather than a bucket? */
export function isPubSubSink(o: unknown): o is PubSubSinkOptions {
  return !!o && typeof o === "object" && "topic" in (o as object);
}

export const gcsSinkOptionsSchema = z
  .strictObject({
    bucket: bucketName,
    prefix: objectPrefix.optional(),
    // auth: `specified` (default when credentials are given): the key in CREDENTIALS; `implicit`: the nodes'
    // own Google credentials. credentials: the service account key, its JSON text or that text base64-encoded
    // (as `privateKeyData` from the IAM API). assumeRole: the impersonation chain, earlier entries delegates,
    // the last the account that writes (cockroach-changefeeds.md §3.1 ASSUME_ROLE).
    ...authFields,
    partitionFormat: z.enum(["flat", "daily", "hourly"], { error: 'must be "flat", "daily" or "hourly"' }).optional(),
    /** Target size of each output file, e.g. "16MB" (CockroachDB's default). */
    fileSize: z
      .string()
      .regex(/^[1-9][0-9]{0,12}(B|KB|MB|GB|KiB|MiB|GiB)$/, 'must be a size such as "16MB", "512KiB" or "1GB"')
      .optional(),
  })
  .superRefine(authRules);

export type GcsSinkOptions = z.input<typeof gcsSinkOptionsSchema>;

/**
 * Either destination: a bucket (`bucket`, …) or a Pub/Sub topic (`topic`, `project`, …). The kind is
 * told by `topic`; each is then checked field by field with its own rules.
 */
export const sinkUriOptionsSchema = z.unknown().transform((v, ctx) => {
  const schema = isPubSubSink(v) ? pubsubSinkOptionsSchema : gcsSinkOptionsSchema;
  const r = schema.safeParse(v);
  if (r.success) return r.data as z.output<typeof gcsSinkOptionsSchema> | z.output<typeof pubsubSinkOptionsSchema>;
  // The kind's own issues, as they are (unknown keys stay "unrecognized_keys", named by the caller).
  for (const issue of r.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
  return z.NEVER;
});

export type SinkUriOptions = GcsSinkOptions | PubSubSinkOptions;

/**
 * Normalizes a service account key to the base64 text CockroachDB decodes with Go's StdEncoding,
 * checking that it really is a key. Accepts the key's JSON text or that text base64-encoded.
 */
export function encodeCredentials(credentials: string): string {
  const problem = (reason: string) => new ValidationError("buildSinkUri", [{ field: "credentials", reason }]);
  const trimmed = credentials.trim();
  let json: string;
  let b64: string;
  if (trimmed.startsWith("{")) {
    json = trimmed;
    b64 = Buffer.from(trimmed, "utf8").toString("base64");
  } else {
    const compact = trimmed.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      throw problem("is neither key JSON nor standard base64 of it");
    }
    b64 = compact;
    json = Buffer.from(compact, "base64").toString("utf8");
  }
  let key: any;
  try {
    key = JSON.parse(json);
  } catch {
    throw problem("does not decode to JSON; pass the key file's text or its base64");
  }
  if (!key || typeof key !== "object" || typeof key.type !== "string") {
    throw problem('is not a Google credentials file (no "type" field)');
  }
  if (key.type === "service_account" && (typeof key.client_email !== "string" || typeof key.private_key !== "string")) {
    throw problem("is a service_account key without client_email or private_key");
  }
  return b64;
}

/**
 * `gs://<bucket>[/<prefix>]?partition_format=...&file_size=...&AUTH=...&ASSUME_ROLE=...&CREDENTIALS=...`
 *
 * Every value is URL-encoded: CockroachDB reads the query with Go's url.Query(), which turns a raw
 * `+` of base64 into a space (cockroach #126552), so the key must travel as encodeURIComponent(base64).
 */
export function buildSinkUri(opts: SinkUriOptions): string {
  const parsed = parseOrThrow("buildSinkUri", sinkUriOptionsSchema, opts);
  const auth = (o: { auth?: string; assumeRole?: string[]; credentials?: string }, params: [string, string][]) => {
    params.push(["AUTH", o.auth ?? "specified"]);
    if (o.assumeRole) params.push(["ASSUME_ROLE", o.assumeRole.join(",")]);
    if (o.credentials !== undefined) params.push(["CREDENTIALS", encodeCredentials(o.credentials)]);
    return params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  };
  if (isPubSubSink(parsed)) {
    // The project is the URI's host (sink_pubsub_v2.go makePubsubSinkClient; pubsub-research.md §1).
    const p = parsed as z.output<typeof pubsubSinkOptionsSchema>;
    return `gcpubsub://${p.project}?${auth(p, [...(p.region ? [["region", p.region] as [string, string]] : []), ["topic_name", p.topic]])}`;
  }
  const o = parsed as z.output<typeof gcsSinkOptionsSchema>;
  const params: [string, string][] = [];
  if (o.partitionFormat) params.push(["partition_format", o.partitionFormat]);
  if (o.fileSize) params.push(["file_size", o.fileSize]);
  const path = o.prefix ? `/${o.prefix.split("/").map(encodeURIComponent).join("/")}` : "";
  return `gs://${o.bucket}${path}?${auth(o, params)}`;
}

/** Query parameters whose values CockroachDB replaces with `redacted` for GCS (cockroach-changefeeds.md §3.2). */
const REDACTED_PARAMS = new Set(["CREDENTIALS", "BEARER_TOKEN"]);

/** Go's url.QueryEscape: unreserved bytes stay, space becomes '+', everything else %XX (upper-case hex). */
function goQueryEscape(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * The form CockroachDB shows in job descriptions and `SHOW CHANGEFEED JOB` (SanitizeExternalStorageURI):
 * secret values become `redacted`, a URL password becomes `redacted`, and the query is re-encoded the
 * way Go's url.Values.Encode does it, sorted by key. Example:
 * `gs://bucket/events?AUTH=specified&CREDENTIALS=redacted&partition_format=flat`.
 */
export function redactSinkUri(uri: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(uri);
  if (!m) throw new ValidationError("redactSinkUri", [{ field: "uri", reason: "is not a URI of the form scheme://host/path?query" }]);
  const [, scheme, authority, path, rawQuery] = m;
  const at = authority.lastIndexOf("@");
  let host = authority;
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(":");
    host = `${colon >= 0 ? `${userinfo.slice(0, colon)}:redacted` : userinfo}@${authority.slice(at + 1)}`;
  }
  if (!rawQuery) return `${scheme}://${host}${path}`;
  const byKey = new Map<string, string[]>();
  for (const pair of rawQuery.slice(1).split("&")) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, " "));
      } catch {
        throw new ValidationError("redactSinkUri", [{ field: "uri", reason: `has a malformed %-escape in "${s.slice(0, 40)}"` }]);
      }
    };
    const key = decode(eq >= 0 ? pair.slice(0, eq) : pair);
    const value = eq >= 0 ? decode(pair.slice(eq + 1)) : "";
    byKey.set(key, [...(byKey.get(key) ?? []), REDACTED_PARAMS.has(key) ? "redacted" : value]);
  }
  const keys = [...byKey.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const query = keys.flatMap((k) => byKey.get(k)!.map((v) => `${goQueryEscape(k)}=${goQueryEscape(v)}`)).join("&");
  return `${scheme}://${host}${path}?${query}`;
}
