// Changefeed: a CockroachDB CDC-query changefeed into Cloud Storage. Its Pulumi id is stable and
// the running job's id is an output, so every change is an update (research §6, §13):
// - sink, credentials or alterable options → PAUSE, ALTER, RESUME, then wait until the high-water
//   moves (the new sink really writes); if it does not, the old settings are restored.
// - query, initial_scan or cursor → a handoff: PAUSE the old job, read its high-water H, CREATE the
//   new feed WITH cursor = H, wait until it checkpoints, CANCEL the old one. Nothing before H is
//   lost; events after H may arrive twice (at-least-once).
// - on versions where ALTER silently drops a CDC query (cockroach #113491) sink and option changes
//   take the handoff path too.
// - a job found paused, failed, canceled or gone (after `refresh`) is healed: resumed, or restarted
//   from its last high-water.
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `changefeedOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { Client } from "pg";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, DeepInput, Operations, classifyDiff, defined, sameValue, validate, withoutProvider } from "../shared";
import { changefeedQueryOptionsSchema, buildChangefeedQuery, loadSqlParser, ChangefeedQueryOptions } from "../cdc/query";
import { sinkUriOptionsSchema, buildSinkUri, encodeCredentials, redactSinkUri, SinkUriOptions } from "../cdc/sink";
import { gcpClients, gcpConfigFrom, messageOf, statusOf, withRetry } from "../gcp/client";
import { changefeedOptionsSchema, renderChangefeedOptions, ChangefeedOptions } from "../cdc/statement";
import { ValidationError } from "../validation";
import { JobRow, explain, showJob, waitForJob, withClient } from "./sql";

export interface ChangefeedArgs {
  /** postgresql:// URL (secret). Default: `zitadel-audit-stream:cockroachUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /** The SELECT: builder options (default: the guide's columns, no payload), or `{ query: "SELECT …" }`. */
  query?: DeepInput<ChangefeedQueryOptions>;
  /** Where files go; `credentials` is the service account key (secret). */
  sink: DeepInput<SinkUriOptions>;
  /** WITH options of the changefeed. `cursor` and `initial_scan` count only when the feed is first created. */
  options?: DeepInput<ChangefeedOptions>;
  /** How long an update may wait for a job to run and checkpoint (default 120). */
  timeoutSeconds?: pulumi.Input<number>;
  /**
   * Before creating the feed or switching its sink, ask Cloud Storage (testIamPermissions, with the
   * sink's own key) whether that key may create objects in the bucket. Default true. CockroachDB
   * itself does not check: a feed without access "succeeds" and retries forever (cockroach #43216).
   */
  verifySinkAccess?: pulumi.Input<boolean>;
}

export const changefeedInputs = z.strictObject({
  connectionString: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL").optional(),
  query: changefeedQueryOptionsSchema.default({}),
  sink: sinkUriOptionsSchema,
  options: changefeedOptionsSchema.default({}),
  timeoutSeconds: z.number().int().min(5, "at least 5 seconds").max(3600, "at most an hour").default(120),
  verifySinkAccess: z.boolean().default(true),
});

/** Options that take effect only when a feed is created (ALTER refuses them, research §6). */
const CREATE_ONLY = ["cursor", "initial_scan", "end_time"];
const RUNNING = ["running", "pending"];

