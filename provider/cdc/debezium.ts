// Debezium Server's configuration for one slot and publication of the stream, rendered from the
// package's own facts: pgoutput over this slot and this publication (neither created by the engine),
// no snapshot, `position` as a string, an ordering key per aggregate, the Pub/Sub sink with ordering
// on. Pure: the runtimes (a local process, a container spec) pass it on. Every fact below is from
// docs/debezium-server.md (Debezium Server 3.6.1.Final, measured on this machine).
//
// Cursor semantics (snapshot.mode=no_data, docs/debezium-server.md §3): the engine streams what the
// slot holds, i.e. every event committed after the slot was created, and nothing from before it. A
// restart resumes at the slot's confirmed position whether or not the offset file survived: a
// stateless restart loses nothing; what it may do is send again the events after the last confirmed
// position (duplicates, which the destinations' de-duplication on the events2 key absorbs).
import { ValidationError } from "../validation";
import type { EngineFilter } from "./publication";

/** The columns the ordering key is made of: one key per aggregate, so each aggregate's events stay in order. */
export const ORDERING_KEY_COLUMNS = ["instance_id", "aggregate_type", "aggregate_id"] as const;

export interface DebeziumPlan {
  /** Where ZITADEL's database is, and the engine's login (PgRole). */
  database: { host: string; port: number; dbname: string; user: string; password: string; sslmode?: "disable" | "require" | "verify-ca" | "verify-full" };
  slot: string;
  publication: string;
  /** The publication's column list: the ordering key's columns must be in it. */
  columns: readonly string[];
  /** Whether this publication carries `payload` (the allow-listed part); otherwise the engine drops it too. */
  payload: boolean;
  /** The Pub/Sub topic (its short name) and project; `address`: an emulator's host:port (plaintext, no credentials). */
  pubsub: { project: string; topic: string; address?: string };
  /** Where the engine keeps its offsets (a file; may be lost: the slot is the cursor). */
  offsetsFile: string;
  /** The health endpoint's port (Quarkus: /q/health/live). */
  httpPort: number;
  /** 127.0.0.1 for a local process; 0.0.0.0 in a container. */
  httpHost?: string;
  /**
   * PostgreSQL 14, asked for with engineFilteringOnPg14: the publication selects nothing, so the engine
   * keeps the selected events and columns itself (cdc/publication.ts engineFilterOf): a Filter
   * transform in Groovy, which Debezium Server ships in lib_opt and loads with ENABLE_DEBEZIUM_SCRIPTING
   * (docs/debezium-server.md §2), and a column include list. The payload then reaches the engine's process.
   */
  engineFilter?: EngineFilter;
  tuning?: Partial<DebeziumTuning>;
}

/**
 * Latency and batching. poll.interval.ms: Debezium's default of 500 ms is the wait of an idle source
 * before it looks again, added to an event's delay; Pub/Sub batching: Debezium's defaults (100 ms,
 * 100 messages). The bench (issue #24) measures and sets these.
 */
export interface DebeziumTuning {
  pollIntervalMs: number;
  maxBatchSize: number;
  maxQueueSize: number;
  batchDelayMs: number;
  batchElements: number;
}

export const DEFAULT_TUNING: DebeziumTuning = { pollIntervalMs: 100, maxBatchSize: 2048, maxQueueSize: 8192, batchDelayMs: 100, batchElements: 100 };

