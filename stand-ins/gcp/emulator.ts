// A loopback emulator of the Google Cloud REST subsets this project uses: Cloud Storage JSON API
// (buckets, bucket IAM, objects with media/multipart/resumable upload), IAM (service accounts,
// keys, custom roles), BigQuery (datasets, external tables and views, queries: bigquery.ts, run by
// bqemulator as a child process started on the first BigQuery call), Pub/Sub (topics, pull
// subscriptions, topic and subscription IAM: pubsub.ts), Resource Manager (a project's number:
// resourcemanager.ts) and the OAuth2 token endpoint
// (JWT-bearer grant). Callers authenticate with real RSA keys the emulator issued; every call needs
// its permission. Behaviour follows
// docs/gcp-apis.md (§10 is the checklist this implements).
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import { Api, ApiError, permissionDenied } from "./errors";
import { BIGQUERY_ROLES, PREDEFINED_ROLES, PUBSUB_ROLES, SECRETMANAGER_ROLES } from "./roles";
import { StorageApi } from "./storage";
import { BigQueryApi } from "./bigquery";
import { IamApi, ServiceAccount } from "./iam";
import { PubsubApi } from "./pubsub";
import { PubsubGrpc } from "./pubsub-grpc";
import { MonitoringApi } from "./monitoring";
import { ResourceManagerApi } from "./resourcemanager";
import { SecretManagerApi } from "./secretmanager";
import { CloudRunApi } from "./cloudrun";
import { policyGrants } from "./policy";
import type { EmulatorHost, Handler, Reply, Request, Scope } from "./model";

export type { Register, Reply, Request, Scope } from "./model";

export interface Fault {
  method?: string;
  /** Matched against the path without query. */
  path?: RegExp;
  /** 429/5xx for overload; 409/412 stand for a concurrent writer. */
  status: 409 | 412 | 429 | 500 | 502 | 503;
  /** How many matching calls fail before the fault is used up. */
  times: number;
  retryAfterSeconds?: number;
}

export interface Knobs {
  /** Added before every answer. */
  latencyMs: number;
  /** Injected failures, consumed in order. */
  faults: Fault[];
  /** A new service account is invisible (GET 404, policy member 400) for this long. */
  serviceAccountPropagationMs: number;
}

export interface CallRecord {
  method: string;
  path: string;
  query: string;
  status: number;
  principal: string | null;
  at: number;
}

export interface EmulatorOptions {
  port?: number;
  project?: string;
  /** Where the owner's key file is written; a fresh temp dir by default. */
  stateDir?: string;
}

/** The audience values accepted in a JWT-bearer assertion: ours, and Google's (the Node library always uses it). */
const GOOGLE_TOKEN_AUDIENCES = [
  "https://oauth2.googleapis.com/token",
  "https://www.googleapis.com/oauth2/v4/token",
  "https://accounts.google.com/o/oauth2/token",
];

export class GcpEmulator implements EmulatorHost {
  readonly project: string;
  readonly knobs: Knobs = { latencyMs: 0, faults: [], serviceAccountPropagationMs: 0 };
  readonly calls: CallRecord[] = [];
  readonly iam: IamApi;
  readonly storage: StorageApi;
  readonly bigquery: BigQueryApi;
  readonly pubsub: PubsubApi;
  /** Pub/Sub's gRPC Publisher, one endpoint per principal (pubsub-grpc.ts). */
  readonly pubsubGrpc: PubsubGrpc;
  readonly resourcemanager: ResourceManagerApi;
  /** Secret Manager v1 (secrets, versions, their IAM: secretmanager.ts). */
  readonly secretmanager: SecretManagerApi;
  /** Cloud Run Admin v2 services whose instances are local processes (cloudrun.ts): register images in `cloudRun.images`. */
  readonly cloudRun: CloudRunApi;
  /** Principals with every permission on a project (the project's owners). */
  readonly owners = new Map<string, Set<string>>();
  /** Principals holding some permissions on a project (a custom role bound at project level). */
  readonly projectGrants = new Map<string, Map<string, Set<string>>>();
  /** Every permission check, in order (what a least-privilege test compares with its list). */
  readonly checks: { principal: string; permission: string; ok: boolean }[] = [];
  private readonly tokens = new Map<string, { email: string; expires: number }>();
  private readonly routes: [string, Api, RegExp, Handler][] = [];
  private server?: http.Server;
  private stateDir: string;
  private opts: EmulatorOptions;
  endpoint = "";
  adminEmail = "";
  adminKeyFile = "";

