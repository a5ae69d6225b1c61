// IAM v1 subset: service accounts (create/get/list/patch/delete/undelete/disable/enable), their keys
// (create/get/list/delete, privateKeyData = base64 of a real key file) and project custom roles with
// soft delete (gcp-apis.md §2, §3).
import * as crypto from "crypto";
import { ApiError, failedPrecondition, invalid, notFound } from "./errors";
import type { CustomRole, EmulatorHost, Register, Reply, Request, ServiceAccount, ServiceAccountKey } from "./model";

export type { CustomRole, ServiceAccount, ServiceAccountKey } from "./model";
import { KNOWN_PERMISSIONS } from "./roles";
import { sameEtag } from "./policy";

const STAGES = ["ALPHA", "BETA", "GA", "DEPRECATED", "DISABLED", "EAP"];
const DAY = 86_400_000;

export class IamApi {
  /** All accounts ever created, deleted ones included (undelete needs them). */
  readonly accounts: ServiceAccount[] = [];
  /** `${project}/${roleId}` → role. */
  readonly roles = new Map<string, CustomRole>();
  /** How long a deleted role can be undeleted, and how long its id stays taken (gcp-apis.md §3). */
  roleUndeleteWindowMs = 7 * DAY;
  roleIdReuseAfterMs = 37 * DAY;

  constructor(private readonly emu: EmulatorHost) {}

  register(add: Register): void {
    const P = "/v1/projects/([^/]+)";
    const SA = `${P}/serviceAccounts/([^/:]+)`;
    add("POST", new RegExp(`^${P}/serviceAccounts$`), (r) => this.createSa(r));
    add("GET", new RegExp(`^${P}/serviceAccounts$`), (r) => this.listSa(r));
    add("GET", new RegExp(`^${SA}$`), (r) => ({ json: this.saJson(this.visibleAccount(r, "iam.serviceAccounts.get")) }));
    add("PATCH", new RegExp(`^${SA}$`), (r) => this.patchSa(r));
    add("DELETE", new RegExp(`^${SA}$`), (r) => this.deleteSa(r));
    add("POST", new RegExp(`^${SA}:undelete$`), (r) => this.undeleteSa(r));
    add("POST", new RegExp(`^${SA}:disable$`), (r) => this.setDisabled(r, true));
    add("POST", new RegExp(`^${SA}:enable$`), (r) => this.setDisabled(r, false));
    add("POST", new RegExp(`^${SA}/keys$`), (r) => this.createKeyCall(r));
    add("GET", new RegExp(`^${SA}/keys$`), (r) => this.listKeys(r));
    add("GET", new RegExp(`^${SA}/keys/([^/]+)$`), (r) => this.getKey(r));
    add("DELETE", new RegExp(`^${SA}/keys/([^/]+)$`), (r) => this.deleteKey(r));
    add("POST", new RegExp(`^${P}/roles$`), (r) => this.createRole(r));
    add("GET", new RegExp(`^${P}/roles$`), (r) => this.listRoles(r));
    add("GET", new RegExp(`^${P}/roles/([^/:]+)$`), (r) => this.getRole(r));
    add("PATCH", new RegExp(`^${P}/roles/([^/:]+)$`), (r) => this.patchRole(r));
    add("DELETE", new RegExp(`^${P}/roles/([^/:]+)$`), (r) => this.deleteRole(r));
    add("POST", new RegExp(`^${P}/roles/([^/:]+):undelete$`), (r) => this.undeleteRole(r));
  }

  // ---------------------------------------------------------------- service accounts

  findByEmail(email: string): ServiceAccount | undefined {
    // The live account wins over deleted ones with the same email.
    const all = this.accounts.filter((a) => a.email === email);
    return all.find((a) => !a.deleted) ?? all[all.length - 1];
  }

  createAccount(project: string, accountId: string, sa: { displayName?: string; description?: string }, bootstrap = false): ServiceAccount {
    const account: ServiceAccount = {
      project,
      accountId,
      email: `${accountId}@${project}.iam.gserviceaccount.com`,
      uniqueId: "1" + crypto.randomInt(1e9, 9.99e9).toString() + crypto.randomInt(1e9, 9.99e9).toString(),
      displayName: sa.displayName ?? "",
      description: sa.description ?? "",
      disabled: false,
      deleted: false,
      createdAt: Date.now(),
      bootstrap,
      keys: new Map(),
    };
    this.accounts.push(account);
    return account;
  }

