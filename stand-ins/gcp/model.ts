// The emulator's data model and the face each API file sees of the emulator (EmulatorHost): types
// only, so the API files (iam.ts, storage.ts, policy.ts, bigquery.ts, pubsub.ts, resourcemanager.ts)
// and emulator.ts, which assembles them, import this and not each other.
import type * as http from "http";
import type { Api } from "./errors";

export interface ServiceAccountKey {
  id: string;
  publicKeyPem: string;
  /** The self-signed X.509 certificate IAM serves for TYPE_X509_PEM_FILE (PEM). */
  certificatePem: string;
  algorithm: string;
  validAfter: string;
  deleted: boolean;
  disabled: boolean;
}

export interface ServiceAccount {
  project: string;
  accountId: string;
  email: string;
  uniqueId: string;
  displayName: string;
  description: string;
  disabled: boolean;
  deleted: boolean;
  createdAt: number;
  /** The emulator's own owner account: never subject to the propagation delay. */
  bootstrap: boolean;
  keys: Map<string, ServiceAccountKey>;
}

export interface CustomRole {
  project: string;
  roleId: string;
  title: string;
  description: string;
  includedPermissions: string[];
  stage: string;
  deleted: boolean;
  deletedAt?: number;
  etag: string;
}

export interface StoredObject {
  name: string;
  generation: string;
  metageneration: string;
  data: Buffer;
  contentType: string;
  live: boolean;
  timeCreated: string;
  metadata?: Record<string, string>;
  /** As uploaded (e.g. "gzip"): kept, and served with decompressive transcoding. */
  contentEncoding?: string;
}

export interface BucketState {
  name: string;
  project: string;
  /** User-settable fields as last written (location, storageClass, labels, versioning, lifecycle, retentionPolicy, iamConfiguration). */
  fields: Record<string, any>;
  metageneration: number;
  timeCreated: string;
  updated: string;
  policy: ResourcePolicy;
  objects: StoredObject[];
  retentionEffective?: string;
}

export interface Binding {
  role: string;
  members: string[];
  condition?: unknown;
}

export interface ResourcePolicy {
  bindings: Binding[];
  etag: string;
}

/**
 * Where a permission is checked: the project, and a bucket, a BigQuery dataset, a Pub/Sub topic or a
 * Pub/Sub subscription (an id in that project) in it.
 */
export interface Scope {
  project: string;
  bucket?: string;
  /** The object a Cloud Storage request names (IAM Conditions on resource.name). */
  object?: string;
  /** The `prefix` of an objects.list request (the storage.googleapis.com/objectListPrefix attribute). */
  listPrefix?: string;
  dataset?: string;
  topic?: string;
  subscription?: string;
  /** A Secret Manager secret (its id). */
  secret?: string;
}

export type Handler = (req: Request) => Promise<Reply> | Reply;
/** How each API file (storage.ts, iam.ts, bigquery.ts, pubsub.ts, resourcemanager.ts) adds its routes. */
export type Register = (method: string, re: RegExp, h: Handler) => void;
export interface Request {
  method: string;
  path: string;
  params: string[];
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  principal: string;
  json<T = any>(): T;
}
export interface Reply {
  status?: number;
  json?: unknown;
  raw?: Buffer;
  headers?: Record<string, string>;
}

/** What the API files use of the emulator that holds them. */
export interface EmulatorHost {
  readonly project: string;
  readonly endpoint: string;
  /** The token endpoint written into the key files the emulator issues. */
  readonly tokenUri: string;
  /** The owners of each declared project. */
  readonly owners: Map<string, Set<string>>;
  readonly iam: {
    readonly roles: Map<string, CustomRole>;
    findByEmail(email: string): ServiceAccount | undefined;
    createAccount(project: string, accountId: string, sa: { displayName?: string; description?: string }, bootstrap?: boolean): ServiceAccount;
    createKey(a: ServiceAccount, algorithm: string): { key: ServiceAccountKey; keyFile: string };
  };
  readonly storage: {
    readonly buckets: Map<string, BucketState>;
    /** Writes an object as `principal` (a Pub/Sub Cloud Storage subscription's writer), with the API's checks and errors. */
    writeAs(principal: string, bucket: string, name: string, data: Buffer, contentType: string): void;
  };
  readonly bigquery: {
    /** Appends a BigQuery subscription's messages as rows of `table` ("p.d.t") as `principal` (bigquery.ts insertAs). */
    insertAs(principal: string, table: string, messages: ExportMessage[], config: BigQueryExport): Promise<Map<string, string>>;
    /** Checks a BigQuery subscription's table as subscriptions.create does (bigquery.ts exportTable). */
    exportTable(principal: string, table: string, config: BigQueryExport): unknown;
  };
  readonly resourcemanager: { isServiceAgent(email: string): boolean };
  /** Does `principal` hold `permission` in this scope? */
  allowed(principal: string, permission: string, scope: Scope): boolean;
  /** The same, throwing the API's 403 when not. */
  require(api: Api, principal: string, permission: string, scope: Scope, what: string): void;
  rolePermissions(role: string): string[];
  /** Is the account visible yet (the eventual-consistency knob)? */
  visible(sa: ServiceAccount): boolean;
}

/** A message a Pub/Sub export subscription writes (pubsub-exports.ts). */
export interface ExportMessage {
  messageId: string;
  data: Buffer;
  attributes: Record<string, string>;
  publishTime: number;
  subscription: string;
}

/** A BigQuery subscription's config as the emulator keeps it (pubsub-exports.ts). */
export interface BigQueryExport {
  kind: "bigquery";
  /** "project.dataset.table". */
  table: string;
  useTableSchema: boolean;
  writeMetadata: boolean;
  dropUnknownFields: boolean;
  serviceAccountEmail: string;
  state: string;
}
