// Cloud Storage JSON API v1 subset: buckets (insert/get/patch/delete/list), bucket IAM policy
// (get/set with etag, testPermissions) and objects (media/multipart/resumable upload, list, get,
// alt=media download, delete), with versioning and retention enforced (gcp-apis.md §1).
import * as crypto from "crypto";
import * as zlib from "zlib";
import { checkCondition } from "./conditions";
import { ApiError, crc32c, invalid, notFound } from "./errors";
import type { BucketState, EmulatorHost, Register, Reply, Request, StoredObject } from "./model";
import { PREDEFINED_ROLES } from "./roles";
import type { Binding } from "./model";
import { checkedBindings, newPolicyEtag, sameEtag } from "./policy";

export type { Binding, BucketState, StoredObject } from "./model";

const SETTABLE = ["location", "storageClass", "labels", "versioning", "lifecycle", "retentionPolicy", "iamConfiguration", "softDeletePolicy"];
const STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL", "REGIONAL", "DURABLE_REDUCED_AVAILABILITY"];
const MULTI_REGIONS = ["US", "EU", "ASIA"];

export class StorageApi {
  readonly buckets = new Map<string, BucketState>();
  private readonly uploads = new Map<
    string,
    {
      bucket: string;
      name: string;
      contentType: string;
      metadata?: Record<string, string>;
      contentEncoding?: string;
      received: Buffer[];
      principal: string;
      query: URLSearchParams;
    }
  >();
  private generation = BigInt(Date.now()) * 1000n;

  constructor(private readonly emu: EmulatorHost) {}

  register(add: Register): void {
    const B = "/storage/v1/b/([^/]+)";
    add("POST", /^\/storage\/v1\/b$/, (r) => this.insertBucket(r));
    add("GET", /^\/storage\/v1\/b$/, (r) => this.listBuckets(r));
    add("GET", new RegExp(`^${B}$`), (r) => ({ json: this.bucketJson(this.bucket(r, "storage.buckets.get")) }));
    add("PATCH", new RegExp(`^${B}$`), (r) => this.patchBucket(r));
    add("DELETE", new RegExp(`^${B}$`), (r) => this.deleteBucket(r));
    add("GET", new RegExp(`^${B}/iam$`), (r) => ({ json: this.policyJson(this.bucket(r, "storage.buckets.getIamPolicy")) }));
    add("PUT", new RegExp(`^${B}/iam$`), (r) => this.setPolicy(r));
    add("GET", new RegExp(`^${B}/iam/testPermissions$`), (r) => this.testPermissions(r));
    add("GET", new RegExp(`^${B}/o$`), (r) => this.listObjects(r));
    // gcloud storage lists managed folders in `rm -r` (storage.managedFolders.list); the emulator has none.
    add("GET", new RegExp(`^${B}/managedFolders$`), (r) => {
      this.bucket(r, "storage.managedFolders.list");
      return { json: { kind: "storage#managedFolders" } };
    });
    // gcloud storage reads it before recursive operations (buckets.getStorageLayout; needs storage.objects.list).
    add("GET", new RegExp(`^${B}/storageLayout$`), (r) => {
      const b = this.bucket(r, "storage.objects.list");
      const f = b.fields as any;
      return {
        json: {
          kind: "storage#storageLayout",
          bucket: b.name,
          location: f.location,
          locationType: MULTI_REGIONS.includes(f.location) ? "multi-region" : "region",
          hierarchicalNamespace: { enabled: false },
        },
      };
    });
    add("GET", new RegExp(`^${B}/o/(.+)$`), (r) => this.getObject(r));
    add("DELETE", new RegExp(`^${B}/o/(.+)$`), (r) => this.deleteObject(r));
    for (const prefix of ["/upload/storage/v1/b/([^/]+)/o", "/resumable/upload/storage/v1/b/([^/]+)/o"]) {
      add("POST", new RegExp(`^${prefix}$`), (r) => this.upload(r));
      add("PUT", new RegExp(`^${prefix}$`), (r) => this.resumableChunk(r));
    }
    // Media downloads: the JSON API's download host path (Python's client, every mediaLink) and the
    // XML API's `/<bucket>/<object>`, which Go's storage client reads with by default
    // (google-cloud-go storage http_client.go NewRangeReader → XML reads unless the JSON reader is chosen).
    add("GET", /^\/download\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/, (r) => this.media(r, this.bucket(r, "storage.objects.get")));
    add("GET", /^\/(?!storage\/|upload\/|download\/|resumable\/|v1\/|b\/)([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])\/(.+)$/, (r) =>
      this.media(r, this.bucket(r, "storage.objects.get")),
    );
  }

