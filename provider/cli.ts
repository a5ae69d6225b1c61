#!/usr/bin/env node
// `npx zitadel-audit-stream health`: the same verdict as the Changefeed's `health` output, read now,
// for cron or CI. Exit status: 0 every feed healthy, 1 some feed lagging, failing or stopped, 2 the
// check itself could not run (no job, no connection, bad arguments).
import { execFile } from "child_process";
import { withClient, explain, where, URL_CONFIG_KEY } from "./cockroach/sql";
import { showJob } from "./cockroach/jobs";
import { DEFAULT_MAX_LAG_SECONDS, FeedHealth, feedHealth } from "./cockroach/health";
import { readGcWindow } from "./cockroach/gc";

export const DEFAULT_HEALTH_TIMEOUT_SECONDS = 30;

const USAGE = `usage: zitadel-audit-stream health [--connection-string URL] [--job-id ID]... [--stack NAME [--cwd DIR]] [--max-lag-seconds N] [--timeout-seconds N] [--json]

  --connection-string  CockroachDB postgresql:// URL; default: with --stack the stack's ${URL_CONFIG_KEY},
                       else the PG* environment (PGHOST, PGUSER, PGPASSWORD, …). Leave the password out of
                       the URL and put it in PGPASSWORD: arguments are visible to every user of the machine.
  --job-id             a changefeed job id (repeat for several)
  --stack              every Changefeed of this stack (its job id, connection and maxLagSeconds, read from the
                       stack's state with the Pulumi CLI in --cwd, default: here; needs the backend and passphrase)
  --max-lag-seconds    lagging beyond this many seconds behind (default: each feed's maxLagSeconds, else ${DEFAULT_MAX_LAG_SECONDS})
  --timeout-seconds    give up after this long with "no answer" and exit status 2 (default ${DEFAULT_HEALTH_TIMEOUT_SECONDS})
  --json               one JSON object per feed instead of a line

exit status: 0 all healthy; 1 some feed lagging, failing or stopped; 2 could not check`;

interface Args {
  connectionString?: string;
  jobIds: string[];
  stack?: string;
  cwd: string;
  maxLagSeconds?: number;
  timeoutSeconds: number;
  json: boolean;
}

class UsageError extends Error {}

export function parseArgs(argv: string[]): Args {
  const a: Args = { jobIds: [], cwd: process.cwd(), timeoutSeconds: DEFAULT_HEALTH_TIMEOUT_SECONDS, json: false };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const seconds = (v: string, flag: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: a whole number of seconds`);
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
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  if (a.jobIds.length === 0 && !a.stack) throw new UsageError("give --job-id or --stack");
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
    if (found.length === 0 && feeds.length === 0) throw new Error(`stack ${a.stack} has no Changefeed with a job: give --job-id`);
    if (!fallback && found.some((f) => !f.connectionString)) {
      try {
        fallback = (await pulumi(["config", "get", URL_CONFIG_KEY, "--stack", a.stack], a.cwd, deadline - Date.now())).trim() || undefined;
      } catch (e) {
        // Not set: the PG* environment, as the providers do. Any other failure (a wrong passphrase,
        // an unreadable config) is reported: checking another cluster than the stack's would be worse.
        if (!(e as { missingKey?: boolean }).missingKey) throw new Error(`cannot read the stack's config ${URL_CONFIG_KEY}: ${(e as Error).message}`);
      }
    }
    feeds.push(...found.map((f) => ({ ...f, connectionString: a.connectionString ?? f.connectionString ?? fallback })));
  }
  const byConnection = new Map<string | undefined, FeedRef[]>();
  for (const f of feeds)
    if (!(byConnection.get(f.connectionString) ?? []).some((g) => g.jobId === f.jobId))
      byConnection.set(f.connectionString, [...(byConnection.get(f.connectionString) ?? []), f]);
  const results: { jobId: string; health: FeedHealth }[] = [];
  for (const [connectionString, group] of byConnection) {
    doing(`CockroachDB at ${where(connectionString)}`);
    try {
      await withClient(
        connectionString,
        undefined,
        async (c) => {
          const now = (await c.query("SELECT cluster_logical_timestamp()::STRING AS t")).rows[0]?.t ?? null;
          for (const f of group) {
            const job = await showJob(c, f.jobId);
            // The job's own protection window, from its options as its description shows them.
            const window = job
              ? await readGcWindow(c, { gc_protect_expires_after: /\bgc_protect_expires_after = '([^']+)'/.exec(job.description ?? "")?.[1] })
              : undefined;
            results.push({ jobId: f.jobId, health: feedHealth(job, now, a.maxLagSeconds ?? f.maxLagSeconds ?? DEFAULT_MAX_LAG_SECONDS, window) });
          }
        },
        0,
      );
    } catch (e) {
      throw explain(e, `read the changefeed jobs at ${where(connectionString)}`);
    }
  }
  for (const r of results) {
    out(
      a.json
        ? JSON.stringify({ jobId: r.jobId, ...r.health })
        : `changefeed job ${r.jobId}: ${r.health.state}: ${r.health.reason}${r.health.lagSeconds === null ? "" : ` (lag ${Math.round(r.health.lagSeconds)} s)`}`,
    );
  }
  return results.every((r) => r.health.state === "healthy") ? 0 : 1;
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
