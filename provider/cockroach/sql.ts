// Connecting to CockroachDB (provider/sql/db.ts bound to this server), and turning its errors into
// one actionable line.
//
// Reached from state only through the modules under provider/stored/ (provider/operations-provider.ts):
// its path may change.
import * as sql from "../sql/db";

export { ConnectionLostError, Db, connectionStringSchema, isConnectionLoss, networkProblem, sqlTimeouts } from "../sql/db";

export const URL_CONFIG_KEY = "zitadel-audit-stream:cockroachUrl";

export const COCKROACH: sql.SqlServer = { name: "CockroachDB", configKey: URL_CONFIG_KEY, defaultPort: "26257" };

export const { connect, where, openDb, withClient } = sql.bindServer(COCKROACH);

/** One line that says what failed, why, and what to do about it (cockroach-changefeeds.md §10). */
export function explain(e: unknown, what: string): Error {
  const err = e as { code?: string; message?: string };
  const msg = err?.message ?? String(e);
  const code = err?.code;
  if (code === "XXC02" || /requires an enterprise license/.test(msg)) {
    return new Error(
      `${what}: CockroachDB says "${msg}". Changefeeds into cloud storage need an enterprise licence on this version: set one (SET CLUSTER SETTING enterprise.license = '…'), or upgrade to v24.3+ or a patch release from October 2024 on, where no licence key is required.`,
    );
  }
  if (/rangefeeds require the kv\.rangefeed\.enabled setting/.test(msg)) {
    return new Error(
      `${what}: rangefeeds are off. Run SET CLUSTER SETTING kv.rangefeed.enabled = true, or declare a ClusterSetting resource (AuditStream does) and make the changefeed depend on it.`,
    );
  }
  if (code === "42501") {
    return new Error(
      `${what}: the SQL user lacks a privilege: ${msg}. Grant it (e.g. GRANT CHANGEFEED ON TABLE eventstore.events2 TO <user>; ALTER USER <user> WITH MODIFYCLUSTERSETTING) or connect as an admin.`,
    );
  }
  const network = sql.networkProblem(e);
  if (network) return new Error(`${what} failed: ${msg.includes(network) ? msg : `${network}: ${msg}`}`);
  // A SQLSTATE is five characters; anything else in `code` is not one.
  return new Error(`${what} failed${code && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : ""}: ${msg}`);
}