  // ---------------------------------------------------------------- buckets

  /**
   * The bucket a request names, after checking `permission` on it. Object requests pass their object
   * (r.params[1]) and listings their prefix, which IAM Conditions on bindings look at (conditions.ts).
   */
  private bucket(r: Request, permission: string): BucketState {
    const b = this.buckets.get(r.params[0]);
    if (!b) {
      // Without the bucket the only answer Google gives is "not found" (or 403 without project rights).
      if (!this.emu.allowed(r.principal, permission, { project: this.emu.project })) {
        throw new ApiError(
          403,
          `${r.principal} does not have ${permission} access to the Google Cloud Storage bucket. Permission '${permission}' denied on resource (or it may not exist).`,
        );
      }
      throw notFound("The specified bucket does not exist.");
    }
    const object = permission.startsWith("storage.objects.") && permission !== "storage.objects.list" && r.params[1] !== undefined ? r.params[1] : undefined;
    const listPrefix = permission === "storage.objects.list" ? (r.query.get("prefix") ?? "") : undefined;
    this.emu.require(
      "storage",
      r.principal,
      permission,
      { project: b.project, bucket: b.name, object, listPrefix },
      object !== undefined ? "the Google Cloud Storage object" : "the Google Cloud Storage bucket",
    );
    return b;
  }

  private validateFields(f: Record<string, any>): void {
    if (f.storageClass !== undefined && f.storageClass !== null && !STORAGE_CLASSES.includes(f.storageClass)) {
      throw invalid(`Invalid argument: storageClass ${f.storageClass}.`);
    }
    const rp = f.retentionPolicy;
    if (rp) {
      const s = Number(rp.retentionPeriod);
      if (!Number.isInteger(s) || s <= 0 || s >= 3_155_760_000) {
        throw invalid("Retention period must be greater than 0 and less than 100 years.");
      }
    }
    if (f.labels) {
      for (const [k, v] of Object.entries(f.labels)) {
        if (!/^[a-z][a-z0-9_-]{0,62}$/.test(k) || (v !== null && !/^[a-z0-9_-]{0,63}$/.test(String(v)))) {
          throw invalid(`Invalid argument: label ${k}.`);
        }
      }
    }
    const pap = f.iamConfiguration?.publicAccessPrevention;
    if (pap !== undefined && !["inherited", "enforced", "unspecified"].includes(pap)) {
      throw invalid(`Invalid value for publicAccessPrevention: ${pap}`);
    }
  }

  private insertBucket(r: Request): Reply {
    const project = r.query.get("project");
    if (!project) throw new ApiError(400, "Required parameter: project", { reason: "required" });
    this.emu.require("storage", r.principal, "storage.buckets.create", { project }, "the Google Cloud project");
    const body = r.json<Record<string, any>>();
    const name = String(body.name ?? "");
    if (!validBucketName(name)) throw invalid(`Invalid bucket name: '${name}'`);
    const existing = this.buckets.get(name);
    if (existing) {
      throw new ApiError(
        409,
        existing.project === project
          ? "Your previous request to create the named bucket succeeded and you already own it."
          : "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
      );
    }
    this.validateFields(body);
    const now = new Date().toISOString();
    const fields: Record<string, any> = {};
    for (const k of SETTABLE) if (body[k] !== undefined && body[k] !== null) fields[k] = body[k];
    fields.location = String(fields.location ?? "US").toUpperCase();
    fields.storageClass = fields.storageClass ?? "STANDARD";
    const b: BucketState = {
      name,
      project,
      fields,
      metageneration: 1,
      timeCreated: now,
      updated: now,
      objects: [],
      retentionEffective: fields.retentionPolicy ? now : undefined,
      policy: {
        etag: "CAE=",
        bindings: [
          { role: "roles/storage.legacyBucketOwner", members: [`projectEditor:${project}`, `projectOwner:${project}`] },
          { role: "roles/storage.legacyBucketReader", members: [`projectViewer:${project}`] },
        ],
      },
    };
    this.buckets.set(name, b);
    return { json: this.bucketJson(b) };
  }

