// A throwaway PostgreSQL cluster on loopback, the real server the machine ships (PostgreSQL 15 from
// Debian: /usr/lib/postgresql/<v>/bin), for the PostgreSQL source's tests and demo: initdb into a
// temporary folder, `wal_level = logical`, trust authentication on a private Unix socket and a TCP
// port on 127.0.0.1, stopped and deleted after. initdb refuses to run as root, so as root the
// cluster belongs to the `postgres` system user (runuser).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { Client } from "pg";
import { ZitadelEvent, freePort } from "../../stand-ins";
import { findRepoRoot } from "./root";

export interface RunningPostgres {
  /** postgresql://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  port: number;
  version: number;
  stop(): void;
}

/** The newest PostgreSQL server installed (PG_BIN overrides: the folder holding initdb and pg_ctl). */
export function postgresBin(): { bin: string; version: number } {
  if (process.env.PG_BIN)
    return {
      bin: process.env.PG_BIN,
      version: Number(/(\d+)/.exec(execFileSync(path.join(process.env.PG_BIN, "postgres"), ["--version"], { encoding: "utf8" }))![1]),
    };
  const root = "/usr/lib/postgresql";
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, "bin", "initdb"))) : [];
  if (!versions.length) throw new Error("no PostgreSQL server found under /usr/lib/postgresql (apt install postgresql-15), and PG_BIN is not set");
  const version = Math.max(...versions.map(Number));
  return { bin: path.join(root, String(version), "bin"), version };
}

/**
 * Starts a cluster with `settings` (name → value) beside wal_level = logical. `passwords`: every role
 * but postgres authenticates over TCP with its password (SCRAM), as on a real server; otherwise
 * everyone is trusted.
 */
export async function startPostgres(settings: Record<string, string> = {}, opts: { passwords?: boolean } = {}): Promise<RunningPostgres> {
  const { bin, version } = postgresBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zas-pg-"));
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync("runuser", ["-u", "postgres", "--", path.join(bin, cmd), ...args], { stdio: "pipe" })
      : execFileSync(path.join(bin, cmd), args, { stdio: "pipe" });
  if (asRoot) execFileSync("chown", ["postgres", dir]);
  const data = path.join(dir, "data");
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync"]);
  if (opts.passwords) {
    // pg_hba.conf: the first matching line wins.
    const hba = ["local all all trust", "host all postgres 127.0.0.1/32 trust", "host replication postgres 127.0.0.1/32 trust"];
    hba.push("host all all 127.0.0.1/32 scram-sha-256", "host replication all 127.0.0.1/32 scram-sha-256");
    fs.writeFileSync(path.join(data, "pg_hba.conf"), hba.join("\n") + "\n");
  }
  const port = await freePort();
  const options = ["-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "wal_level=logical", "-c", "fsync=off"];
  for (const [k, v] of Object.entries(settings)) options.push("-c", `${k}=${v}`);
  run("pg_ctl", ["-D", data, "-o", options.map((o) => (o.includes(" ") ? `'${o}'` : o)).join(" "), "-l", path.join(dir, "server.log"), "-w", "start"]);
  return {
    port,
    version,
    url: (database = "postgres") => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * ZITADEL's eventstore.events2 on PostgreSQL (v3+): the schema and table statements of the DDL recorded
 * in docs/postgres-source/schema.sql (from zitadel/zitadel cmd/initialise/sql/08_events_table.sql).
 */
export const ZITADEL_EVENTS2_DDL = (() => {
  const recorded = fs.readFileSync(path.join(findRepoRoot(), "docs", "postgres-source", "schema.sql"), "utf8");
  const from = recorded.indexOf("CREATE SCHEMA");
  const table = recorded.indexOf("CREATE TABLE", from);
  return recorded.slice(from, recorded.indexOf(");", table) + 2);
})();

/** A cluster (startPostgres) holding ZITADEL's events2, with an admin session on it; `stop` ends both. */
export async function startZitadelDatabase(
  settings: Record<string, string> = {},
  opts: { passwords?: boolean } = {},
): Promise<{ pg: RunningPostgres; admin: Client; stop(): Promise<void> }> {
  const pg = await startPostgres(settings, opts);
  const admin = new Client({ connectionString: pg.url() });
  try {
    await admin.connect();
    await admin.query(ZITADEL_EVENTS2_DDL);
  } catch (e) {
    await admin.end().catch(() => undefined);
    pg.stop();
    throw e;
  }
  return {
    pg,
    admin,
    async stop() {
      await admin.end().catch(() => undefined);
      pg.stop();
    },
  };
}

/**
 * Events inserted as ZITADEL v3/v4 writes them on PostgreSQL (docs/postgres-source.md §1): created_at
 * now(), position the commit's clock as epoch seconds, in_tx_order the event's place in its
 * transaction. `late`: the events are written in one transaction held open `late` ms before it
 * commits (what a slow ZITADEL request does), so others commit before it with higher positions.
 */
export async function insertZitadelEvents(pg: Client, events: ZitadelEvent[], late = 0): Promise<void> {
  const one = (e: ZitadelEvent, i: number) =>
    pg.query(
      `INSERT INTO eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
       VALUES ($1, $2, $3, $4, $5, 1, now(), $6, 'SYSTEM', $7, EXTRACT(EPOCH FROM clock_timestamp()), $8)`,
      [e.instanceId, e.aggregateType, e.aggregateId, e.eventType, e.sequence, e.payload === null ? null : JSON.stringify(e.payload), e.owner, i],
    );
  if (!late) {
    for (const e of events) await one(e, 0);
    return;
  }
  await pg.query("BEGIN");
  try {
    for (const [i, e] of events.entries()) await one(e, i);
    await new Promise((r) => setTimeout(r, late));
    await pg.query("COMMIT");
  } catch (e) {
    await pg.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}