  constructor(opts: EmulatorOptions = {}) {
    this.opts = opts;
    this.project = opts.project ?? "zitadel-audit";
    this.stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "gcp-emulator-"));
    this.iam = new IamApi(this);
    this.storage = new StorageApi(this);
    this.bigquery = new BigQueryApi(this, path.join(this.stateDir, "bqemulator-gcs"));
    this.pubsub = new PubsubApi(this);
    this.pubsubGrpc = new PubsubGrpc(this.pubsub);
    this.resourcemanager = new ResourceManagerApi(this);
    this.secretmanager = new SecretManagerApi(this);
    this.cloudRun = new CloudRunApi(this, this.secretmanager, this.stateDir);
    this.route("POST", "iam", /^\/token$/, (r) => this.token(r));
    this.resourcemanager.register((m, re, h) => this.route(m, "resourcemanager", re, h));
    this.iam.register((m, re, h) => this.route(m, "iam", re, h));
    this.pubsub.register((m, re, h) => this.route(m, "pubsub", re, h));
    this.secretmanager.register((m, re, h) => this.route(m, "secretmanager", re, h));
    this.cloudRun.register((m, re, h) => this.route(m, "run", re, h));
    new MonitoringApi(this, this.pubsub).register((m, re, h) => this.route(m, "monitoring", re, h));
    // Before Storage: its XML-path media route (GET /<bucket>/<object>) would take /bigquery/v2/… too.
    this.bigquery.register((m, re, h) => this.route(m, "bigquery", re, h));
    this.storage.register((m, re, h) => this.route(m, "storage", re, h));
  }

  route(method: string, api: Api, re: RegExp, handler: Handler): void {
    this.routes.push([method, api, re, handler]);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.opts.port ?? 0, "127.0.0.1", resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    // The owner: a service account of the project holding every permission, with a key on disk.
    const owner = this.iam.createAccount(this.project, "emulator-owner", { displayName: "Emulator owner" }, true);
    this.owners.set(this.project, new Set([owner.email]));
    this.adminEmail = owner.email;
    const { keyFile } = this.iam.createKey(owner, "KEY_ALG_RSA_2048");
    this.adminKeyFile = path.join(this.stateDir, "admin-key.json");
    fs.writeFileSync(this.adminKeyFile, keyFile, { mode: 0o600 });
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await this.cloudRun.stop();
    await this.pubsubGrpc.stop();
    this.pubsub.stop();
    // The BigQuery engine's process group, when a BigQuery call started it.
    await this.bigquery.stop();
    // The owner's key file lives in a temp dir this emulator made: remove it with the emulator.
    if (!this.opts.stateDir) fs.rmSync(this.stateDir, { recursive: true, force: true });
  }

  /** The token endpoint written into every key file this emulator issues. */
  get tokenUri(): string {
    return `${this.endpoint}/token`;
  }

  /** Binds `permissions` to `principal` on the project (as a custom role granted at project level would). */
  grantProject(principal: string, permissions: string[], project = this.project): void {
    if (!this.projectGrants.has(project)) this.projectGrants.set(project, new Map());
    this.projectGrants.get(project)!.set(principal, new Set(permissions));
  }

  /** Declares another project, owned by `owners` (default: the emulator's owner account). */
  addProject(project: string, owners: string[] = this.adminEmail ? [this.adminEmail] : []): void {
    this.owners.set(project, new Set(owners));
  }

  /**
   * Does `principal` hold `permission` on the project, or on the bucket through its policy, or on the
   * BigQuery dataset (a dataset id of scope.project) through the dataset's access list, or on the Pub/Sub
   * topic or subscription through its policy?
   */
  allowed(principal: string, permission: string, scope: Scope): boolean {
    const ok = this.decide(principal, permission, scope);
    this.checks.push({ principal, permission, ok });
    return ok;
  }

  private decide(principal: string, permission: string, scope: Scope): boolean {
    // Only declared projects exist (the emulator's own, and addProject's); a key has no rights in a
    // project that does not grant them, as a key of one Google project has none in another.
    if (this.owners.get(scope.project)?.has(principal)) return true;
    if (this.projectGrants.get(scope.project)?.get(principal)?.has(permission)) return true;
    if (!scope.bucket && !scope.dataset && scope.topic === undefined && scope.subscription === undefined && scope.secret === undefined) return false;
    // A Google-managed service agent (the emulator knows Pub/Sub's) holds what its grants give, as an account does.
    const account = this.iam.findByEmail(principal);
    if (account ? account.deleted || account.disabled : !this.resourcemanager.isServiceAgent(principal)) return false;
    if (scope.secret !== undefined) return this.secretmanager.grants(scope.project, scope.secret, principal, permission);
    if (scope.dataset) return this.bigquery.datasetPermissions(scope.project, scope.dataset, principal).includes(permission);
    if (scope.topic !== undefined || scope.subscription !== undefined) return this.pubsub.grants(scope, principal, permission);
    const bucket = this.storage.buckets.get(scope.bucket!);
    // A binding with a condition counts only when it holds for the request (conditions.ts).
    const attrs = {
      resourceName: scope.object !== undefined ? `projects/_/buckets/${bucket?.name}/objects/${scope.object}` : `projects/_/buckets/${bucket?.name}`,
      resourceType: scope.object !== undefined ? ("storage.googleapis.com/Object" as const) : ("storage.googleapis.com/Bucket" as const),
      listPrefix: permission === "storage.objects.list" ? (scope.listPrefix ?? "") : undefined,
    };
    return bucket ? policyGrants(this, bucket.policy, principal, permission, attrs) : false;
  }

  require(api: Api, principal: string, permission: string, scope: Scope, what: string): void {
    if (!this.allowed(principal, permission, scope)) throw permissionDenied(api, principal, permission, what);
  }

  rolePermissions(role: string): string[] {
    if (PREDEFINED_ROLES[role]) return PREDEFINED_ROLES[role];
    if (BIGQUERY_ROLES[role]) return BIGQUERY_ROLES[role];
    if (PUBSUB_ROLES[role]) return PUBSUB_ROLES[role];
    if (SECRETMANAGER_ROLES[role]) return SECRETMANAGER_ROLES[role];
    const m = /^projects\/([^/]+)\/roles\/([^/]+)$/.exec(role);
    const custom = m ? this.iam.roles.get(`${m[1]}/${m[2]}`) : undefined;
    if (!custom || custom.deleted || custom.stage === "DISABLED") return [];
    return custom.includedPermissions;
  }

  /** Is the account visible yet (the eventual-consistency knob)? */
  visible(sa: ServiceAccount): boolean {
    return Date.now() - sa.createdAt >= this.knobs.serviceAccountPropagationMs || sa.bootstrap;
  }

  // ------------------------------------------------------------------------------------------
  // OAuth2

  private token(req: Request): Reply {
    const form = new URLSearchParams(req.body.toString("utf8"));
    const fail = (error: string, description: string, status = 400): Reply => ({
      status,
      json: { error, error_description: description },
    });
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      return fail("unsupported_grant_type", "Invalid grant_type: " + (form.get("grant_type") ?? ""));
    }
    const assertion = form.get("assertion") ?? "";
    const claims = this.verifyJwt(assertion, (c) => {
      const aud = String(c.aud ?? "");
      return aud === this.tokenUri || GOOGLE_TOKEN_AUDIENCES.includes(aud);
    });
    if (typeof claims === "string") return fail("invalid_grant", claims);
    const access = "ya29.emu-" + crypto.randomBytes(24).toString("base64url");
    this.tokens.set(access, { email: claims.iss, expires: Date.now() + 3600_000 });
    return { json: { access_token: access, expires_in: 3599, token_type: "Bearer" } };
  }

  /** Verifies an RS256 JWT signed by a live key of a live service account; returns its claims or why not. */
  private verifyJwt(jwt: string, audOk: (claims: any) => boolean): { iss: string; [k: string]: unknown } | string {
    const parts = jwt.split(".");
    if (parts.length !== 3) return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.";
    let header: any, claims: any;
    try {
      header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
      claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    } catch {
      return "Invalid JWT: malformed.";
    }
    if (header.alg !== "RS256") return "Invalid JWT: unsupported algorithm.";
    const account = typeof claims.iss === "string" ? this.iam.findByEmail(claims.iss) : undefined;
    if (!account || account.deleted) return "Invalid grant: account not found";
    if (account.disabled) return "Invalid grant: account disabled";
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== "number" || typeof claims.iat !== "number" || claims.exp < now || claims.iat > now + 300 || claims.exp - claims.iat > 3600) {
      return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
    }
    if (!audOk(claims)) return "Invalid JWT: audience mismatch.";
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2], "base64url");
    const keys = [...account.keys.values()].filter((k) => !k.deleted && !k.disabled && (!header.kid || k.id === header.kid));
    const ok = keys.some((k) => crypto.verify("RSA-SHA256", signed, k.publicKeyPem, signature));
    return ok ? claims : "Invalid JWT Signature.";
  }

  /** Bearer token → principal email. Accepts our access tokens and self-signed JWTs (kid = key id). */
  private principalOf(req: http.IncomingMessage): string | null {
    const h = req.headers.authorization;
    if (!h || !/^Bearer /i.test(h)) return null;
    const token = h.slice(7).trim();
    const t = this.tokens.get(token);
    if (t) {
      if (t.expires < Date.now()) return null;
      const sa = this.iam.findByEmail(t.email);
      return sa && !sa.deleted && !sa.disabled ? t.email : null;
    }
    if (token.split(".").length === 3) {
      const claims = this.verifyJwt(token, () => true);
      if (typeof claims !== "string") return claims.iss;
    }
    return null;
  }

  // ------------------------------------------------------------------------------------------
  // HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    // STORAGE_EMULATOR_HOST sends JSON calls without /storage/v1 (gcp-apis.md §4.4).
    let pathname = url.pathname;
    if (/^\/b(\/|$)/.test(pathname)) pathname = "/storage/v1" + pathname;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const method = (req.headers["x-http-method-override"] as string | undefined) ?? req.method ?? "GET";
    let api: Api = /^\/v1\/projects\/[^/]+\/(topics|subscriptions)(\/|$)/.test(pathname)
      ? "pubsub"
      : pathname.startsWith("/v3/")
        ? "monitoring"
        : pathname.startsWith("/v1/") || pathname === "/token"
          ? "iam"
          : pathname.startsWith("/bigquery/")
            ? "bigquery"
            : "storage";
    let reply: Reply;
    let principal: string | null = null;
    try {
      if (this.knobs.latencyMs > 0) await new Promise((r) => setTimeout(r, this.knobs.latencyMs));
      const match = this.match(method, pathname);
      if (!match) throw new ApiError(404, `Not Found: ${method} ${pathname}`);
      api = match.api;
      const fault = this.takeFault(method, pathname);
      if (fault) {
        const text =
          fault.status === 429 ? "Rate limit exceeded" : fault.status === 412 ? "Precondition Failed" : fault.status === 409 ? "Conflict" : "Backend Error";
        throw new ApiError(fault.status, text, {
          headers: fault.retryAfterSeconds !== undefined ? { "retry-after": String(fault.retryAfterSeconds) } : {},
        });
      }
      if (pathname !== "/token") {
        principal = this.principalOf(req);
        if (!principal) {
          throw new ApiError(
            401,
            api === "storage"
              ? "Anonymous caller does not have the required access, or the request is missing required authentication credential."
              : "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
          );
        }
      }
      reply = await match.handler({
        method,
        path: pathname,
        params: match.params,
        query: url.searchParams,
        headers: req.headers,
        body,
        principal: principal ?? "",
        json() {
          if (body.length === 0) return {} as any;
          try {
            return JSON.parse(body.toString("utf8"));
          } catch {
            throw new ApiError(400, "Invalid JSON payload received.");
          }
        },
      });
    } catch (e) {
      if (!(e instanceof ApiError)) {
        console.error("gcp emulator: internal error", e);
        e = new ApiError(500, "Internal error: " + (e as Error).message);
      }
      const err = e as ApiError;
      reply = { status: err.code, json: err.body(api), headers: err.opts.headers };
    }
    const status = reply.status ?? 200;
    this.calls.push({ method, path: pathname, query: url.search, status, principal, at: Date.now() });
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    let out: Buffer | undefined = reply.raw;
    if (!out && reply.json !== undefined) {
      out = Buffer.from(JSON.stringify(reply.json));
      headers["content-type"] = "application/json; charset=UTF-8";
    }
    const sent = out && status !== 204 && status !== 304 ? out : undefined;
    // writeHead fixes the header block, so the length must be in it (else Node sends it chunked).
    if (sent && headers["content-length"] === undefined) headers["content-length"] = String(sent.length);
    res.writeHead(status, headers);
    res.end(sent);
  }

  private match(method: string, pathname: string): { api: Api; handler: Handler; params: string[] } | undefined {
    let pathMatched = false;
    for (const [m, api, re, handler] of this.routes) {
      const r = re.exec(pathname);
      if (!r) continue;
      pathMatched = true;
      if (m === method) return { api, handler, params: r.slice(1).map((p) => decodeURIComponent(p ?? "")) };
    }
    if (pathMatched) throw new ApiError(405, `Method ${method} not allowed on ${pathname}`);
    return undefined;
  }

  private takeFault(method: string, pathname: string): Fault | undefined {
    const f = this.knobs.faults.find((x) => x.times > 0 && (!x.method || x.method === method) && (!x.path || x.path.test(pathname)));
    if (f) f.times--;
    return f;
  }

  /** Calls that changed something (for "a second up makes no mutating call"). */
  mutatingCalls(since = 0): CallRecord[] {
    return this.calls.filter((c) => c.at >= since && c.method !== "GET" && c.path !== "/token");
  }
}
