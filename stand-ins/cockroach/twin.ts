// A CockroachDB twin: a PostgreSQL-wire server on loopback (pg-gateway) in front of PGlite, which
// runs ordinary SQL, while the twin itself answers CockroachDB's changefeed surface on both the
// simple-query and the Parse/Bind/Execute paths. Every write gets an HLC-like MVCC timestamp
// (ZITADEL's `cluster_logical_timestamp()` works) and lands in a change log the changefeed
// engine reads. Facts: shared/research/cockroach-changefeeds.md (§13 lists what this models).
import * as crypto from "crypto";
import * as net from "net";
import { PGlite } from "@electric-sql/pglite";
import type { PostgresConnectionOptions } from "pg-gateway";
import { Changefeeds, TwinHost } from "./changefeeds";
import { STATEMENT_SOURCE, Statement, parseCockroachStatement, valueText } from "./statements";
import * as w from "./wire";

export interface TwinOptions {
  port?: number;
  /** The CockroachDB version the twin claims; it selects the licence behaviour (§8) and ALTER's #113491 bug. */
  version?: string;
  /** Where the changefeed sink sends uploads: the GCP emulator's origin. */
  storageEndpoint: string;
  /** Key file the "nodes" use for AUTH=implicit. */
  implicitKeyFile?: string;
  /** A virtual cluster (CockroachDB Basic/Standard): rangefeeds on, and SET of the setting refused (§7). */
  virtualCluster?: boolean;
  /** Engine checkpoint interval without min_checkpoint_frequency (default 1000 ms; CockroachDB's is 30 s). */
  checkpointMs?: number;
  /** How long after a flush its frontier is checkpointed (default 100ms); a pause in between re-emits the flush. */
  frontierDelay?: string;
  /** New jobs stay `pending` this long before running (default 0). */
  jobStartDelayMs?: number;
  /** Password logins: every user must give this password (default: none asked, as with `--insecure`). */
  password?: string;
}

const BOOTSTRAP = `
SET TimeZone = 'UTC';
CREATE SCHEMA crdb_internal;
CREATE TABLE crdb_internal.twin_clock (id int PRIMARY KEY, wall numeric NOT NULL, logical int NOT NULL, txid bigint);
INSERT INTO crdb_internal.twin_clock VALUES (1, 0, 0, NULL);
-- HLC-like: wall nanoseconds plus a logical counter in the 10 decimal places; one value per transaction.
CREATE FUNCTION crdb_internal.twin_now() RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE c crdb_internal.twin_clock%ROWTYPE; w_ns numeric; tx bigint := txid_current();
BEGIN
  SELECT * INTO c FROM crdb_internal.twin_clock WHERE id = 1;
  IF c.txid = tx THEN RETURN round(c.wall + c.logical / 1e10, 10); END IF;
  w_ns := floor(extract(epoch FROM clock_timestamp()) * 1000000) * 1000;
  IF w_ns > c.wall THEN
    UPDATE crdb_internal.twin_clock SET wall = w_ns, logical = 0, txid = tx WHERE id = 1;
    RETURN round(w_ns, 10);
  END IF;
  UPDATE crdb_internal.twin_clock SET logical = c.logical + 1, txid = tx WHERE id = 1;
  RETURN round(c.wall + (c.logical + 1) / 1e10, 10);
END $$;
CREATE FUNCTION cluster_logical_timestamp() RETURNS numeric LANGUAGE sql AS 'SELECT crdb_internal.twin_now()';
-- CockroachDB's STRING is its TEXT (x::STRING is common, e.g. cluster_logical_timestamp()::STRING); a domain
-- over text makes the cast work (its result column carries the domain's type OID, where CockroachDB says 25).
CREATE DOMAIN string AS text;
CREATE FUNCTION hlc_to_timestamp(numeric) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS 'SELECT to_timestamp(floor($1) / 1e9)';
CREATE TABLE crdb_internal.twin_changes (seq bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, mvcc numeric NOT NULL, row jsonb);
CREATE INDEX ON crdb_internal.twin_changes (tbl, mvcc);
CREATE FUNCTION crdb_internal.twin_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO crdb_internal.twin_changes (tbl, op, mvcc, row)
  VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, lower(TG_OP), crdb_internal.twin_now(),
          CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END);
  RETURN NULL;
END $$;
-- ZITADEL's eventstore.events2 (cmd/initialise/sql/cockroach/08_events_table.sql; cockroach-changefeeds.md §11.1).
CREATE SCHEMA eventstore;
CREATE TABLE eventstore.events2 (
  instance_id TEXT NOT NULL,
  aggregate_type TEXT NOT NULL,
  aggregate_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  "sequence" BIGINT NOT NULL,
  revision SMALLINT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  payload JSONB,
  creator TEXT NOT NULL,
  "owner" TEXT NOT NULL,
  "position" DECIMAL NOT NULL,
  in_tx_order INTEGER NOT NULL,
  PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence")
);
CREATE INDEX es_active_instances ON eventstore.events2 (created_at DESC) INCLUDE ("position");
CREATE INDEX es_wm ON eventstore.events2 (aggregate_id, instance_id, aggregate_type, event_type);
CREATE INDEX es_projection ON eventstore.events2 (instance_id, aggregate_type, event_type, "position" DESC);
CREATE TRIGGER twin_capture_eventstore_events2 AFTER INSERT OR UPDATE OR DELETE ON eventstore.events2 FOR EACH ROW EXECUTE FUNCTION crdb_internal.twin_capture();
`;

