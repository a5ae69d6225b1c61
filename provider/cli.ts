#!/usr/bin/env node
// `npx zitadel-audit-stream health`: the same verdict as the Changefeed's `health` output, read now,
// for cron or CI, and for the PostgreSQL source the verdict on each replication slot (cdc/slot.ts
// slotVerdict), each destination subscription (cdc/subscription-health.ts) and each engine's own health
// endpoint (cdc/engine-health.ts) or Cloud Run service (cdc/service-health.ts). Exit status: 0 all healthy, 1 some lagging, failing or stopped, 2 the
// check itself could not run (no job, no connection, bad arguments).
import { execFile } from "child_process";
import { withClient, explain, where, URL_CONFIG_KEY } from "./cockroach/sql";
import { showJob } from "./cockroach/jobs";
import { DEFAULT_MAX_LAG_SECONDS, FeedHealth, HealthState, feedHealth } from "./cockroach/health";
import { readGcWindow } from "./cockroach/gc";
import { POSTGRES_URL_CONFIG_KEY, explainPg, pgWhere, withPg } from "./postgres/sql";
import { findSlot } from "./postgres/pg-slot";
import type { Db } from "./sql/db";
import { DEFAULT_MAX_RETAINED_MB, SlotVerdict, slotVerdict } from "./cdc/slot";
import { ENGINE_HEALTH_PATH, EngineVerdict, engineVerdict } from "./cdc/engine-health";
import { Backlog, DEFAULT_MAX_BACKLOG_AGE_SECONDS, subscriptionVerdict } from "./cdc/subscription-health";
import { serviceVerdict } from "./cdc/service-health";
import type { Gcp } from "./gcp/client";
import { gcpClients, gcpConfigFrom, getRestOrUndefined } from "./gcp/client";
import { psOrUndefined } from "./gcp/pubsub-common";

export const DEFAULT_HEALTH_TIMEOUT_SECONDS = 30;

const USAGE = `usage: zitadel-audit-stream health [--connection-string URL] [--job-id ID]... [--postgres-url URL] [--slot NAME]... [--engine URL]... [--subscription NAME]... [--service NAME]... [--stack NAME [--cwd DIR]] [--max-lag-seconds N] [--max-retained-mb N] [--max-backlog-age-seconds N] [--timeout-seconds N] [--json]

  --connection-string  CockroachDB postgresql:// URL; default: with --stack the stack's ${URL_CONFIG_KEY},
                       else the PG* environment (PGHOST, PGUSER, PGPASSWORD, …). Leave the password out of
                       the URL and put it in PGPASSWORD: arguments are visible to every user of the machine.
  --job-id             a changefeed job id (repeat for several)
  --postgres-url       PostgreSQL postgresql:// URL of the slots; default: with --stack each PgSlot's own or the
                       stack's ${POSTGRES_URL_CONFIG_KEY}, else the PG* environment
  --slot               a replication slot of the PostgreSQL source (repeat for several)
  --subscription       a Pub/Sub subscription's full name (repeat for several): a Cloud Storage or BigQuery subscription
                       that stopped writing is failing; --stack adds every PubSubSubscription of the stack
  --service            a Cloud Run engine service's full name (projects/<p>/locations/<region>/services/<s>; repeat for several):
                       a failed rollout is failing, no instance stopped; --stack adds every CloudRunService of the stack
  --engine             the base URL of a CDC engine (Debezium Server's HTTP port, e.g. http://10.0.0.7:8080; repeat for several)
  --stack              every Changefeed and PgSlot of this stack (job id or slot name, connection and bounds, read
                       from the stack's state with the Pulumi CLI in --cwd, default: here; needs the backend and passphrase)
  --max-lag-seconds    lagging beyond this many seconds behind (default: each feed's maxLagSeconds, else ${DEFAULT_MAX_LAG_SECONDS})
  --max-retained-mb    a slot holding more WAL than this is lagging (default ${DEFAULT_MAX_RETAINED_MB})
  --max-backlog-age-seconds  a subscription whose oldest unacknowledged message is older is lagging (default ${DEFAULT_MAX_BACKLOG_AGE_SECONDS}; Cloud Monitoring)
  --timeout-seconds    give up after this long with "no answer" and exit status 2 (default ${DEFAULT_HEALTH_TIMEOUT_SECONDS})
  --json               one JSON object per feed instead of a line

exit status: 0 all healthy; 1 some feed lagging, failing or stopped; 2 could not check`;