  private listBuckets(r: Request): Reply {
    const project = r.query.get("project") ?? "";
    this.emu.require("storage", r.principal, "storage.buckets.list", { project }, "the Google Cloud project");
    const items = [...this.buckets.values()].filter((b) => b.project === project).map((b) => this.bucketJson(b));
    return { json: { kind: "storage#buckets", ...(items.length ? { items } : {}) } };
  }

  bucketJson(b: BucketState): unknown {
    const f = b.fields;
    const ubla = Boolean(f.iamConfiguration?.uniformBucketLevelAccess?.enabled);
    const out: Record<string, unknown> = {
      kind: "storage#bucket",
      selfLink: `${this.emu.endpoint}/storage/v1/b/${b.name}`,
      id: b.name,
      name: b.name,
      projectNumber: projectNumber(b.project),
      metageneration: String(b.metageneration),
      location: f.location,
      storageClass: f.storageClass,
      etag: Buffer.from(`meta-${b.metageneration}`).toString("base64"),
      timeCreated: b.timeCreated,
      updated: b.updated,
      locationType: MULTI_REGIONS.includes(f.location) ? "multi-region" : "region",
      iamConfiguration: {
        bucketPolicyOnly: { enabled: ubla },
        uniformBucketLevelAccess: { enabled: ubla },
        publicAccessPrevention: f.iamConfiguration?.publicAccessPrevention ?? "inherited",
      },
      softDeletePolicy: f.softDeletePolicy ?? { retentionDurationSeconds: "604800", effectiveTime: b.timeCreated },
    };
    if (f.labels && Object.keys(f.labels).length) out.labels = f.labels;
    if (f.versioning) out.versioning = f.versioning;
    if (f.lifecycle) out.lifecycle = f.lifecycle;
    if (f.retentionPolicy) {
      out.retentionPolicy = { retentionPeriod: String(f.retentionPolicy.retentionPeriod), effectiveTime: b.retentionEffective };
    }
    return out;
  }

  private patchBucket(r: Request): Reply {
    const b = this.bucket(r, "storage.buckets.update");
    const ifMeta = r.query.get("ifMetagenerationMatch");
    if (ifMeta !== null && ifMeta !== String(b.metageneration)) {
      throw new ApiError(412, "Precondition Failed");
    }
    const body = r.json<Record<string, any>>();
    for (const k of Object.keys(body)) {
      if (!SETTABLE.includes(k) && !["name", "id", "kind", "etag", "metageneration"].includes(k)) {
        throw invalid(`Field ${k} cannot be patched by this emulator.`);
      }
    }
    if (body.location !== undefined && String(body.location).toUpperCase() !== b.fields.location) {
      throw invalid("The location of a bucket cannot be changed.");
    }
    this.validateFields(body);
    const f = b.fields;
    for (const k of SETTABLE) {
      if (!(k in body) || k === "location") continue;
      const v = body[k];
      if (v === null) delete f[k];
      else if (k === "labels") {
        const labels = { ...(f.labels ?? {}) };
        for (const [lk, lv] of Object.entries(v)) {
          if (lv === null) delete labels[lk];
          else labels[lk] = lv;
        }
        f.labels = labels;
      } else if (k === "iamConfiguration") {
        f.iamConfiguration = {
          ...(f.iamConfiguration ?? {}),
          ...v,
          uniformBucketLevelAccess: { ...(f.iamConfiguration?.uniformBucketLevelAccess ?? {}), ...(v.uniformBucketLevelAccess ?? {}) },
        };
      } else {
        if (k === "retentionPolicy") b.retentionEffective = new Date().toISOString();
        f[k] = v;
      }
    }
    b.metageneration++;
    b.updated = new Date().toISOString();
    return { json: this.bucketJson(b) };
  }

  private deleteBucket(r: Request): Reply {
    const b = this.bucket(r, "storage.buckets.delete");
    if (b.objects.length > 0) throw new ApiError(409, "The bucket you tried to delete is not empty.");
    this.buckets.delete(b.name);
    return { status: 204 };
  }

  // ---------------------------------------------------------------- IAM policy

  private policyJson(b: BucketState): unknown {
    return {
      kind: "storage#policy",
      resourceId: `projects/_/buckets/${b.name}`,
      version: b.policy.bindings.some((x) => x.condition) ? 3 : 1,
      etag: b.policy.etag,
      bindings: b.policy.bindings.map((x) => ({ role: x.role, members: [...x.members], ...(x.condition ? { condition: x.condition } : {}) })),
    };
  }