// An exports-map subpath, which this project's CommonJS module resolution cannot type.
const { fromNodeSocket }: { fromNodeSocket(socket: net.Socket, options: PostgresConnectionOptions): Promise<unknown> } = require("pg-gateway/node");

/** Serializes access to the one PGlite session: a client keeps it from its first message to ReadyForQuery (idle). */
class Lock {
  private tail = Promise.resolve();
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return ready;
  }
}

/**
 * A fault: after a matching statement has taken effect, the server drops the client's connection
 * instead of answering (a network cut or a node restart right after the statement).
 */
export interface CutFault {
  /** Matched against the statement's label: "CREATE CHANGEFEED", "PAUSE JOB", "RESUME JOB", "CANCEL JOB", "ALTER CHANGEFEED", "SHOW CHANGEFEED JOBS", "SET CLUSTER SETTING", "SHOW CLUSTER SETTING". */
  statement: RegExp;
  /** How many matching statements are cut (default 1). */
  times?: number;
  /**
   * "cut" closes the connection; "hold" keeps it open and never answers again (a hung node, or a client
   * killed while it waits); "down" closes every connection and refuses new ones for `downMs` (the
   * cluster unreachable right after the statement took effect).
   */
  mode?: "cut" | "hold" | "down";
  downMs?: number;
}

/**
 * One client connection. CockroachDB keeps a session per connection; PGlite has one, which the
 * connections take in turn (the Lock), so what a session holds is kept per connection here and
 * put back when a connection takes the session: its SET/RESET statements (replayed after RESET
 * ALL), its unnamed prepared statement (re-parsed), and its named statements and portals, which
 * reach PGlite under a per-connection prefix.
 */
interface Conn {
  id: number;
  socket: net.Socket;
  user: string;
  applicationName: string;
  /** The StartupMessage has been answered. */
  started: boolean;
  /** The StartupMessage asked for a password, which has not come yet. */
  awaitingPassword?: boolean;
  /** Held by a fault: nothing more is answered on this connection. */
  muted?: boolean;
  /** Statements the twin answers itself, by the client's name, with the parameter types Parse declared. */
  statements: Map<string, { stmt: Statement; paramTypes: number[] }>;
  portals: Map<string, { stmt: Statement; params: (string | null)[]; resultFormats: number[] }>;
  /** The session's SET/RESET statements this connection ran, in order. */
  sessionSets: string[];
  /** The last Parse of the unnamed statement this connection sent to PGlite. */
  unnamedParse?: Uint8Array;
  forwarded: boolean;
  skipUntilSync: boolean;
  release?: () => void;
}

/** A session-level SET or RESET (not SET LOCAL / SET TRANSACTION, which end with the transaction). */
const SESSION_SET = /^\s*(SET\s+(?!LOCAL\b|TRANSACTION\b|CLUSTER\b)|RESET\s)/i;

