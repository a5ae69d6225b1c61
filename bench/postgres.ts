// The PostgreSQL source's figures for `npm run bench`: PostgreSQL 15 with ZITADEL's events2, the
// package's PgRole, PgPublication and PgSlot (their operations, as the provider runs them), the real
// Debezium Server configured by cdc/debezium.ts through its environment, publishing over gRPC to the
// stand-in's Pub/Sub as its own service account. Measured:
// - insert-to-topic latency at a steady rate, after 3 s of warm-up at that rate: from the INSERT's
//   commit (the client's clock) to the stand-in's publish time (the same machine's clock), p50 and p99;
// - throughput: events inserted as fast as the database takes them, divided by the time until the
//   last one was published;
// - the engine's resident memory (its process group) after that.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { startZitadelDatabase } from "../tools/harness/postgres";
import { RunningDebezium, startDebezium } from "../tools/harness/debezium";
import { gcpClients } from "../provider/gcp/client";
import { GcpEmulator, freePort } from "../stand-ins";
import type { Operations } from "../provider/engine/contract";
import { pgRoleOperations } from "../provider/postgres/pg-role";
import { pgPublicationOperations } from "../provider/postgres/pg-publication";
import { pgSlotOperations } from "../provider/postgres/pg-slot";
import { DebeziumTuning, debeziumEnvironment, debeziumProperties } from "../provider/cdc/debezium";

const DEPLOYMENT = "be9c000000000001";

/** check + create, as the engine runs a new resource. */
async function made(ops: Operations, config: { get(k: string): string | undefined }, owner: string, inputs: Record<string, unknown> = {}) {
  const checked = await ops.check(config, {}, { owner: `bench/pg/${owner}`, deployment: DEPLOYMENT, ...inputs });
  if (!checked.inputs) throw new Error(`${owner}: ${JSON.stringify(checked.failures)}`);
  return (await ops.create(config, checked.inputs)).outs;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((s.length * p) / 100) - 1))] ?? NaN;
};

export interface PgFigures {
  pgInsertToTopicP50Ms: number;
  pgInsertToTopicP99Ms: number;
  pgSteadyRatePerS: number;
  pgThroughputEventsPerS: number;
  pgEngineRssMb: number;
}

