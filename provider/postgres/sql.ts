// Connecting to PostgreSQL (provider/sql/db.ts bound to this server), and turning its errors into one
// actionable line.
//
// Reached from state only through the modules under provider/stored/ (provider/operations-provider.ts):
// its path may change.
import * as sql from "../sql/db";

export const POSTGRES_URL_CONFIG_KEY = "zitadel-audit-stream:postgresUrl";

export const POSTGRES: sql.SqlServer = { name: "PostgreSQL", configKey: POSTGRES_URL_CONFIG_KEY, defaultPort: "5432" };

/** pgWhere: host:port/database of a URL, without user or password; withPg: a connection for the length of `fn`. */
export const { where: pgWhere, withClient: withPg } = sql.bindServer(POSTGRES);

/** One line that says what failed, why, and what to do about it. */
export function explainPg(e: unknown, what: string): Error {
  const err = e as { code?: string; message?: string };
  const msg = err?.message ?? String(e);
  // 42501 insufficient_privilege (PostgreSQL errcodes appendix).
  if (err?.code === "42501") {
    return new Error(
      `${what}: the PostgreSQL role lacks a privilege: ${msg}. Connect as a role with REPLICATION (slots) or the owner of eventstore.events2 (publications), e.g. the database's admin role.`,
    );
  }
  const network = sql.networkProblem(e);
  if (network) return new Error(`${what} failed: ${msg.includes(network) ? msg : `${network}: ${msg}`}`);
  return new Error(`${what} failed${err?.code && /^[0-9A-Z]{5}$/.test(err.code) ? ` (SQLSTATE ${err.code})` : ""}: ${msg}`);
}
