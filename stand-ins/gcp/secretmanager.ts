// The emulator's Secret Manager v1 subset (docs/cloud-run-runtime.md §1): secrets (create with
// ?secretId, get, patch of labels, delete), versions (addVersion, get, list, access, disable, enable,
// destroy) and the secret's IAM policy (GET/POST getIamPolicy, setIamPolicy). Names answer with the
// project NUMBER (§1.1), either form is taken. Payloads are base64 `data` up to 64 KiB; `latest` is
// the newest version whatever its state; access to a version not ENABLED is 400 FAILED_PRECONDITION;
// a caller without permission gets 403 "(or it may not exist)" whether or not the secret exists (§1.2).
// A secret's policy grants only Secret Manager permissions, on that secret (the lowest grant level, §1.3).
import { ApiError, crc32c, invalid, notFound } from "./errors";
import { iamPolicyJson, newPolicyEtag, policyGrants, replacedPolicy } from "./policy";
import { projectIdOf, projectNumberOf } from "./resourcemanager";
import { SECRETMANAGER_ROLES } from "./roles";
import type { EmulatorHost, Register, Reply, Request, ResourcePolicy } from "./model";

export interface SecretVersion {
  n: number;
  data: Buffer;
  state: "ENABLED" | "DISABLED" | "DESTROYED";
  createTime: string;
  destroyTime?: string;
}

export interface SecretState {
  project: string;
  id: string;
  labels: Record<string, string>;
  replication: unknown;
  createTime: string;
  etag: string;
  policy: ResourcePolicy;
  versions: SecretVersion[];
}

const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const MAX_PAYLOAD = 64 * 1024;

export class SecretManagerApi {
  readonly secrets = new Map<string, SecretState>();

  constructor(private readonly emu: EmulatorHost) {}

  register(add: Register): void {
    const P = "/v1/projects/([^/]+)";
    const S = `${P}/secrets/([^/:]+)`;
    const V = `${S}/versions/([^/:]+)`;
    const route = (method: string, re: string, h: (r: Request) => Reply) => add(method, new RegExp(`^${re}$`), h);
    route("POST", `${P}/secrets`, (r) => this.create(r));
    route("GET", S, (r) => ({ json: this.secretJson(this.secret(r, "secretmanager.secrets.get")) }));
    route("PATCH", S, (r) => this.patch(r));
    route("DELETE", S, (r) => this.remove(r));
    route("POST", `${S}:addVersion`, (r) => this.addVersion(r));
    route("GET", `${S}/versions`, (r) => {
      const s = this.secret(r, "secretmanager.versions.list");
      const versions = [...s.versions].reverse().map((v) => this.versionJson(s, v));
      return { json: versions.length ? { versions, totalSize: versions.length } : {} };
    });
    route("GET", V, (r) => {
      const { s, v } = this.version(r, "secretmanager.versions.get");
      return { json: this.versionJson(s, v) };
    });
    route("GET", `${V}:access`, (r) => this.access(r));
    for (const [verb, to] of [
      ["disable", "DISABLED"],
      ["enable", "ENABLED"],
      ["destroy", "DESTROYED"],
    ] as const)
      route("POST", `${V}:${verb}`, (r) => this.setState(r, verb, to));
    // getIamPolicy is a GET in Secret Manager's REST mapping (§1.1); POST is taken as IAM's default.
    route("GET", `${S}:getIamPolicy`, (r) => ({ json: iamPolicyJson(this.secret(r, "secretmanager.secrets.getIamPolicy").policy) }));
    route("POST", `${S}:getIamPolicy`, (r) => ({ json: iamPolicyJson(this.secret(r, "secretmanager.secrets.getIamPolicy").policy) }));
    route("POST", `${S}:setIamPolicy`, (r) => this.setPolicy(r));
  }

  /** Does the secret's policy (scope: an id in scope.project) grant `permission` to `principal`? */
  grants(project: string, id: string, principal: string, permission: string): boolean {
    const s = this.secrets.get(`${project}/${id}`);
    return !!s && permission.startsWith("secretmanager.") && policyGrants(this.emu, s.policy, principal, permission);
  }

