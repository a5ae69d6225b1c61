// BigQuery REST v2 subset: datasets (insert/get/patch/update/delete), tables (insert/get/patch/update/
// delete/list: external NDJSON tables over the emulator's own buckets, views, plain tables) and query jobs
// (jobs.query, jobs.insert of a query job, jobs.get, jobs.getQueryResults). The emulator keeps the metadata
// and checks every permission (dataset access lists included); bqemulator (bigquery-engine.ts) only runs
// the SQL. Before a query, each external table it reaches, directly or through views, is read from the
// buckets with BigQuery's wildcard rule, checked line by line as BigQuery's JSON reader checks it, and
// loaded into the engine's mirror table.
// Research record: docs/bigquery-research.md. REST shapes: cloud.google.com/bigquery/docs/reference/rest/v2.
import * as crypto from "crypto";
import * as zlib from "zlib";
import { ApiError } from "./errors";
import { BigQueryExport, ExportMessage, ExportRefusal } from "./pubsub-exports";
import type { EmulatorHost, Reply, Request, Register } from "./model";
import { BIGQUERY_LEGACY_ROLES, BIGQUERY_ROLES } from "./roles";
import { BigQueryEngine, LineError, SchemaField, convertLine, engineType, legacyType, ndjsonLines, plainDecimal } from "./bigquery-engine";

export interface AccessEntry {
  role?: string;
  userByEmail?: string;
  groupByEmail?: string;
  domain?: string;
  specialGroup?: string;
  iamMember?: string;
  view?: unknown;
  routine?: unknown;
  dataset?: unknown;
}

export interface DatasetState {
  project: string;
  id: string;
  /** friendlyName, description, labels, defaultTableExpirationMs, defaultPartitionExpirationMs, location. */
  fields: Record<string, any>;
  access: AccessEntry[];
  etag: string;
  creationTime: string;
  lastModifiedTime: string;
  tables: Map<string, TableState>;
}

export interface TableState {
  project: string;
  dataset: string;
  id: string;
  type: "TABLE" | "EXTERNAL" | "VIEW";
  schema?: { fields: SchemaField[] };
  externalDataConfiguration?: Record<string, any>;
  view?: { query: string; useLegacySql?: boolean };
  /** description, friendlyName, labels, expirationTime. */
  fields: Record<string, any>;
  etag: string;
  creationTime: string;
  lastModifiedTime: string;
  /** The matched objects (and table version) last loaded into the engine: unchanged → no reload. */
  loadedKey?: string;
  /** A native table's rows written by BigQuery subscriptions (its numRows). */
  rowCount?: number;
}

interface Job {
  project: string;
  id: string;
  location: string;
  principal: string;
  fields: any[];
  rows: any[];
  /** The job resource's configuration.query (jobs.insert's, or made from the jobs.query request). */
  query: Record<string, any>;
  creationTime: string;
  /** A jobs.insert job the query failed: DONE with this error (status.errorResult); getQueryResults answers it. */
  error?: ApiError;
}

interface TableRef {
  project: string;
  dataset: string;
  table: string;
}

const SETTABLE_DATASET = ["friendlyName", "description", "labels", "defaultTableExpirationMs", "defaultPartitionExpirationMs", "location"];
const SETTABLE_TABLE = ["description", "friendlyName", "labels", "expirationTime"];
const UNSUPPORTED_TYPES = ["RECORD", "STRUCT", "BYTES", "DATETIME", "TIME", "GEOGRAPHY", "INTERVAL", "RANGE"];

/** "p:d.t", as BigQuery's messages name a table. */
const ref = (t: TableRef | TableState) => `${t.project}:${t.dataset}.${"table" in t ? t.table : t.id}`;
const now = () => String(Date.now());
/** "projects/p/locations/l/connections/c" or "p.l.c" → "p.l.c" (lower-case location). */
const connectionKey = (id: string) => {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)\/connections\/([^/]+)$/.exec(id) ?? /^([^.]+)\.([^.]+)\.([^.]+)$/.exec(id);
  return m ? `${m[1]}.${m[2].toLowerCase()}.${m[3]}` : id;
};
const newEtag = () => crypto.randomBytes(12).toString("base64");