interface Args {
  connectionString?: string;
  jobIds: string[];
  postgresUrl?: string;
  slots: string[];
  engines: string[];
  subscriptions: string[];
  services: string[];
  maxBacklogAgeSeconds: number;
  maxRetainedMb: number;
  stack?: string;
  cwd: string;
  maxLagSeconds?: number;
  timeoutSeconds: number;
  json: boolean;
}

class UsageError extends Error {}

export function parseArgs(argv: string[]): Args {
  const a: Args = {
    jobIds: [],
    slots: [],
    engines: [],
    subscriptions: [],
    services: [],
    maxBacklogAgeSeconds: DEFAULT_MAX_BACKLOG_AGE_SECONDS,
    maxRetainedMb: DEFAULT_MAX_RETAINED_MB,
    cwd: process.cwd(),
    timeoutSeconds: DEFAULT_HEALTH_TIMEOUT_SECONDS,
    json: false,
  };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const seconds = (v: string, flag: string, unit = "seconds") => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: a whole number of ${unit}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case "--connection-string":
        a.connectionString = value(i++, flag);
        break;
      case "--job-id": {
        const id = value(i++, flag);
        if (!/^\d+$/.test(id)) throw new UsageError(`--job-id: not a job id: ${id}`);
        a.jobIds.push(id);
        break;
      }
      case "--postgres-url":
        a.postgresUrl = value(i++, flag);
        break;
      case "--slot": {
        const slot = value(i++, flag);
        if (!/^[a-z0-9_]{1,63}$/.test(slot)) throw new UsageError(`--slot: not a slot name: ${slot}`);
        a.slots.push(slot);
        break;
      }
      case "--max-backlog-age-seconds":
        a.maxBacklogAgeSeconds = seconds(value(i++, flag), flag);
        break;
      case "--max-retained-mb":
        a.maxRetainedMb = seconds(value(i++, flag), flag, "megabytes");
        break;
      case "--stack":
        a.stack = value(i++, flag);
        break;
      case "--cwd":
        a.cwd = value(i++, flag);
        break;
      case "--max-lag-seconds":
        a.maxLagSeconds = seconds(value(i++, flag), flag);
        break;
      case "--timeout-seconds":
        a.timeoutSeconds = seconds(value(i++, flag), flag);
        break;
      case "--json":
        a.json = true;
        break;
      case "--subscription": {
        const sub = value(i++, flag);
        if (!/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/subscriptions\/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/.test(sub))
          throw new UsageError(`--subscription: not a subscription's full name such as projects/my-project/subscriptions/zitadel-audit-gcs: ${sub}`);
        a.subscriptions.push(sub);
        break;
      }
      case "--service": {
        const svc = value(i++, flag);
        if (!/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/locations\/[a-z]+-[a-z]+\d+\/services\/[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/.test(svc))
          throw new UsageError(
            `--service: not a Cloud Run service's full name such as projects/my-project/locations/europe-west1/services/zitadel-audit-engine: ${svc}`,
          );
        a.services.push(svc);
        break;
      }
      case "--engine": {
        const url = value(i++, flag);
        if (!/^https?:\/\/[^/\s]+\/?$/.test(url)) throw new UsageError(`--engine: not an engine's base URL such as http://10.0.0.7:8080: ${url}`);
        a.engines.push(url.replace(/\/$/, ""));
        break;
      }
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  if (a.jobIds.length === 0 && a.slots.length === 0 && a.engines.length === 0 && a.subscriptions.length === 0 && a.services.length === 0 && !a.stack)
    throw new UsageError("give --job-id, --slot, --engine, --subscription, --service or --stack");
  return a;
}

/** One feed to check: its job, the connection it lives on (undefined: the default), its lag bound. */
export interface FeedRef {
  jobId: string;
  connectionString?: string;
  maxLagSeconds?: number;
}

/** A value of `pulumi stack export --show-secrets`: secrets come as `{ <sig>, plaintext: "<JSON>" }`. */
function plain(v: unknown): unknown {
  if (v && typeof v === "object" && "plaintext" in (v as object)) return JSON.parse(String((v as { plaintext: string }).plaintext));
  return v;
}

/** Every Changefeed in a stack's state (`pulumi stack export --show-secrets`), with its own connection and maxLagSeconds. */
export function feedsInState(exported: any): FeedRef[] {
  const resources: any[] = exported?.deployment?.resources ?? [];
  return resources
    .filter((r) => typeof r.type === "string" && /^pulumi-nodejs:dynamic\/cockroach:Changefeed$/.test(r.type) && !r.delete)
    .map((r) => {
      const o = r.outputs ?? {};
      const jobId = plain(o.jobId);
      const conn = plain(o.connectionString);
      const lag = plain(o.maxLagSeconds);
      return {
        jobId: typeof jobId === "string" ? jobId : "",
        connectionString: typeof conn === "string" && conn ? conn : undefined,
        maxLagSeconds: typeof lag === "number" ? lag : undefined,
      };
    })
    .filter((f) => /^\d+$/.test(f.jobId));
}

/** One replication slot to check: its name and the connection it lives on (undefined: the default). */
export interface SlotRef {
  slot: string;
  connectionString?: string;
}

/** Every PgSlot in a stack's state, with its own connection. */
export function slotsInState(exported: any): SlotRef[] {
  const resources: any[] = exported?.deployment?.resources ?? [];
  return resources
    .filter((r) => typeof r.type === "string" && /^pulumi-nodejs:dynamic\/postgres:PgSlot$/.test(r.type) && !r.delete)
    .map((r) => {
      const conn = plain(r.outputs?.connectionString);
      return { slot: String(plain(r.outputs?.name) ?? ""), connectionString: typeof conn === "string" && conn ? conn : undefined };
    })
    .filter((s) => /^[a-z0-9_]{1,63}$/.test(s.slot));
}

/** The full names of every `type` (a gcp resource: PubSubSubscription, CloudRunService) in a stack's state. */
function fullNamesInState(exported: any, type: string): string[] {
  const resources: any[] = exported?.deployment?.resources ?? [];
  return resources
    .filter((r) => r.type === `pulumi-nodejs:dynamic/gcp:${type}` && !r.delete)
    .map((r) => String(plain(r.outputs?.fullName) ?? ""))
    .filter((n) => n.startsWith("projects/"));
}

/** Every PubSubSubscription in a stack's state (its full name): the PostgreSQL source's destinations, the SIEM's. */
export const subscriptionsInState = (exported: any): string[] => fullNamesInState(exported, "PubSubSubscription");

/** Every CloudRunService in a stack's state (its full name): the PostgreSQL source's engines on Cloud Run. */
export const servicesInState = (exported: any): string[] => fullNamesInState(exported, "CloudRunService");

/** `pulumi <args>` in `cwd`, bounded by `timeoutMs`; rejects with the CLI's first error line. */
function pulumi(args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("pulumi", args, { cwd, encoding: "utf8", timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const line =
        String(stderr || err.message)
          .trim()
          .split("\n")
          .find((l) => l.trim()) ?? err.message;
      reject(
        Object.assign(new Error(err.killed ? `no answer from the Pulumi CLI within ${Math.round(timeoutMs / 1000)}s` : line.trim()), {
          missingKey: /not found/i.test(String(stderr)) && /configuration key/i.test(String(stderr)),
        }),
      );
    });
  });
}