  private saJson(a: ServiceAccount): unknown {
    return {
      name: `projects/${a.project}/serviceAccounts/${a.email}`,
      projectId: a.project,
      uniqueId: a.uniqueId,
      email: a.email,
      ...(a.displayName ? { displayName: a.displayName } : {}),
      ...(a.description ? { description: a.description } : {}),
      etag: "MDEwMjE5MjA=",
      oauth2ClientId: a.uniqueId,
      ...(a.disabled ? { disabled: true } : {}),
    };
  }

  /** The account a path names (email or unique id), live, visible, and with `permission` held by the caller. */
  private visibleAccount(r: Request, permission: string, opts: { deleted?: boolean } = {}): ServiceAccount {
    const [project, ref] = r.params;
    this.emu.require("iam", r.principal, permission, { project: project === "-" ? this.emu.project : project }, `projects/${project}`);
    const candidates = this.accounts.filter((a) => (a.email === ref || a.uniqueId === ref) && (project === "-" || a.project === project));
    const a = opts.deleted ? candidates.find((c) => c.deleted) : candidates.find((c) => !c.deleted);
    if (!a || (!opts.deleted && !this.emu.visible(a))) {
      // With the `-` wildcard Google answers 403 instead of 404 (gcp-apis.md §2.1).
      if (project === "-") throw new ApiError(403, `Permission '${permission}' denied on resource (or it may not exist).`);
      throw notFound(`Unknown service account`);
    }
    return a;
  }

  private createSa(r: Request): Reply {
    const [project] = r.params;
    this.emu.require("iam", r.principal, "iam.serviceAccounts.create", { project }, `projects/${project}`);
    const body = r.json<{ accountId?: string; serviceAccount?: { displayName?: string; description?: string } }>();
    const id = body.accountId ?? "";
    if (id.length < 6 || id.length > 30) throw invalid(`The account ID "${id}" does not have a length between 6 and 30.`);
    if (!/^[a-z]([-a-z0-9]*[a-z0-9])$/.test(id)) throw invalid(`${id} does not match [a-zA-Z][a-zA-Z\\d\\-]*[a-zA-Z\\d].`);
    const dn = body.serviceAccount?.displayName ?? "";
    if (Buffer.byteLength(dn) > 100) throw invalid("Display name must be at most 100 bytes.");
    if (Buffer.byteLength(body.serviceAccount?.description ?? "") > 256) throw invalid("Description must be at most 256 bytes.");
    const email = `${id}@${project}.iam.gserviceaccount.com`;
    if (this.accounts.some((a) => a.email === email && !a.deleted)) {
      throw new ApiError(409, `Service account ${id} already exists within project projects/${project}.`, {
        details: [{ "@type": "type.googleapis.com/google.rpc.ResourceInfo", resourceName: `projects/${project}/serviceAccounts/${email}` }],
      });
    }
    return { json: this.saJson(this.createAccount(project, id, body.serviceAccount ?? {})) };
  }

  private listSa(r: Request): Reply {
    const [project] = r.params;
    this.emu.require("iam", r.principal, "iam.serviceAccounts.list", { project }, `projects/${project}`);
    const accounts = this.accounts.filter((a) => a.project === project && !a.deleted && this.emu.visible(a)).map((a) => this.saJson(a));
    return { json: accounts.length ? { accounts } : {} };
  }