export class BigQueryApi {
  readonly datasets = new Map<string, DatasetState>();
  /**
   * BigQuery connections ("project.location.connection" → the connection's service account), as
   * the BigQuery Connection API (not served here) would have made them: tests declare them with
   * addConnection. A BigLake table reads its files as its connection's service account.
   */
  readonly connections = new Map<string, string>();
  readonly engine: BigQueryEngine;
  private readonly jobs = new Map<string, Job>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly emu: EmulatorHost,
    gcsRoot: string,
  ) {
    this.engine = new BigQueryEngine(emu.project, gcsRoot);
  }

  register(add: Register): void {
    const P = "/bigquery/v2/projects/([^/]+)";
    const D = `${P}/datasets/([^/]+)`;
    const T = `${D}/tables/([^/]+)`;
    // Every call runs alone (metadata, engine mirror and materialisation stay consistent) and after the
    // engine is up: it starts on the first BigQuery call, not with the emulator.
    const h = (f: (r: Request) => Promise<Reply> | Reply) => (r: Request) =>
      this.serial(async () => {
        await this.engine.ensure();
        return f(r);
      });
    add(
      "POST",
      new RegExp(`^${P}/datasets$`),
      h((r) => this.insertDataset(r)),
    );
    add(
      "GET",
      new RegExp(`^${D}$`),
      h((r) => ({ json: this.datasetJson(this.dataset(r, "bigquery.datasets.get")) })),
    );
    add(
      "PATCH",
      new RegExp(`^${D}$`),
      h((r) => this.updateDataset(r, true)),
    );
    add(
      "PUT",
      new RegExp(`^${D}$`),
      h((r) => this.updateDataset(r, false)),
    );
    add(
      "DELETE",
      new RegExp(`^${D}$`),
      h((r) => this.deleteDataset(r)),
    );
    add(
      "POST",
      new RegExp(`^${D}/tables$`),
      h((r) => this.insertTable(r)),
    );
    add(
      "GET",
      new RegExp(`^${D}/tables$`),
      h((r) => this.listTables(r)),
    );
    add(
      "GET",
      new RegExp(`^${T}$`),
      h((r) => ({ json: this.tableJson(this.table(r, "bigquery.tables.get")) })),
    );
    add(
      "PATCH",
      new RegExp(`^${T}$`),
      h((r) => this.updateTable(r, true)),
    );
    add(
      "PUT",
      new RegExp(`^${T}$`),
      h((r) => this.updateTable(r, false)),
    );
    add(
      "DELETE",
      new RegExp(`^${T}$`),
      h((r) => this.deleteTable(r)),
    );
    add(
      "POST",
      new RegExp(`^${P}/queries$`),
      h((r) => this.query(r)),
    );
    add(
      "GET",
      new RegExp(`^${P}/queries/([^/]+)$`),
      h((r) => this.queryResults(r)),
    );
    add(
      "POST",
      new RegExp(`^${P}/jobs$`),
      h((r) => this.insertJob(r)),
    );
    add(
      "GET",
      new RegExp(`^${P}/jobs/([^/]+)$`),
      h((r) => ({ json: this.jobJson(this.job(r)) })),
    );
  }

  async stop(): Promise<void> {
    await this.engine.stop();
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------- BigQuery subscriptions

  /**
   * The table a BigQuery subscription writes to, checked as subscriptions.create checks it: it exists,
   * the writer may read it and write it (bigquery.tables.get, bigquery.tables.updateData), and it has
   * the columns the config needs (docs/pubsub-exports.md §4–5). Throws the 403 or 404 create answers
   * (an ExportRefusal, whose state an existing subscription then shows).
   */
  exportTable(principal: string, table: string, config: BigQueryExport): TableState {
    const [project, dataset, id] = table.split(".");
    const ds = this.datasets.get(`${project}:${dataset}`);
    const t = ds?.tables.get(id);
    if (!ds || !t || t.type !== "TABLE") throw new ExportRefusal("NOT_FOUND", `Not found: Table ${project}:${dataset}.${id}`, 404);
    for (const permission of ["bigquery.tables.get", "bigquery.tables.updateData"]) {
      // Terraform's and google-cloud-cpp's reports of this refusal quote "The caller does not have permission" (docs/pubsub-exports.md §5).
      if (!this.can(principal, permission, ds))
        throw new ExportRefusal("PERMISSION_DENIED", `The caller does not have permission (${principal} lacks ${permission} on ${table})`, 403);
    }
    const names = new Set((t.schema?.fields ?? []).map((f) => f.name));
    const needed = [...(config.useTableSchema ? [] : ["data"]), ...(config.writeMetadata ? METADATA_COLUMNS : [])].filter((n) => !names.has(n));
    if (needed.length)
      throw new ExportRefusal("SCHEMA_MISMATCH", `Table ${table} has no column ${needed.join(", ")}, which the subscription's bigquery_config needs.`, 400); // own words
    return t;
  }

  /**
   * A Pub/Sub BigQuery subscription's write (pubsub-exports.ts): the messages that fit, as rows of
   * `table`, as `principal`; returns the ids of those that do not fit, with why. A missing table or
   * permission refuses the whole batch (exportTable).
   */
  insertAs(principal: string, table: string, messages: ExportMessage[], config: BigQueryExport): Promise<Map<string, string>> {
    return this.serial(async () => {
      const t = this.exportTable(principal, table, config);
      const unfit = new Map<string, string>();
      const rows: Record<string, unknown>[] = [];
      for (const m of messages) {
        try {
          rows.push(exportRow(m, t.schema?.fields ?? [], config));
        } catch (e) {
          if (!(e instanceof LineError)) throw e;
          unfit.set(m.messageId, `message ${m.messageId} does not fit ${table}: ${e.message}`);
        }
      }
      if (rows.length === 0) return unfit;
      const res = await this.engine.must("POST", `/projects/${t.project}/datasets/${t.dataset}/tables/${encodeURIComponent(t.id)}/insertAll`, {
        rows: rows.map((json) => ({ json })),
      });
      if (res.insertErrors?.length) throw new Error(`bqemulator refused rows of ${table}: ${JSON.stringify(res.insertErrors.slice(0, 3))}`);
      t.rowCount = (t.rowCount ?? 0) + rows.length;
      return unfit;
    });
  }

  // ---------------------------------------------------------------- permissions

  /** The permissions `principal` holds on a dataset through its access list (project grants are the emulator's). */
  datasetPermissions(project: string, datasetId: string, principal: string): string[] {
    const ds = this.datasets.get(`${project}:${datasetId}`);
    if (!ds) return [];
    const out: string[] = [];
    const email = principal.toLowerCase();
    for (const e of ds.access) {
      const match =
        (e.userByEmail && e.userByEmail.toLowerCase() === email) ||
        (e.iamMember && [`serviceaccount:${email}`, `user:${email}`].includes(e.iamMember.toLowerCase())) ||
        (e.specialGroup === "projectOwners" && this.emu.owners.get(project)?.has(principal)) ||
        e.specialGroup === "allAuthenticatedUsers";
      if (!match || !e.role) continue;
      out.push(...this.rolePermissions(e.role));
    }
    return out;
  }

  private rolePermissions(role: string): string[] {
    return BIGQUERY_ROLES[BIGQUERY_LEGACY_ROLES[role] ?? role] ?? this.emu.rolePermissions(role);
  }

  private requireProject(principal: string, permission: string, project: string): void {
    if (!this.emu.allowed(principal, permission, { project })) {
      throw new ApiError(403, `Access Denied: Project ${project}: User does not have ${permission} permission in project ${project}.`);
    }
  }

  private can(principal: string, permission: string, ds: DatasetState): boolean {
    return this.emu.allowed(principal, permission, { project: ds.project, dataset: ds.id });
  }

  private dataset(r: Request, permission: string): DatasetState {
    const [project, id] = r.params;
    const ds = this.datasets.get(`${project}:${id}`);
    if (!ds) {
      if (!this.emu.allowed(r.principal, permission, { project })) {
        throw new ApiError(403, `Access Denied: Dataset ${project}:${id}: Permission ${permission} denied on dataset ${project}:${id} (or it may not exist).`);
      }
      throw new ApiError(404, `Not found: Dataset ${project}:${id}`);
    }
    if (!this.can(r.principal, permission, ds)) {
      throw new ApiError(403, `Access Denied: Dataset ${project}:${id}: Permission ${permission} denied on dataset ${project}:${id} (or it may not exist).`);
    }
    return ds;
  }

  private table(r: Request, permission: string): TableState {
    const [project, dsId, id] = r.params;
    const ds = this.datasets.get(`${project}:${dsId}`);
    const denied = () =>
      new ApiError(
        403,
        `Access Denied: Table ${project}:${dsId}.${id}: Permission ${permission} denied on table ${project}:${dsId}.${id} (or it may not exist).`,
      );
    if (!ds) {
      if (!this.emu.allowed(r.principal, permission, { project })) throw denied();
      throw new ApiError(404, `Not found: Dataset ${project}:${dsId}`);
    }
    if (!this.can(r.principal, permission, ds)) throw denied();
    const t = ds.tables.get(id);
    if (!t) throw new ApiError(404, `Not found: Table ${project}:${dsId}.${id}`);
    return t;
  }

  private ifMatch(r: Request, etag: string): void {
    const want = r.headers["if-match"];
    if (want === undefined) return;
    const clean = (s: string) => s.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
    if (String(want) !== "*" && clean(String(want)) !== clean(etag)) throw new ApiError(412, "Precondition check failed.", { reason: "conditionNotMet" });
  }

  // ---------------------------------------------------------------- datasets

  private validateAccess(project: string, list: unknown): AccessEntry[] {
    if (!Array.isArray(list)) throw new ApiError(400, "Invalid value for access: must be a list of access entries.");
    return list.map((raw: any) => {
      const keys = ["userByEmail", "groupByEmail", "domain", "specialGroup", "iamMember", "view", "routine", "dataset"].filter(
        (k) => raw?.[k] !== undefined && raw?.[k] !== null,
      );
      if (keys.length !== 1)
        throw new ApiError(
          400,
          `Invalid access entry ${JSON.stringify(raw)}: exactly one of userByEmail, groupByEmail, domain, specialGroup, iamMember, view, routine or dataset must be set.`,
        );
      const e: AccessEntry = { [keys[0]]: raw[keys[0]] };
      if (["view", "routine", "dataset"].includes(keys[0])) return e;
      const role = String(raw.role ?? "");
      if (!role) throw new ApiError(400, `Access entry ${JSON.stringify(raw)} has no role.`);
      // The API answers with the legacy names: roles/bigquery.dataViewer → READER, dataEditor → WRITER, dataOwner → OWNER.
      const legacy = Object.entries(BIGQUERY_LEGACY_ROLES).find(([, v]) => v === role)?.[0];
      e.role = legacy ?? role;
      if (!BIGQUERY_LEGACY_ROLES[e.role] && !BIGQUERY_ROLES[e.role] && !/^projects\/[^/]+\/roles\/[^/]+$/.test(e.role)) {
        throw new ApiError(400, `Invalid value for role: ${role} is not a valid value.`);
      }
      if (e.specialGroup && !["projectOwners", "projectWriters", "projectReaders", "allAuthenticatedUsers"].includes(e.specialGroup)) {
        throw new ApiError(400, `Invalid value for specialGroup: ${e.specialGroup}`);
      }
      const email = e.userByEmail ?? (e.iamMember?.startsWith("serviceAccount:") ? e.iamMember.slice("serviceAccount:".length) : undefined);
      if (email && /@[^@]+\.iam\.gserviceaccount\.com$/.test(email)) {
        const sa = this.emu.iam.findByEmail(email);
        // Google-managed service agents exist without being created (the emulator knows Pub/Sub's).
        if (sa ? sa.deleted || !this.emu.visible(sa) : !this.emu.resourcemanager.isServiceAgent(email))
          throw new ApiError(400, `IAM setPolicy failed for Dataset ${project}: Service account ${email} does not exist.`);
      }
      if (e.iamMember && !/^(user|serviceAccount|group|domain):.+/.test(e.iamMember) && !/^principal(Set)?:\/\//.test(e.iamMember)) {
        throw new ApiError(400, `Invalid value for iamMember: ${e.iamMember}`);
      }
      return e;
    });
  }

  private datasetFields(body: Record<string, any>): Record<string, any> {
    const f: Record<string, any> = {};
    for (const k of SETTABLE_DATASET) if (body[k] !== undefined && body[k] !== null) f[k] = body[k];
    if (f.labels) {
      for (const [k, v] of Object.entries(f.labels)) {
        if (!/^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u.test(k) || (v !== null && !/^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u.test(String(v)))) {
          throw new ApiError(400, `Invalid label: ${k}`);
        }
      }
    }
    for (const k of ["defaultTableExpirationMs", "defaultPartitionExpirationMs"]) {
      if (f[k] !== undefined) {
        if (!/^\d+$/.test(String(f[k]))) throw new ApiError(400, `Invalid value for ${k}: ${f[k]}`);
        if (k === "defaultTableExpirationMs" && Number(f[k]) < 3_600_000)
          throw new ApiError(400, "The default table expiration must be at least one hour (3600000 ms).");
        f[k] = String(f[k]);
      }
    }
    return f;
  }

  private async insertDataset(r: Request): Promise<Reply> {
    const project = r.params[0];
    this.requireProject(r.principal, "bigquery.datasets.create", project);
    const body = r.json<Record<string, any>>();
    const id = String(body.datasetReference?.datasetId ?? "");
    if (!id) throw new ApiError(400, "Required parameter is missing: datasetReference.datasetId", { reason: "required" });
    if (!/^[A-Za-z0-9_]{1,1024}$/.test(id)) {
      throw new ApiError(400, `Invalid dataset ID "${id}". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.`);
    }
    if (body.datasetReference?.projectId && body.datasetReference.projectId !== project) {
      throw new ApiError(400, `The project ${body.datasetReference.projectId} in the dataset reference does not match the project ${project} of the request.`);
    }
    if (this.datasets.has(`${project}:${id}`)) throw new ApiError(409, `Already Exists: Dataset ${project}:${id}`, { reason: "duplicate" });
    const fields = this.datasetFields(body);
    fields.location = normaliseLocation(fields.location ?? "US");
    // Omitted access gets BigQuery's defaults: the project's basic roles and the creator as OWNER
    // (reference/rest/v2/datasets#Dataset.FIELDS.access).
    const access =
      body.access === undefined || body.access === null
        ? [
            { role: "WRITER", specialGroup: "projectWriters" },
            { role: "OWNER", specialGroup: "projectOwners" },
            { role: "OWNER", userByEmail: r.principal },
            { role: "READER", specialGroup: "projectReaders" },
          ]
        : this.validateAccess(project, body.access);
    await this.engine.must("POST", `/projects/${project}/datasets`, { datasetReference: { projectId: project, datasetId: id } });
    const t = now();
    const ds: DatasetState = { project, id, fields, access, etag: newEtag(), creationTime: t, lastModifiedTime: t, tables: new Map() };
    this.datasets.set(`${project}:${id}`, ds);
    return { json: this.datasetJson(ds) };
  }

  datasetJson(ds: DatasetState): unknown {
    const f = ds.fields;
    return {
      kind: "bigquery#dataset",
      etag: ds.etag,
      id: `${ds.project}:${ds.id}`,
      selfLink: `${this.emu.endpoint}/bigquery/v2/projects/${ds.project}/datasets/${ds.id}`,
      datasetReference: { datasetId: ds.id, projectId: ds.project },
      ...(f.friendlyName !== undefined ? { friendlyName: f.friendlyName } : {}),
      ...(f.description !== undefined ? { description: f.description } : {}),
      ...(f.labels && Object.keys(f.labels).length ? { labels: f.labels } : {}),
      ...(f.defaultTableExpirationMs !== undefined ? { defaultTableExpirationMs: f.defaultTableExpirationMs } : {}),
      ...(f.defaultPartitionExpirationMs !== undefined ? { defaultPartitionExpirationMs: f.defaultPartitionExpirationMs } : {}),
      access: ds.access.map((e) => ({ ...e })),
      creationTime: ds.creationTime,
      lastModifiedTime: ds.lastModifiedTime,
      location: f.location,
      type: "DEFAULT",
      maxTimeTravelHours: "168",
    };
  }

  /** patch merges the given top-level fields (labels key by key; access replaces the list); update (PUT) replaces them all. */
  private updateDataset(r: Request, patch: boolean): Reply {
    const ds = this.dataset(r, "bigquery.datasets.update");
    this.ifMatch(r, ds.etag);
    const body = r.json<Record<string, any>>();
    const given = this.datasetFields(body);
    if (body.datasetReference?.datasetId && body.datasetReference.datasetId !== ds.id) {
      throw new ApiError(400, `The dataset ID ${body.datasetReference.datasetId} in the body does not match ${ds.id}.`);
    }
    if (given.location !== undefined && normaliseLocation(given.location) !== ds.fields.location) {
      throw new ApiError(400, `Cannot change dataset location: ${ds.fields.location} to ${given.location}.`);
    }
    const access = body.access !== undefined && body.access !== null ? this.validateAccess(ds.project, body.access) : undefined;
    if (patch) {
      for (const k of SETTABLE_DATASET) {
        if (!(k in body) || k === "location") continue;
        if (body[k] === null) delete ds.fields[k];
        else if (k === "labels") {
          const labels = { ...(ds.fields.labels ?? {}) };
          for (const [lk, lv] of Object.entries(given.labels ?? {})) {
            if (lv === null) delete labels[lk];
            else labels[lk] = lv;
          }
          ds.fields.labels = labels;
        } else ds.fields[k] = given[k];
      }
    } else {
      ds.fields = { ...given, location: ds.fields.location };
    }
    // An update without access keeps the list (the API never leaves a dataset without owners).
    if (access) ds.access = access;
    ds.etag = newEtag();
    ds.lastModifiedTime = now();
    return { json: this.datasetJson(ds) };
  }

  private async deleteDataset(r: Request): Promise<Reply> {
    const ds = this.dataset(r, "bigquery.datasets.delete");
    if (ds.tables.size > 0 && !flag(r, "deleteContents")) {
      throw new ApiError(400, `Dataset ${ds.project}:${ds.id} is still in use`, { reason: "resourceInUse" });
    }
    await this.engine.call("DELETE", `/projects/${ds.project}/datasets/${ds.id}?deleteContents=true`);
    this.datasets.delete(`${ds.project}:${ds.id}`);
    return { status: 204 };
  }

  // ---------------------------------------------------------------- tables

  private validateSchema(schema: any, required: boolean): { fields: SchemaField[] } | undefined {
    if (schema === undefined || schema === null) {
      if (required) throw new ApiError(400, "The emulator needs a schema: schema autodetection is not supported.");
      return undefined;
    }
    const fields = schema.fields;
    if (!Array.isArray(fields) || fields.length === 0) throw new ApiError(400, "Schema has no fields.");
    const seen = new Set<string>();
    return {
      fields: fields.map((f: any) => {
        const name = String(f?.name ?? "");
        if (!/^[A-Za-z_][A-Za-z0-9_]{0,299}$/.test(name)) {
          throw new ApiError(
            400,
            `Invalid field name "${name}". Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most 300 characters long.`,
          );
        }
        if (seen.has(name.toLowerCase())) throw new ApiError(400, `Field ${name} already exists in schema`);
        seen.add(name.toLowerCase());
        const raw = String(f.type ?? "").toUpperCase();
        const type = legacyType(raw);
        if (!type) {
          if (UNSUPPORTED_TYPES.includes(raw)) throw new ApiError(501, `The emulator's BigQuery subset does not support type ${raw} (field ${name}).`);
          throw new ApiError(400, `Invalid value for type: ${f.type} is not a valid value`);
        }
        const mode = String(f.mode ?? "NULLABLE").toUpperCase();
        if (!["NULLABLE", "REQUIRED", "REPEATED"].includes(mode)) throw new ApiError(400, `Invalid value for mode: ${f.mode} is not a valid value`);
        return { name, type, mode, ...(f.description !== undefined ? { description: String(f.description) } : {}) };
      }),
    };
  }

  private validateExternal(cfg: any): Record<string, any> {
    if (String(cfg.sourceFormat ?? "CSV") !== "NEWLINE_DELIMITED_JSON") {
      throw new ApiError(501, `The emulator's BigQuery subset reads sourceFormat NEWLINE_DELIMITED_JSON only, not ${cfg.sourceFormat ?? "CSV (the default)"}.`);
    }
    if (cfg.hivePartitioningOptions) throw new ApiError(501, "The emulator's BigQuery subset does not support hivePartitioningOptions.");
    if (cfg.autodetect === true) throw new ApiError(501, "The emulator's BigQuery subset does not support schema autodetection: give a schema.");
    const uris = cfg.sourceUris;
    if (!Array.isArray(uris) || uris.length === 0) throw new ApiError(400, "External tables must have at least one source URI.");
    for (const u of uris) {
      const m = /^gs:\/\/([^/*]+)\/(.+)$/.exec(String(u));
      if (!m) throw new ApiError(400, `Invalid source URI: ${u}. Source URIs must be Cloud Storage URIs of the form gs://bucket/object.`);
      if ((m[2].match(/\*/g) ?? []).length > 1) throw new ApiError(400, `Invalid source URI: ${u}. Only one * wildcard is allowed in a URI.`);
    }
    const compression = String(cfg.compression ?? "NONE").toUpperCase();
    if (!["NONE", "GZIP"].includes(compression)) throw new ApiError(400, `Invalid value for compression: ${cfg.compression}`);
    if (cfg.maxBadRecords !== undefined && (!Number.isInteger(Number(cfg.maxBadRecords)) || Number(cfg.maxBadRecords) < 0)) {
      throw new ApiError(400, `Invalid value for maxBadRecords: ${cfg.maxBadRecords}`);
    }
    if (cfg.connectionId !== undefined && !/^(projects\/[^/]+\/locations\/[^/]+\/connections\/[^/]+|[^./]+\.[^./]+\.[^./]+)$/.test(String(cfg.connectionId))) {
      throw new ApiError(
        400,
        `Invalid connection id: ${cfg.connectionId}. Use projects/{project}/locations/{location}/connections/{connection} or {project}.{location}.{connection}.`,
      );
    }
    const out: Record<string, any> = { ...cfg, sourceFormat: "NEWLINE_DELIMITED_JSON", sourceUris: uris.map(String) };
    delete out.schema;
    return out;
  }

  private tableFields(body: Record<string, any>): Record<string, any> {
    const f: Record<string, any> = {};
    for (const k of SETTABLE_TABLE) if (body[k] !== undefined && body[k] !== null) f[k] = k === "expirationTime" ? String(body[k]) : body[k];
    return f;
  }

  private async insertTable(r: Request): Promise<Reply> {
    const ds = this.dataset(r, "bigquery.tables.create");
    const body = r.json<Record<string, any>>();
    const id = String(body.tableReference?.tableId ?? "");
    if (!id) throw new ApiError(400, "Required parameter is missing: tableReference.tableId", { reason: "required" });
    if (!/^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]{1,1024}$/u.test(id)) {
      throw new ApiError(
        400,
        `Invalid table ID "${id}". Table IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long. Also, Table decorators cannot be used.`,
      );
    }
    if (ds.tables.has(id)) throw new ApiError(409, `Already Exists: Table ${ds.project}:${ds.id}.${id}`, { reason: "duplicate" });
    const t = now();
    const table: TableState = {
      project: ds.project,
      dataset: ds.id,
      id,
      type: "TABLE",
      fields: this.tableFields(body),
      etag: newEtag(),
      creationTime: t,
      lastModifiedTime: t,
    };
    if (body.view && (body.externalDataConfiguration || body.schema)) throw new ApiError(400, "A view cannot have a schema or an external data configuration.");
    if (body.view) {
      table.type = "VIEW";
      await this.defineView(table, body.view, false);
    } else if (body.externalDataConfiguration) {
      table.type = "EXTERNAL";
      table.externalDataConfiguration = this.validateExternal(body.externalDataConfiguration);
      table.schema = this.validateSchema(body.schema ?? body.externalDataConfiguration.schema, true);
      await this.createEngineTable(table);
    } else {
      table.schema = this.validateSchema(body.schema, false) ?? { fields: [] };
      await this.createEngineTable(table);
    }
    ds.tables.set(id, table);
    return { json: this.tableJson(table) };
  }

  private async createEngineTable(t: TableState): Promise<void> {
    await this.engine.must("POST", `/projects/${t.project}/datasets/${t.dataset}/tables`, {
      tableReference: { projectId: t.project, datasetId: t.dataset, tableId: t.id },
      schema: {
        fields: (t.schema?.fields ?? []).map((f) => ({ name: f.name, type: engineType(f.type), mode: f.mode === "REPEATED" ? "REPEATED" : "NULLABLE" })),
      },
    });
    t.loadedKey = undefined;
  }

  private async dropEngineTable(t: TableState): Promise<void> {
    await this.engine.call("DELETE", `/projects/${t.project}/datasets/${t.dataset}/tables/${encodeURIComponent(t.id)}`);
  }

  /**
   * A view's definition. useLegacySql is stored as given (the REST default is legacy SQL); a GoogleSQL view
   * is validated as BigQuery validates it at insert (400 on bad SQL or an unknown table) by a dry run on
   * the engine, which also gives its schema, then mirrored in the engine as a view.
   */
  private async defineView(t: TableState, view: any, replacing: boolean): Promise<void> {
    const query = String(view?.query ?? "");
    if (!query.trim()) throw new ApiError(400, "A view needs a query.");
    const legacy = view.useLegacySql;
    if (legacy !== undefined && typeof legacy !== "boolean") throw new ApiError(400, `Invalid value for useLegacySql: ${legacy}`);
    const stored = { query, ...(legacy !== undefined ? { useLegacySql: legacy } : {}) };
    if (legacy !== false) {
      // Legacy SQL is not run by the engine; a GoogleSQL query that reaches this view fails (reach()).
      if (replacing) await this.dropEngineTable(t);
      t.view = stored;
      t.schema = undefined;
      return;
    }
    const scan = scanSql(query);
    if (!scan.selectOnly) throw new ApiError(400, "A view's query must be a single SELECT statement.");
    const refs = this.resolveRefs(scan, t.project, undefined, (e) => new ApiError(400, e.message));
    for (const x of refs)
      this.reach(
        x.ref,
        undefined,
        new Set([ref(t)]),
        () => undefined,
        (e) => new ApiError(400, e.message),
      );
    const sql = rewrite(query, refs);
    const dry = await this.engine.call("POST", `/projects/${t.project}/queries`, { query: sql, useLegacySql: false, dryRun: true });
    const err = engineError(dry);
    if (err) throw new ApiError(400, err.message);
    // Valid: only now is the old definition replaced.
    if (replacing) await this.dropEngineTable(t);
    await this.engine.must("POST", `/projects/${t.project}/datasets/${t.dataset}/tables`, {
      tableReference: { projectId: t.project, datasetId: t.dataset, tableId: t.id },
      view: { query: sql, useLegacySql: false },
    });
    t.view = stored;
    t.schema = { fields: publicFields(dry.json?.schema?.fields ?? [], this.bignumericNames(refs.map((x) => x.ref))) as SchemaField[] };
  }

  tableJson(t: TableState): unknown {
    const ds = this.datasets.get(`${t.project}:${t.dataset}`);
    return {
      kind: "bigquery#table",
      etag: t.etag,
      id: `${t.project}:${t.dataset}.${t.id}`,
      selfLink: `${this.emu.endpoint}/bigquery/v2/projects/${t.project}/datasets/${t.dataset}/tables/${encodeURIComponent(t.id)}`,
      tableReference: { projectId: t.project, datasetId: t.dataset, tableId: t.id },
      ...t.fields,
      ...(t.schema ? { schema: { fields: t.schema.fields.map((f) => ({ ...f })) } } : {}),
      ...(t.type === "TABLE" ? { numBytes: "0", numLongTermBytes: "0", numRows: String(t.rowCount ?? 0) } : {}),
      creationTime: t.creationTime,
      lastModifiedTime: t.lastModifiedTime,
      type: t.type,
      ...(t.view ? { view: { ...t.view } } : {}),
      ...(t.externalDataConfiguration ? { externalDataConfiguration: JSON.parse(JSON.stringify(t.externalDataConfiguration)) } : {}),
      location: ds?.fields.location ?? "US",
    };
  }

  private listTables(r: Request): Reply {
    const ds = this.dataset(r, "bigquery.tables.list");
    const tables = [...ds.tables.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((t) => ({
        kind: "bigquery#table",
        id: `${t.project}:${t.dataset}.${t.id}`,
        tableReference: { projectId: t.project, datasetId: t.dataset, tableId: t.id },
        type: t.type,
        creationTime: t.creationTime,
        ...(t.fields.labels ? { labels: t.fields.labels } : {}),
        ...(t.fields.expirationTime ? { expirationTime: t.fields.expirationTime } : {}),
        ...(t.view ? { view: { useLegacySql: t.view.useLegacySql ?? true } } : {}),
      }));
    return { json: { kind: "bigquery#tableList", etag: newEtag(), ...(tables.length ? { tables } : {}), totalItems: tables.length } };
  }

  /**
   * patch replaces the given top-level fields, update (PUT) the whole resource. An external table may
   * change its schema and externalDataConfiguration (sourceUris, ignoreUnknownValues, maxBadRecords …), a
   * view its query; a plain table only its descriptive fields. The type never changes.
   */
  private async updateTable(r: Request, patch: boolean): Promise<Reply> {
    const t = this.table(r, "bigquery.tables.update");
    this.ifMatch(r, t.etag);
    const body = r.json<Record<string, any>>();
    if (body.tableReference?.tableId && body.tableReference.tableId !== t.id)
      throw new ApiError(400, `The table ID ${body.tableReference.tableId} in the body does not match ${t.id}.`);
    if (body.type !== undefined && body.type !== t.type) throw new ApiError(400, `Cannot change the type of table ${ref(t)} from ${t.type} to ${body.type}.`);
    if (t.type !== "VIEW" && body.view) throw new ApiError(400, `Cannot change table ${ref(t)} into a view.`);
    if (t.type !== "EXTERNAL" && body.externalDataConfiguration) throw new ApiError(400, `Cannot add an external data configuration to ${t.type} ${ref(t)}.`);
    if (t.type === "TABLE" && body.schema) await this.growTable(t, this.validateSchema(body.schema, true)!);
    if (t.type === "VIEW" && body.schema) throw new ApiError(400, "A view's schema follows its query and cannot be set.");
    const given = this.tableFields(body);
    if (t.type === "EXTERNAL") {
      const schema = body.schema ? this.validateSchema(body.schema, true) : patch ? t.schema : this.validateSchema(body.schema, true);
      const cfg = body.externalDataConfiguration ? this.validateExternal(body.externalDataConfiguration) : patch ? t.externalDataConfiguration : undefined;
      if (!cfg) throw new ApiError(400, "An external table needs externalDataConfiguration.");
      const schemaChanged = JSON.stringify(schema) !== JSON.stringify(t.schema);
      t.schema = schema;
      t.externalDataConfiguration = cfg;
      // bqemulator does not add a patched column to its table (research record): make it anew.
      if (schemaChanged) {
        await this.dropEngineTable(t);
        await this.createEngineTable(t);
      }
      t.loadedKey = undefined;
    } else if (t.type === "VIEW") {
      if (body.view) await this.defineView(t, body.view, true);
      else if (!patch) throw new ApiError(400, "A view needs a query.");
    }
    if (patch) {
      for (const k of SETTABLE_TABLE) {
        if (!(k in body)) continue;
        if (body[k] === null) delete t.fields[k];
        else t.fields[k] = given[k];
      }
    } else t.fields = given;
    t.etag = newEtag();
    t.lastModifiedTime = now();
    return { json: this.tableJson(t) };
  }

  /**
   * A plain table's schema changed in place, as BigQuery allows it: new NULLABLE (or REPEATED) columns
   * only, the rows kept; a column missing or retyped is refused with BigQuery's words. The engine's table
   * gets the column by ALTER TABLE and its own metadata by a patch (bqemulator needs both).
   */
  private async growTable(t: TableState, next: { fields: SchemaField[] }): Promise<void> {
    const olds = t.schema?.fields ?? [];
    const byName = new Map(next.fields.map((f) => [f.name.toLowerCase(), f]));
    for (const o of olds) {
      const n = byName.get(o.name.toLowerCase());
      if (!n) throw new ApiError(400, `Provided Schema does not match Table ${ref(t)}. Field ${o.name} is missing in new schema`);
      if (n.type !== o.type)
        throw new ApiError(400, `Provided Schema does not match Table ${ref(t)}. Field ${o.name} has changed type from ${o.type} to ${n.type}`);
      if (n.mode !== o.mode && !(o.mode === "REQUIRED" && n.mode === "NULLABLE"))
        throw new ApiError(400, `Provided Schema does not match Table ${ref(t)}. Field ${o.name} has changed mode from ${o.mode} to ${n.mode}`);
    }
    const known = new Set(olds.map((f) => f.name.toLowerCase()));
    const added = next.fields.filter((f) => !known.has(f.name.toLowerCase()));
    const required = added.find((f) => f.mode === "REQUIRED");
    if (required)
      throw new ApiError(400, `Provided Schema does not match Table ${ref(t)}. Cannot add required fields to an existing schema. (field: ${required.name})`);
    for (const f of added) {
      const sql = `ALTER TABLE \`${t.project}.${t.dataset}.${t.id}\` ADD COLUMN ${f.name} ${engineType(f.type)}`;
      const res = await this.engine.call("POST", `/projects/${t.project}/queries`, { query: sql, useLegacySql: false });
      if (engineError(res)) throw new ApiError(500, `bqemulator could not add column ${f.name} to ${ref(t)}: ${engineError(res)!.message}`);
    }
    await this.engine.must("PATCH", `/projects/${t.project}/datasets/${t.dataset}/tables/${encodeURIComponent(t.id)}`, {
      schema: { fields: next.fields.map((f) => ({ name: f.name, type: engineType(f.type), mode: f.mode === "REPEATED" ? "REPEATED" : "NULLABLE" })) },
    });
    t.schema = next;
  }

  private async deleteTable(r: Request): Promise<Reply> {
    const t = this.table(r, "bigquery.tables.delete");
    await this.dropEngineTable(t);
    this.datasets.get(`${t.project}:${t.dataset}`)!.tables.delete(t.id);
    return { status: 204 };
  }

  // ---------------------------------------------------------------- queries

  /** Table names of a scanned query, resolved against the project and default dataset. */
  private resolveRefs(
    scan: SqlScan,
    project: string,
    defaultDataset: { projectId?: string; datasetId?: string } | undefined,
    fail: (e: ApiError) => ApiError,
  ): { start: number; end: number; ref: TableRef }[] {
    const out: { start: number; end: number; ref: TableRef }[] = [];
    for (const x of scan.refs) {
      const p = x.parts;
      if (p.length === 1 && scan.ctes.has(p[0].toLowerCase())) continue;
      let t: TableRef;
      if (p.length === 3) t = { project: p[0], dataset: p[1], table: p[2] };
      else if (p.length === 2) t = { project, dataset: p[0], table: p[1] };
      else if (p.length === 1 && defaultDataset?.datasetId)
        t = { project: defaultDataset.projectId ?? project, dataset: defaultDataset.datasetId, table: p[0] };
      else if (p.length === 1)
        throw fail(new ApiError(400, `Table name "${p[0]}" missing dataset while no default dataset is set in the request.`, { reason: "invalid" }));
      else throw fail(new ApiError(400, `Invalid table name: ${p.join(".")}`, { reason: "invalid" }));
      out.push({ start: x.start, end: x.end, ref: t });
    }
    return out;
  }

  /**
   * Walks a referenced table: the dataset and table must exist; a view must be GoogleSQL and is walked in
   * turn (its own references are not checked against the caller: authorized views are out of scope);
   * `visit` sees every table reached. `checkRead` (the caller, for a direct reference) needs
   * bigquery.tables.getData on the table's dataset.
   */
  private reach(
    t: TableRef,
    checkRead: string | undefined,
    path: Set<string>,
    visit: (table: TableState) => void,
    fail: (e: ApiError) => ApiError,
    location?: string,
  ): void {
    const ds = this.datasets.get(`${t.project}:${t.dataset}`);
    if (checkRead !== undefined) {
      const allowed = ds ? this.can(checkRead, "bigquery.tables.getData", ds) : this.emu.allowed(checkRead, "bigquery.tables.getData", { project: t.project });
      if (!allowed)
        throw new ApiError(403, `Access Denied: Table ${ref(t)}: User does not have permission to query table ${ref(t)}, or perhaps it does not exist.`);
    }
    const where = location ?? ds?.fields.location ?? "US";
    if (!ds || (location && normaliseLocation(location) !== ds.fields.location))
      throw fail(new ApiError(404, `Not found: Dataset ${t.project}:${t.dataset} was not found in location ${where}`));
    const table = ds.tables.get(t.table);
    if (!table) throw fail(new ApiError(404, `Not found: Table ${ref(t)} was not found in location ${where}`));
    visit(table);
    if (table.type !== "VIEW") return;
    if (table.view?.useLegacySql !== false)
      throw fail(new ApiError(400, "Cannot reference a legacy SQL view in a standard SQL query.", { reason: "invalidQuery" }));
    if (path.has(ref(t)) || path.size > 16) throw fail(new ApiError(400, `View ${ref(t)} references itself.`, { reason: "invalidQuery" }));
    const scan = scanSql(table.view.query);
    const inner = this.resolveRefs(scan, table.project, undefined, fail);
    for (const x of inner) this.reach(x.ref, undefined, new Set([...path, ref(t)]), visit, fail);
  }

  private bignumericNames(refs: TableRef[]): Set<string> {
    const names = new Set<string>();
    const visit = (t: TableState) => t.schema?.fields.forEach((f) => f.type === "BIGNUMERIC" && names.add(f.name.toLowerCase()));
    for (const x of refs) {
      try {
        this.reach(x, undefined, new Set(), visit, (e) => e);
      } catch {
        // only names are collected here
      }
    }
    return names;
  }

  private async query(r: Request): Promise<Reply> {
    const project = r.params[0];
    this.requireProject(r.principal, "bigquery.jobs.create", project);
    const body = r.json<Record<string, any>>();
    if (!String(body.query ?? "").trim()) throw new ApiError(400, "Required parameter is missing: query", { reason: "required" });
    const job = await this.runQuery(project, r.principal, body, newJobId());
    return {
      json: this.resultsJson(job, "bigquery#queryResponse", {
        maxResults: body.maxResults,
        useInt64Timestamp: body.formatOptions?.useInt64Timestamp === true,
        dryRun: body.dryRun === true,
      }),
    };
  }

  /**
   * jobs.insert of a query job (configuration.query: query, useLegacySql, defaultDataset, parameters; the
   * location from jobReference). The query runs before the answer, which still says RUNNING, as BigQuery's
   * usually does, so a client takes its polling path (getQueryResults, jobs.get: DONE). A query that fails
   * (bad SQL, a missing or unreadable table, a bad line in an external table's files) is a job DONE with
   * status.errorResult at once, not an HTTP error; the emulator's own limits (501) are HTTP errors.
   */
  private async insertJob(r: Request): Promise<Reply> {
    const project = r.params[0];
    this.requireProject(r.principal, "bigquery.jobs.create", project);
    const body = r.json<Record<string, any>>();
    const cfg = body.configuration ?? {};
    const other = ["load", "copy", "extract"].find((k) => cfg[k]);
    if (other) throw new ApiError(501, `The emulator's BigQuery subset runs query jobs only, not ${other} jobs.`, { reason: "notImplemented" });
    const q = cfg.query;
    if (!q || !String(q.query ?? "").trim()) throw new ApiError(400, "Required parameter is missing: configuration.query.query", { reason: "required" });
    const id = String(body.jobReference?.jobId ?? newJobId());
    if (!/^[A-Za-z0-9_-]{1,1024}$/.test(id))
      throw new ApiError(400, `Invalid job ID "${id}". Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.`);
    const location = body.jobReference?.location ? String(body.jobReference.location) : undefined;
    const existing = this.jobs.get(`${project}:${id}`);
    if (existing) throw new ApiError(409, `Already Exists: Job ${project}:${existing.location}.${id}`, { reason: "duplicate" });
    const request = { ...q, ...(location ? { location } : {}), ...(cfg.dryRun === true ? { dryRun: true } : {}) };
    let job: Job;
    try {
      job = await this.runQuery(project, r.principal, request, id);
    } catch (e) {
      if (!(e instanceof ApiError) || e.code >= 500) throw e;
      job = { project, id, location: location ?? "US", principal: r.principal, fields: [], rows: [], query: jobQuery(request), creationTime: now(), error: e };
      if (cfg.dryRun !== true) this.jobs.set(`${project}:${id}`, job);
    }
    return { json: this.jobJson(job, { running: !job.error && cfg.dryRun !== true, dryRun: cfg.dryRun === true }) };
  }

  /** The caller's own job, or any job of the project with bigquery.jobs.get; `location`, when given, must be the job's. */
  private job(r: Request): Job {
    const [project, jobId] = r.params;
    const job = this.jobs.get(`${project}:${jobId}`);
    // The job's creator may read it; others need bigquery.jobs.get on the project.
    if (!job || job.principal !== r.principal) {
      if (!this.emu.allowed(r.principal, "bigquery.jobs.get", { project })) {
        throw new ApiError(403, `Access Denied: Job ${project}:${jobId}: User does not have bigquery.jobs.get permission for job ${project}:${jobId}.`);
      }
    }
    const location = r.query.get("location");
    if (!job || (location && normaliseLocation(location) !== normaliseLocation(job.location)))
      throw new ApiError(404, `Not found: Job ${project}:${location ? `${location}.` : ""}${jobId}`);
    return job;
  }

  /** The job resource (reference/rest/v2/Job) of a query job: DONE, or RUNNING in jobs.insert's answer. */
  private jobJson(job: Job, { running = false, dryRun = false } = {}): unknown {
    const t = job.creationTime;
    const errors = job.error ? ((job.error.body("bigquery") as any).error.errors as any[]).map(({ domain, ...e }) => e) : undefined;
    return {
      kind: "bigquery#job",
      etag: crypto.createHash("md5").update(`${job.project}:${job.id}`).digest("base64"),
      id: `${job.project}:${job.location}.${job.id}`,
      selfLink: `${this.emu.endpoint}/bigquery/v2/projects/${job.project}/jobs/${job.id}?location=${encodeURIComponent(job.location)}`,
      user_email: job.principal,
      configuration: { query: job.query, jobType: "QUERY", ...(dryRun ? { dryRun: true } : {}) },
      jobReference: { projectId: job.project, jobId: job.id, location: job.location },
      statistics: {
        creationTime: t,
        startTime: t,
        ...(running || dryRun ? {} : { endTime: t }),
        totalBytesProcessed: "0",
        query: {
          totalBytesProcessed: "0",
          totalBytesBilled: "0",
          cacheHit: false,
          statementType: "SELECT",
          ...(job.error ? {} : { schema: { fields: job.fields } }),
        },
      },
      status: { state: running ? "RUNNING" : "DONE", ...(errors ? { errorResult: errors[0], errors } : {}) },
    };
  }

  /** Runs one GoogleSQL SELECT (a jobs.query request body) and keeps its rows as job `id` (not for a dry run). */
  private async runQuery(project: string, principal: string, body: Record<string, any>, id: string): Promise<Job> {
    const query = String(body.query ?? "");
    if (body.useLegacySql !== false) {
      throw new ApiError(
        400,
        "The emulator runs GoogleSQL only: set useLegacySql: false (jobs.query and query jobs default to legacy SQL when useLegacySql is omitted).",
        { reason: "invalidQuery" },
      );
    }
    const scan = scanSql(query);
    if (!scan.selectOnly) {
      throw new ApiError(501, "The emulator's BigQuery subset runs single SELECT queries only (no DML, DDL or scripts).", { reason: "notImplemented" });
    }
    const location: string | undefined = body.location ? String(body.location) : undefined;
    const refs = this.resolveRefs(scan, project, body.defaultDataset, (e) => e);
    const external = new Map<string, TableState>();
    let firstLocation: string | undefined;
    for (const x of refs) {
      this.reach(
        x.ref,
        principal,
        new Set(),
        (t) => {
          firstLocation ??= this.datasets.get(`${t.project}:${t.dataset}`)?.fields.location;
          if (t.type === "EXTERNAL") external.set(ref(t), t);
        },
        (e) => e,
        location,
      );
    }
    // Reading an external table's files is the caller's read of the bucket (storage.objects.list, .get).
    for (const t of external.values()) this.checkBucketRead(principal, t);
    if (!body.dryRun) for (const t of external.values()) await this.materialise(t);
    const sql = rewrite(query, refs);
    const engineBody: Record<string, any> = { query: sql, useLegacySql: false, maxResults: 100_000_000 };
    if (body.dryRun) engineBody.dryRun = true;
    if (body.parameterMode) engineBody.parameterMode = body.parameterMode;
    if (body.queryParameters) engineBody.queryParameters = body.queryParameters;
    const res = await this.engine.call("POST", `/projects/${project}/queries`, engineBody);
    const err = engineError(res);
    if (err) throw err;
    const rows: any[] = [...(res.json.rows ?? [])];
    let pageToken: string | undefined = res.json.pageToken;
    while (pageToken && res.json.jobReference?.jobId) {
      const more = await this.engine.must(
        "GET",
        `/projects/${project}/queries/${res.json.jobReference.jobId}?pageToken=${encodeURIComponent(pageToken)}&maxResults=100000000`,
      );
      rows.push(...(more.rows ?? []));
      pageToken = more.pageToken;
    }
    const job: Job = {
      project,
      id,
      location: location ?? firstLocation ?? "US",
      principal,
      fields: publicFields(res.json.schema?.fields ?? [], this.bignumericNames(refs.map((x) => x.ref))),
      rows,
      query: jobQuery(body),
      creationTime: now(),
    };
    if (!body.dryRun) this.jobs.set(`${project}:${job.id}`, job);
    return job;
  }

  private queryResults(r: Request): Reply {
    const job = this.job(r);
    if (job.error) throw job.error;
    const start = Number(r.query.get("pageToken") ?? r.query.get("startIndex") ?? 0) || 0;
    return {
      json: this.resultsJson(job, "bigquery#getQueryResultsResponse", {
        maxResults: r.query.get("maxResults") ?? undefined,
        start,
        useInt64Timestamp: flag(r, "formatOptions.useInt64Timestamp"),
      }),
    };
  }

  private resultsJson(job: Job, kind: string, o: { maxResults?: unknown; start?: number; useInt64Timestamp: boolean; dryRun?: boolean }): unknown {
    const start = o.start ?? 0;
    const max = o.maxResults !== undefined && o.maxResults !== null && Number(o.maxResults) >= 0 ? Number(o.maxResults) : Infinity;
    const page = job.rows
      .slice(start, start + max)
      .map((row) => ({ f: row.f.map((c: any, i: number) => ({ v: publicValue(c?.v, job.fields[i], o.useInt64Timestamp) })) }));
    return {
      kind,
      schema: { fields: job.fields },
      jobReference: { projectId: job.project, ...(o.dryRun ? {} : { jobId: job.id }), location: job.location },
      totalRows: String(job.rows.length),
      ...(page.length ? { rows: page } : {}),
      ...(start + max < job.rows.length ? { pageToken: String(start + max) } : {}),
      totalBytesProcessed: "0",
      jobComplete: true,
      cacheHit: false,
    };
  }

  /** Declares a connection (connectionId "project.location.connection") and its service account. */
  addConnection(connectionId: string, serviceAccountEmail: string): void {
    this.connections.set(connectionKey(connectionId), serviceAccountEmail);
  }

  /**
   * The querying identity needs read access to the files of an external table; a BigLake table (one
   * with a connectionId) reads them as its connection's service account instead, so its readers need
   * none (access delegation: BigQuery docs, "Introduction to BigLake tables").
   */
  private checkBucketRead(principal: string, t: TableState): void {
    const connection = t.externalDataConfiguration!.connectionId as string | undefined;
    if (connection) {
      const reader = this.connections.get(connectionKey(connection));
      if (!reader) throw new ApiError(404, `Not found: Connection ${connection}`);
      principal = reader;
    }
    for (const uri of t.externalDataConfiguration!.sourceUris as string[]) {
      const { bucket, pattern } = splitUri(uri);
      const b = this.emu.storage.buckets.get(bucket);
      if (!b) throw new ApiError(404, `Not found: URI ${uri}`);
      // Globbing lists with the part before the `*` as its prefix; each matched file is then read (a
      // grant conditioned on the stream's prefix covers both: IAM Conditions, conditions.ts).
      const star = pattern.indexOf("*");
      const scope = { project: b.project, bucket: b.name, listPrefix: star < 0 ? pattern : pattern.slice(0, star) };
      if (!this.emu.allowed(principal, "storage.objects.list", scope)) {
        throw new ApiError(
          403,
          `Access Denied: BigQuery BigQuery: Permission denied while globbing file pattern. ${principal} does not have storage.objects.list access to the Google Cloud Storage bucket. Permission 'storage.objects.list' denied on resource (or it may not exist).`,
        );
      }
      const matched = b.objects.filter(
        (o) => o.live && (star < 0 ? o.name === pattern : o.name.startsWith(pattern.slice(0, star)) && o.name.endsWith(pattern.slice(star + 1))),
      );
      if (!matched.every((o) => this.emu.allowed(principal, "storage.objects.get", { project: b.project, bucket: b.name, object: o.name }))) {
        throw new ApiError(
          403,
          `Access Denied: BigQuery BigQuery: Permission denied while opening file. ${principal} does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist).`,
        );
      }
    }
  }

  /**
   * Reads an external table's files and loads them into the engine's table (skipped when the matched
   * objects, by name and generation, and the table's definition are unchanged since the last load).
   * One `*` matches any characters, `/` included (external-data-cloud-storage#wildcard-support); a URI
   * without `*` names one object. Every line is checked against the schema (bigquery-engine.ts,
   * convertLine); more bad lines than maxBadRecords (default 0) fail the query with 400 invalid.
   */
  private async materialise(t: TableState): Promise<void> {
    const cfg = t.externalDataConfiguration!;
    const name = `${t.project}.${t.dataset}.${t.id}`;
    const files: { uri: string; data: Buffer; gzip: boolean; generation: string }[] = [];
    for (const uri of cfg.sourceUris as string[]) {
      const { bucket, pattern } = splitUri(uri);
      const b = this.emu.storage.buckets.get(bucket)!;
      const star = pattern.indexOf("*");
      const matches = b.objects
        .filter(
          (o) =>
            o.live &&
            (star < 0
              ? o.name === pattern
              : o.name.length >= pattern.length - 1 && o.name.startsWith(pattern.slice(0, star)) && o.name.endsWith(pattern.slice(star + 1))),
        )
        .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
      if (matches.length === 0) {
        throw new ApiError(
          404,
          `Error while reading table: ${name}, error message: Failed to expand table ${t.id} with file pattern ${uri}: matched no files. File: ${uri}`,
          { reason: "notFound" },
        );
      }
      for (const o of matches) {
        files.push({
          uri: `gs://${bucket}/${o.name}`,
          data: o.data,
          gzip: String(cfg.compression ?? "NONE").toUpperCase() === "GZIP" || o.contentEncoding === "gzip",
          generation: o.generation,
        });
      }
    }
    const key = `${t.etag}|${files.map((f) => `${f.uri}#${f.generation}`).join(",")}`;
    if (t.loadedKey === key) return;
    const fields = t.schema!.fields;
    const maxBad = Number(cfg.maxBadRecords ?? 0);
    const ignoreUnknown = cfg.ignoreUnknownValues === true;
    const rows: Record<string, unknown>[] = [];
    const lineErrors: string[] = [];
    let bad = 0;
    let read = 0;
    for (const f of files) {
      let data = f.data;
      if (f.gzip) {
        try {
          data = zlib.gunzipSync(data);
        } catch (e) {
          throw new ApiError(
            400,
            `Error while reading table: ${name}, error message: Failed to read the gzip-compressed file: ${(e as Error).message}. File: ${f.uri}`,
          );
        }
      }
      for (const line of ndjsonLines(data)) {
        read++;
        try {
          rows.push(convertLine(line.text, fields, ignoreUnknown));
        } catch (e) {
          if (!(e instanceof LineError)) throw e;
          bad++;
          lineErrors.push(
            `Error while reading table: ${name}, error message: JSON parsing error in row starting at position ${line.position}: ${e.message} File: ${f.uri}`,
          );
          if (bad > maxBad) {
            const summary = `Error while reading table: ${name}, error message: JSON table encountered too many errors, giving up. Rows: ${read}; errors: ${bad}. Please look into the errors[] collection for more details. File: ${f.uri}`;
            throw new ApiError(400, summary, {
              reason: "invalid",
              errors: [{ message: summary, reason: "invalid" }, ...lineErrors.slice(-5).map((m) => ({ message: m, reason: "invalid" }))],
            });
          }
        }
      }
    }
    const base = `/projects/${t.project}/datasets/${t.dataset}/tables/${encodeURIComponent(t.id)}`;
    const target = `\`${t.project}.${t.dataset}.${t.id}\``;
    const cleared = await this.engine.call("POST", `/projects/${t.project}/queries`, { query: `DELETE FROM ${target} WHERE TRUE`, useLegacySql: false });
    if (engineError(cleared)) throw new ApiError(500, `bqemulator could not empty ${name}: ${engineError(cleared)!.message}`);
    for (let i = 0; i < rows.length; i += 5000) {
      const res = await this.engine.must("POST", `${base}/insertAll`, { rows: rows.slice(i, i + 5000).map((json) => ({ json })) });
      if (res.insertErrors?.length) throw new ApiError(500, `bqemulator refused rows of ${name}: ${JSON.stringify(res.insertErrors.slice(0, 3))}`);
    }
    const count = await this.engine.call("POST", `/projects/${t.project}/queries`, { query: `SELECT COUNT(*) AS n FROM ${target}`, useLegacySql: false });
    const n = Number(count.json?.rows?.[0]?.f?.[0]?.v);
    if (engineError(count) || n !== rows.length) throw new ApiError(500, `bqemulator holds ${n} rows of ${name} after loading ${rows.length}.`);
    t.loadedKey = key;
  }
}