class NoAnswer extends Error {}

export async function health(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  let a: Args;
  try {
    a = parseArgs(argv);
  } catch (e) {
    out(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const deadline = Date.now() + a.timeoutSeconds * 1000;
  let waitingFor = "the check";
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new NoAnswer(`no answer: ${waitingFor} did not finish within ${a.timeoutSeconds}s (--timeout-seconds)`)),
      a.timeoutSeconds * 1000,
    );
  });
  try {
    return await Promise.race([check(a, deadline, out, (what) => (waitingFor = what)), timeout]);
  } catch (e) {
    out((e as Error).message);
    return 2;
  } finally {
    clearTimeout(timer);
  }
}

async function check(a: Args, deadline: number, out: (line: string) => void, doing: (what: string) => void): Promise<number> {
  const feeds: FeedRef[] = a.jobIds.map((jobId) => ({ jobId, connectionString: a.connectionString }));
  const slots: SlotRef[] = a.slots.map((slot) => ({ slot, connectionString: a.postgresUrl }));
  const subscriptions = [...a.subscriptions];
  const services = [...a.services];
  let fallback = a.connectionString;
  if (a.stack) {
    doing(`reading stack ${a.stack} with the Pulumi CLI`);
    let exported: any;
    try {
      exported = JSON.parse(await pulumi(["stack", "export", "--show-secrets", "--stack", a.stack], a.cwd, deadline - Date.now()));
    } catch (e) {
      throw new Error(`cannot read stack ${a.stack}: ${(e as Error).message}`);
    }
    const found = feedsInState(exported);
    const foundSlots = slotsInState(exported);
    // The PostgreSQL source's destinations are subscriptions (the CockroachDB source's SIEM subscription is read too).
    subscriptions.push(...subscriptionsInState(exported).filter((n) => !subscriptions.includes(n)));
    services.push(...servicesInState(exported).filter((n) => !services.includes(n)));
    if (found.length === 0 && foundSlots.length === 0 && feeds.length === 0 && slots.length === 0)
      throw new Error(`stack ${a.stack} has no Changefeed with a job and no PgSlot: give --job-id or --slot`);
    if (foundSlots.length) {
      const pgFallback = a.postgresUrl ?? (foundSlots.some((s) => !s.connectionString) ? await stackConfig(a, POSTGRES_URL_CONFIG_KEY, deadline) : undefined);
      slots.push(...foundSlots.map((s) => ({ ...s, connectionString: a.postgresUrl ?? s.connectionString ?? pgFallback })));
    }
    if (!fallback && found.some((f) => !f.connectionString)) {
      // Not set: the PG* environment, as the providers do. Any other failure (a wrong passphrase, an
      // unreadable config) is reported: checking another cluster than the stack's would be worse.
      fallback = await stackConfig(a, URL_CONFIG_KEY, deadline);
    }
    feeds.push(...found.map((f) => ({ ...f, connectionString: a.connectionString ?? f.connectionString ?? fallback })));
  }
  const results: { jobId: string; health: FeedHealth }[] = [];
  await perServer(feeds, "jobId", COCKROACH_READ, doing, async (c, group) => {
    const now = (await c.query("SELECT cluster_logical_timestamp()::STRING AS t")).rows[0]?.t ?? null;
    for (const f of group) {
      const job = await showJob(c, f.jobId);
      // The job's own protection window, from its options as its description shows them.
      const window = job
        ? await readGcWindow(c, { gc_protect_expires_after: /\bgc_protect_expires_after = '([^']+)'/.exec(job.description ?? "")?.[1] })
        : undefined;
      results.push({ jobId: f.jobId, health: feedHealth(job, now, a.maxLagSeconds ?? f.maxLagSeconds ?? DEFAULT_MAX_LAG_SECONDS, window) });
    }
  });
  for (const r of results) {
    out(
      a.json
        ? JSON.stringify({ jobId: r.jobId, ...r.health })
        : `changefeed job ${r.jobId}: ${r.health.state}: ${r.health.reason}${r.health.lagSeconds === null ? "" : ` (lag ${Math.round(r.health.lagSeconds)} s)`}`,
    );
  }
  // Every other verdict the same way: one line (or JSON object) each, and the worst decides the exit status.
  const states: HealthState[] = results.map((r) => r.health.state);
  const report = (key: string, label: string, id: string, v: { state: HealthState; reason: string }) => {
    states.push(v.state);
    out(a.json ? JSON.stringify({ [key]: id, ...v }) : `${label} ${id}: ${v.state}: ${v.reason}`);
  };
  for (const r of await checkSlots(slots, a.maxRetainedMb, doing)) report("slot", "replication slot", r.slot, r.verdict);
  if (subscriptions.length || services.length) {
    doing("Google Cloud");
    // The stack's Google settings when checking a stack (as its providers use them), else the environment, as the providers read it.
    const settings: Record<string, string | undefined> = {};
    if (a.stack) for (const key of ["gcp:credentials", "gcp:project", "zitadel-audit-stream:gcpEndpoint"]) settings[key] = await stackConfig(a, key, deadline);
    const gcp = await gcpClients(gcpConfigFrom({ get: (key) => settings[key] }));
    for (const name of subscriptions) {
      doing(`subscription ${name}`);
      const found = await psOrUndefined(gcp, `/${name}`, `read subscription ${name}`);
      report("subscription", "subscription", name, subscriptionVerdict(name, found, found ? await backlogOf(gcp, name) : undefined, a.maxBacklogAgeSeconds));
    }
    for (const name of services) {
      doing(`Cloud Run service ${name}`);
      report("service", "engine service", name, serviceVerdict(name, await getRestOrUndefined(gcp.run, `/${name}`, `read Cloud Run service ${name}`)));
    }
  }
  for (const url of a.engines) {
    doing(`the engine at ${url}`);
    report("engine", "engine", url, await checkEngine(url, deadline));
  }
  return states.every((s) => s === "healthy") ? 0 : 1;
}