  /**
   * A version's payload as `principal` reads it (what Cloud Run does for a secret env var before an
   * instance starts): the data, or why not in the API's words.
   */
  accessAs(principal: string, project: string, id: string, version: string): { data: Buffer } | { error: string } {
    project = this.projectId(project);
    const name = `projects/${projectNumberOf(project)}/secrets/${id}/versions/${version}`;
    if (!this.emu.allowed(principal, "secretmanager.versions.access", { project, secret: id }))
      return { error: `Permission 'secretmanager.versions.access' denied for resource '${name}' (or it may not exist).` };
    const s = this.secrets.get(`${project}/${id}`);
    const v = s && this.findVersion(s, version);
    if (!s || !v) return { error: `Secret Version [${name}] not found.` };
    if (v.state !== "ENABLED") return { error: `Secret Version [projects/${projectNumberOf(project)}/secrets/${id}/versions/${v.n}] is in ${v.state} state.` };
    return { data: v.data };
  }

  /** A project given by id or number, as its id (resourcemanager.ts projectIdOf). */
  projectId(given: string): string {
    return projectIdOf(this.emu, given);
  }

  private nameOf(s: SecretState): string {
    return `projects/${projectNumberOf(s.project)}/secrets/${s.id}`;
  }

  private secretJson(s: SecretState): unknown {
    return {
      name: this.nameOf(s),
      replication: s.replication,
      createTime: s.createTime,
      ...(Object.keys(s.labels).length ? { labels: s.labels } : {}),
      etag: s.etag,
    };
  }

  private versionJson(s: SecretState, v: SecretVersion): unknown {
    return {
      name: `${this.nameOf(s)}/versions/${v.n}`,
      createTime: v.createTime,
      ...(v.destroyTime ? { destroyTime: v.destroyTime } : {}),
      state: v.state,
      replicationStatus: { automatic: {} },
      etag: `"${Buffer.from(`${v.n}/${v.state}`).toString("base64url")}"`,
      clientSpecifiedPayloadChecksum: false,
    };
  }

  /** The caller's secret: 403 "(or it may not exist)" without `permission`, 404 when it has it and the secret is gone. */
  private secret(r: Request, permission: string, below = ""): SecretState {
    const project = this.projectId(r.params[0]);
    const id = r.params[1];
    const name = `projects/${projectNumberOf(project)}/secrets/${id}`;
    if (!this.emu.allowed(r.principal, permission, { project, secret: id }))
      throw new ApiError(403, `Permission '${permission}' denied for resource '${name}${below}' (or it may not exist).`);
    const s = this.secrets.get(`${project}/${id}`);
    if (!s) throw notFound(`Secret [${name}] not found or has no versions.`); // wording UNCONFIRMED (§1.2)
    return s;
  }

  private findVersion(s: SecretState, v: string): SecretVersion | undefined {
    if (v === "latest") return s.versions[s.versions.length - 1];
    return /^\d+$/.test(v) ? s.versions.find((x) => x.n === Number(v)) : undefined;
  }

  private version(r: Request, permission: string): { s: SecretState; v: SecretVersion } {
    const s = this.secret(r, permission, `/versions/${r.params[2]}`);
    const v = this.findVersion(s, r.params[2]);
    if (!v) throw notFound(`Secret Version [${this.nameOf(s)}/versions/${r.params[2]}] not found.`);
    return { s, v };
  }

  private create(r: Request): Reply {
    const project = this.projectId(r.params[0]);
    const id = r.query.get("secretId") ?? "";
    this.emu.require("iam", r.principal, "secretmanager.secrets.create", { project }, `projects/${project}`);
    if (!SECRET_ID.test(id)) throw invalid(`Invalid secret ID: ${JSON.stringify(id)}. Secret IDs are at most 255 letters, digits, '_' and '-'.`); // own words
    const body = r.json<{ replication?: unknown; labels?: Record<string, string> }>();
    if (!body.replication || typeof body.replication !== "object") throw invalid("Field [replication] is required."); // as Field [payload] is required (§1.2)
    const key = `${project}/${id}`;
    if (this.secrets.has(key)) throw new ApiError(409, `Secret [projects/${projectNumberOf(project)}/secrets/${id}] already exists.`);
    const s: SecretState = {
      project,
      id,
      labels: { ...(body.labels ?? {}) },
      replication: body.replication,
      createTime: new Date().toISOString(),
      etag: `"${newPolicyEtag()}"`,
      policy: { bindings: [], etag: newPolicyEtag() },
      versions: [],
    };
    this.secrets.set(key, s);
    return { json: this.secretJson(s) };
  }