const omit = (o: Record<string, unknown> = {}, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

export const changefeedOperations: Operations = {
  async check(_config: ConfigLike | undefined, _olds: any, news: any) {
    if (typeof news.query?.query === "string") await loadSqlParser();
    const v = validate(changefeedInputs, news);
    if (!v.inputs) return { failures: v.failures };
    if (!v.complete) return { inputs: v.inputs };
    const i = v.inputs;
    try {
      const select = buildChangefeedQuery(i.query);
      const sinkUriRedacted = redactSinkUri(buildSinkUri(i.sink));
      return { inputs: defined({ ...i, select, sinkUriRedacted }) };
    } catch (e) {
      if (e instanceof ValidationError) {
        const field = e.message.startsWith("buildSinkUri") ? "sink" : "query";
        return { failures: e.problems.map((p) => ({ property: [field, p.field].filter(Boolean).join("."), reason: p.reason })) };
      }
      throw e;
    }
  },

  async diff(_config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    const d = classifyDiff(olds, news, { replace: [], update: ["select", "query", "sink", "options", "connectionString", "timeoutSeconds", "verifySinkAccess"] });
    // A job that is not running (seen by refresh) is drift the next update heals.
    const drift = typeof olds.status === "string" && !RUNNING.includes(olds.status);
    return { ...d, changes: d.changes || drift };
  },

  async create(config: ConfigLike | undefined, i: any) {
    await verifySinkAccess(config, i);
    return withClient(i.connectionString, config, async (c) => {
      const jobId = await createJob(c, i, i.options);
      let job: JobRow;
      try {
        job = await waitForJob(c, jobId, "the job to run", (j) => j.status === "running", i.timeoutSeconds * 1000);
      } catch (e) {
        // Not recorded in state, so it must not keep running: the next `up` would start a second feed.
        await cancel(c, jobId, i.timeoutSeconds * 1000).catch(() => undefined);
        throw new Error(`${(e as Error).message} (job ${jobId} was canceled)`);
      }
      return { id: `changefeed-${crypto.randomBytes(6).toString("hex")}`, outs: outputs(i, job, [jobId]) };
    });
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error("Changefeed cannot be imported (dynamic resources have no import)");
    return withClient(props.connectionString, config, async (c) => {
      const job = await showJob(c, props.jobId).catch((e) => {
        throw explain(e, `read changefeed job ${props.jobId}`);
      });
      // Never report the resource gone: the next update restarts it from the last high-water.
      const outs = job ? outputs(props, job, props.jobHistory) : { ...props, status: "missing", runningStatus: "job not found (garbage-collected or removed)" };
      return { id, props: outs };
    });
  },

  async update(config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    if (!sameValue(olds.sink, news.sink)) await verifySinkAccess(config, news);
    return withClient(news.connectionString, config, async (c) => {
      const history: string[] = [...(olds.jobHistory ?? [olds.jobId])];
      const timeout = news.timeoutSeconds * 1000;
      const current = await showJob(c, olds.jobId);
      const queryChanged = olds.select !== news.select || !sameValue(olds.options?.initial_scan, news.options?.initial_scan) || !sameValue(olds.options?.cursor, news.options?.cursor);
      const sinkChanged = !sameValue(olds.sink, news.sink);
      const optionsChanged = !sameValue(omit(olds.options, CREATE_ONLY), omit(news.options, CREATE_ONLY));
      let jobId: string = olds.jobId;
      if (!current || ["canceled", "cancel-requested", "failed", "succeeded"].includes(current.status)) {
        const h = current?.high_water_timestamp ?? olds.highWaterTimestamp;
        if (!h) {
          throw new Error(`changefeed job ${olds.jobId} is ${current?.status ?? "gone"} and never checkpointed, so it cannot be continued without a gap. Delete this resource and create it again to start over (its initial scan re-emits the table).`);
        }
        jobId = await startFrom(c, news, h, timeout);
      } else if (queryChanged || ((sinkChanged || optionsChanged) && (await alterDropsQuery(c)))) {
        jobId = await handoff(c, olds.jobId, news, timeout);
      } else if (sinkChanged || optionsChanged) {
        await alterInPlace(c, olds, news, timeout);
      } else if (current.status === "paused" || current.status === "pause-requested") {
        // RESUME needs the pause to have completed.
        await waitForJob(c, olds.jobId, "the pause to complete", (j) => j.status === "paused", timeout);
        await c.query(`RESUME JOB ${jobIdText(olds.jobId)}`).catch((e) => {
          throw explain(e, `resume changefeed job ${olds.jobId}`);
        });
      }
      if (!history.includes(jobId)) history.push(jobId);
      const job = await waitForJob(c, jobId, "the job to run", (j) => RUNNING.includes(j.status), timeout);
      return { outs: outputs(news, job, history) };
    });
  },

  async delete(config: ConfigLike | undefined, _id: string, props: any) {
    await withClient(props.connectionString, config, (c) => cancel(c, props.jobId, (props.timeoutSeconds ?? 120) * 1000));
  },
};

/**
 * Proves, with the sink's own key, that it may create objects in the bucket (retrying while a new
 * grant propagates), so that a missing grant fails `pulumi up` instead of a feed that silently
 * retries. Needs no permission itself. Skipped for implicit and impersonated credentials.
 */
async function verifySinkAccess(config: ConfigLike | undefined, i: any): Promise<void> {
  const sink = i.sink;
  if (i.verifySinkAccess === false || !sink.credentials || sink.auth === "implicit" || sink.assumeRole) return;
  const key = Buffer.from(encodeCredentials(sink.credentials), "base64").toString("utf8");
  const gcp = await gcpClients({ credentials: key, endpoint: gcpConfigFrom(config).endpoint });
  const email = JSON.parse(key).client_email;
  const what = `check that ${email} may create objects in gs://${sink.bucket}`;
  const missing = Object.assign(new Error("not granted"), { notGranted: true });
  try {
    await withRetry(
      async () => {
        const r = await gcp.storage.buckets.testIamPermissions({ bucket: sink.bucket, permissions: ["storage.objects.create"] });
        if (!(r.data.permissions ?? []).includes("storage.objects.create")) throw missing;
      },
      { what, retryIf: (e) => (e as any).notGranted === true, deadlineMs: i.timeoutSeconds * 1000, baseDelayMs: 500 },
    );
  } catch (e) {
    if (statusOf(e) === 404) throw new Error(`${what}: the bucket does not exist`);
    if ((e as any).notGranted || /still failing/.test(messageOf(e))) {
      throw new Error(`${what}: it may not (testIamPermissions). Grant storage.objects.create on the bucket to serviceAccount:${email} (the guide's custom role, or roles/storage.objectCreator) and run \`pulumi up\` again; the changefeed was left as it was.`);
    }
    throw new Error(`${what} failed: ${messageOf(e)}`);
  }
}

/**
 * CANCEL JOB, idempotently: a job already canceled, finished, failed or gone is fine; one whose
 * pause is still being requested (it refuses CANCEL, research §5.4) is cancelled once paused.
 */
async function cancel(c: Client, jobId: string, timeout: number): Promise<void> {
  const job = await showJob(c, jobIdText(jobId));
  if (!job || ["canceled", "cancel-requested", "succeeded", "failed"].includes(job.status)) return;
  if (job.status === "pause-requested") await waitForJob(c, jobId, "the pause to complete", (j) => j.status !== "pause-requested", timeout);
  try {
    await c.query(`CANCEL JOB ${jobIdText(jobId)}`);
  } catch (e) {
    const now = await showJob(c, jobId);
    if (!now || ["canceled", "cancel-requested", "succeeded", "failed"].includes(now.status)) return;
    throw explain(e, `cancel changefeed job ${jobId}`);
  }
}

function jobIdText(id: unknown): string {
  const s = String(id);
  if (!/^\d+$/.test(s)) throw new Error(`not a job id: ${s}`);
  return s;
}

function statementFor(i: any, options: Record<string, unknown>): string {
  return `CREATE CHANGEFEED INTO $1${renderChangefeedOptions(defined(options) as ChangefeedOptions)} AS ${i.select}`;
}

async function createJob(c: Client, i: any, options: Record<string, unknown>): Promise<string> {
  try {
    const r = await c.query(statementFor(i, options), [buildSinkUri(i.sink)]);
    return String(r.rows[0].job_id);
  } catch (e) {
    throw explain(e, "create changefeed");
  }
}

/** A new job continuing from high-water `h`; waits until it checkpoints past `h`. */
async function startFrom(c: Client, i: any, h: string, timeout: number): Promise<string> {
  let jobId: string;
  try {
    jobId = await createJob(c, i, { ...omit(i.options, ["initial_scan"]), cursor: h });
  } catch (e) {
    if (/older than the GC threshold/.test((e as Error).message)) {
      throw new Error(`changefeed: its last high-water ${h} is older than CockroachDB's garbage-collection window, so the events since then can no longer be read. To restart anyway, delete this resource and create it again (its initial scan re-emits the table).`);
    }
    throw e;
  }
  try {
    await waitPast(c, jobId, h, timeout, "the new job's first checkpoint");
  } catch (e) {
    // A job that cannot deliver is not left behind.
    await cancel(c, jobId, timeout).catch(() => undefined);
    throw e;
  }
  return jobId;
}

async function waitPast(c: Client, jobId: string, h: string | null, timeout: number, what: string): Promise<JobRow> {
  try {
    return await waitForJob(c, jobId, what, (j) => j.status === "running" && !!j.high_water_timestamp && (h === null || decimalGreater(j.high_water_timestamp, h)), timeout);
  } catch (e) {
    const j = await showJob(c, jobId).catch(() => undefined);
    throw new Error(`${(e as Error).message}${j?.running_status ? `; the job reports: ${j.running_status}` : ""}`);
  }
}

/** a > b for HLC decimals (wall.logical) without losing digits. */
export function decimalGreater(a: string, b: string): boolean {
  const [aw, al = "0"] = a.split(".");
  const [bw, bl = "0"] = b.split(".");
  if (BigInt(aw) !== BigInt(bw)) return BigInt(aw) > BigInt(bw);
  return BigInt(al.padEnd(10, "0")) > BigInt(bl.padEnd(10, "0"));
}

async function pause(c: Client, jobId: string, timeout: number): Promise<JobRow> {
  await c.query(`PAUSE JOB ${jobIdText(jobId)}`).catch((e) => {
    throw explain(e, `pause changefeed job ${jobId}`);
  });
  return waitForJob(c, jobId, "the pause", (j) => j.status === "paused", timeout);
}

async function resume(c: Client, jobId: string): Promise<void> {
  await c.query(`RESUME JOB ${jobIdText(jobId)}`);
}

/** PAUSE old, read H, CREATE new WITH cursor = H, wait until it checkpoints, CANCEL old. */
async function handoff(c: Client, oldId: string, news: any, timeout: number): Promise<string> {
  let paused = await pause(c, oldId, timeout);
  if (!paused.high_water_timestamp) {
    // It never checkpointed: let it reach a first high-water, so nothing before it is skipped.
    await resume(c, oldId);
    await waitPast(c, oldId, null, timeout, "a first checkpoint of the old job");
    paused = await pause(c, oldId, timeout);
  }
  const h = paused.high_water_timestamp!;
  let newId: string;
  try {
    newId = await startFrom(c, news, h, timeout);
  } catch (e) {
    // Leave things as they were: the old feed runs on (startFrom removed the new one).
    await resume(c, oldId).catch(() => undefined);
    throw new Error(`${(e as Error).message} (the previous changefeed job ${oldId} was resumed)`);
  }
  await cancel(c, oldId, timeout).catch((e) => {
    throw new Error(`${(e as Error).message} (after the handoff to ${newId}; the new job runs, the old one is paused)`);
  });
  return newId;
}

/** The ALTER clauses that turn `from` into `to`. */
function alterClauses(from: any, to: any, sinkChanged: boolean): { sql: string; params: string[] } {
  const set: string[] = [];
  const params: string[] = [];
  if (sinkChanged) {
    params.push(buildSinkUri(to.sink));
    set.push("sink = $1");
  }
  const a = omit(from.options, CREATE_ONLY);
  const b = omit(to.options, CREATE_ONLY);
  const unset = Object.keys(a).filter((k) => b[k] === undefined);
  const changed = Object.keys(b).filter((k) => !sameValue(a[k], b[k]));
  const opts = renderChangefeedOptions(Object.fromEntries(changed.map((k) => [k, b[k]])) as ChangefeedOptions).replace(/^ WITH /, "");
  if (opts) set.push(opts);
  return { sql: [set.length ? `SET ${set.join(", ")}` : "", unset.length ? `UNSET ${unset.join(", ")}` : ""].filter(Boolean).join(" "), params };
}

/** PAUSE, ALTER, RESUME, then wait until the high-water moves; if it does not, restore the old settings. */
async function alterInPlace(c: Client, olds: any, news: any, timeout: number): Promise<void> {
  const id = jobIdText(olds.jobId);
  const sinkChanged = !sameValue(olds.sink, news.sink);
  const before = await pause(c, id, timeout);
  const forward = alterClauses(olds, news, sinkChanged);
  try {
    await c.query(`ALTER CHANGEFEED ${id} ${forward.sql}`, forward.params);
  } catch (e) {
    await resume(c, id).catch(() => undefined);
    throw explain(e, `alter changefeed job ${id} (it was resumed unchanged)`);
  }
  await resume(c, id);
  try {
    await waitPast(c, id, before.high_water_timestamp, timeout, "a checkpoint with the new settings");
  } catch (e) {
    const back = alterClauses(news, olds, sinkChanged);
    await pause(c, id, timeout).catch(() => undefined);
    await c.query(`ALTER CHANGEFEED ${id} ${back.sql}`, back.params).catch(() => undefined);
    await resume(c, id).catch(() => undefined);
    throw new Error(`the changefeed did not work with the new sink or options, so the previous ones were restored: ${(e as Error).message}`);
  }
}

/** Versions where ALTER CHANGEFEED silently drops a CDC query (fixed in 23.1.24, 23.2.7 and 24.1.0; research §6). */
async function alterDropsQuery(c: Client): Promise<boolean> {
  const v = String((await c.query("SELECT version()")).rows[0]?.version ?? "");
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) return false;
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (maj === 23 && min === 1) return patch < 24;
  if (maj === 23 && min === 2) return patch < 7;
  return maj < 23;
}