/** The columns a BigQuery subscription with writeMetadata fills (docs/pubsub-exports.md §4). */
const METADATA_COLUMNS = ["subscription_name", "message_id", "publish_time", "attributes"];

/**
 * One message as a row (docs/pubsub-exports.md §4): with useTableSchema its data is a JSON object whose
 * fields are the table's columns (unknown ones dropped only with dropUnknownFields); without, its data
 * goes whole into the `data` column. writeMetadata adds the metadata columns.
 */
function exportRow(m: ExportMessage, fields: SchemaField[], c: BigQueryExport): Record<string, unknown> {
  const own = c.writeMetadata ? fields.filter((f) => !METADATA_COLUMNS.includes(f.name)) : fields;
  const text = m.data.toString("utf8");
  // Columns the message does not fill must be NULLABLE (a REQUIRED one missing fails the message, in convertLine).
  const row = c.useTableSchema
    ? convertLine(text, own, c.dropUnknownFields)
    : convertLine(
        JSON.stringify({ data: text }),
        own.filter((f) => f.name === "data"),
        false,
      );
  if (!c.writeMetadata) return row;
  const meta = {
    subscription_name: m.subscription,
    message_id: m.messageId,
    publish_time: new Date(m.publishTime).toISOString(),
    attributes: JSON.stringify(m.attributes),
  };
  return {
    ...row,
    ...convertLine(
      JSON.stringify(meta),
      fields.filter((f) => METADATA_COLUMNS.includes(f.name)),
      false,
    ),
  };
}