  private setPolicy(r: Request): Reply {
    const b = this.bucket(r, "storage.buckets.setIamPolicy");
    const body = r.json<{ etag?: string; bindings?: Binding[]; version?: number }>();
    if (body.etag && !sameEtag(body.etag, b.policy.etag)) throw new ApiError(412, "Precondition Failed", { reason: "conditionNotMet" });
    const bindings = checkedBindings(this.emu, body.bindings, PREDEFINED_ROLES, (binding) => {
      if (!binding.condition) return;
      if (!b.fields.iamConfiguration?.uniformBucketLevelAccess?.enabled) {
        throw new ApiError(412, "IAM conditions require uniform bucket-level access; enable uniform bucket-level access first.", { reason: "conditionNotMet" });
      }
      if ((body.version ?? 1) < 3) throw invalid("IAM policies with conditions must have version at least 3.");
      checkCondition(binding.condition);
    });
    b.policy = { bindings, etag: newPolicyEtag() };
    return { json: this.policyJson(b) };
  }

  private testPermissions(r: Request): Reply {
    const b = this.buckets.get(r.params[0]);
    if (!b) throw notFound("The specified bucket does not exist.");
    const asked = r.query.getAll("permissions");
    if (asked.length === 0) throw invalid("Required parameter: permissions");
    const granted = asked.filter((p) => this.emu.allowed(r.principal, p, { project: b.project, bucket: b.name }));
    return { json: { kind: "storage#testIamPermissionsResponse", ...(granted.length ? { permissions: granted } : {}) } };
  }

  // ---------------------------------------------------------------- objects