export class CockroachTwin implements TwinHost {
  readonly db = new PGlite();
  readonly settings = new Map<string, string>();
  readonly changefeeds: Changefeeds;
  readonly clusterId = crypto.randomUUID();
  version: string;
  storageEndpoint: string;
  implicitKeyFile?: string;
  defaultCheckpointMs: number;
  gcTtlSeconds = 14_400;
  /** gc.ttlseconds of tables configured with ALTER TABLE … CONFIGURE ZONE (events2's also sets gcTtlSeconds). */
  private readonly zones = new Map<string, number>();
  jobStartDelayMs: number;
  url = "";
  private server?: net.Server;
  private readonly lock = new Lock();
  private nextConnId = 1;
  /** Whose session settings and unnamed statement PGlite's session holds now (undefined: the twin's own, UTC). */
  private sessionOwner: Conn | undefined;
  private unnamedOwner: Conn | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Connection cuts to inject; each is used up after `times` matches. */
  readonly cuts: CutFault[] = [];
  /** Every statement label the twin executed, in order (what a fault test asserts against). */
  readonly executed: string[] = [];
  /** Statements whose answer a fault swallowed. */
  readonly held: string[] = [];

  constructor(private readonly opts: TwinOptions) {
    this.version = opts.version ?? "v24.3.1";
    this.storageEndpoint = opts.storageEndpoint;
    this.implicitKeyFile = opts.implicitKeyFile;
    this.defaultCheckpointMs = opts.checkpointMs ?? 1000;
    this.jobStartDelayMs = opts.jobStartDelayMs ?? 0;
    this.settings.set("kv.rangefeed.enabled", opts.virtualCluster ? "true" : "false");
    this.settings.set("enterprise.license", "");
    this.settings.set("cluster.organization", "");
    this.settings.set("cloudstorage.write_chunk.size", "5.0 MiB");
    // Shown as an INTERVAL (cockroach-changefeeds.md §2.2 gc_protect_expires_after: 4 days for feeds of v23.2+).
    this.settings.set("changefeed.protect_timestamp.max_age", "96:00:00");
    // How long after a flush the frontier is checkpointed (twin knob; see Changefeeds.step).
    this.settings.set("twin.frontier_delay", opts.frontierDelay ?? "100ms");
    this.changefeeds = new Changefeeds(this);
  }

  setting(name: string): string {
    return this.settings.get(name) ?? "";
  }

  async withLock<T>(fn: (db: PGlite) => Promise<T>): Promise<T> {
    const release = await this.lock.acquire();
    try {
      await this.adoptSession(undefined); // the engine and the twin's own queries run in UTC, as CockroachDB's encoder writes
      return await fn(this.db);
    } finally {
      release();
    }
  }

  async start(): Promise<this> {
    await this.db.waitReady;
    await this.db.exec(BOOTSTRAP);
    await this.db.exec(`CREATE FUNCTION crdb_internal.cluster_id() RETURNS uuid LANGUAGE sql STABLE AS $$SELECT '${this.clusterId}'::uuid$$`);
    await this.changefeeds.start();
    this.server = net.createServer((socket) => void this.serve(socket));
    await new Promise<void>((r) => this.server!.listen(this.opts.port ?? 0, "127.0.0.1", r));
    const port = (this.server.address() as net.AddressInfo).port;
    const login = this.opts.password === undefined ? "root" : `root:${encodeURIComponent(this.opts.password)}`;
    this.url = `postgresql://${login}@127.0.0.1:${port}/defaultdb?sslmode=disable`;
    return this;
  }

  async stop(): Promise<void> {
    this.changefeeds.stop();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.db.close();
  }

  /** Until then, the twin is "down": connections are closed as they arrive (twin.down_after). */
  private downUntil = 0;

