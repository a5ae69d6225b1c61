// The emulator's Cloud Run Admin API v2 subset for services (docs/cloud-run-runtime.md §2–4), whose
// instances are real local processes. Calls: services create (?serviceId), get, patch (the whole
// Service; allowMissing), delete; operations get and :wait. Each mutating call answers a long-running
// Operation (done:false) that ends only when the revision is ready or has failed (error code 13 with
// Cloud Run's wording, the service left behind: a failed create then meets 409, §2.1).
//
// A rollout: the caller needs run.services.create/update and iam.serviceAccounts.actAs for the runtime
// account (§2.3); the runtime account must be able to access every secret an env var names, else the
// revision fails with the cited "Permission denied on secret" text; the image must be one registered
// with `images` (the stand-in has no registry: an image is a local program); then one instance starts
// with the declared env (secret values resolved, `PORT` injected: the container contract), its startup
// probe (declared, else TCP on the port) gates readiness, and only then does the new revision replace
// the old one's instance (stopped with SIGTERM, SIGKILL 10 s later, §4). A ready instance is watched:
// a failed liveness probe (failureThreshold in a row) kills it, and an instance that exits, with any
// status, is started again (min instances are kept running, §1.4 of docs/engine-runtime.md), after a
// pause that doubles up to 30 s while it keeps failing (Cloud Run limits crash loops, §4).
//
// What stands in for the platform (own simplifications, written here once): the container's /tmp is
// fresh per instance (env values under /tmp/ are moved into a directory of the instance's own); the
// metadata server's identity is `LocalImage.identityEnv` (e.g. a Pub/Sub address that authenticates as
// the runtime account); manual scaling runs exactly manualInstanceCount (0 or 1 here) instances.
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { ChildProcess, spawn } from "child_process";
import { ApiError, invalid, notFound } from "./errors";
import { freePort } from "../net";
import { projectIdOf, projectNumberOf } from "./resourcemanager";
import type { EmulatorHost, Register, Reply, Request } from "./model";

/** What runs for an image: a local program standing for the image's entrypoint. */
export interface LocalImage {
  command: string;
  args?: string[];
  cwd?: string;
  /** The image's own environment (the Dockerfile's ENV), under the declared env. */
  env?: Record<string, string>;
  /** Environment through which the process reaches Google as the service's runtime account (the metadata server's part). */
  identityEnv?: (serviceAccountEmail: string) => Promise<Record<string, string>> | Record<string, string>;
}

/** Secret access as the runtime account does it before an instance starts (secretmanager.ts accessAs). */
export interface SecretReader {
  accessAs(principal: string, project: string, id: string, version: string): { data: Buffer } | { error: string };
}

interface Probe {
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
  httpGet?: { path?: string; port?: number };
  tcpSocket?: { port?: number };
}

export class Instance {
  readonly proc: ChildProcess;
  readonly startedAt = Date.now();
  exited = false;
  constructor(
    readonly revision: string,
    readonly port: number,
    readonly dir: string,
    command: string,
    args: string[],
    cwd: string | undefined,
    env: Record<string, string>,
  ) {
    const out = fs.openSync(path.join(dir, "instance.log"), "a");
    this.proc = spawn(command, args, { cwd, env, stdio: ["ignore", out, out], detached: true });
    fs.closeSync(out);
    this.proc.once("exit", () => (this.exited = true));
    this.proc.once("error", () => (this.exited = true));
  }
  get pid(): number {
    return this.proc.pid ?? -1;
  }
  log(): string {
    return fs.readFileSync(path.join(this.dir, "instance.log"), "utf8");
  }
  /** Signals the instance's process group. */
  signal(sig: NodeJS.Signals): void {
    if (this.exited) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      /* already gone */
    }
  }
  /** SIGTERM, then SIGKILL after `graceMs` (Cloud Run's 10 s, §4). */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.proc.once("exit", r));
    this.signal("SIGTERM");
    const t = setTimeout(() => this.signal("SIGKILL"), graceMs);
    await gone;
    clearTimeout(t);
  }
}

