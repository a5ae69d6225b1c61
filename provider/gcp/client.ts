// The one GCP client factory every GCP provider uses, and the retry/backoff rules.
//
// Reached from state only through the modules under provider/stored/ (provider/operations-provider.ts):
// its path may change. The Google libraries are loaded on first use: only the provider process
// calls Google, and a program that merely declares resources does not pay for loading them.
import type { cloudresourcemanager_v1 } from "@googleapis/cloudresourcemanager";
import type { iam_v1 } from "@googleapis/iam";
import type { storage_v1 } from "@googleapis/storage";
import type { Gaxios } from "gaxios";
import type { GoogleAuth, JWT } from "google-auth-library";
import * as fs from "fs";
import { messageOf, notFound, statusOf, withRetry } from "./recovery";
import type { RetryOptions } from "./recovery";

export interface GcpConfig {
  /** Service account key JSON, or a path to it (as `gcp:credentials` accepts). Unset: ADC. */
  credentials?: string;
  project?: string;
  /** One origin serving token, API and upload traffic: the emulator, or a private endpoint. */
  endpoint?: string;
}

export interface ConfigSource {
  get(key: string): string | undefined;
}

export const ENDPOINT_ENV = "ZITADEL_AUDIT_STREAM_GCP_ENDPOINT";
const PROJECT_ENVS = ["GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"];

/**
 * Pulumi config first (`gcp:credentials`, `gcp:project`, `zitadel-audit-stream:gcpEndpoint`, as the
 * engine hands it to `configure`), then the environment @pulumi/gcp and Terraform read
 * (GOOGLE_CREDENTIALS, the project variables), then Application Default Credentials.
 */
/** The clients for an operation's provider config (one set per credentials, project and endpoint). */
export const clientsFor = (config?: ConfigSource): Promise<Gcp> => gcpClients(gcpConfigFrom(config));

/** The clients for an operation, and its inputs with the project filled in (the clients' own when the inputs name none). */
export async function clientsWithProject<T extends { project?: string }>(
  config: ConfigSource | undefined,
  i: T,
): Promise<{ gcp: Gcp; inputs: T & { project: string } }> {
  const gcp = await clientsFor(config);
  return { gcp, inputs: { ...i, project: i.project ?? gcp.project } };
}

export function gcpConfigFrom(config?: ConfigSource): GcpConfig {
  const env = process.env;
  const pick = (...values: (string | undefined)[]) => values.find((v) => v !== undefined && v !== "");
  return {
    credentials: pick(config?.get("gcp:credentials"), env.GOOGLE_CREDENTIALS),
    project: pick(config?.get("gcp:project"), ...PROJECT_ENVS.map((k) => env[k])),
    endpoint: pick(config?.get("zitadel-audit-stream:gcpEndpoint"), env[ENDPOINT_ENV]),
  };
}

/**
 * A Google REST API called through the same authenticated client and transport as the others:
 * BigQuery v2 and Pub/Sub v1. Google publishes no `@googleapis/bigquery` or `@googleapis/pubsub`
 * package (the npm registry answers 404; only the `googleapis` bundle of every Google API carries
 * them), and the hand-written `@google-cloud/*` clients bring their own transports (Pub/Sub's is
 * gRPC), so the few calls are made here directly.
 */
export interface RestApi {
  /** `path` is below the API's base, e.g. `/projects/p/datasets` (BigQuery) or `/projects/p/topics/t` (Pub/Sub). */
  request<T = any>(
    method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ data: T; status: number }>;
}

function restApi(auth: JWT | GoogleAuth, base: string): RestApi {
  return {
    async request(method, path, body, headers) {
      const res = await auth.request({ url: `${base}${path}`, method, data: body, headers, retry: false });
      return { data: res.data as any, status: res.status };
    },
  };
}

export interface Gcp {
  storage: storage_v1.Storage;
  iam: iam_v1.Iam;
  bigquery: RestApi;
  pubsub: RestApi;
  /** Cloud Monitoring v3 (a subscription's backlog, for the health command). */
  monitoring: RestApi;
  /** Secret Manager v1 (the engine's database password, for Cloud Run). */
  secretmanager: RestApi;
  /** Cloud Run Admin v2 (the engine's service). */
  run: RestApi;
  /** Cloud Resource Manager v1 (a project's number), loaded on first use: only the Pub/Sub service agent needs it. */
  readonly resourcemanager: cloudresourcemanager_v1.Cloudresourcemanager;
  project: string;
  /** Per-call options for media uploads, which ignore the client's rootUrl (gcp-apis.md §0, fact 3). */
  uploadOptions: { rootUrl?: string };
}

const SCOPES = ["https://www.googleapis.com/auth/cloud-platform"];