function outputs(i: any, job: JobRow, history: string[]) {
  return defined({
    ...withoutProvider(i),
    jobId: String(job.job_id),
    jobHistory: history,
    status: job.status,
    runningStatus: job.running_status ?? "",
    highWaterTimestamp: job.high_water_timestamp ?? i.highWaterTimestamp ?? null,
    error: job.error ?? "",
  });
}

export interface Changefeed {
  /** The running job (a string: CockroachDB job ids exceed 2^53). It changes on a handoff. */
  readonly jobId: pulumi.Output<string>;
  /** Every job this resource has run, oldest first. */
  readonly jobHistory: pulumi.Output<string[]>;
  readonly status: pulumi.Output<string>;
  readonly runningStatus: pulumi.Output<string>;
  readonly highWaterTimestamp: pulumi.Output<string | null>;
  readonly error: pulumi.Output<string>;
  /** The sink as CockroachDB shows it, CREDENTIALS=redacted. */
  readonly sinkUriRedacted: pulumi.Output<string>;
  /** The SELECT the feed runs. */
  readonly select: pulumi.Output<string>;
}

/** A CockroachDB changefeed streaming a CDC query into Cloud Storage. */
export class Changefeed extends pulumi.dynamic.Resource {
  /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
  static get provider() {
    return operationsProvider(__filename, "changefeedOperations");
  }

  constructor(name: string, args: ChangefeedArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      Changefeed.provider,
      name,
      {
        ...args,
        connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined,
        sink: pulumi.secret(args.sink),
        jobId: undefined,
        jobHistory: undefined,
        status: undefined,
        runningStatus: undefined,
        highWaterTimestamp: undefined,
        error: undefined,
        sinkUriRedacted: undefined,
        select: undefined,
      },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "sink", "connectionString"] },
      "cockroach",
      "Changefeed",
    );
  }
}