  private async serve(socket: net.Socket): Promise<void> {
    if (Date.now() < this.downUntil) {
      socket.destroy();
      return;
    }
    // As CockroachDB's server does: without it every extended-protocol exchange waits ~40 ms for a delayed ACK.
    socket.setNoDelay(true);
    this.sockets.add(socket);
    const conn: Conn = {
      id: this.nextConnId++,
      socket,
      user: "root",
      applicationName: "",
      started: false,
      statements: new Map(),
      portals: new Map(),
      sessionSets: [],
      forwarded: false,
      skipUntilSync: false,
    };
    socket.on("close", () => {
      this.sockets.delete(socket);
      if (conn.release) {
        // A client gone mid-transaction: roll it back and free the session.
        void this.db
          .exec("ROLLBACK")
          .catch(() => undefined)
          .finally(() => conn.release?.());
      }
    });
    await fromNodeSocket(socket, {
      auth: { method: "trust" },
      onMessage: async (data) => {
        if (conn.awaitingPassword) {
          conn.awaitingPassword = false;
          if (w.readPassword(data) !== this.opts.password) {
            socket.end(w.errorResponse(new w.SqlError("28P01", `password authentication failed for user ${conn.user}`)));
            return undefined;
          }
          conn.started = true;
          return w.startupReply(this.statusParams(conn), conn.id, crypto.randomInt(2 ** 31));
        }
        if (conn.started) return this.message(conn, data);
        if (w.isGssEncRequest(data)) return Buffer.from("N");
        // The gateway answers an SSLRequest ("N"); the StartupMessage the twin answers itself, with
        // the ParameterStatus set CockroachDB sends (pkg/sql/pgwire/conn.go statusReportParams):
        // pgx refuses its simple protocol without standard_conforming_strings, for one.
        const params = w.readStartup(data);
        if (!params) return undefined;
        conn.user = params.user ?? "root";
        conn.applicationName = params.application_name ?? "";
        if (this.opts.password !== undefined) {
          conn.awaitingPassword = true;
          return w.passwordRequest();
        }
        conn.started = true;
        return w.startupReply(this.statusParams(conn), conn.id, crypto.randomInt(2 ** 31));
      },
    }).catch(() => undefined);
  }

  private statusParams(conn: Conn): [string, string][] {
    return [
      ["application_name", conn.applicationName],
      ["client_encoding", "UTF8"],
      ["DateStyle", "ISO, MDY"],
      ["IntervalStyle", "postgres"],
      ["is_superuser", conn.user === "root" ? "on" : "off"],
      ["server_version", "13.0.0"],
      ["server_encoding", "UTF8"],
      ["session_authorization", conn.user],
      ["standard_conforming_strings", "on"],
      ["TimeZone", "UTC"],
      ["integer_datetimes", "on"],
      ["crdb_version", this.versionString()],
    ];
  }

  private versionString(): string {
    return `CockroachDB CCL ${this.version} (x86_64-pc-linux-gnu, built 2024/11/01 00:00:00, go1.22.8)`;
  }

  /** Puts `conn`'s session settings into PGlite's one session (undefined: the twin's own, UTC). */
  private async adoptSession(conn: Conn | undefined): Promise<void> {
    const from = this.sessionOwner;
    if (from === conn) return;
    this.sessionOwner = conn;
    if (!from?.sessionSets.length && !conn?.sessionSets.length) return;
    await this.db.exec("RESET ALL; SET TimeZone = 'UTC'");
    for (const set of conn?.sessionSets ?? []) await this.db.exec(set).catch(() => undefined);
  }

  private async message(conn: Conn, data: Uint8Array): Promise<Uint8Array | Uint8Array[]> {
    const msg = w.readFrontend(data);
    // Terminate: nothing to answer; the client closes the socket.
    if (msg.type === "other" && msg.code === "X") return new Uint8Array(0);
    if (!conn.release) {
      conn.release = await this.lock.acquire();
      await this.adoptSession(conn);
    }
    try {
      return await this.dispatch(conn, msg, data);
    } finally {
      // Hand the session over only when this client is idle (not inside a transaction or batch).
      if (conn.release && (msg.type === "Q" || msg.type === "S") && !conn.forwarded && !conn.skipUntilSync && !this.inTransaction) {
        conn.release();
        conn.release = undefined;
      }
    }
  }

  private inTransaction = false;