  private patchSa(r: Request): Reply {
    const a = this.visibleAccount(r, "iam.serviceAccounts.update");
    const body = r.json<{ serviceAccount?: { displayName?: string; description?: string }; updateMask?: string }>();
    const mask = (body.updateMask ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (mask.length === 0) throw invalid("updateMask is required.");
    for (const field of mask) {
      if (field === "displayName" || field === "display_name") a.displayName = body.serviceAccount?.displayName ?? "";
      else if (field === "description") a.description = body.serviceAccount?.description ?? "";
      else throw invalid(`Invalid update mask path: ${field}`);
    }
    return { json: this.saJson(a) };
  }

  private deleteSa(r: Request): Reply {
    const a = this.visibleAccount(r, "iam.serviceAccounts.delete");
    a.deleted = true;
    return { json: {} };
  }

  private undeleteSa(r: Request): Reply {
    const a = this.visibleAccount(r, "iam.serviceAccounts.undelete", { deleted: true });
    if (this.accounts.some((x) => x.email === a.email && !x.deleted)) {
      throw failedPrecondition(`Account ${a.email} cannot be undeleted: an account with this email exists.`);
    }
    a.deleted = false;
    return { json: { restoredAccount: this.saJson(a) } };
  }

  private setDisabled(r: Request, disabled: boolean): Reply {
    const a = this.visibleAccount(r, disabled ? "iam.serviceAccounts.disable" : "iam.serviceAccounts.enable");
    a.disabled = disabled;
    return { json: {} };
  }

  // ---------------------------------------------------------------- keys

  /** A real key pair; the key file's token_uri points at this emulator (Go clients honour it). */
  createKey(a: ServiceAccount, algorithm: string): { key: ServiceAccountKey; keyFile: string } {
    const bits = algorithm === "KEY_ALG_RSA_1024" ? 1024 : 2048;
    const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: bits });
    const id = crypto.randomBytes(20).toString("hex");
    const validAfter = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const key: ServiceAccountKey = {
      id,
      publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
      certificatePem: selfSignedCertificate(a.email, publicKey, privateKey, new Date(validAfter)),
      algorithm: bits === 1024 ? "KEY_ALG_RSA_1024" : "KEY_ALG_RSA_2048",
      validAfter,
      deleted: false,
      disabled: false,
    };
    a.keys.set(id, key);
    const keyFile = JSON.stringify(
      {
        type: "service_account",
        project_id: a.project,
        private_key_id: id,
        private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        client_email: a.email,
        client_id: a.uniqueId,
        auth_uri: "https://accounts.google.com/o/oauth2/auth",
        token_uri: this.emu.tokenUri,
        auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
        client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(a.email)}`,
        universe_domain: "googleapis.com",
      },
      null,
      2,
    );
    return { key, keyFile };
  }

  private keyJson(a: ServiceAccount, k: ServiceAccountKey, extra: Record<string, unknown> = {}): unknown {
    return {
      name: `projects/${a.project}/serviceAccounts/${a.email}/keys/${k.id}`,
      validAfterTime: k.validAfter,
      validBeforeTime: "9999-12-31T23:59:59Z",
      keyAlgorithm: k.algorithm,
      keyOrigin: "GOOGLE_PROVIDED",
      keyType: "USER_MANAGED",
      ...(k.disabled ? { disabled: true } : {}),
      ...extra,
    };
  }

  private createKeyCall(r: Request): Reply {
    const a = this.visibleAccount(r, "iam.serviceAccountKeys.create");
    const body = r.json<{ keyAlgorithm?: string; privateKeyType?: string }>();
    const type = body.privateKeyType ?? "TYPE_GOOGLE_CREDENTIALS_FILE";
    if (!["TYPE_UNSPECIFIED", "TYPE_GOOGLE_CREDENTIALS_FILE"].includes(type)) {
      throw invalid(`Private key type ${type} is not supported by this emulator.`);
    }
    const { key, keyFile } = this.createKey(a, body.keyAlgorithm ?? "KEY_ALG_RSA_2048");
    return {
      json: this.keyJson(a, key, {
        privateKeyType: "TYPE_GOOGLE_CREDENTIALS_FILE",
        privateKeyData: Buffer.from(keyFile).toString("base64"),
      }),
    };
  }

  private listKeys(r: Request): Reply {
    const a = this.visibleAccount(r, "iam.serviceAccountKeys.list");
    const types = r.query.getAll("keyTypes");
    const keys = types.length && !types.includes("USER_MANAGED") ? [] : [...a.keys.values()].filter((k) => !k.deleted);
    return { json: { keys: keys.map((k) => this.keyJson(a, k)) } };
  }

  private liveKey(r: Request, permission: string): [ServiceAccount, ServiceAccountKey] {
    const a = this.visibleAccount(r, permission);
    const k = a.keys.get(r.params[2]);
    if (!k || k.deleted) throw notFound(`Service account key ${r.params[2]} does not exist.`);
    return [a, k];
  }

  private getKey(r: Request): Reply {
    const [a, k] = this.liveKey(r, "iam.serviceAccountKeys.get");
    const pub = r.query.get("publicKeyType");
    // X509_PEM_FILE: the key's certificate; RAW_PUBLIC_KEY: the DER SubjectPublicKeyInfo (iam/v1 ServiceAccountKey publicKeyType).
    const extra =
      pub === "TYPE_X509_PEM_FILE"
        ? { publicKeyData: Buffer.from(k.certificatePem).toString("base64") }
        : pub === "TYPE_RAW_PUBLIC_KEY"
          ? { publicKeyData: crypto.createPublicKey(k.publicKeyPem).export({ type: "spki", format: "der" }).toString("base64") }
          : {};
    return { json: this.keyJson(a, k, extra) };
  }

  private deleteKey(r: Request): Reply {
    const [, k] = this.liveKey(r, "iam.serviceAccountKeys.delete");
    k.deleted = true;
    return { json: {} };
  }

  // ---------------------------------------------------------------- custom roles

  private roleJson(role: CustomRole): unknown {
    return {
      name: `projects/${role.project}/roles/${role.roleId}`,
      title: role.title,
      ...(role.description ? { description: role.description } : {}),
      includedPermissions: role.includedPermissions,
      ...(role.stage !== "ALPHA" ? { stage: role.stage } : {}),
      etag: role.etag,
      ...(role.deleted ? { deleted: true } : {}),
    };
  }

  /** Ages soft-deleted roles: past the undelete window they are gone, but the id stays taken. */
  private role(project: string, roleId: string): CustomRole | undefined {
    const role = this.roles.get(`${project}/${roleId}`);
    if (role?.deleted && role.deletedAt !== undefined) {
      const age = Date.now() - role.deletedAt;
      if (age >= this.roleIdReuseAfterMs) {
        this.roles.delete(`${project}/${roleId}`);
        return undefined;
      }
    }
    return role;
  }

  private purged(role: CustomRole): boolean {
    return role.deleted && role.deletedAt !== undefined && Date.now() - role.deletedAt >= this.roleUndeleteWindowMs;
  }

  private checkRoleBody(role: { title?: string; includedPermissions?: string[]; stage?: string; name?: string }, creating: boolean): void {
    if (creating && role.name) throw invalid("Must not specify role.name.");
    if (role.title !== undefined && Buffer.byteLength(role.title) > 100) throw invalid("The title must be at most 100 bytes.");
    if (role.stage !== undefined && !STAGES.includes(role.stage)) throw invalid(`Invalid value at 'role.stage' (${role.stage})`);
    for (const p of role.includedPermissions ?? []) {
      if (!KNOWN_PERMISSIONS.has(p)) throw invalid(`Permission ${p} is not valid.`);
    }
  }

  private createRole(r: Request): Reply {
    const [project] = r.params;
    this.emu.require("iam", r.principal, "iam.roles.create", { project }, `projects/${project}`);
    const body = r.json<{ roleId?: string; role?: any }>();
    const roleId = body.roleId ?? "";
    if (!/^[a-zA-Z0-9_.]{3,64}$/.test(roleId)) {
      throw invalid(`The role id "${roleId}" is invalid: use 3 to 64 letters, digits, '_' and '.'.`);
    }
    const role = body.role ?? {};
    this.checkRoleBody(role, true);
    const existing = this.role(project, roleId);
    if (existing?.deleted) throw failedPrecondition(`You can't create a role_id (${roleId}) which has been marked for deletion.`);
    if (existing) throw new ApiError(409, `A role named ${roleId} in projects/${project} already exists.`);
    const created: CustomRole = {
      project,
      roleId,
      title: role.title ?? "",
      description: role.description ?? "",
      includedPermissions: [...new Set<string>(role.includedPermissions ?? [])].sort(),
      stage: role.stage ?? "ALPHA",
      deleted: false,
      etag: newEtag(),
    };
    this.roles.set(`${project}/${roleId}`, created);
    return { json: this.roleJson(created) };
  }