// ------------------------------------------------------------------------------------------------
// SQL: the table names a GoogleSQL query references (after FROM, JOIN, and commas of a FROM list), so the
// emulator can check permissions, find external tables and views, and qualify the names for the engine
// (which ignores defaultDataset).

interface Tok {
  t: "id" | "bq" | "str" | "num" | "p";
  v: string;
  s: number;
  e: number;
}

function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if ((c === "-" && sql[i + 1] === "-") || c === "#") {
      while (i < sql.length && sql[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
      continue;
    }
    const s = i;
    const prefix = /^(?:[rRbB]|[rR][bB]|[bB][rR])(?=['"])/.exec(sql.slice(i, i + 3));
    if (prefix || c === "'" || c === '"') {
      i += prefix ? prefix[0].length : 0;
      const q = sql[i];
      const triple = sql.startsWith(q.repeat(3), i);
      const close = triple ? q.repeat(3) : q;
      i += close.length;
      while (i < sql.length && !sql.startsWith(close, i)) i += sql[i] === "\\" ? 2 : 1;
      i = Math.min(sql.length, i + close.length);
      out.push({ t: "str", v: sql.slice(s, i), s, e: i });
      continue;
    }
    if (c === "`") {
      i++;
      while (i < sql.length && sql[i] !== "`") i += sql[i] === "\\" ? 2 : 1;
      i = Math.min(sql.length, i + 1);
      out.push({ t: "bq", v: sql.slice(s + 1, i - 1), s, e: i });
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i, i + 400));
    if (id) {
      i += id[0].length;
      out.push({ t: "id", v: id[0], s, e: i });
      continue;
    }
    const num = /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(sql.slice(i, i + 400));
    if (num) {
      i += num[0].length;
      out.push({ t: "num", v: num[0], s, e: i });
      continue;
    }
    i++;
    out.push({ t: "p", v: c, s, e: i });
  }
  return out;
}

export interface SqlScan {
  refs: { start: number; end: number; parts: string[] }[];
  ctes: Set<string>;
  /** One SELECT (or WITH … SELECT) statement: no DML, DDL or script. */
  selectOnly: boolean;
}

const CLAUSE_END = new Set(["WHERE", "GROUP", "HAVING", "QUALIFY", "WINDOW", "ORDER", "LIMIT", "UNION", "INTERSECT", "EXCEPT", "ON", "USING", "SELECT"]);

export function scanSql(sql: string): SqlScan {
  const toks = tokenize(sql);
  const kw = (k: Tok | undefined, ...words: string[]) => k?.t === "id" && words.includes(k.v.toUpperCase());
  const first = toks[0];
  const semi = toks.findIndex((x) => x.t === "p" && x.v === ";");
  const selectOnly = (kw(first, "SELECT", "WITH") || (first?.t === "p" && first.v === "(")) && (semi < 0 || semi === toks.length - 1);
  const ctes = new Set<string>();
  toks.forEach((x, i) => {
    if (x.t === "id" && kw(toks[i + 1], "AS") && toks[i + 2]?.v === "(" && (kw(toks[i - 1], "WITH", "RECURSIVE") || toks[i - 1]?.v === ","))
      ctes.add(x.v.toLowerCase());
  });
  const refs: SqlScan["refs"] = [];
  const names = new Set<string>();
  const stack = [{ select: false, from: false }];
  const candidate = (j: number) => {
    const x = toks[j];
    if (!x || (x.t !== "id" && x.t !== "bq") || kw(x, "UNNEST")) return;
    let k = j;
    let text = x.t === "bq" ? x.v : x.v;
    // A path runs on while tokens touch: `p`.d.t, p.d.t, my-project.d.t.
    while (toks[k + 1] && toks[k + 1].s === toks[k].e && (["id", "bq", "num"].includes(toks[k + 1].t) || [".", "-"].includes(toks[k + 1].v))) {
      k++;
      text += toks[k].v;
    }
    if (toks[k + 1]?.v === "(") return; // a table-valued function
    const parts = text.split(".");
    if (parts.some((p) => p === "")) return;
    // `FROM t, t.arr`: a path through an earlier table's alias is an array, not a table.
    if (parts.length === 2 && names.has(parts[0].toLowerCase())) return;
    refs.push({ start: x.s, end: toks[k].e, parts });
    names.add(parts[parts.length - 1].toLowerCase());
    const alias = kw(toks[k + 1], "AS") ? toks[k + 2] : toks[k + 1];
    if (alias?.t === "id" && !CLAUSE_END.has(alias.v.toUpperCase()) && !kw(alias, "JOIN", "LEFT", "RIGHT", "INNER", "FULL", "CROSS", "FOR", "TABLESAMPLE"))
      names.add(alias.v.toLowerCase());
  };
  toks.forEach((x, i) => {
    const top = stack[stack.length - 1];
    if (x.t === "p" && x.v === "(") stack.push({ select: false, from: false });
    else if (x.t === "p" && x.v === ")") stack.length > 1 && stack.pop();
    else if (kw(x, "SELECT")) {
      top.select = true;
      top.from = false;
    } else if (kw(x, "FROM") && top.select && !kw(toks[i - 1], "DISTINCT")) {
      top.from = true;
      candidate(i + 1);
    } else if (kw(x, "JOIN")) candidate(i + 1);
    else if (x.t === "p" && x.v === "," && top.from) candidate(i + 1);
    else if (x.t === "id" && CLAUSE_END.has(x.v.toUpperCase())) top.from = false;
  });
  return { refs, ctes, selectOnly };
}

/** The query with every resolved table name written out in full: `project.dataset.table`. */
function rewrite(sql: string, refs: { start: number; end: number; ref: TableRef }[]): string {
  let out = "";
  let at = 0;
  for (const x of [...refs].sort((a, b) => a.start - b.start)) {
    out += sql.slice(at, x.start) + `\`${x.ref.project}.${x.ref.dataset}.${x.ref.table}\``;
    at = x.end;
  }
  return out + sql.slice(at);
}

// ------------------------------------------------------------------------------------------------
// Engine answers → the REST API's.

/** bqemulator answers a failed query with HTTP 200 and an errors[] field: that is a 400 (or 404) here. */
function engineError(res: { status: number; json: any }): ApiError | undefined {
  const errs: any[] = res.json?.errors ?? res.json?.error?.errors ?? [];
  if (res.status < 300 && (!Array.isArray(errs) || errs.length === 0)) return undefined;
  const first = errs[0] ?? {};
  const message = String(first.message ?? res.json?.error?.message ?? `bqemulator answered ${res.status}`);
  if (first.reason === "notFound") return new ApiError(404, message, { reason: "notFound" });
  if (res.status >= 500) return new ApiError(500, `bqemulator: ${message}`);
  return new ApiError(400, message, { reason: "invalidQuery" });
}

/** The engine's result schema as the API reports it; a STRING column named like a BIGNUMERIC column is that column. */
function publicFields(fields: any[], bignumeric: Set<string>): any[] {
  return fields.map((f) => ({
    name: f.name,
    type: f.type === "STRING" && bignumeric.has(String(f.name).toLowerCase()) ? "BIGNUMERIC" : (legacyType(f.type) ?? f.type),
    mode: f.mode ?? "NULLABLE",
    ...(f.fields ? { fields: publicFields(f.fields, new Set()) } : {}),
  }));
}

/** Java's Double.toString, which the REST API's FLOAT and TIMESTAMP values follow ("1.5", "1.0E20", "1.7643588166721342E9"). */
function javaDouble(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e7) {
    const s = String(x);
    return s.includes(".") ? s : `${s}.0`;
  }
  const [mantissa, e] = x.toExponential().split("e");
  const m = mantissa.includes(".") ? mantissa : `${mantissa}.0`;
  return `${m}E${e.replace(/^\+/, "")}`;
}