  /** Sends a message PGlite answers, with the connection's statement and portal names made its own. */
  private async forward(conn: Conn, data: Uint8Array, msg?: w.Frontend): Promise<Uint8Array> {
    conn.forwarded = true;
    if ((msg?.type === "Q" || msg?.type === "P") && SESSION_SET.test(msg.sql)) conn.sessionSets.push(msg.sql);
    if (msg?.type === "P" && msg.name === "") {
      conn.unnamedParse = data;
      this.unnamedOwner = conn;
    }
    const usesUnnamed = (msg?.type === "B" && msg.statement === "") || (msg?.type === "D" && msg.kind === "S" && msg.name === "");
    if (usesUnnamed && this.unnamedOwner !== conn && conn.unnamedParse) {
      // Another connection replaced the unnamed statement since this one parsed it.
      await this.db.execProtocolRaw(conn.unnamedParse);
      this.unnamedOwner = conn;
    }
    const out = await this.db.execProtocolRaw(w.renameInMessage(data, (n) => (n === "" ? n : `c${conn.id}_${n}`)));
    // ReadyForQuery ends the exchange; its status byte says whether a transaction is open.
    if (out.length >= 6 && out[out.length - 6] === 0x5a) {
      conn.forwarded = false;
      this.inTransaction = out[out.length - 1] !== 0x49;
    }
    return out;
  }

  private async dispatch(conn: Conn, msg: w.Frontend, data: Uint8Array): Promise<Uint8Array | Uint8Array[]> {
    if (conn.muted) return [];
    if (conn.skipUntilSync && msg.type !== "S") return [];
    switch (msg.type) {
      case "Q": {
        const stmt = this.parse(msg.sql);
        if (!stmt.ok) return [w.errorResponse(stmt.error), w.readyForQuery(this.inTransaction ? "T" : "I")];
        if (!stmt.value) {
          const sql = this.withStatementSources(msg.sql);
          return sql === msg.sql ? this.forward(conn, data, msg) : this.forward(conn, w.queryMessage(sql), { type: "Q", sql });
        }
        try {
          const r = await this.execute(conn, stmt.value, []);
          if (this.cutAfter(conn, stmt.value)) return [];
          return [
            ...(r.columns ? [w.rowDescription(r.columns)] : []),
            ...r.rows.map((row) => w.dataRow(row)),
            w.commandComplete(r.tag),
            w.readyForQuery(this.inTransaction ? "T" : "I"),
          ];
        } catch (e) {
          return [w.errorResponse(asSqlError(e)), w.readyForQuery(this.inTransaction ? "T" : "I")];
        }
      }
      case "P": {
        const stmt = this.parse(msg.sql);
        if (!stmt.ok) return this.fail(conn, stmt.error);
        if (!stmt.value) {
          conn.statements.delete(msg.name);
          const sql = this.withStatementSources(msg.sql);
          return sql === msg.sql ? this.forward(conn, data, msg) : this.forward(conn, w.parseMessage(msg.name, sql, msg.paramTypes), { ...msg, sql });
        }
        conn.statements.set(msg.name, { stmt: stmt.value, paramTypes: msg.paramTypes });
        return w.parseComplete();
      }
      case "B": {
        const entry = conn.statements.get(msg.statement);
        if (!entry) {
          conn.portals.delete(msg.portal);
          return this.forward(conn, data, msg);
        }
        const types = placeholderTypes(entry.stmt);
        try {
          const params = msg.params.map((raw, i) => w.paramText(raw, w.formatOf(msg.paramFormats, i), entry.paramTypes[i] || types[i] || w.OID.text));
          conn.portals.set(msg.portal, { stmt: entry.stmt, params, resultFormats: msg.resultFormats });
        } catch (e) {
          return this.fail(conn, asSqlError(e));
        }
        return w.bindComplete();
      }
      case "D": {
        const twin = msg.kind === "S" ? conn.statements.get(msg.name) : conn.portals.get(msg.name);
        if (!twin) return this.forward(conn, data, msg);
        const cols = this.columns(twin.stmt);
        const desc = cols ? w.rowDescription(cols, "resultFormats" in twin ? twin.resultFormats : []) : w.noData();
        return msg.kind === "S" ? [w.parameterDescription(placeholderTypes(twin.stmt)), desc] : desc;
      }
      case "E": {
        const portal = conn.portals.get(msg.portal);
        if (!portal) return this.forward(conn, data, msg);
        try {
          const r = await this.execute(conn, portal.stmt, portal.params);
          if (this.cutAfter(conn, portal.stmt)) return [];
          return [...r.rows.map((row) => w.dataRow(row, r.columns, portal.resultFormats)), w.commandComplete(r.tag)];
        } catch (e) {
          return this.fail(conn, asSqlError(e));
        }
      }
      case "C": {
        const known = msg.kind === "S" ? conn.statements.delete(msg.name) : conn.portals.delete(msg.name);
        return known ? w.closeComplete() : this.forward(conn, data, msg);
      }
      case "S": {
        conn.skipUntilSync = false;
        if (conn.forwarded) return this.forward(conn, data, msg);
        return w.readyForQuery(this.inTransaction ? "T" : "I");
      }
      default:
        return this.forward(conn, data, msg);
    }
  }