  private listRoles(r: Request): Reply {
    const [project] = r.params;
    this.emu.require("iam", r.principal, "iam.roles.list", { project }, `projects/${project}`);
    const showDeleted = r.query.get("showDeleted") === "true";
    const full = r.query.get("view") === "FULL";
    const roles = [...this.roles.values()]
      .filter((x) => x.project === project && (showDeleted || !x.deleted) && !this.purged(x))
      .map((x) => {
        const j = this.roleJson(x) as Record<string, unknown>;
        if (!full) delete j.includedPermissions;
        return j;
      });
    return { json: roles.length ? { roles } : {} };
  }

  private liveOrDeletedRole(r: Request, permission: string): CustomRole {
    const [project, roleId] = r.params;
    this.emu.require("iam", r.principal, permission, { project }, `projects/${project}/roles/${roleId}`);
    const role = this.role(project, roleId);
    if (!role || this.purged(role)) throw notFound(`The role named projects/${project}/roles/${roleId} was not found.`);
    return role;
  }

  private getRole(r: Request): Reply {
    return { json: this.roleJson(this.liveOrDeletedRole(r, "iam.roles.get")) };
  }

  private patchRole(r: Request): Reply {
    const role = this.liveOrDeletedRole(r, "iam.roles.update");
    if (role.deleted) throw failedPrecondition(`You can't update a deleted role (projects/${role.project}/roles/${role.roleId}); undelete it first.`);
    const body = r.json<any>();
    if (body.etag && !sameEtag(body.etag, role.etag))
      throw new ApiError(409, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.", {
        status: "ABORTED",
        reason: "aborted",
      });
    this.checkRoleBody(body, false);
    const mask = (r.query.get("updateMask") ?? "title,description,includedPermissions,stage").split(",").map((s) => s.trim());
    for (const field of mask) {
      if (field === "title") role.title = body.title ?? "";
      else if (field === "description") role.description = body.description ?? "";
      else if (field === "includedPermissions" || field === "included_permissions") {
        role.includedPermissions = [...new Set<string>(body.includedPermissions ?? [])].sort();
      } else if (field === "stage") role.stage = body.stage ?? "ALPHA";
      else if (field) throw invalid(`Invalid update mask path: ${field}`);
    }
    role.etag = newEtag();
    return { json: this.roleJson(role) };
  }

  private deleteRole(r: Request): Reply {
    const role = this.liveOrDeletedRole(r, "iam.roles.delete");
    if (role.deleted) throw failedPrecondition(`The role projects/${role.project}/roles/${role.roleId} is already deleted.`);
    role.deleted = true;
    role.deletedAt = Date.now();
    role.etag = newEtag();
    return { json: this.roleJson(role) };
  }

  private undeleteRole(r: Request): Reply {
    const role = this.liveOrDeletedRole(r, "iam.roles.undelete");
    if (!role.deleted) throw failedPrecondition(`The role projects/${role.project}/roles/${role.roleId} is not deleted.`);
    role.deleted = false;
    role.deletedAt = undefined;
    role.etag = newEtag();
    return { json: this.roleJson(role) };
  }
}