  private patch(r: Request): Reply {
    const s = this.secret(r, "secretmanager.secrets.update");
    const mask = (r.query.get("updateMask") ?? "").split(",").filter(Boolean);
    if (!mask.length) throw invalid("Field [update_mask] is required."); // update_mask is Required (§1.1)
    const body = r.json<{ labels?: Record<string, string>; replication?: unknown }>();
    for (const f of mask) {
      if (f === "labels") s.labels = { ...(body.labels ?? {}) };
      else if (f === "replication")
        throw invalid("Field [replication] is immutable."); // IMMUTABLE (§1.1); own words
      else throw invalid(`Field [${f}] is not supported in update_mask by this emulator.`); // own words
    }
    s.etag = `"${newPolicyEtag()}"`;
    return { json: this.secretJson(s) };
  }

  private remove(r: Request): Reply {
    const s = this.secret(r, "secretmanager.secrets.delete");
    this.secrets.delete(`${s.project}/${s.id}`);
    return { json: {} };
  }

  private addVersion(r: Request): Reply {
    const s = this.secret(r, "secretmanager.versions.add");
    const payload = r.json<{ payload?: { data?: string } }>().payload;
    if (!payload || typeof payload.data !== "string") throw invalid("Field [payload] is required.");
    const data = Buffer.from(payload.data, "base64");
    if (data.length > MAX_PAYLOAD) throw invalid(`Secret payload is larger than ${MAX_PAYLOAD} bytes.`); // 64KiB (§1.1); own words
    const v: SecretVersion = { n: (s.versions[s.versions.length - 1]?.n ?? 0) + 1, data, state: "ENABLED", createTime: new Date().toISOString() };
    s.versions.push(v);
    return { json: this.versionJson(s, v) };
  }

  private access(r: Request): Reply {
    const { s, v } = this.version(r, "secretmanager.versions.access");
    if (v.state !== "ENABLED")
      throw new ApiError(400, `Secret Version [${this.nameOf(s)}/versions/${v.n}] is in ${v.state} state.`, { status: "FAILED_PRECONDITION" });
    // The server keeps a CRC32C of every payload and returns it as an int64 string (§1.1).
    const crc = Buffer.from(crc32c(v.data), "base64").readUInt32BE(0);
    return { json: { name: `${this.nameOf(s)}/versions/${v.n}`, payload: { data: v.data.toString("base64"), dataCrc32c: String(crc) } } };
  }

  private setState(r: Request, verb: string, to: SecretVersion["state"]): Reply {
    const { s, v } = this.version(r, `secretmanager.versions.${verb}`);
    if (v.state === "DESTROYED" && to !== "DESTROYED")
      throw new ApiError(400, `Secret Version [${this.nameOf(s)}/versions/${v.n}] is in DESTROYED state.`, { status: "FAILED_PRECONDITION" });
    v.state = to;
    if (to === "DESTROYED") {
      v.data = Buffer.alloc(0);
      v.destroyTime = v.destroyTime ?? new Date().toISOString();
    }
    return { json: this.versionJson(s, v) };
  }

  private setPolicy(r: Request): Reply {
    const s = this.secret(r, "secretmanager.secrets.setIamPolicy");
    // own words for the refusal of a condition
    s.policy = replacedPolicy(this.emu, r.json(), s.policy, SECRETMANAGER_ROLES, "IAM conditions on secrets are not supported by this emulator.");
    return { json: iamPolicyJson(s.policy) };
  }
}
