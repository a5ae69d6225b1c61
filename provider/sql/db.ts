// Connecting to CockroachDB or PostgreSQL with `pg` (both speak PostgreSQL's wire protocol), bounded
// and surviving dropped connections; each server's module binds its name, config key and port
// (provider/cockroach/sql.ts, provider/postgres/sql.ts).
//
// Reached from state only through the modules under provider/stored/ (provider/operations-provider.ts):
// its path may change. `pg` is loaded on first use (only the provider process connects).
import type { Client, QueryResult } from "pg";
import { z } from "zod";
import type { ConfigLike } from "../engine/contract";

/** Which server a connection is to: its name in messages, its Pulumi config key, its default port. */
export interface SqlServer {
  name: string;
  configKey: string;
  defaultPort: string;
}

/** A resource's connectionString input: a postgresql:// URL, optional (config or PG* otherwise). */
export const connectionStringSchema = z
  .string()
  .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL")
  .optional();

/** The URL to use: the resource's own, else the server's config key; undefined: pg's PG* environment. */
export function urlOf(server: SqlServer, connectionString: string | undefined, config?: ConfigLike): string | undefined {
  return connectionString || config?.get(server.configKey) || undefined;
}

/**
 * Every connection is bounded: a server that accepts and never answers must not hang `pulumi
 * preview`, `up` or the health command. Connecting (TCP, TLS and the startup exchange) gets
 * `connectMs`; each statement gets `statementMs` for its answer (pg's client-side query_timeout:
 * the timer covers sending and reading, so it works whatever the server is). A statement that runs
 * out of time is treated like a dropped connection (the client is closed and, for statements that
 * are safe to repeat, a new connection tries again; Db.query). Tests shorten them.
 */
export const sqlTimeouts = { connectMs: 10_000, statementMs: 30_000, reconnectMs: 30_000 };

/** Node's names for network failures, which pg passes through as `code` (they are not SQLSTATEs). */
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "nothing accepts connections there (connection refused)",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name could not be resolved (DNS did not answer)",
  EHOSTUNREACH: "the host is unreachable",
  ENETUNREACH: "the network is unreachable",
  ETIMEDOUT: "the connection timed out",
  ECONNRESET: "the connection was reset",
  EPIPE: "the connection was closed while writing",
};

/** A network failure in one line ("network error: …"), or undefined for anything else. */
export function networkProblem(e: unknown): string | undefined {
  const err = e as { code?: string; message?: string };
  if (err?.code && NETWORK_CODES[err.code]) return `network error: ${NETWORK_CODES[err.code]} (${err.code})`;
  if (/timeout expired|Connection terminated due to connection timeout/i.test(err?.message ?? ""))
    return `no answer: the server did not complete the connection within ${sqlTimeouts.connectMs / 1000}s`;
  if (/Query read timeout/i.test(err?.message ?? "")) return `no answer: the server did not answer a statement within ${sqlTimeouts.statementMs / 1000}s`;
  return undefined;
}

/**
 * The connection: the resource's own input, else the server's key in Pulumi config
 * (`zitadel-audit-stream:cockroachUrl`, `…:postgresUrl`), else pg's standard environment (PGHOST,
 * PGPORT, PGUSER, PGPASSWORD, PGDATABASE, …).
 */
export async function connect(server: SqlServer, connectionString: string | undefined, config?: ConfigLike): Promise<Client> {
  const url = urlOf(server, connectionString, config);
  const { Client } = require("pg") as typeof import("pg");
  const bounds = { connectionTimeoutMillis: sqlTimeouts.connectMs, query_timeout: sqlTimeouts.statementMs, keepAlive: true };
  const client = new Client(url ? { connectionString: url, ...bounds } : bounds);
  client.on("error", () => undefined); // a dropped connection surfaces on the next query
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    // The code stays, so a reconnect that is refused counts as a dropped connection (Db.query).
    const why = networkProblem(e) ?? (e as Error).message;
    throw Object.assign(new Error(`cannot connect to ${server.name} at ${where(server, url)}: ${why}`), {
      code: (e as { code?: string }).code,
      network: networkProblem(e) !== undefined,
    });
  }
  return client;
}