/**
 * The HTTP transport for token, API and upload traffic. It uses Node's own fetch (Node >= 22)
 * rather than gaxios' lazily imported node-fetch. With an endpoint it sends every *.googleapis.com
 * request, the token exchange included, to that origin (gcp-apis.md §4.4: rootUrl alone misses
 * uploads, and the auth library ignores a key's token_uri).
 */
function transporterFor(endpoint?: string): Gaxios {
  const { Gaxios } = require("gaxios") as typeof import("gaxios");
  const g = new Gaxios({ fetchImplementation: globalThis.fetch as any });
  if (!endpoint) return g;
  const base = endpoint.replace(/\/+$/, "");
  g.interceptors.request.add({
    resolved: async (opts) => {
      const url = new URL(String(opts.url));
      if (/(^|\.)googleapis\.com$/.test(url.hostname)) {
        opts.url = new URL(base + url.pathname + url.search);
      }
      return opts;
    },
  });
  return g;
}

function readCredentials(credentials: string): Record<string, string> {
  const text = credentials.trim().startsWith("{") ? credentials : fs.readFileSync(credentials, "utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw new Error("gcp:credentials is neither service account key JSON nor a path to a key file");
  }
}

/** Builds authenticated Storage and IAM clients. Retries are ours (withRetry), not the library's. */
/**
 * One client set per credentials + project + endpoint in this process: every operation of a
 * `pulumi up` reuses its token instead of exchanging a new one (the provider process serves all
 * resources of a run). Module-level and never serialized into state.
 */
const clientCache = new Map<string, Promise<Gcp>>();

export function gcpClients(given?: GcpConfig): Promise<Gcp> {
  const cfg = given ?? gcpConfigFrom();
  const key = JSON.stringify([cfg.credentials ?? "", cfg.project ?? "", cfg.endpoint ?? ""]);
  let made = clientCache.get(key);
  if (!made) {
    made = makeClients(cfg);
    clientCache.set(key, made);
    // A failure is not remembered: the next call tries again.
    made.catch(() => clientCache.delete(key));
  }
  return made;
}

async function makeClients(cfg: GcpConfig): Promise<Gcp> {
  const { GoogleAuth, JWT } = require("google-auth-library") as typeof import("google-auth-library");
  const { storage_v1 } = require("@googleapis/storage") as typeof import("@googleapis/storage");
  const { iam_v1 } = require("@googleapis/iam") as typeof import("@googleapis/iam");
  const transporter = transporterFor(cfg.endpoint);
  let auth: JWT | GoogleAuth;
  let keyProject: string | undefined;
  if (cfg.credentials) {
    const key = readCredentials(cfg.credentials);
    if (key.type !== "service_account")
      throw new Error(`gcp:credentials holds a "${key.type}" credential; only service_account keys are supported there (use ADC for others)`);
    keyProject = key.project_id;
    auth = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes: SCOPES, transporter });
  } else {
    auth = new GoogleAuth({ scopes: SCOPES, clientOptions: { transporter } });
  }
  const project = cfg.project ?? keyProject ?? (auth instanceof GoogleAuth ? await auth.getProjectId().catch(() => undefined) : undefined);
  if (!project) throw new Error("No GCP project: set `pulumi config set gcp:project <id>` or GOOGLE_CLOUD_PROJECT");
  const common = { auth: auth as any, retry: false, ...(cfg.endpoint ? { rootUrl: cfg.endpoint.replace(/\/+$/, "") + "/" } : {}) };
  return {
    storage: new storage_v1.Storage(common),
    iam: new iam_v1.Iam(common),
    bigquery: restApi(auth, "https://bigquery.googleapis.com/bigquery/v2"),
    pubsub: restApi(auth, "https://pubsub.googleapis.com/v1"),
    monitoring: restApi(auth, "https://monitoring.googleapis.com/v3"),
    secretmanager: restApi(auth, "https://secretmanager.googleapis.com/v1"),
    run: restApi(auth, "https://run.googleapis.com/v2"),
    get resourcemanager() {
      const { cloudresourcemanager_v1 } = require("@googleapis/cloudresourcemanager") as typeof import("@googleapis/cloudresourcemanager");
      const client = new cloudresourcemanager_v1.Cloudresourcemanager(common);
      Object.defineProperty(this, "resourcemanager", { value: client });
      return client;
    },
    project,
    uploadOptions: cfg.endpoint ? { rootUrl: cfg.endpoint.replace(/\/+$/, "") + "/" } : {},
  };
}

// ---------------------------------------------------------------------------------------------
// Errors and retries

/** One client-library call with the shared retries (withRetry); a failure names what was attempted (gcpError). */
export function gcpCall<T>(what: string, fn: () => Promise<T>, opts: Omit<RetryOptions, "what"> = {}): Promise<T> {
  return withRetry(fn, { what, ...opts }).catch((e: unknown) => {
    throw gcpError(e, what);
  });
}