  /** Records the statement and, when a cut matches it, drops the connection without an answer. */
  private cutAfter(conn: Conn, stmt: Statement): boolean {
    const label = statementLabel(stmt);
    this.executed.push(label);
    const i = this.cuts.findIndex((f) => f.statement.test(label));
    if (i < 0) return false;
    const f = this.cuts[i];
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.cuts.splice(i, 1);
    this.held.push(label);
    if (f.mode === "hold") conn.muted = true;
    else if (f.mode === "down") {
      this.downUntil = Date.now() + (f.downMs ?? 0);
      for (const s of this.sockets) s.destroy();
    } else conn.socket.destroy();
    return true;
  }

  private fail(conn: Conn, e: w.SqlError): Uint8Array {
    conn.skipUntilSync = true;
    return w.errorResponse(e);
  }

  private parse(sql: string): { ok: true; value?: Statement } | { ok: false; error: w.SqlError } {
    try {
      return { ok: true, value: parseCockroachStatement(sql) };
    } catch (e) {
      return { ok: false, error: asSqlError(e) };
    }
  }

  private columns(stmt: Statement): w.Column[] | undefined {
    switch (stmt.kind) {
      case "version":
        return [{ name: "version", oid: w.OID.text }];
      case "showZone":
        return [
          { name: "target", oid: w.OID.text },
          { name: "raw_config_sql", oid: w.OID.text },
        ];
      case "showSetting":
        return [{ name: stmt.name, oid: stmt.name === "kv.rangefeed.enabled" ? w.OID.bool : w.OID.text }];
      case "createChangefeed":
        return [{ name: "job_id", oid: w.OID.int8 }];
      case "showChangefeedJobs":
        return this.changefeeds.showColumns();
      case "alterChangefeed":
        return [
          { name: "job_id", oid: w.OID.int8 },
          { name: "job_description", oid: w.OID.text },
        ];
      default:
        return undefined;
    }
  }