interface ServiceState {
  project: string;
  location: string;
  id: string;
  uid: string;
  spec: Record<string, any>;
  generation: number;
  createTime: string;
  updateTime: string;
  creator: string;
  lastModifier: string;
  etag: string;
  reconciling: boolean;
  latestCreatedRevision?: string;
  latestReadyRevision?: string;
  readyGeneration?: number;
  terminal: { type: "Ready"; state: string; message?: string; reason?: string; lastTransitionTime: string };
  instance?: Instance;
  /** The rollout under way (a newer one supersedes it). */
  rollout?: symbol;
  restarts: number;
  deleted: boolean;
  supervisor?: NodeJS.Timeout;
}

interface OperationState {
  name: string;
  done: boolean;
  service: ServiceState;
  response?: unknown;
  error?: { code: number; message: string };
  waiters: (() => void)[];
}

/** ServiceScaling.ScalingMode and IngressTraffic by number (google/cloud/run/v2 vendor_settings.proto). */
const SCALING_MODES = ["SCALING_MODE_UNSPECIFIED", "AUTOMATIC", "MANUAL"];
const INGRESS = [
  "INGRESS_TRAFFIC_UNSPECIFIED",
  "INGRESS_TRAFFIC_ALL",
  "INGRESS_TRAFFIC_INTERNAL_ONLY",
  "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
  "INGRESS_TRAFFIC_NONE",
];
const SERVICE_ID = /^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/;
const RESERVED_LABEL = /^(run\.googleapis\.com|cloud\.googleapis\.com|serving\.knative\.dev|autoscaling\.knative\.dev)\//;
const OUTPUT_ONLY = [
  "name",
  "uid",
  "generation",
  "createTime",
  "updateTime",
  "deleteTime",
  "expireTime",
  "creator",
  "lastModifier",
  "observedGeneration",
  "terminalCondition",
  "conditions",
  "latestReadyRevision",
  "latestCreatedRevision",
  "trafficStatuses",
  "uri",
  "urls",
  "reconciling",
  "etag",
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CloudRunApi {
  readonly services = new Map<string, ServiceState>();
  readonly operations = new Map<string, OperationState>();
  /** Images by reference (e.g. "europe-west1-docker.pkg.dev/p/quay/debezium/server:3.6.1.Final"). */
  readonly images = new Map<string, LocalImage>();

  constructor(
    private readonly emu: EmulatorHost,
    private readonly secrets: SecretReader,
    private readonly stateDir: string,
  ) {}

  register(add: Register): void {
    const L = "/v2/projects/([^/]+)/locations/([^/]+)";
    const S = `${L}/services/([^/:]+)`;
    const O = `${L}/operations/([^/:]+)`;
    const route = (method: string, re: string, h: (r: Request) => Reply | Promise<Reply>) => add(method, new RegExp(`^${re}$`), h);
    route("POST", `${L}/services`, (r) => this.create(r));
    route("GET", S, (r) => ({ json: this.serviceJson(this.service(r, "run.services.get")) }));
    route("PATCH", S, (r) => this.patch(r));
    route("DELETE", S, (r) => this.remove(r));
    route("GET", O, (r) => ({ json: this.operationJson(this.operation(r)) }));
    route("POST", `${O}:wait`, (r) => this.wait(r));
  }

  /** The running instance of a service ("projects/p/locations/l/services/s"), if any. */
  instanceOf(name: string): Instance | undefined {
    const s = this.services.get(this.key(name));
    return s && !s.deleted ? s.instance : undefined;
  }

  /** How often the service's instances were started again after exiting or failing a probe. */
  restartsOf(name: string): number {
    return this.services.get(this.key(name))?.restarts ?? 0;
  }

  async stop(): Promise<void> {
    const all = [...this.services.values()];
    for (const s of all) {
      s.deleted = true;
      s.rollout = undefined;
      clearTimeout(s.supervisor);
    }
    await Promise.all(all.map((s) => (s.instance ? s.instance.stop(2000) : Promise.resolve())));
  }

  private key(name: string): string {
    const m = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/.exec(name);
    return m ? `${this.projectId(m[1])}/${m[2]}/${m[3]}` : name;
  }

  private projectId(given: string): string {
    return projectIdOf(this.emu, given);
  }

  private nameOf(s: ServiceState): string {
    return `projects/${s.project}/locations/${s.location}/services/${s.id}`;
  }

  private service(r: Request, permission: string): ServiceState {
    const [p, location, id] = r.params;
    const project = this.projectId(p);
    this.emu.require("iam", r.principal, permission, { project }, `projects/${project}/locations/${location}/services/${id}`);
    const s = this.services.get(`${project}/${location}/${id}`);
    if (!s || s.deleted) throw notFound(`Resource '${id}' of kind 'SERVICE' in region '${location}' in project '${project}' does not exist.`);
    return s;
  }

  private serviceJson(s: ServiceState): Record<string, unknown> {
    const uri = `https://${s.id}-${projectNumberOf(s.project)}.${s.location}.run.app`;
    return {
      ...s.spec,
      name: this.nameOf(s),
      uid: s.uid,
      generation: String(s.generation),
      createTime: s.createTime,
      updateTime: s.updateTime,
      creator: s.creator,
      lastModifier: s.lastModifier,
      observedGeneration: String(s.readyGeneration ?? s.generation),
      terminalCondition: s.terminal,
      conditions: [s.terminal],
      ...(s.latestCreatedRevision ? { latestCreatedRevision: `${this.nameOf(s)}/revisions/${s.latestCreatedRevision}` } : {}),
      ...(s.latestReadyRevision ? { latestReadyRevision: `${this.nameOf(s)}/revisions/${s.latestReadyRevision}` } : {}),
      ...(s.latestReadyRevision ? { uri, urls: [uri] } : {}),
      reconciling: s.reconciling,
      etag: s.etag,
      ...(s.deleted ? { deleteTime: s.updateTime } : {}),
    };
  }

  private operationJson(op: OperationState): unknown {
    const meta = { "@type": "type.googleapis.com/google.cloud.run.v2.Service", ...this.serviceJson(op.service) };
    return {
      name: op.name,
      metadata: meta,
      done: op.done,
      ...(op.error ? { error: op.error } : {}),
      ...(op.done && !op.error ? { response: { "@type": "type.googleapis.com/google.cloud.run.v2.Service", ...(op.response as object) } } : {}),
    };
  }

  private operation(r: Request): OperationState {
    const [p, location, id] = r.params;
    const project = this.projectId(p);
    this.emu.require("iam", r.principal, "run.operations.get", { project }, `projects/${project}/locations/${location}/operations/${id}`);
    const op = this.operations.get(`projects/${project}/locations/${location}/operations/${id}`);
    if (!op) throw notFound(`Operation projects/${project}/locations/${location}/operations/${id} not found.`); // own words
    return op;
  }

  private async wait(r: Request): Promise<Reply> {
    const op = this.operation(r);
    const t = /^(\d+(?:\.\d+)?)s$/.exec(String(r.json<{ timeout?: string }>().timeout ?? ""));
    const ms = Math.min(t ? Number(t[1]) * 1000 : 30_000, 60_000);
    if (!op.done)
      await new Promise<void>((res) => {
        const t = setTimeout(res, ms);
        op.waiters.push(() => (clearTimeout(t), res()));
      });
    return { json: this.operationJson(op) };
  }

  private newOperation(s: ServiceState): OperationState {
    const name = `projects/${s.project}/locations/${s.location}/operations/${crypto.randomUUID()}`;
    const op: OperationState = { name, done: false, service: s, waiters: [] };
    this.operations.set(name, op);
    return op;
  }

  private finish(op: OperationState, error?: string): void {
    op.done = true;
    if (error) op.error = { code: 13, message: error };
    else op.response = this.serviceJson(op.service);
    for (const w of op.waiters.splice(0)) w();
  }

  /** The user-settable part of a Service body, checked as create and patch check it. */
  private checkedSpec(r: Request, project: string): Record<string, any> {
    const body = r.json<Record<string, any>>();
    const spec = Object.fromEntries(Object.entries(body).filter(([k]) => !OUTPUT_ONLY.includes(k)));
    const containers = spec.template?.containers;
    if (!Array.isArray(containers) || containers.length !== 1)
      throw invalid("spec.template.spec.containers: this emulator runs services of exactly one container."); // own words
    if (!containers[0].image) throw invalid("spec.template.spec.containers[0].image: Required"); // image is REQUIRED (§2.2); own words
    for (const k of Object.keys(spec.labels ?? {})) if (RESERVED_LABEL.test(k)) throw invalid(`Label key ${k} is reserved and will be rejected.`); // the reserved namespaces (§2.2); own words
    // Enums arrive as names or, from clients asking enum-encoding=int (Google's REST transports), as numbers.
    if (typeof spec.scaling?.scalingMode === "number") spec.scaling.scalingMode = SCALING_MODES[spec.scaling.scalingMode] ?? spec.scaling.scalingMode;
    if (typeof spec.ingress === "number") spec.ingress = INGRESS[spec.ingress] ?? spec.ingress;
    const mode = spec.scaling?.scalingMode ?? "AUTOMATIC";
    if (mode !== "MANUAL") throw invalid("scaling.scalingMode: this emulator runs MANUAL scaling only (exactly manualInstanceCount instances)."); // own words
    if (![0, 1].includes(Number(spec.scaling?.manualInstanceCount ?? 0))) throw invalid("scaling.manualInstanceCount: this emulator runs 0 or 1 instances."); // own words
    const sa = spec.template?.serviceAccount;
    if (!sa) throw invalid("template.serviceAccount: this emulator has no default compute account; name the runtime account."); // own words
    const account = this.emu.iam.findByEmail(sa);
    // Missing actAs and a missing account read alike (§2.3, observed).
    if (!account || account.deleted || !this.emu.allowed(r.principal, "iam.serviceAccounts.actAs", { project }))
      throw new ApiError(403, `Permission 'iam.serviceaccounts.actAs' denied on service account ${sa} (or it may not exist).`);
    return spec;
  }

  private create(r: Request): Reply {
    const [p, location] = r.params;
    const project = this.projectId(p);
    const id = r.query.get("serviceId") ?? "";
    this.emu.require("iam", r.principal, "run.services.create", { project }, `projects/${project}/locations/${location}`);
    if (!SERVICE_ID.test(id))
      throw invalid(
        "Violation in CreateServiceRequest.service_id: only lowercase, digits, and hyphens; must begin with letter, and cannot end with hyphen; must be less than 50 characters.",
      );
    if (this.services.get(`${project}/${location}/${id}`)?.deleted === false) throw new ApiError(409, `Resource '${id}' already exists.`);
    const spec = this.checkedSpec(r, project);
    const now = new Date().toISOString();
    const s: ServiceState = {
      project,
      location,
      id,
      uid: crypto.randomUUID(),
      spec,
      generation: 1,
      createTime: now,
      updateTime: now,
      creator: r.principal,
      lastModifier: r.principal,
      etag: `"${crypto.randomBytes(8).toString("base64url")}"`,
      reconciling: true,
      terminal: { type: "Ready", state: "CONDITION_RECONCILING", lastTransitionTime: now },
      restarts: 0,
      deleted: false,
    };
    this.services.set(`${project}/${location}/${id}`, s);
    const op = this.newOperation(s);
    void this.rollOut(s, op);
    return { json: this.operationJson(op) };
  }

  private patch(r: Request): Reply {
    const [p, location, id] = r.params;
    const project = this.projectId(p);
    const existing = this.services.get(`${project}/${location}/${id}`);
    if ((!existing || existing.deleted) && r.query.get("allowMissing") === "true") {
      r.query.set("serviceId", id);
      return this.create({ ...r, params: [p, location] });
    }
    const s = this.service(r, "run.services.update");
    s.spec = this.checkedSpec(r, project);
    s.generation++;
    s.updateTime = new Date().toISOString();
    s.lastModifier = r.principal;
    s.etag = `"${crypto.randomBytes(8).toString("base64url")}"`;
    s.reconciling = true;
    s.terminal = { type: "Ready", state: "CONDITION_RECONCILING", lastTransitionTime: s.updateTime };
    const op = this.newOperation(s);
    void this.rollOut(s, op);
    return { json: this.operationJson(op) };
  }

  private remove(r: Request): Reply {
    const s = this.service(r, "run.services.delete");
    s.deleted = true;
    s.rollout = undefined;
    s.updateTime = new Date().toISOString();
    clearTimeout(s.supervisor);
    const op = this.newOperation(s);
    void (async () => {
      await s.instance?.stop();
      s.instance = undefined;
      this.services.delete(`${s.project}/${s.location}/${s.id}`);
      this.finish(op);
    })();
    return { json: this.operationJson(op) };
  }

  /** Brings up the service's current generation as a new revision; the old instance runs until it is ready. */
  private async rollOut(s: ServiceState, op: OperationState): Promise<void> {
    const token = Symbol(s.id);
    s.rollout = token;
    const revision = `${s.id}-${String(s.generation).padStart(5, "0")}-${crypto.randomBytes(2).toString("hex").slice(0, 3)}`;
    s.latestCreatedRevision = revision;
    const fail = (why: string) => {
      if (s.rollout !== token) return;
      s.rollout = undefined;
      s.reconciling = false;
      s.terminal = { type: "Ready", state: "CONDITION_FAILED", reason: "REVISION_FAILED", message: why, lastTransitionTime: new Date().toISOString() };
      this.finish(op, `Revision '${revision}' is not ready and cannot serve traffic. ${why}`);
    };
    let started: Instance | undefined;
    try {
      const count = Number(s.spec.scaling?.manualInstanceCount ?? 0);
      if (count > 0) {
        started = await this.startInstance(s, revision);
        const probeFailure = await this.startupProbe(s, started);
        if (probeFailure) {
          await started.stop(2000);
          return fail(probeFailure);
        }
      }
      if (s.rollout !== token) return void (await started?.stop(2000));
      const old = s.instance;
      s.instance = started;
      s.latestReadyRevision = revision;
      s.readyGeneration = s.generation;
      s.rollout = undefined;
      s.reconciling = false;
      s.terminal = { type: "Ready", state: "CONDITION_SUCCEEDED", lastTransitionTime: new Date().toISOString() };
      this.finish(op);
      clearTimeout(s.supervisor);
      await old?.stop();
      if (started) this.supervise(s, started, 1000);
    } catch (e) {
      await started?.stop(2000);
      fail((e as Error).message);
    }
  }

  /** One instance of the service's revision: secrets resolved as the runtime account, PORT injected, /tmp its own. */
  private async startInstance(s: ServiceState, revision: string): Promise<Instance> {
    const c = s.spec.template.containers[0];
    const sa: string = s.spec.template.serviceAccount;
    const image = this.images.get(c.image);
    if (!image) throw new Error(`Image '${c.image}' not found.`); // own words
    const dir = fs.mkdtempSync(path.join(this.stateDir, `run-${s.id}-`));
    const tmp = path.join(dir, "tmp");
    fs.mkdirSync(tmp);
    const env: Record<string, string> = {};
    (c.env ?? []).forEach((e: any, i: number) => {
      const ref = e.valueSource?.secretKeyRef;
      if (!ref) return void (env[e.name] = String(e.value ?? ""));
      const m = /^(?:projects\/([^/]+)\/secrets\/)?([^/]+)$/.exec(String(ref.secret ?? ""));
      const got = this.secrets.accessAs(sa, m?.[1] ?? s.project, m?.[2] ?? "", String(ref.version ?? "latest"));
      if ("error" in got)
        // The deploy-time check's text (docs/cloud-run-runtime.md §2.3, observed).
        throw new Error(
          `spec.template.spec.containers[0].env[${i}].value_from.secret_key_ref.name: Permission denied on secret: projects/${projectNumberOf(s.project)}/secrets/${m?.[2]}/versions/${ref.version ?? "latest"} for Revision service account ${sa}. The service account used must be granted the 'Secret Manager Secret Accessor' role (roles/secretmanager.secretAccessor) at the secret, project or higher level. (${got.error})`,
        );
      env[e.name] = got.data.toString("utf8");
    });
    for (const [k, v] of Object.entries(env)) if (v.startsWith("/tmp/")) env[k] = path.join(tmp, v.slice(5));
    const port = await freePort();
    return new Instance(revision, port, dir, image.command, image.args ?? [], image.cwd, {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      TMPDIR: tmp,
      ...(image.env ?? {}),
      ...env,
      ...((await image.identityEnv?.(sa)) ?? {}),
      PORT: String(port),
      K_SERVICE: s.id,
      K_REVISION: revision,
    });
  }

  /** Runs a probe once against the instance: the declared port (the container's) is the instance's PORT. */
  private async probeOnce(i: Instance, p: Probe): Promise<boolean> {
    const timeout = (p.timeoutSeconds ?? 1) * 1000;
    if (p.httpGet) {
      try {
        const res = await fetch(`http://127.0.0.1:${i.port}${p.httpGet.path ?? "/"}`, { signal: AbortSignal.timeout(timeout) });
        await res.arrayBuffer();
        return res.status >= 200 && res.status < 400;
      } catch {
        return false;
      }
    }
    return new Promise((resolve) => {
      const sock = net.connect(i.port, "127.0.0.1");
      const done = (ok: boolean) => (sock.destroy(), resolve(ok));
      sock.setTimeout(timeout, () => done(false));
      sock.once("connect", () => done(true));
      sock.once("error", () => done(false));
    });
  }

  /** The startup probe (declared, else TCP on the port, as Cloud Run configures one): undefined when it passed, else why not. */
  private async startupProbe(s: ServiceState, i: Instance): Promise<string | undefined> {
    const c = s.spec.template.containers[0];
    const p: Probe = c.startupProbe ?? { tcpSocket: {}, periodSeconds: 1, failureThreshold: 240, timeoutSeconds: 1 };
    await sleep((p.initialDelaySeconds ?? 0) * 1000);
    for (let n = 0; n < (p.failureThreshold ?? 3); n++) {
      if (i.exited)
        return `The user-provided container exited (status ${i.proc.exitCode ?? i.proc.signalCode}) before it was ready. Its last log lines: ${i.log().trim().split("\n").slice(-5).join(" | ")}`;
      if (await this.probeOnce(i, p)) return undefined;
      await sleep((p.periodSeconds ?? 10) * 1000);
    }
    return c.startupProbe
      ? "The user-provided container failed the configured startup probe checks."
      : "Container failed to start. Failed to start and then listen on the port defined by the PORT environment variable."; // observed (§4)
  }

  /** Watches a ready instance: liveness probe and exit; a failed or exited instance is replaced (same revision). */
  private supervise(s: ServiceState, i: Instance, backoffMs: number): void {
    const c = s.spec.template.containers[0];
    const live: Probe | undefined = c.livenessProbe;
    let failures = 0;
    const tick = async () => {
      if (s.deleted || s.instance !== i || s.rollout) return;
      let dead = i.exited;
      if (!dead && live) {
        failures = (await this.probeOnce(i, live)) ? 0 : failures + 1;
        if (failures >= (live.failureThreshold ?? 3)) dead = true;
      }
      if (s.deleted || s.instance !== i || s.rollout) return;
      if (!dead) return void (s.supervisor = setTimeout(tick, live ? (live.periodSeconds ?? 10) * 1000 : 500));
      // Killed when its liveness failed; then started again after a pause (longer while it keeps failing).
      i.signal("SIGKILL");
      const ranMs = Date.now() - i.startedAt;
      const pause = ranMs > 60_000 ? 1000 : backoffMs;
      s.supervisor = setTimeout(async () => {
        if (s.deleted || s.instance !== i || s.rollout) return;
        s.restarts++;
        try {
          const next = await this.startInstance(s, i.revision);
          if (s.deleted || s.instance !== i || s.rollout) return void (await next.stop(2000));
          s.instance = next;
          this.supervise(s, next, Math.min(pause * 2, 30_000));
        } catch {
          // A secret became unreadable: the instance does not start (docs/cloud-run-runtime.md §2.3); tried again later.
          this.supervise(s, i, Math.min(pause * 2, 30_000));
        }
      }, pause);
    };
    s.supervisor = setTimeout(tick, live ? Math.max(1, live.initialDelaySeconds ?? 0) * 1000 : 500);
  }
}