/** A delete through gcpCall that counts what is already gone (`gone`, by default notFound) as done. */
export async function gcpDelete(what: string, fn: () => Promise<unknown>, gone: (e: unknown) => boolean = notFound): Promise<void> {
  await withRetry(fn, { what }).catch((e: unknown) => {
    if (!gone(e)) throw gcpError(e, what);
  });
}

/** A REST call's arguments after the API: method, path below the API's base, what it does (for messages), body, headers. */
export type RestArgs = [method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE", path: string, what: string, body?: unknown, headers?: Record<string, string>];

/**
 * One REST call (BigQuery, Pub/Sub) with the shared retries (429, 5xx, dropped connections). A
 * failure names what was attempted and keeps the HTTP status and Google's reason on the error.
 */
export async function callRest<T = any>(api: RestApi, ...[method, path, what, body, headers]: RestArgs): Promise<T> {
  try {
    return (await withRetry(() => api.request<T>(method, path, body, headers), { what })).data;
  } catch (e) {
    throw Object.assign(gcpError(e, what), { status: statusOf(e), reason: reasonOf(e) });
  }
}

/** The REST calls of one API (BigQuery, Pub/Sub): `call` with the shared retries, `orUndefined` for reads of what may be gone. */
export function restCalls(api: (gcp: Gcp) => RestApi) {
  return {
    call: <T = any>(gcp: Gcp, ...args: RestArgs) => callRest<T>(api(gcp), ...args),
    orUndefined: <T = any>(gcp: Gcp, path: string, what: string) => getRestOrUndefined<T>(api(gcp), path, what),
  };
}

/** A REST read of something that may not exist: undefined on 404. */
export async function getRestOrUndefined<T = any>(api: RestApi, path: string, what: string): Promise<T | undefined> {
  try {
    return await callRest<T>(api, "GET", path, what);
  } catch (e) {
    if (notFound(e)) return undefined;
    throw e;
  }
}

/** The project `check` can know without network I/O: config, environment, or the key's project_id. */
export function defaultProject(given?: GcpConfig): string | undefined {
  const cfg = given ?? gcpConfigFrom();
  if (cfg.project) return cfg.project;
  try {
    return cfg.credentials ? readCredentials(cfg.credentials).project_id : undefined;
  } catch {
    return undefined;
  }
}

/** One actionable line for a failed call: what was attempted, Google's message, and the HTTP status. */
export function gcpError(e: unknown, what: string): Error {
  const s = statusOf(e);
  return new Error(`${what} failed${s ? ` (HTTP ${s})` : ""}: ${messageOf(e).replace(/\.$/, "")}.${refusalHint(e)}`);
}

/** Google's machine-readable reason ("retentionPolicyNotMet", "SERVICE_DISABLED", …), if any. */
export function reasonOf(e: unknown): string | undefined {
  const err = e as any;
  const data = err?.response?.data?.error;
  return data?.errors?.[0]?.reason ?? data?.details?.find?.((d: any) => d?.reason)?.reason ?? err?.errors?.[0]?.reason;
}

/**
 * Which refusal a 401/403/412 is, and what to do: a missing permission, a retention policy (no
 * permission helps until it expires), public access prevention, or a disabled API (gcp-apis.md §1.7, §5).
 */
export function refusalHint(e: unknown): string {
  const s = statusOf(e);
  if (s === 401) return " Check gcp:credentials (or Application Default Credentials).";
  if (s !== 403 && s !== 412) return "";
  const reason = reasonOf(e) ?? "";
  const message = messageOf(e);
  if (reason === "retentionPolicyNotMet" || /retention policy|object retention/i.test(message)) {
    return " This is the bucket's retention policy, not a missing permission: the objects cannot be deleted or overwritten before their retention ends (the time is in the message). Wait until then, or keep the bucket (no forceDestroy).";
  }
  if (/public access prevention/i.test(message)) {
    return " Public access prevention forbids public principals (allUsers, allAuthenticatedUsers) on this bucket: grant a named member instead.";
  }
  if (reason === "SERVICE_DISABLED" || reason === "accessNotConfigured" || /has not been used in project|is disabled/i.test(message)) {
    return " The API is not enabled in this project: enable it (gcloud services enable <api>) and run `pulumi up` again.";
  }
  if (s === 412) return "";
  const permission = /does not have ([a-z]+\.[a-zA-Z.]+) access|Permission '([^']+)' denied/.exec(message);
  return permission
    ? ` The deploying identity lacks ${permission[1] ?? permission[2]}: grant it (README, "Permissions of the deploying identity"), or use an account that has it.`
    : " The deploying identity is refused: grant the permission named above, or use an account that has it.";
}