/** host:port/database of a URL, without user or password. */
export function where(server: SqlServer, url: string | undefined): string {
  if (!url) return `${process.env.PGHOST ?? "localhost"}:${process.env.PGPORT ?? "5432"} (from the PG* environment)`;
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || server.defaultPort}${u.pathname}`;
  } catch {
    return "the configured URL";
  }
}

/**
 * A connection that survives drops: a statement that fails because the connection went away is
 * retried on a new connection (with backoff, for up to `reconnectMs`), which is safe for reads and
 * for PAUSE/RESUME/CANCEL/ALTER, all idempotent in CockroachDB (cockroach-changefeeds.md §5.4, §6). A statement
 * that is not (CREATE CHANGEFEED, CREATE PUBLICATION) is sent with `once`: a drop then throws ConnectionLostError, and
 * the caller must find out whether it ran (provider/cockroach/reconcile.ts).
 */
export class Db {
  private client?: Client;
  private constructor(
    private readonly server: SqlServer,
    private readonly url: string | undefined,
    private readonly config: ConfigLike | undefined,
    private readonly reconnectMs: number,
  ) {}

  static async open(server: SqlServer, connectionString: string | undefined, config?: ConfigLike, reconnectMs = sqlTimeouts.reconnectMs): Promise<Db> {
    const db = new Db(server, urlOf(server, connectionString, config), config, reconnectMs);
    db.client = await connect(server, db.url, config);
    return db;
  }

  async query(text: string, params?: unknown[], opts: { once?: boolean } = {}): Promise<QueryResult> {
    const deadline = Date.now() + this.reconnectMs;
    for (let attempt = 1, delay = 200; ; attempt++, delay = Math.min(delay * 2, 3000)) {
      try {
        if (!this.client) this.client = await connect(this.server, this.url, this.config);
        return await this.client.query(text, params as any[]);
      } catch (e) {
        if (!isConnectionLoss(e)) throw e;
        await this.client?.end().catch(() => undefined);
        this.client = undefined;
        const statement = text.split(/\s+/).slice(0, 3).join(" ");
        if (opts.once)
          throw new ConnectionLostError(
            `the connection to ${this.server.name} at ${where(this.server, this.url)} dropped during ${statement}: ${(e as Error).message}`,
          );
        if (Date.now() + delay > deadline) {
          throw new Error(
            `the connection to ${this.server.name} at ${where(this.server, this.url)} kept dropping (${attempt} tries over ${Math.round(this.reconnectMs / 1000)}s, last during ${statement}): ${(e as Error).message}`,
          );
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async end(): Promise<void> {
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}

/** A statement that is not safe to repeat was sent, and the connection dropped before its answer. */
export class ConnectionLostError extends Error {
  readonly connectionLost = true;
}

/** Errors that mean the connection, not the statement, failed (pg and Node socket errors). */
export function isConnectionLoss(e: unknown): boolean {
  const err = e as { code?: string; message?: string; network?: boolean };
  if (err?.network) return true;
  if (
    err?.code &&
    [
      "ECONNRESET",
      "ECONNREFUSED",
      "EPIPE",
      "ETIMEDOUT",
      "ENOTCONN",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "57P01",
      "57P02",
      "57P03",
      "08006",
      "08003",
      "08001",
    ].includes(err.code)
  )
    return true;
  return /Connection terminated|connection error|not queryable|Client was closed|socket hang up|Query read timeout|timeout expired/i.test(err?.message ?? "");
}

export async function withClient<T>(
  server: SqlServer,
  connectionString: string | undefined,
  config: ConfigLike | undefined,
  fn: (c: Db) => Promise<T>,
  reconnectMs?: number,
): Promise<T> {
  const c = await Db.open(server, connectionString, config, reconnectMs);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The helpers above with the server filled in: what provider/cockroach/sql.ts and provider/postgres/sql.ts export. */
export function bindServer(server: SqlServer) {
  return {
    connect: (connectionString: string | undefined, config?: ConfigLike): Promise<Client> => connect(server, connectionString, config),
    /** host:port/database of a URL of this server, without user or password. */
    where: (url: string | undefined): string => where(server, url),
    openDb: (connectionString: string | undefined, config?: ConfigLike, reconnectMs?: number): Promise<Db> =>
      Db.open(server, connectionString, config, reconnectMs),
    withClient: <T>(connectionString: string | undefined, config: ConfigLike | undefined, fn: (c: Db) => Promise<T>, reconnectMs?: number): Promise<T> =>
      withClient(server, connectionString, config, fn, reconnectMs),
  };
}