export function newEtag(): string {
  return Buffer.from(crypto.randomBytes(8)).toString("base64");
}

/**
 * A self-signed X.509 v3 certificate (RFC 5280) for a key, as IAM serves one per service account
 * key: subject and issuer CN = the account, valid from the key's creation to 9999-12-31, signed
 * with SHA-256 by the key itself. Node has no certificate builder, so the DER is written here.
 */
export function selfSignedCertificate(cn: string, publicKey: crypto.KeyObject, privateKey: crypto.KeyObject, from: Date): string {
  const tlv = (tag: number, ...content: Buffer[]): Buffer => {
    const body = Buffer.concat(content);
    const n = body.length;
    const len =
      n < 0x80
        ? Buffer.from([n])
        : (() => {
            const bytes: number[] = [];
            for (let x = n; x > 0; x >>= 8) bytes.unshift(x & 0xff);
            return Buffer.from([0x80 | bytes.length, ...bytes]);
          })();
    return Buffer.concat([Buffer.from([tag]), len, body]);
  };
  const time = (d: Date) => {
    const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
    return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
  };
  const sha256WithRsa = tlv(0x30, tlv(0x06, Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b])), tlv(0x05));
  const name = tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, Buffer.from([0x55, 0x04, 0x03])), tlv(0x0c, Buffer.from(cn)))));
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  const tbs = tlv(
    0x30,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    sha256WithRsa,
    name,
    tlv(0x30, time(from), time(new Date(Date.UTC(9999, 11, 31, 23, 59, 59)))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = crypto.sign("sha256", tbs, privateKey);
  const der = tlv(0x30, tbs, sha256WithRsa, tlv(0x03, Buffer.from([0]), signature));
  return `-----BEGIN CERTIFICATE-----\n${der
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n")}\n-----END CERTIFICATE-----\n`;
}