  private objectJson(b: BucketState, o: StoredObject): unknown {
    return {
      kind: "storage#object",
      id: `${b.name}/${o.name}/${o.generation}`,
      selfLink: `${this.emu.endpoint}/storage/v1/b/${b.name}/o/${encodeURIComponent(o.name)}`,
      mediaLink: `${this.emu.endpoint}/download/storage/v1/b/${b.name}/o/${encodeURIComponent(o.name)}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket: b.name,
      generation: o.generation,
      metageneration: o.metageneration,
      contentType: o.contentType,
      storageClass: b.fields.storageClass,
      size: String(o.data.length),
      md5Hash: crypto.createHash("md5").update(o.data).digest("base64"),
      crc32c: crc32c(o.data),
      etag: Buffer.from(o.generation).toString("base64"),
      timeCreated: o.timeCreated,
      updated: o.timeCreated,
      timeStorageClassUpdated: o.timeCreated,
      ...(o.metadata ? { metadata: o.metadata } : {}),
      ...(o.contentEncoding ? { contentEncoding: o.contentEncoding } : {}),
      ...(b.fields.retentionPolicy
        ? { retentionExpirationTime: new Date(Date.parse(o.timeCreated) + Number(b.fields.retentionPolicy.retentionPeriod) * 1000).toISOString() }
        : {}),
    };
  }

  writeAs(principal: string, bucket: string, name: string, data: Buffer, contentType: string): void {
    this.store(bucket, name, data, contentType, undefined, principal, new URLSearchParams());
  }

  private live(b: BucketState, name: string): StoredObject | undefined {
    return b.objects.find((o) => o.name === name && o.live);
  }

  private store(
    bucketName: string,
    name: string,
    data: Buffer,
    contentType: string,
    metadata: Record<string, string> | undefined,
    principal: string,
    query: URLSearchParams,
    contentEncoding?: string,
  ): Reply {
    const b = this.buckets.get(bucketName);
    if (!b) throw notFound("The specified bucket does not exist.");
    if (!name) throw new ApiError(400, "Required parameter: name", { reason: "required" });
    const what = `the Google Cloud Storage object`;
    this.emu.require("storage", principal, "storage.objects.create", { project: b.project, bucket: b.name, object: name }, what);
    const existing = this.live(b, name);
    const ifGen = query.get("ifGenerationMatch");
    if (ifGen !== null && ifGen !== (existing?.generation ?? "0")) throw new ApiError(412, "Precondition Failed", { reason: "conditionNotMet" });
    if (existing) {
      // Overwriting also needs storage.objects.delete (gcp-apis.md §1.6).
      this.emu.require("storage", principal, "storage.objects.delete", { project: b.project, bucket: b.name, object: name }, what);
      this.retire(b, existing);
    }
    this.generation += 1n;
    const o: StoredObject = {
      name,
      generation: String(this.generation),
      metageneration: "1",
      data,
      contentType: contentType || "application/octet-stream",
      live: true,
      timeCreated: new Date().toISOString(),
      ...(metadata ? { metadata } : {}),
      ...(contentEncoding ? { contentEncoding } : {}),
    };
    b.objects.push(o);
    return { json: this.objectJson(b, o) };
  }

  /** Makes a live object noncurrent (versioning on) or removes it, honouring the retention policy. */
  private retire(b: BucketState, o: StoredObject): void {
    const rp = b.fields.retentionPolicy;
    if (rp) {
      const until = Date.parse(o.timeCreated) + Number(rp.retentionPeriod) * 1000;
      if (until > Date.now()) {
        throw new ApiError(
          403,
          `Object '${b.name}/${o.name}' is subject to bucket's retention policy or object retention and cannot be deleted or overwritten until ${new Date(until).toISOString()}`,
          { reason: "retentionPolicyNotMet" },
        );
      }
    }
    if (b.fields.versioning?.enabled) o.live = false;
    else b.objects.splice(b.objects.indexOf(o), 1);
  }

  private async upload(r: Request): Promise<Reply> {
    const type = r.query.get("uploadType");
    const bucketName = r.params[0];
    const ct = String(r.headers["content-type"] ?? "");
    if (type === "media") {
      return this.store(bucketName, r.query.get("name") ?? "", r.body, ct, undefined, r.principal, r.query);
    }
    if (type === "multipart") {
      // The boundary may be quoted with " or, as apitools writes it (gsutil, gcloud: boundary=%r), with '.
      const m = /boundary=(?:"([^"]+)"|'([^']+)'|([^";\s]+))/.exec(ct);
      if (!/^multipart\/related/i.test(ct) || !m) throw invalid("Multipart upload needs Content-Type multipart/related with a boundary.");
      const parts = splitMultipart(r.body, m[1] ?? m[2] ?? m[3]);
      if (parts.length < 2) throw invalid("Multipart upload needs a metadata part and a media part.");
      const meta = JSON.parse(parts[0].body.toString("utf8") || "{}");
      const mediaType = parts[1].headers["content-type"] ?? meta.contentType ?? "";
      return this.store(
        bucketName,
        meta.name ?? r.query.get("name") ?? "",
        parts[1].body,
        mediaType,
        meta.metadata,
        r.principal,
        r.query,
        meta.contentEncoding,
      );
    }
    if (type === "resumable") {
      if (r.query.get("upload_id")) return this.resumableChunk(r);
      const meta = r.body.length ? JSON.parse(r.body.toString("utf8")) : {};
      const b = this.buckets.get(bucketName);
      if (!b) throw notFound("The specified bucket does not exist.");
      this.emu.require("storage", r.principal, "storage.objects.create", { project: b.project, bucket: b.name }, "the Google Cloud Storage object");
      const id = crypto.randomBytes(16).toString("hex");
      this.uploads.set(id, {
        bucket: bucketName,
        name: meta.name ?? r.query.get("name") ?? "",
        contentType: String(r.headers["x-upload-content-type"] ?? meta.contentType ?? ""),
        metadata: meta.metadata,
        contentEncoding: meta.contentEncoding,
        received: [],
        principal: r.principal,
        query: r.query,
      });
      const location = `${this.emu.endpoint}/upload/storage/v1/b/${bucketName}/o?uploadType=resumable&upload_id=${id}`;
      return { status: 200, headers: { location, "x-guploader-uploadid": id }, json: {} };
    }
    throw invalid(`Unsupported uploadType: ${type}`);
  }

  private resumableChunk(r: Request): Reply {
    const id = r.query.get("upload_id") ?? "";
    const up = this.uploads.get(id);
    if (!up) throw notFound("No such upload session.");
    up.received.push(r.body);
    const range = String(r.headers["content-range"] ?? "");
    const m = /bytes (\*|\d+-\d+)\/(\*|\d+)/.exec(range);
    const soFar = up.received.reduce((n, c) => n + c.length, 0);
    if ((m && m[2] === "*") || (m && Number(m[2]) > soFar)) {
      const headers: Record<string, string> = soFar ? { range: `bytes=0-${soFar - 1}` } : {};
      // "Resume Incomplete" is 308; a client that sends X-GUploader-No-308 (Go's storage client,
      // since Go's HTTP client follows a 308 as a redirect) gets 200 with the status in
      // X-Http-Status-Code-Override instead (google-api-go-client internal/gensupport/resumable.go).
      if (String(r.headers["x-guploader-no-308"] ?? "").toLowerCase() === "yes")
        return { status: 200, headers: { ...headers, "x-http-status-code-override": "308" }, raw: Buffer.alloc(0) };
      return { status: 308, headers, raw: Buffer.alloc(0) };
    }
    this.uploads.delete(id);
    return this.store(up.bucket, up.name, Buffer.concat(up.received), up.contentType, up.metadata, up.principal, up.query, up.contentEncoding);
  }

  private listObjects(r: Request): Reply {
    const b = this.bucket(r, "storage.objects.list");
    const prefix = r.query.get("prefix") ?? "";
    const delimiter = r.query.get("delimiter") ?? "";
    const versions = r.query.get("versions") === "true";
    const max = Math.min(Number(r.query.get("maxResults") ?? 1000) || 1000, 1000);
    const start = Number(r.query.get("pageToken") ?? 0) || 0;
    // With a delimiter, names with it after the prefix are rolled up into `prefixes` (each once).
    const entries: ({ object: StoredObject } | { prefix: string })[] = [];
    const seen = new Set<string>();
    for (const o of b.objects
      .filter((x) => x.name.startsWith(prefix) && (versions || x.live))
      .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : Number(BigInt(x.generation) - BigInt(y.generation))))) {
      const cut = delimiter ? o.name.indexOf(delimiter, prefix.length) : -1;
      if (cut < 0) entries.push({ object: o });
      else if (!seen.has(o.name.slice(0, cut + delimiter.length))) {
        seen.add(o.name.slice(0, cut + delimiter.length));
        entries.push({ prefix: o.name.slice(0, cut + delimiter.length) });
      }
    }
    const page = entries.slice(start, start + max);
    const items = page.flatMap((e) => ("object" in e ? [this.objectJson(b, e.object)] : []));
    const prefixes = page.flatMap((e) => ("prefix" in e ? [e.prefix] : []));
    return {
      json: partial(
        {
          kind: "storage#objects",
          ...(items.length ? { items } : {}),
          ...(prefixes.length ? { prefixes } : {}),
          ...(start + max < entries.length ? { nextPageToken: String(start + max) } : {}),
        },
        r.query.get("fields"),
      ),
    };
  }

  private findObject(r: Request, b: BucketState): StoredObject {
    const gen = r.query.get("generation");
    const o = gen ? b.objects.find((x) => x.name === r.params[1] && x.generation === gen) : this.live(b, r.params[1]);
    if (!o) throw notFound(`No such object: ${b.name}/${r.params[1]}`);
    return o;
  }

  private getObject(r: Request): Reply {
    const b = this.bucket(r, "storage.objects.get");
    if (r.query.get("alt") === "media") return this.media(r, b);
    return { json: partial(this.objectJson(b, this.findObject(r, b)), r.query.get("fields")) };
  }

  /**
   * An object's bytes: Content-Length always; a `Range` gives 206 with Content-Range (416 when it
   * starts past the end); an object stored with contentEncoding gzip is sent compressed to a client
   * that accepts gzip and decompressed to one that does not (decompressive transcoding), with the
   * stored encoding and length in x-goog-stored-* headers.
   */
  private media(r: Request, b: BucketState): Reply {
    const o = this.findObject(r, b);
    const gzipped = o.contentEncoding === "gzip";
    const transcode = gzipped && !/\bgzip\b/.test(String(r.headers["accept-encoding"] ?? ""));
    const body = transcode ? zlib.gunzipSync(o.data) : o.data;
    const headers: Record<string, string> = {
      "content-type": o.contentType,
      "x-goog-hash": `crc32c=${crc32c(o.data)},md5=${crypto.createHash("md5").update(o.data).digest("base64")}`,
      "x-goog-stored-content-encoding": o.contentEncoding ?? "identity",
      "x-goog-stored-content-length": String(o.data.length),
      "x-goog-generation": o.generation,
      "x-goog-metageneration": o.metageneration,
      "last-modified": new Date(o.timeCreated).toUTCString(),
      etag: `"${crypto.createHash("md5").update(o.data).digest("hex")}"`,
      "accept-ranges": "bytes",
      ...(gzipped && !transcode ? { "content-encoding": "gzip" } : {}),
    };
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(r.headers.range ?? "").trim());
    if (range && !transcode && (range[1] !== "" || range[2] !== "")) {
      const size = body.length;
      let first = range[1] === "" ? Math.max(0, size - Number(range[2])) : Number(range[1]);
      const last = range[1] === "" || range[2] === "" ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (first >= size) return { status: 416, headers: { "content-range": `bytes */${size}` }, raw: Buffer.from("The requested range cannot be satisfied.") };
      first = Math.max(0, first);
      return {
        status: 206,
        raw: body.subarray(first, last + 1),
        headers: { ...headers, "content-range": `bytes ${first}-${last}/${size}`, "content-length": String(last - first + 1) },
      };
    }
    return { raw: body, headers: { ...headers, "content-length": String(body.length) } };
  }

  private deleteObject(r: Request): Reply {
    const b = this.bucket(r, "storage.objects.delete");
    const o = this.findObject(r, b);
    if (r.query.get("generation") && !o.live) {
      b.objects.splice(b.objects.indexOf(o), 1);
    } else {
      this.retire(b, o);
    }
    return { status: 204 };
  }
}