/** The items by the connection they live on, each once (by `id`): one session per server. */
function byConnection<T extends { connectionString?: string }>(items: T[], id: (t: T) => string): Map<string | undefined, T[]> {
  const groups = new Map<string | undefined, T[]>();
  for (const t of items) {
    const group = groups.get(t.connectionString) ?? [];
    if (!group.some((g) => id(g) === id(t))) groups.set(t.connectionString, [...group, t]);
  }
  return groups;
}

/** How the check reads one kind of server: its helpers and what a failure says it was reading. */
interface ServerRead {
  name: string;
  reading: string;
  where(url: string | undefined): string;
  withClient<R>(url: string | undefined, config: undefined, fn: (db: Db) => Promise<R>, reconnectMs?: number): Promise<R>;
  explain(e: unknown, what: string): Error;
}

const COCKROACH_READ: ServerRead = { name: "CockroachDB", reading: "the changefeed jobs", where, withClient, explain };
const POSTGRES_READ: ServerRead = { name: "PostgreSQL", reading: "the replication slots", where: pgWhere, withClient: withPg, explain: explainPg };

/** `fn` on one session per server, with the items that live there; no reconnects (a check reports a drop, it does not ride it out). */
async function perServer<T extends { connectionString?: string }>(
  items: T[],
  id: keyof T,
  server: ServerRead,
  doing: (what: string) => void,
  fn: (db: Db, group: T[]) => Promise<void>,
): Promise<void> {
  for (const [connectionString, group] of byConnection(items, (t) => String(t[id]))) {
    doing(`${server.name} at ${server.where(connectionString)}`);
    try {
      await server.withClient(connectionString, undefined, (db) => fn(db, group), 0);
    } catch (e) {
      throw server.explain(e, `read ${server.reading} at ${server.where(connectionString)}`);
    }
  }
}