export async function pgBench(opts: { rate?: number; seconds?: number; burst?: number; tuning?: Partial<DebeziumTuning> } = {}): Promise<PgFigures> {
  const rate = opts.rate ?? 500;
  const seconds = opts.seconds ?? 20;
  const burst = opts.burst ?? 20_000;
  const db = await startZitadelDatabase({ max_slot_wal_keep_size: "4GB" }, { passwords: true });
  const emu = await new GcpEmulator().start();
  const offsets = fs.mkdtempSync(path.join(os.tmpdir(), "zas-bench-offsets-"));
  let engine: RunningDebezium | undefined;
  try {
    const config = { get: (k: string) => (k === "zitadel-audit-stream:postgresUrl" ? db.pg.url() : undefined) };
    const role = await made(pgRoleOperations, config, "login");
    const pub = await made(pgPublicationOperations, config, "pub");
    const slot = await made(pgSlotOperations, config, "slot");
    // The topic and the engine's identity with its grant, as the package's resources leave them.
    const topic = `projects/${emu.project}/topics/bench-events`;
    const writer = emu.iam.createAccount(emu.project, "bench-engine", {});
    const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
    await admin.pubsub.request("PUT", `/${topic}`, {});
    await admin.pubsub.request("POST", `/${topic}:setIamPolicy`, {
      policy: { bindings: [{ role: "roles/pubsub.publisher", members: [`serviceAccount:${writer.email}`] }] },
    });
    const props = debeziumProperties({
      database: { host: "127.0.0.1", port: db.pg.port, dbname: "postgres", user: role.name, password: role.password },
      slot: slot.name,
      publication: pub.name,
      columns: pub.columns,
      payload: false,
      pubsub: { project: emu.project, topic: "bench-events", address: await emu.pubsubGrpc.endpointFor(writer.email) },
      offsetsFile: path.join(offsets, "offsets.dat"),
      httpPort: await freePort(),
      ...(opts.tuning ? { tuning: opts.tuning } : {}),
    });
    engine = startDebezium(debeziumEnvironment(props), { heapMb: 512 });
    await engine.ready();

    let seq = 0;
    const committed = new Map<string, number>();
    const insert = async (n: number) => {
      const values: string[] = [];
      const params: unknown[] = [];
      for (let i = 0; i < n; i++) {
        const s = ++seq;
        params.push(`agg-${s % 200}`, s);
        values.push(
          `('inst-1', 'user', $${params.length - 1}, 'user.human.added', $${params.length}, 1, now(), '{}', 'SYSTEM', 'org-1', EXTRACT(EPOCH FROM clock_timestamp()), 0)`,
        );
      }
      await db.admin.query(`INSERT INTO eventstore.events2 VALUES ${values.join(", ")}`, params);
      const at = Date.now();
      for (let s = seq - n + 1; s <= seq; s++) committed.set(`agg-${s % 200}/${s}`, at);
    };
    // Read incrementally: the stand-in serves gRPC from this same process, so a poll that parsed
    // every message each time would hold up its answers (and time the engine's publishes out).
    const seen = new Map<string, number>();
    let read = 0;
    const arrivals = () => {
      const all = emu.pubsub.topics.get(topic)?.published ?? [];
      for (; read < all.length; read++) {
        const e = JSON.parse(all[read].data.toString("utf8"));
        const k = `${e.aggregate_id}/${e.sequence}`;
        if (!seen.has(k)) seen.set(k, all[read].publishTime);
      }
      return seen;
    };
    /** Until every committed event was published (or `ms` passed). */
    const waitAll = async (ms: number) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const got = arrivals();
        let missing = 0;
        for (const k of committed.keys()) if (!got.has(k)) missing++;
        if (missing === 0 || Date.now() > deadline) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    // Warm-up at the same rate (the JVM compiles its hot paths), not measured.
    const tick = 20;
    const perTick = Math.max(1, Math.round((rate * tick) / 1000));
    for (let t = 0; t < 3000 / tick; t++) {
      await insert(perTick);
      await new Promise((r) => setTimeout(r, tick));
    }
    await waitAll(60_000);
    committed.clear();
    // Steady rate: a batch every 20 ms.
    const start = Date.now();
    for (let t = 0; Date.now() - start < seconds * 1000; t++) {
      const due = start + t * tick;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      await insert(perTick);
    }
    const steadyRate = committed.size / ((Date.now() - start) / 1000);
    await waitAll(60_000);
    const got = arrivals();
    const latencies = [...committed].filter(([k]) => got.has(k)).map(([k, t]) => got.get(k)! - t);

    // Throughput: as fast as the database takes them (500-row statements).
    committed.clear();
    const t0 = Date.now();
    for (let i = 0; i < burst / 500; i++) await insert(500);
    await waitAll(180_000);
    const last = [...arrivals().values()].reduce((m, t) => Math.max(m, t), 0);
    const throughput = burst / ((last - t0) / 1000);
    const rss = engineRssMb(engine);
    return {
      pgInsertToTopicP50Ms: Math.round(percentile(latencies, 50)),
      pgInsertToTopicP99Ms: Math.round(percentile(latencies, 99)),
      pgSteadyRatePerS: Math.round(steadyRate),
      pgThroughputEventsPerS: Math.round(throughput),
      pgEngineRssMb: rss,
    };
  } finally {
    await engine?.kill("SIGKILL");
    await emu.stop();
    await db.stop();
    fs.rmSync(offsets, { recursive: true, force: true });
  }
}

/** Resident memory of the engine's process group (run.sh and the JVM it starts), in MB. */
function engineRssMb(engine: RunningDebezium): number {
  const rows = execFileSync("ps", ["-eo", "pgid=,rss="], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter(([g]) => g === engine.pid);
  if (!rows.length) {
    // Why it stopped: its errors, not the shutdown lines that follow them.
    const errors = engine
      .log()
      .split("\n")
      .filter((l) => /\b(ERROR|Timeout)\b|^Caused by/.test(l));
    throw new Error(`the engine (process group ${engine.pid}) is not running: ${errors.slice(0, 8).join(" | ").slice(0, 2500) || engine.log().slice(-1500)}`);
  }
  return Math.round(rows.reduce((sum, [, rss]) => sum + rss, 0) / 1024);
}
