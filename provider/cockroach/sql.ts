// Connecting to CockroachDB with `pg`, and turning its errors into one actionable line.
//
// Reached from state only through the resource modules that import it (see OperationsProvider in
// provider/operations-provider.ts): its path may change; a resource module's path and operations export may not.
import { Client } from "pg";
import type { ConfigLike } from "../shared";

export const URL_CONFIG_KEY = "zitadel-audit-stream:cockroachUrl";

/**
 * The connection: the resource's own input, else `zitadel-audit-stream:cockroachUrl` from Pulumi
 * config, else pg's standard environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, …).
 */
export async function connect(connectionString: string | undefined, config?: ConfigLike): Promise<Client> {
  const url = connectionString || config?.get(URL_CONFIG_KEY) || undefined;
  const client = new Client(url ? { connectionString: url } : {});
  client.on("error", () => undefined); // a dropped connection surfaces on the next query
  try {
    await client.connect();
  } catch (e) {
    throw new Error(`cannot connect to CockroachDB at ${where(url)}: ${(e as Error).message}`);
  }
  return client;
}

/** host:port/database of a URL, without user or password. */
export function where(url: string | undefined): string {
  if (!url) return `${process.env.PGHOST ?? "localhost"}:${process.env.PGPORT ?? "5432"} (from the PG* environment)`;
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "26257"}${u.pathname}`;
  } catch {
    return "the configured URL";
  }
}

export async function withClient<T>(connectionString: string | undefined, config: ConfigLike | undefined, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await connect(connectionString, config);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** One line that says what failed, why, and what to do about it (research §10). */
export function explain(e: unknown, what: string): Error {
  const err = e as { code?: string; message?: string };
  const msg = err?.message ?? String(e);
  const code = err?.code;
  if (code === "XXC02" || /requires an enterprise license/.test(msg)) {
    return new Error(`${what}: CockroachDB says "${msg}". Changefeeds into cloud storage need an enterprise licence on this version: set one (SET CLUSTER SETTING enterprise.license = '…'), or upgrade to v24.3+ or a patch release from October 2024 on, where no licence key is required.`);
  }
  if (/rangefeeds require the kv\.rangefeed\.enabled setting/.test(msg)) {
    return new Error(`${what}: rangefeeds are off. Run SET CLUSTER SETTING kv.rangefeed.enabled = true, or declare a ClusterSetting resource (AuditStream does) and make the changefeed depend on it.`);
  }
  if (code === "42501") {
    return new Error(`${what}: the SQL user lacks a privilege: ${msg}. Grant it (e.g. GRANT CHANGEFEED ON TABLE eventstore.events2 TO <user>; ALTER USER <user> WITH MODIFYCLUSTERSETTING) or connect as an admin.`);
  }
  return new Error(`${what} failed${code ? ` (SQLSTATE ${code})` : ""}: ${msg}`);
}

export interface JobRow {
  job_id: string;
  status: string;
  running_status: string | null;
  high_water_timestamp: string | null;
  error: string;
  sink_uri: string;
  description: string;
}

export async function showJob(c: Client, jobId: string): Promise<JobRow | undefined> {
  const r = await c.query("SHOW CHANGEFEED JOB $1", [jobId]);
  return r.rows[0];
}

/** Polls the job until `done` holds, or fails after `timeoutMs` naming the last status seen. */
export async function waitForJob(c: Client, jobId: string, what: string, done: (j: JobRow) => boolean, timeoutMs = 120_000): Promise<JobRow> {
  const deadline = Date.now() + timeoutMs;
  let last: JobRow | undefined;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    last = await showJob(c, jobId);
    if (last && done(last)) return last;
    if (last && (last.status === "failed" || last.status === "canceled") && !done(last)) {
      throw new Error(`changefeed job ${jobId} is ${last.status} while waiting for ${what}${last.error ? `: ${last.error}` : ""}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what} of job ${jobId} (last status: ${last?.status ?? "not found"})`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