/**
 * A subscription's backlog from Cloud Monitoring (subscription/num_undelivered_messages and
 * oldest_unacked_message_age, the newest point of the last 10 minutes); undefined when Monitoring has
 * no point yet or may not be read (the verdict then stands on the subscription alone).
 */
async function backlogOf(gcp: Gcp, name: string): Promise<Backlog | undefined> {
  const [, project, , id] = name.split("/");
  const now = new Date();
  const gauge = async (metric: string): Promise<number | undefined> => {
    const q = new URLSearchParams({
      filter: `metric.type = "pubsub.googleapis.com/subscription/${metric}" AND resource.labels.subscription_id = "${id}"`,
      "interval.startTime": new Date(now.getTime() - 600_000).toISOString(),
      "interval.endTime": now.toISOString(),
    });
    const r = await gcp.monitoring.request<any>("GET", `/projects/${project}/timeSeries?${q}`);
    const v = r.data?.timeSeries?.[0]?.points?.[0]?.value?.int64Value;
    return v === undefined ? undefined : Number(v);
  };
  try {
    const [messages, oldestAgeSeconds] = [await gauge("num_undelivered_messages"), await gauge("oldest_unacked_message_age")];
    return messages === undefined || oldestAgeSeconds === undefined ? undefined : { messages, oldestAgeSeconds };
  } catch {
    return undefined;
  }
}

/** The engine's answer on its health path, bounded by the check's deadline (at most 10 s). */
async function checkEngine(url: string, deadline: number): Promise<EngineVerdict> {
  try {
    const r = await fetch(url + ENGINE_HEALTH_PATH, { signal: AbortSignal.timeout(Math.max(1000, Math.min(10_000, deadline - Date.now()))) });
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return engineVerdict(url, { status: r.status, body });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return engineVerdict(url, {
      error: (e as Error).name === "TimeoutError" ? "no answer in time" : cause === "ECONNREFUSED" ? "connection refused" : (cause ?? (e as Error).message),
    });
  }
}

/** Each slot's row, read once per connection, and its verdict. */
async function checkSlots(slots: SlotRef[], maxRetainedMb: number, doing: (what: string) => void): Promise<{ slot: string; verdict: SlotVerdict }[]> {
  const out: { slot: string; verdict: SlotVerdict }[] = [];
  await perServer(slots, "slot", POSTGRES_READ, doing, async (db, group) => {
    for (const { slot } of group) out.push({ slot, verdict: slotVerdict(slot, await findSlot(db, slot), maxRetainedMb) });
  });
  return out;
}

/** A key of the stack's config, or undefined when it is not set (any other failure is reported). */
async function stackConfig(a: Args, key: string, deadline: number): Promise<string | undefined> {
  try {
    return (await pulumi(["config", "get", key, "--stack", a.stack!], a.cwd, deadline - Date.now())).trim() || undefined;
  } catch (e) {
    if (!(e as { missingKey?: boolean }).missingKey) throw new Error(`cannot read the stack's config ${key}: ${(e as Error).message}`);
    return undefined;
  }
}

if (require.main === module) {
  const [command, ...rest] = process.argv.slice(2);
  if (command !== "health") {
    console.log(USAGE);
    process.exit(command === undefined || command === "--help" ? 0 : 2);
  }
  health(rest).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(2);
    },
  );
}
