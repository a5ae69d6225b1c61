// Pub/Sub export subscriptions: a subscription with `cloudStorageConfig` writes its messages into
// objects of a bucket, one with `bigqueryConfig` writes them as rows of a table, both as the project's
// Pub/Sub service agent (or the config's serviceAccountEmail), checked by the same IAM as any caller.
// Facts and their sources: docs/pubsub-exports.md (section numbers below are that note's).
//
// The executor runs on a timer and on the Pub/Sub clock (so a test can `advance` past maxDuration). A
// message is acknowledged only once its object or row is written; a write refused (no permission,
// no bucket or table) leaves the message in the subscription's backlog and sets the config's `state`
// (PERMISSION_DENIED, NOT_FOUND, SCHEMA_MISMATCH), which a get of the subscription shows — the failure
// is surfaced on the subscription, nothing is lost, and writing resumes by itself once fixed.
import * as crypto from "crypto";
import { ApiError, invalid, parseDuration } from "./errors";
import type { BigQueryExport, ExportMessage } from "./model";

export type { BigQueryExport, ExportMessage } from "./model";

/** A message waiting in a subscription, as the runner sees it (pubsub.ts Lease is one). */
export interface Lease {
  message: { messageId: string; data: Buffer; attributes: Record<string, string>; publishTime: number };
  attempts: number;
  availableAt: number;
}

/** What the runner needs of a subscription (pubsub.ts SubscriptionState is one). */
export interface SubscriptionState {
  name: string;
  project: string;
  backlog: Lease[];
  export?: ExportConfig;
}

/** What the executor asks of the rest of the emulator (storage and BigQuery, as a principal). */
export interface ExportTargets {
  /** Writes an object as `principal`; throws the API's error (403, 404) when it cannot. */
  writeObject(principal: string, bucket: string, name: string, data: Buffer, contentType: string): void;
  /**
   * Appends rows made from `messages` to `table` ("project.dataset.table") as `principal`. Throws an
   * ExportRefusal (no table, no permission) and writes nothing; otherwise writes the messages that fit
   * and returns the ids of those that do not, with why.
   */
  insertRows(principal: string, table: string, messages: ExportMessage[], config: BigQueryExport): Promise<Map<string, string>>;
  /** The subscription project's Pub/Sub service agent. */
  serviceAgent(project: string): string;
  /** Throws an ExportRefusal unless `principal` may write into `bucket` (it exists; storage.objects.create and storage.buckets.get). */
  bucketWritable(principal: string, bucket: string): void;
  /** Throws an ExportRefusal unless `principal` may write rows into `table` and it has the columns `config` needs. */
  tableWritable(principal: string, table: string, config: BigQueryExport): void;
}

/** A refusal that sets the export's state (and says why, for the log). */
export class ExportRefusal extends ApiError {
  constructor(
    readonly state: "PERMISSION_DENIED" | "NOT_FOUND" | "SCHEMA_MISMATCH",
    message: string,
    /** What subscriptions.create answers with it. */
    code: number,
  ) {
    super(code, message);
  }
}

export interface CloudStorageExport {
  kind: "cloudStorage";
  bucket: string;
  filenamePrefix: string;
  filenameSuffix: string;
  filenameDatetimeFormat: string;
  /** Seconds. */
  maxDuration: number;
  maxBytes: number;
  maxMessages: number;
  serviceAccountEmail: string;
  state: string;
  /** Messages taken into the file being written, and when it was opened (Pub/Sub clock). */
  open?: { since: number; leases: Lease[]; bytes: number };
}

export type ExportConfig = CloudStorageExport | BigQueryExport;

const MINUTE = 60;
const GIB = 1024 ** 3;
/** How long the executor waits after a refused write before it tries again (own choice; the real service's retry pace is UNCONFIRMED). */
const RETRY_MS = 1000;
/** Rows per insert (own choice, below BigQuery's streaming limits). */
const ROWS_PER_WRITE = 500;