/** The properties (application.properties keys) for this plan. */
export function debeziumProperties(plan: DebeziumPlan): Record<string, string> {
  const missing = ORDERING_KEY_COLUMNS.filter((c) => !plan.columns.includes(c));
  if (missing.length) {
    throw new ValidationError("debeziumProperties", [
      { field: "columns", reason: `the ordering key per aggregate needs ${missing.join(", ")} in the publication's columns` },
    ]);
  }
  const t = { ...DEFAULT_TUNING, ...plan.tuning };
  if (t.maxQueueSize <= t.maxBatchSize)
    throw new ValidationError("debeziumProperties", [{ field: "tuning", reason: "maxQueueSize must be larger than maxBatchSize" }]);
  const db = plan.database;
  const p: Record<string, string> = {
    "debezium.sink.type": "pubsub",
    "debezium.sink.pubsub.project.id": plan.pubsub.project,
    "debezium.sink.pubsub.ordering.enabled": "true",
    "debezium.sink.pubsub.batch.delay.threshold.ms": String(t.batchDelayMs),
    "debezium.sink.pubsub.batch.element.count.threshold": String(t.batchElements),
    "debezium.source.connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "debezium.source.plugin.name": "pgoutput",
    "debezium.source.database.hostname": db.host,
    "debezium.source.database.port": String(db.port),
    "debezium.source.database.dbname": db.dbname,
    "debezium.source.database.user": db.user,
    "debezium.source.database.password": db.password,
    // The topic prefix names the offsets' partition and the default topic; the route below sends
    // every record to the stream's topic.
    "debezium.source.topic.prefix": plan.slot,
    "debezium.source.slot.name": plan.slot,
    "debezium.source.publication.name": plan.publication,
    "debezium.source.publication.autocreate.mode": "disabled",
    "debezium.source.table.include.list": "eventstore.events2",
    "debezium.source.snapshot.mode": "no_data",
    "debezium.source.decimal.handling.mode": "string",
    "debezium.source.offset.storage.file.filename": plan.offsetsFile,
    "debezium.source.offset.flush.interval.ms": "0",
    "debezium.source.poll.interval.ms": String(t.pollIntervalMs),
    "debezium.source.max.batch.size": String(t.maxBatchSize),
    "debezium.source.max.queue.size": String(t.maxQueueSize),
    "debezium.source.extended.headers.enabled": "false",
    "debezium.format.value": "json",
    "debezium.format.value.schemas.enable": "false",
    "debezium.format.key": "json",
    "debezium.format.key.schemas.enable": "false",
    "debezium.transforms": plan.engineFilter && filterCondition(plan.engineFilter) ? "unwrap,filter,aggkey,route" : "unwrap,aggkey,route",
    "debezium.transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
    "debezium.transforms.unwrap.add.fields": "op,lsn,source.ts_ms",
    "debezium.transforms.aggkey.type": "org.apache.kafka.connect.transforms.ValueToKey",
    "debezium.transforms.aggkey.fields": ORDERING_KEY_COLUMNS.join(","),
    "debezium.transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
    "debezium.transforms.route.regex": ".*",
    "debezium.transforms.route.replacement": plan.pubsub.topic,
    "quarkus.http.host": plan.httpHost ?? "127.0.0.1",
    "quarkus.http.port": String(plan.httpPort),
  };
  const f = plan.engineFilter;
  if (f) {
    // Only the planned columns leave the engine (payload only in the allow-listed part).
    p["debezium.source.column.include.list"] = f.columns.map((c) => `eventstore.events2.${c}`).join(",");
    const condition = filterCondition(f);
    if (condition) {
      p["debezium.transforms.filter.type"] = "io.debezium.transforms.Filter";
      p["debezium.transforms.filter.language"] = "jsr223.groovy";
      p["debezium.transforms.filter.condition"] = condition;
    }
  } else if (!plan.payload) {
    // The publication already leaves payload out; the engine drops it too, should the publication be changed by hand.
    p["debezium.source.column.exclude.list"] = "eventstore.events2.payload";
  }
  if (db.sslmode) p["debezium.source.database.sslmode"] = db.sslmode;
  if (plan.pubsub.address) p["debezium.sink.pubsub.address"] = plan.pubsub.address;
  return p;
}