/**
 * The JSON API's partial response: `fields=items(name,size),nextPageToken` keeps only those
 * (https://cloud.google.com/storage/docs/json_api#partial-response).
 */
export function partial(json: any, fields: string | null): any {
  if (!fields) return json;
  const parse = (s: string): Record<string, any> => {
    const out: Record<string, any> = {};
    let i = 0;
    const read = (): Record<string, any> => {
      const level: Record<string, any> = {};
      while (i < s.length && s[i] !== ")") {
        let name = "";
        while (i < s.length && !",()".includes(s[i])) name += s[i++];
        const path = name.trim().split("/");
        let sub: any = true;
        if (s[i] === "(") {
          i++;
          sub = read();
          i++;
        }
        let at = level;
        path.slice(0, -1).forEach((p) => (at = at[p] = typeof at[p] === "object" ? at[p] : {}));
        at[path[path.length - 1]] = sub;
        if (s[i] === ",") i++;
      }
      return level;
    };
    Object.assign(out, read());
    return out;
  };
  const pick = (v: any, sel: any): any => {
    if (sel === true || v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) return v.map((x) => pick(x, sel));
    return Object.fromEntries(
      Object.keys(sel)
        .filter((k) => k in v)
        .map((k) => [k, pick(v[k], sel[k])]),
    );
  };
  return pick(json, parse(fields));
}