/** A cloudStorageConfig as given to subscriptions.create, checked (docs/pubsub-exports.md §1). */
export function cloudStorageExport(v: any): CloudStorageExport {
  if (!v || typeof v !== "object") throw invalid("Invalid cloud_storage_config."); // own words
  const bucket = String(v.bucket ?? "");
  // "The bucket name without any prefix like gs://" (CloudStorageConfig.bucket).
  if (!/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/.test(bucket))
    throw invalid(`Invalid cloud_storage_config.bucket: ${bucket}. Give the bucket's name without gs://.`); // own words
  if (v.avroConfig !== undefined) throw invalid("cloud_storage_config.avro_config is not supported by this emulator (text only)."); // own words
  const maxDuration = v.maxDuration === undefined ? 5 * MINUTE : parseDuration(v.maxDuration, "cloud_storage_config.max_duration");
  if (maxDuration < MINUTE || maxDuration > 10 * MINUTE)
    throw invalid(`Invalid cloud_storage_config.max_duration: ${v.maxDuration}. It must be between 1 minute and 10 minutes.`); // own words
  const maxBytes = v.maxBytes === undefined ? 0 : Number(v.maxBytes);
  if (!Number.isInteger(maxBytes) || (maxBytes !== 0 && (maxBytes < 1000 || maxBytes > 10 * GIB)))
    throw invalid(`Invalid cloud_storage_config.max_bytes: ${v.maxBytes}. It must be between 1 KB and 10 GiB.`); // own words
  const maxMessages = v.maxMessages === undefined ? 0 : Number(v.maxMessages);
  if (!Number.isInteger(maxMessages) || (maxMessages !== 0 && maxMessages < 1000))
    throw invalid(`Invalid cloud_storage_config.max_messages: ${v.maxMessages}. It must be at least 1000.`); // own words
  const prefix = String(v.filenamePrefix ?? "");
  const suffix = String(v.filenameSuffix ?? "");
  // "Must not end in /" (CloudStorageConfig.filename_suffix).
  if (suffix.endsWith("/")) throw invalid("Invalid cloud_storage_config.filename_suffix: it must not end in '/'."); // own words
  return {
    kind: "cloudStorage",
    bucket,
    filenamePrefix: prefix,
    filenameSuffix: suffix,
    filenameDatetimeFormat: String(v.filenameDatetimeFormat ?? ""),
    maxDuration,
    maxBytes,
    maxMessages,
    serviceAccountEmail: String(v.serviceAccountEmail ?? ""),
    state: "ACTIVE",
  };
}

/** A bigqueryConfig as given to subscriptions.create, checked (docs/pubsub-exports.md §4). */
export function bigQueryExport(v: any): BigQueryExport {
  if (!v || typeof v !== "object") throw invalid("Invalid bigquery_config."); // own words
  const table = String(v.table ?? "");
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9][.:][A-Za-z0-9_]{1,1024}\.[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]{1,1024}$/u.test(table))
    throw invalid(`Invalid bigquery_config.table: ${table}. It must be {projectId}.{datasetId}.{tableId}.`); // own words
  if (v.useTopicSchema && v.useTableSchema) throw invalid("bigquery_config: use_topic_schema and use_table_schema cannot both be set."); // own words
  if (v.useTopicSchema) throw invalid("bigquery_config.use_topic_schema is not supported by this emulator (it has no schemas)."); // own words
  return {
    kind: "bigquery",
    table: table.replace(":", "."),
    useTableSchema: Boolean(v.useTableSchema),
    writeMetadata: Boolean(v.writeMetadata),
    dropUnknownFields: Boolean(v.dropUnknownFields),
    serviceAccountEmail: String(v.serviceAccountEmail ?? ""),
    state: "ACTIVE",
  };
}

/** The config as subscriptions.get shows it (proto3 JSON: defaults left out, durations as "Ns", int64 as strings). */
export function exportJson(c: ExportConfig): Record<string, unknown> {
  if (c.kind === "cloudStorage") {
    return {
      cloudStorageConfig: {
        bucket: c.bucket,
        ...(c.filenamePrefix ? { filenamePrefix: c.filenamePrefix } : {}),
        ...(c.filenameSuffix ? { filenameSuffix: c.filenameSuffix } : {}),
        ...(c.filenameDatetimeFormat ? { filenameDatetimeFormat: c.filenameDatetimeFormat } : {}),
        textConfig: {},
        maxDuration: `${c.maxDuration}s`,
        ...(c.maxBytes ? { maxBytes: String(c.maxBytes) } : {}),
        ...(c.maxMessages ? { maxMessages: String(c.maxMessages) } : {}),
        ...(c.serviceAccountEmail ? { serviceAccountEmail: c.serviceAccountEmail } : {}),
        state: c.state,
      },
    };
  }
  return {
    bigqueryConfig: {
      table: c.table,
      ...(c.useTableSchema ? { useTableSchema: true } : {}),
      ...(c.writeMetadata ? { writeMetadata: true } : {}),
      ...(c.dropUnknownFields ? { dropUnknownFields: true } : {}),
      ...(c.serviceAccountEmail ? { serviceAccountEmail: c.serviceAccountEmail } : {}),
      state: c.state,
    },
  };
}

/**
 * An object's name: prefix, the UTC date and time the file was opened, an underscore and a UUID,
 * then the suffix (docs/pubsub-exports.md §2). Only the default datetime format is rendered; a custom
 * filenameDatetimeFormat is kept and echoed but rendered the default way (UNCONFIRMED mapping).
 */
export function objectName(c: Pick<CloudStorageExport, "filenamePrefix" | "filenameSuffix">, openedAt: number, uuid = crypto.randomUUID()): string {
  const when = new Date(openedAt).toISOString().replace(/\.\d{3}Z$/, "+00:00");
  return `${c.filenamePrefix}${when}_${uuid}${c.filenameSuffix}`;
}

/** Text format: each message's data, one after another, separated by newlines (docs/pubsub-exports.md §2). */
export function textFile(leases: Lease[]): Buffer {
  return Buffer.concat(leases.flatMap((l, i) => (i ? [Buffer.from("\n"), l.message.data] : [l.message.data])));
}