/**
 * One cell as the REST API sends it: every value a string (or null). TIMESTAMP is seconds since the epoch
 * as a Java double ("1.764358816672134E9"), or int64 microseconds with formatOptions.useInt64Timestamp;
 * FLOAT as a Java double; NUMERIC and BIGNUMERIC in plain notation.
 */
function publicValue(v: any, field: any, int64Timestamp: boolean): any {
  if (v === null || v === undefined) return null;
  if (field.mode === "REPEATED" && Array.isArray(v)) return v.map((x: any) => ({ v: publicValue(x?.v, { ...field, mode: "NULLABLE" }, int64Timestamp) }));
  if (field.type === "RECORD" && v?.f) return { f: v.f.map((c: any, i: number) => ({ v: publicValue(c?.v, field.fields?.[i] ?? {}, int64Timestamp) })) };
  const s = String(v);
  switch (field.type) {
    case "TIMESTAMP":
      return /^-?\d+$/.test(s) ? (int64Timestamp ? s : javaDouble(Number(BigInt(s)) / 1e6)) : s;
    case "FLOAT": {
      const n = /^-?inf/i.test(s) ? (s.startsWith("-") ? -Infinity : Infinity) : Number(s);
      return javaDouble(n);
    }
    case "NUMERIC":
    case "BIGNUMERIC":
      return plainDecimal(s);
    default:
      return s;
  }
}

/** A boolean query parameter: Google's APIs take "true" in any case (python-bigquery sends "True"). */
const flag = (r: Request, name: string) => /^true$/i.test(r.query.get(name) ?? "");

const newJobId = () => "job_" + crypto.randomBytes(15).toString("base64url").replace(/-/g, "_");

/** A query request's settings as the job resource's configuration.query reports them. */
function jobQuery(body: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { query: String(body.query ?? ""), useLegacySql: body.useLegacySql ?? true };
  for (const k of ["defaultDataset", "parameterMode", "queryParameters"]) if (body[k] !== undefined) out[k] = body[k];
  return out;
}

function splitUri(uri: string): { bucket: string; pattern: string } {
  const m = /^gs:\/\/([^/]+)\/(.*)$/.exec(uri)!;
  return { bucket: m[1], pattern: m[2] };
}

function normaliseLocation(l: unknown): string {
  const s = String(l);
  return /^(us|eu)$/i.test(s) ? s.toUpperCase() : s.toLowerCase();
}
