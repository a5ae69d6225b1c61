#!/usr/bin/env node
// `npx zitadel-audit-stream health`: the same verdict as the Changefeed's `health` output, read now,
// for cron or CI. Exit status: 0 every feed healthy, 1 some feed lagging, failing or stopped, 2 the
// check itself could not run (no job, no connection, bad arguments).
import { execFileSync } from "child_process";
import { withClient, explain } from "./cockroach/sql";
import { showJob } from "./cockroach/jobs";
import { DEFAULT_MAX_LAG_SECONDS, FeedHealth, feedHealth } from "./cockroach/health";

const USAGE = `usage: zitadel-audit-stream health [--connection-string URL] [--job-id ID]... [--stack NAME [--cwd DIR]] [--max-lag-seconds N] [--json]

  --connection-string  CockroachDB postgresql:// URL; default: with --stack the stack's zitadel-audit-stream:cockroachUrl,
                       else the PG* environment (PGHOST, PGUSER, PGPASSWORD, …)
  --job-id             a changefeed job id (repeat for several)
  --stack              read the job ids from this stack's outputs (every output named jobId or …JobId, at any depth),
                       with the Pulumi CLI in --cwd (default: here); needs what the CLI needs (backend, passphrase)
  --max-lag-seconds    lagging beyond this many seconds behind (default ${DEFAULT_MAX_LAG_SECONDS})
  --json               one JSON object per feed instead of a line

exit status: 0 all healthy; 1 some feed lagging, failing or stopped; 2 could not check`;

interface Args {
  connectionString?: string;
  jobIds: string[];
  stack?: string;
  cwd: string;
  maxLagSeconds: number;
  json: boolean;
}

class UsageError extends Error {}

export function parseArgs(argv: string[]): Args {
  const a: Args = { jobIds: [], cwd: process.cwd(), maxLagSeconds: DEFAULT_MAX_LAG_SECONDS, json: false };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case "--connection-string": a.connectionString = value(i++, flag); break;
      case "--job-id": {
        const id = value(i++, flag);
        if (!/^\d+$/.test(id)) throw new UsageError(`--job-id: not a job id: ${id}`);
        a.jobIds.push(id);
        break;
      }
      case "--stack": a.stack = value(i++, flag); break;
      case "--cwd": a.cwd = value(i++, flag); break;
      case "--max-lag-seconds": {
        const n = Number(value(i++, flag));
        if (!Number.isInteger(n) || n < 1) throw new UsageError("--max-lag-seconds: a whole number of seconds");
        a.maxLagSeconds = n;
        break;
      }
      case "--json": a.json = true; break;
      default: throw new UsageError(`unknown argument ${flag}`);
    }
  }
  if (a.jobIds.length === 0 && !a.stack) throw new UsageError("give --job-id or --stack");
  return a;
}

/** Every `jobId` / `…JobId` string in a stack's outputs, at any depth. */
export function jobIdsIn(outputs: unknown, key = ""): string[] {
  if (typeof outputs === "string") return /(^|[a-z])(jobId|JobId)$/.test(key) && /^\d+$/.test(outputs) ? [outputs] : [];
  if (Array.isArray(outputs)) return outputs.flatMap((x) => jobIdsIn(x, key));
  if (outputs && typeof outputs === "object") return Object.entries(outputs).flatMap(([k, v]) => jobIdsIn(v, k));
  return [];
}

function pulumi(args: string[], cwd: string): string {
  return execFileSync("pulumi", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export async function health(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  let a: Args;
  try {
    a = parseArgs(argv);
  } catch (e) {
    out(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  let connectionString = a.connectionString;
  const jobIds = [...a.jobIds];
  if (a.stack) {
    try {
      jobIds.push(...jobIdsIn(JSON.parse(pulumi(["stack", "output", "--json", "--show-secrets", "--stack", a.stack], a.cwd))));
      if (!connectionString) connectionString = pulumi(["config", "get", "zitadel-audit-stream:cockroachUrl", "--stack", a.stack], a.cwd).trim() || undefined;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      if (!connectionString && /cockroachUrl/.test(err.message)) {
        // No such config key: the PG* environment is used, as by the providers.
      } else if (jobIds.length === a.jobIds.length) {
        out(`cannot read stack ${a.stack}: ${(err.stderr || err.message).trim().split("\n")[0]}`);
        return 2;
      }
    }
    if (jobIds.length === a.jobIds.length) {
      out(`stack ${a.stack} has no output named jobId (or …JobId): give --job-id`);
      return 2;
    }
  }
  let results: { jobId: string; health: FeedHealth }[];
  try {
    results = await withClient(connectionString, undefined, async (c) => {
      const now = (await c.query("SELECT cluster_logical_timestamp()::STRING AS t")).rows[0]?.t ?? null;
      const rows: { jobId: string; health: FeedHealth }[] = [];
      for (const jobId of [...new Set(jobIds)]) rows.push({ jobId, health: feedHealth(await showJob(c, jobId), now, a.maxLagSeconds) });
      return rows;
    }, 0);
  } catch (e) {
    out(explain(e, "read the changefeed jobs").message);
    return 2;
  }
  for (const r of results) {
    out(a.json ? JSON.stringify({ jobId: r.jobId, ...r.health }) : `changefeed job ${r.jobId}: ${r.health.state}: ${r.health.reason}${r.health.lagSeconds === null ? "" : ` (lag ${Math.round(r.health.lagSeconds)} s)`}`);
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