  private async execute(conn: Conn, stmt: Statement, params: (string | null)[]): Promise<{ columns?: w.Column[]; rows: (string | null)[][]; tag: string }> {
    const columns = this.columns(stmt);
    switch (stmt.kind) {
      case "version":
        return { columns, rows: [[this.versionString()]], tag: "SELECT 1" };
      case "showZone": {
        // The table inherits RANGE default's zone unless configured; CockroachDB prints the whole zone.
        const own = this.zones.has(stmt.target);
        const sql = `${own ? `ALTER TABLE ${stmt.target}` : "ALTER RANGE default"} CONFIGURE ZONE USING\n\trange_min_bytes = 134217728,\n\trange_max_bytes = 536870912,\n\tgc.ttlseconds = ${this.zones.get(stmt.target) ?? this.gcTtlSeconds},\n\tnum_replicas = 3,\n\tconstraints = '[]',\n\tlease_preferences = '[]'`;
        return { columns, rows: [[own ? `TABLE ${stmt.target}` : "RANGE default", sql]], tag: "SHOW 1" };
      }
      case "configureZone":
        if (conn.user !== "root") throw new w.SqlError("42501", `user ${conn.user} does not have ZONECONFIG or CREATE privilege on relation ${stmt.target}`);
        this.zones.set(stmt.target, stmt.gcTtlSeconds);
        if (/(^|\.)eventstore\.events2$/.test(stmt.target)) this.gcTtlSeconds = stmt.gcTtlSeconds;
        return { rows: [], tag: "CONFIGURE ZONE 1" };
      case "showSetting": {
        // Test knobs (the twin runs in its own process): what ran, and which answers a fault swallowed.
        if (stmt.name === "twin.executed" || stmt.name === "twin.held")
          return { columns, rows: [[(stmt.name === "twin.held" ? this.held : this.executed).join(",")]], tag: "SHOW 1" };
        if (!this.settings.has(stmt.name)) throw new w.SqlError("42704", `unknown cluster setting "${stmt.name}"`);
        const v = this.settings.get(stmt.name)!;
        return { columns, rows: [[stmt.name === "kv.rangefeed.enabled" ? (v === "true" ? "t" : "f") : v]], tag: "SHOW 1" };
      }
      case "setSetting": {
        if (stmt.name === "twin.down_after") {
          // 'LABEL:MS': after the next statement with that label takes effect, the cluster is unreachable for MS.
          const [label, ms] = (valueText(stmt.value!, params) ?? "").split(":");
          this.cuts.push({ statement: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`), times: 1, mode: "down", downMs: Number(ms) });
          return { rows: [], tag: "SET CLUSTER SETTING" };
        }
        if (stmt.name === "twin.cut_after" || stmt.name === "twin.hold_after") {
          // 'LABEL' or 'LABEL*N': the next N statements with that label take effect and go unanswered.
          // '' clears every fault still waiting.
          const [label, times] = (valueText(stmt.value!, params) ?? "").split("*");
          if (label === "") {
            this.cuts.length = 0;
            return { rows: [], tag: "SET CLUSTER SETTING" };
          }
          this.cuts.push({
            statement: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`),
            times: times ? Number(times) : 1,
            mode: stmt.name === "twin.hold_after" ? "hold" : "cut",
          });
          return { rows: [], tag: "SET CLUSTER SETTING" };
        }
        if (stmt.name === "twin.lose_jobs") {
          this.changefeeds.loseAllJobs();
          return { rows: [], tag: "SET CLUSTER SETTING" };
        }
        if (conn.user !== "root" && !this.setting(`twin.grants.${conn.user}`).includes("MODIFYCLUSTERSETTING")) {
          throw new w.SqlError("42501", `only users with the MODIFYCLUSTERSETTING privilege are allowed to set cluster setting '${stmt.name}'`);
        }
        if (stmt.name === "kv.rangefeed.enabled" && this.opts.virtualCluster)
          throw new w.SqlError("42501", `setting ${stmt.name} is only settable by the operator`);
        if (!this.settings.has(stmt.name)) throw new w.SqlError("42704", `unknown cluster setting "${stmt.name}"`);
        const raw = stmt.value ? (valueText(stmt.value, params) ?? "") : stmt.name === "kv.rangefeed.enabled" ? "false" : "";
        if (stmt.name === "kv.rangefeed.enabled" && !["true", "false"].includes(raw.toLowerCase()))
          throw new w.SqlError("22P02", `could not parse "${raw}" as type bool`);
        this.settings.set(stmt.name, stmt.name === "kv.rangefeed.enabled" ? raw.toLowerCase() : raw);
        return { rows: [], tag: "SET CLUSTER SETTING" };
      }
      case "createChangefeed": {
        const id = await this.changefeeds.create(this.db, stmt, params, conn.user);
        return { columns, rows: [[id]], tag: "CREATE CHANGEFEED" };
      }
      case "showChangefeedJobs": {
        if (stmt.select) {
          const ids = new Set(await this.jobIdsOf(stmt.select));
          const rows = this.changefeeds.showRows().filter((r) => ids.has(String(r[0])));
          return { columns, rows, tag: `SELECT ${rows.length}` };
        }
        const id = stmt.job ? valueText(stmt.job, params) : undefined;
        const rows = this.changefeeds.showRows(id);
        return { columns, rows, tag: `SELECT ${rows.length}` };
      }
      case "controlJobs": {
        const ids = await this.jobIdsOf(stmt.select);
        for (const id of ids) this.changefeeds.control(stmt.action, id, conn.user);
        return { rows: [], tag: `${stmt.action} JOBS ${ids.length}` };
      }
      case "controlJob":
        this.changefeeds.control(stmt.action, valueText(stmt.job, params), conn.user);
        return { rows: [], tag: `${stmt.action} JOBS 1` }; // the row count, as CockroachDB's tag carries it
      case "alterChangefeed": {
        const row = this.changefeeds.alter(valueText(stmt.job, params), stmt.set, stmt.unset, stmt.targetChange, params);
        return { columns, rows: [row], tag: "ALTER CHANGEFEED" };
      }
    }
  }

  /** The job ids a `… JOBS <select>` query returns (its first column), run by PGlite in the caller's session. */
  private async jobIdsOf(select: string): Promise<string[]> {
    const sql = `SELECT __id::text AS id FROM (${this.withStatementSources(select)}) AS __q(__id)`;
    try {
      return (await this.db.query<{ id: string | null }>(sql)).rows.flatMap((r) => (r.id === null ? [] : [r.id]));
    } catch (e) {
      throw new w.SqlError((e as any).code ?? "42601", (e as Error).message);
    }
  }

  /** The query with each `[SHOW CHANGEFEED JOB(S) …]` replaced by that statement's rows, typed as SHOW types them. */
  private withStatementSources(sql: string): string {
    if (!/\[\s*SHOW\b/i.test(sql)) return sql;
    const cols = this.changefeeds.showColumns();
    const type = (oid: number) =>
      ({ [w.OID.int8]: "int8", [w.OID.timestamptz]: "timestamptz", [w.OID.numeric]: "numeric", [w.OID.textArray]: "text[]", [w.OID.bool]: "bool" })[oid] ??
      "text";
    return sql.replace(STATEMENT_SOURCE, (_m, plural: string, arg: string) => {
      const id = plural ? undefined : arg.trim().replace(/^'|'$/g, "");
      const rows = this.changefeeds.showRows(id).map((r) =>
        Object.fromEntries(
          cols.map((c, i) => [
            c.name,
            c.oid === w.OID.textArray && r[i] !== null
              ? String(r[i])
                  .replace(/^\{|\}$/g, "")
                  .split(",")
                  .filter(Boolean)
              : r[i],
          ]),
        ),
      );
      return `(SELECT * FROM jsonb_to_recordset($twin$${JSON.stringify(rows)}$twin$::jsonb) AS __jobs(${cols.map((c) => `${c.name} ${type(c.oid)}`).join(", ")}))`;
    });
  }

  /** Runs plain SQL on the twin (tests, the demo): ordinary statements through PGlite, serialized with clients. */
  async sql<T = any>(query: string, params: unknown[] = []): Promise<T[]> {
    return this.withLock(async (db) => (await db.query<T>(query, params)).rows);
  }
}