/** A Groovy string literal: single-quoted, backslash and quote escaped. */
const groovyString = (v: string) => `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/**
 * The Filter transform's condition over the unwrapped row (a Kafka Connect Struct: `value.getString`),
 * or undefined when it keeps everything. A kept event has each listed column's value in its list and
 * no event type of `notEventTypes`.
 */
export function filterCondition(f: EngineFilter): string | undefined {
  const list = (xs: string[]) => `[${xs.map(groovyString).join(", ")}]`;
  const terms: string[] = [];
  const keep = (col: string, xs?: string[]) => xs && terms.push(`${list(xs)}.contains(value.getString('${col}'))`);
  keep("instance_id", f.instanceIds);
  keep("aggregate_type", f.aggregateTypes);
  keep("event_type", f.eventTypes);
  if (f.notEventTypes) terms.push(`!${list(f.notEventTypes)}.contains(value.getString('event_type'))`);
  return terms.length ? `value != null && ${terms.join(" && ")}` : undefined;
}

/**
 * The same as environment variables, as a container or a service declares them: Debezium Server
 * turns `DEBEZIUM_SOURCE_SLOT_NAME` into `debezium.source.slot.name` ('_' → '.', lower case;
 * docs/debezium-server.md §2), so a key with '_', '-' or capitals cannot be given this way and is refused here.
 */
export function debeziumEnvironment(props: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(props)) {
    if (!/^[a-z0-9]+(\.[a-z0-9]+)+$/.test(k))
      throw new Error(`debeziumEnvironment: ${k} cannot be an environment variable (only lower-case letters, digits and dots map back)`);
    env[k.replace(/\./g, "_").toUpperCase()] = v;
  }
  // A Groovy condition needs the scripting jars, which run.sh puts on the class path only when asked (docs/debezium-server.md §2).
  if (props["debezium.transforms.filter.language"]?.startsWith("jsr223.")) env.ENABLE_DEBEZIUM_SCRIPTING = "true";
  return env;
}

/** The properties file's text (key=value lines; values escaped as java.util.Properties reads them). */
export function propertiesText(props: Record<string, string>): string {
  const escape = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/^ /, "\\ ");
  return Object.entries(props)
    .map(([k, v]) => `${k}=${escape(v)}`)
    .join("\n")
    .concat("\n");
}

/** The image the container spec names by default (quay.io is where Debezium publishes; docs/engine-runtime.md §2). */
export const DEFAULT_DEBEZIUM_IMAGE = "quay.io/debezium/server:3.6.1.Final";

export const PASSWORD_ENV = "DEBEZIUM_SOURCE_DATABASE_PASSWORD";

/**
 * A container for users who run the engine on their own cluster (runtime "external"), in the
 * Kubernetes container shape: every property as an environment variable, the database password from
 * a secret of theirs (never in the spec), the health endpoint as liveness and startup probes. Run
 * exactly one copy, restarted always: two copies would take turns on one slot, and the server exits
 * with status 0 on fatal errors and can hang with its port closed when Pub/Sub is unreachable
 * (docs/debezium-server.md §6), which the liveness probe turns into a restart.
 */
export function containerSpec(
  props: Record<string, string>,
  opts: { image?: string; passwordSecret: { name: string; key: string }; googleKeyVolume?: string },
): Record<string, unknown> {
  const env = debeziumEnvironment({ ...props, "quarkus.http.host": "0.0.0.0" });
  // With a Google key: the volume (of your secret holding the key as key.json) mounted read-only, and the
  // Pub/Sub client's Application Default Credentials pointed at it (docs/debezium-server.md §7).
  const key = opts.googleKeyVolume ? { dir: "/var/secrets/google", volume: opts.googleKeyVolume } : undefined;
  const port = Number(props["quarkus.http.port"]);
  const probe = (periodSeconds: number, failureThreshold: number) => ({ httpGet: { path: "/q/health/live", port }, periodSeconds, failureThreshold });
  return {
    name: "debezium-server",
    image: opts.image ?? DEFAULT_DEBEZIUM_IMAGE,
    env: [
      ...Object.entries(env).map(([name, value]) =>
        name === PASSWORD_ENV ? { name, valueFrom: { secretKeyRef: { name: opts.passwordSecret.name, key: opts.passwordSecret.key } } } : { name, value },
      ),
      ...(key ? [{ name: "GOOGLE_APPLICATION_CREDENTIALS", value: `${key.dir}/key.json` }] : []),
    ],
    ...(key ? { volumeMounts: [{ name: key.volume, mountPath: key.dir, readOnly: true }] } : {}),
    ports: [{ containerPort: port, name: "health" }],
    // Started within 60 s (it starts in about 5 s here); then restarted after 30 s without an answer.
    startupProbe: probe(2, 30),
    livenessProbe: probe(10, 3),
    resources: { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "768Mi" } },
  };
}