/** Google's bucket-name rules (gcp-apis.md §1.3). Written apart from the provider's own version on purpose: a stand-in sharing the code it tests would agree with its bugs. */
export function validBucketName(name: string): boolean {
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) return false;
  const max = name.includes(".") ? 222 : 63;
  if (name.length < 3 || name.length > max) return false;
  if (name.split(".").some((p) => p.length === 0 || p.length > 63)) return false;
  if (name.startsWith("goog") || /g[o0][o0]g[l1][e3]/.test(name)) return false;
  return !/^\d{1,3}(\.\d{1,3}){3}$/.test(name);
}

function projectNumber(project: string): string {
  return String(BigInt("0x" + crypto.createHash("sha256").update(project).digest("hex").slice(0, 10)));
}

function splitMultipart(body: Buffer, boundary: string): { headers: Record<string, string>; body: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    const start = pos + delimiter.length;
    if (body.slice(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    // CRLF line breaks as RFC 2046 has them, or bare LF as Python's email generator (gsutil, gcloud) writes them.
    let chunk = body.slice(start, next);
    if (chunk.slice(0, 2).toString() === "\r\n") chunk = chunk.slice(2);
    else if (chunk[0] === 0x0a) chunk = chunk.slice(1);
    if (chunk.slice(-2).toString() === "\r\n") chunk = chunk.slice(0, -2);
    else if (chunk[chunk.length - 1] === 0x0a) chunk = chunk.slice(0, -1);
    const crlf = chunk.indexOf("\r\n\r\n");
    const lf = chunk.indexOf("\n\n");
    const [sep, sepLength] = crlf >= 0 && (lf < 0 || crlf < lf) ? [crlf, 4] : [lf, 2];
    const head = sep >= 0 ? chunk.slice(0, sep).toString("utf8") : "";
    const headers: Record<string, string> = {};
    for (const line of head.split(/\r?\n/)) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: sep >= 0 ? chunk.slice(sep + sepLength) : Buffer.alloc(0) });
    pos = next;
  }
  return parts;
}