function statementLabel(stmt: Statement): string {
  switch (stmt.kind) {
    case "version":
      return "SELECT version()";
    case "showSetting":
      return "SHOW CLUSTER SETTING";
    case "setSetting":
      return "SET CLUSTER SETTING";
    case "createChangefeed":
      return "CREATE CHANGEFEED";
    case "showChangefeedJobs":
      return stmt.job ? "SHOW CHANGEFEED JOB" : "SHOW CHANGEFEED JOBS";
    case "controlJob":
      return `${stmt.action} JOB`;
    case "controlJobs":
      return `${stmt.action} JOBS`;
    case "alterChangefeed":
      return "ALTER CHANGEFEED";
    case "showZone":
      return "SHOW ZONE CONFIGURATION";
    case "configureZone":
      return "CONFIGURE ZONE";
  }
}

/**
 * The type of each placeholder, as Describe reports it: a job id in PAUSE/RESUME/CANCEL JOB $n and
 * SHOW CHANGEFEED JOB $n is INT8 (CockroachDB types it; pgx then encodes an int64), the rest TEXT.
 */
function placeholderTypes(stmt: Statement): number[] {
  const job = (stmt.kind === "controlJob" || stmt.kind === "showChangefeedJobs") && stmt.job?.kind === "placeholder" ? stmt.job.index : undefined;
  return placeholders(stmt).map((i) => (i === job ? w.OID.int8 : w.OID.text));
}

function placeholders(stmt: Statement): number[] {
  const found = new Set<number>();
  const visit = (v: any) => {
    if (v && typeof v === "object") {
      if (v.kind === "placeholder") found.add(v.index);
      Object.values(v).forEach(visit);
    }
  };
  visit(stmt);
  return [...found].sort();
}

function asSqlError(e: unknown): w.SqlError {
  if (e instanceof w.SqlError) return e;
  return new w.SqlError((e as any)?.code ?? "XXUUU", (e as Error)?.message ?? String(e));
}