/** Runs the export subscriptions: call `tick` often; it writes what is due and never throws. */
export class ExportRunner {
  private readonly retryAt = new Map<string, number>();
  /** Passes run one after another (the timer's and a test's), never side by side. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly targets: ExportTargets,
    private readonly now: () => number,
  ) {}

  tick(subscriptions: Iterable<SubscriptionState & { export?: ExportConfig }>): Promise<void> {
    const run = this.chain.then(() => this.pass([...subscriptions]));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async pass(subscriptions: (SubscriptionState & { export?: ExportConfig })[]): Promise<void> {
    for (const s of subscriptions) {
      if (!s.export) continue;
      const now = this.now();
      if ((this.retryAt.get(s.name) ?? 0) > now) continue;
      try {
        const wrote = s.export.kind === "cloudStorage" ? this.cloudStorage(s, s.export, now) : await this.bigquery(s, s.export, now);
        // The state returns to ACTIVE only with a write that went through: a pass that wrote nothing (a file
        // not yet due) proves nothing about the grant or the destination.
        if (wrote) s.export.state = "ACTIVE";
        this.retryAt.delete(s.name);
      } catch (e) {
        // A refusal shows on the subscription; anything else (the emulator's own engine failing) is retried as it is.
        s.export.state = stateOf(e) ?? s.export.state;
        this.retryAt.set(s.name, now + RETRY_MS);
      }
    }
  }

  private writer(s: Pick<SubscriptionState, "project">, c: ExportConfig): string {
    return c.serviceAccountEmail || this.targets.serviceAgent(s.project);
  }

  /**
   * What subscriptions.create checks of an export (docs/pubsub-exports.md §3, §5): the bucket or table
   * exists and its writer may write there — a missing one is refused at create, not found later.
   */
  checkCreate(project: string, c: ExportConfig): void {
    if (c.kind === "cloudStorage") this.targets.bucketWritable(this.writer({ project }, c), c.bucket);
    else this.targets.tableWritable(this.writer({ project }, c), c.table, c);
  }

  /** Takes what is available into the open file, and writes the file once one of its limits is reached; true when it wrote one. */
  private cloudStorage(s: SubscriptionState, c: CloudStorageExport, now: number): boolean {
    const taken = new Set(c.open?.leases ?? []);
    for (const l of s.backlog) {
      if (taken.has(l) || l.availableAt > now) continue;
      c.open ??= { since: now, leases: [], bytes: 0 };
      c.open.leases.push(l);
      c.open.bytes += l.message.data.length + 1;
      l.availableAt = Number.MAX_SAFE_INTEGER; // leased to the export until written
      l.attempts += 1;
    }
    const open = c.open;
    if (!open) return false;
    const due =
      now - open.since >= c.maxDuration * 1000 || (c.maxBytes > 0 && open.bytes >= c.maxBytes) || (c.maxMessages > 0 && open.leases.length >= c.maxMessages);
    if (!due) return false;
    const name = objectName(c, open.since);
    const writer = this.writer(s, c);
    try {
      this.targets.bucketWritable(writer, c.bucket);
      this.targets.writeObject(writer, c.bucket, name, textFile(open.leases), "text/plain");
    } catch (e) {
      // Nothing written: the messages go back to the backlog, available again, and the file is begun anew.
      for (const l of open.leases) l.availableAt = 0;
      c.open = undefined;
      throw e;
    }
    const done = new Set(open.leases);
    s.backlog = s.backlog.filter((l) => !done.has(l));
    c.open = undefined;
    return true;
  }

  /** Writes what is available as rows, a batch at a time; a refused batch stays in the backlog. True when a batch went through. */
  private async bigquery(s: SubscriptionState, c: BigQueryExport, now: number): Promise<boolean> {
    for (let wrote = false; ; wrote = true) {
      const batch = s.backlog.filter((l) => l.availableAt <= now).slice(0, ROWS_PER_WRITE);
      if (batch.length === 0) return wrote;
      const messages = batch.map((l) => ({
        messageId: l.message.messageId,
        data: l.message.data,
        attributes: l.message.attributes,
        publishTime: l.message.publishTime,
        subscription: s.name,
      }));
      const unfit = await this.targets.insertRows(this.writer(s, c), c.table, messages, c);
      // A message that does not fit the table is not written and stays, negatively acknowledged: it
      // comes again after a pause, and goes to the dead-letter topic after maxDeliveryAttempts when
      // the subscription has one (docs/pubsub-exports.md §4); the others are written.
      for (const l of batch) {
        if (!unfit.has(l.message.messageId)) continue;
        l.attempts += 1;
        l.availableAt = now + RETRY_MS;
      }
      const done = new Set(batch.filter((l) => !unfit.has(l.message.messageId)));
      s.backlog = s.backlog.filter((l) => !done.has(l));
    }
  }
}

/** The export state a refused write puts the subscription in (docs/pubsub-exports.md §1 and §4); undefined for other failures. */
function stateOf(e: unknown): string | undefined {
  if (e instanceof ExportRefusal) return e.state;
  if (e instanceof ApiError) {
    if (e.code === 403) return "PERMISSION_DENIED";
    if (e.code === 404) return "NOT_FOUND";
  }
  return undefined;
}
