// `npm run bench`: the benchmark of record. Drives the real Pulumi CLI (this repository's root
// project, and bench/project for N streams) against the stand-ins, with a latency injected into
// every Google call, and prints a table, then one JSON line of medians (of RUNS runs each).
// Not a test: it asserts nothing; the targets are in the README's Performance section.
//
// Definitions:
// - resource phase: from the first Google call of a first `up` to the access check that ends the GCP
//   side of the pipeline (what follows waits on CockroachDB: the feed's first checkpoint).
// - critical-path round trips: the Google calls that must run one after another on the longest
//   chain: the deployer's token, the SA create and its visibility reads, then the longer of the
//   key's branch (create, read-back) and the grant's (its check that the bucket exists, the policy
//   read and write), then the writer's token and the access check. The grant's branch is the
//   longer (3 calls against 2); the role and the bucket run beside the service account.
// - criticalPathRatioL<L> = resource phase / (critical-path round trips × L).
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { PulumiCli, repoRoot, standInConfig } from "../tools/harness/pulumi-cli";
import { RunningStandIns, eventKey, insertEvents, makeEvents, startStandIns } from "../stand-ins";
import { readDelivered } from "../tools/harness/delivered";
import { Gcp, gcpClients } from "../provider/gcp/client";
import type { CallRecord } from "../stand-ins";
import { PgFigures, pgBench } from "./postgres";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const N = Number(process.env.BENCH_STREAMS ?? 20);
/** BENCH_PARTS=postgres runs only the PostgreSQL source's figures; default: everything. */
const PARTS = (process.env.BENCH_PARTS ?? "cockroach postgres").split(/[\s,]+/);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

let standIns: RunningStandIns;
let admin: Gcp;
let cli: PulumiCli;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

async function sqlStatements(): Promise<number> {
  const r = await standIns.pg.query("SHOW CLUSTER SETTING twin.executed");
  return String(r.rows[0]["twin.executed"]).split(",").filter(Boolean).length;
}

/** Calls on the longest chain (see the header). */
function criticalRoundTrips(calls: CallRecord[]): number {
  const count = (re: RegExp, method: string) => calls.filter((c) => c.method === method && re.test(c.path)).length;
  const serviceAccount = count(/\/serviceAccounts$/, "POST") + count(/\/serviceAccounts\/[^/]+$/, "GET");
  const key = count(/\/keys$/, "POST") + count(/\/keys\/[^/]+$/, "GET");
  const grant = count(/^\/storage\/v1\/b\/[^/]+$/, "GET") + count(/^\/storage\/v1\/b\/[^/]+\/iam$/, "GET") + count(/^\/storage\/v1\/b\/[^/]+\/iam$/, "PUT");
  const tokens = new Set(calls.filter((c) => c.path === "/token").map((c) => c.principal ?? c.at)).size;
  return tokens + serviceAccount + Math.max(key, grant) + count(/testPermissions$/, "GET");
}

interface RootRun {
  L: number;
  upMs: number;
  phaseMs: number;
  ratio: number;
  gcpCalls: number;
  tokens: number;
  noopGcpCalls?: number;
  noopSql?: number;
  refreshGcpCalls?: number;
  providerBytesMax?: number;
  stateBytes?: number;
  handoffMs?: number;
}

/** One stack of the root project: up at latency L; at L=100 also no-op up, refresh, state, handoff. */
async function rootRun(L: number, run: number): Promise<RootRun> {
  const stack = `bench-${run}-${L}-${crypto.randomBytes(2).toString("hex")}`;
  await cli.run(repoRoot, ["stack", "init", stack]);
  await cli.configure(repoRoot, stack, standInConfig(standIns.emu, standIns.twin.url, { forceDestroy: "true" }));
  try {
    standIns.emu.knobs.latencyMs = L;
    const mark = standIns.emu.calls.length;
    const [, upMs] = await timed(() => cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", stack]));
    standIns.emu.knobs.latencyMs = 0;
    const calls = standIns.emu.calls.slice(mark);
    if (L === 0) return { L, upMs, phaseMs: 0, ratio: 0, gcpCalls: calls.length, tokens: 0 };
    // The GCP side ends with the access check; what follows waits on CockroachDB (the feed's checkpoint).
    const check = calls.map((c) => /testPermissions$/.test(c.path)).lastIndexOf(true);
    const last = check >= 0 ? calls[check] : calls[calls.length - 1];
    const phaseMs = calls.length ? last.at - calls[0].at + L : 0;
    if (process.env.BENCH_TRACE && run === 1) {
      // Each call's start (its response less the injected latency) and end, from the first call's start.
      for (const c of calls)
        console.log(
          `  ${String(c.at - calls[0].at).padStart(5)} → ${String(c.at - calls[0].at + L).padStart(5)} ms  ${c.method} ${c.path} ${c.status} ${c.principal ?? ""}`,
        );
    }
    const r: RootRun = {
      L,
      upMs,
      phaseMs,
      ratio: phaseMs / (criticalRoundTrips(calls) * L),
      gcpCalls: calls.length,
      tokens: calls.filter((c) => c.path === "/token").length,
    };
    if (L === 100) {
      let m = standIns.emu.calls.length;
      const sqlBefore = await sqlStatements();
      await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", stack]);
      r.noopGcpCalls = standIns.emu.calls.length - m;
      r.noopSql = (await sqlStatements()) - sqlBefore - 1; // less the SHOW that read the count
      m = standIns.emu.calls.length;
      await cli.run(repoRoot, ["refresh", "--yes", "--skip-preview", "--stack", stack]);
      r.refreshGcpCalls = standIns.emu.calls.length - m;
      const state = await cli.state(repoRoot, stack);
      r.stateBytes = JSON.stringify(state).length;
      r.providerBytesMax = Math.max(...state.deployment.resources.map((x: any) => String(x.inputs?.__provider ?? "").length));
      await cli.run(repoRoot, ["config", "set", "--stack", stack, "zitadel-audit-stream:payloadEventTypes", '["user.human.added"]']);
      [, r.handoffMs] = await timed(() => cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", stack]));
    }
    return r;
  } finally {
    standIns.emu.knobs.latencyMs = 0;
    await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
    await cli.run(repoRoot, ["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
    fs.rmSync(path.join(repoRoot, `Pulumi.${stack}.yaml`), { force: true });
  }
}

/** `up` of `streams` AuditStreams in bench/project (file backend), then destroy. */
async function streamsUp(streams: number, run: number): Promise<{ upMs: number; resources: number }> {
  const dir = path.join(repoRoot, "bench", "project");
  const stack = `n${streams}-${run}-${crypto.randomBytes(2).toString("hex")}`;
  await cli.run(dir, ["stack", "init", stack]);
  await cli.configure(dir, stack, { ...standInConfig(standIns.emu, standIns.twin.url), "zas-bench:streams": { value: String(streams) } });
  try {
    const [, upMs] = await timed(() => cli.run(dir, ["up", "--yes", "--skip-preview", "--stack", stack]));
    const state = await cli.state(dir, stack);
    return { upMs, resources: state.deployment.resources.filter((r: any) => String(r.type).startsWith("pulumi-nodejs:dynamic")).length };
  } finally {
    await cli.run(dir, ["destroy", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
    await cli.run(dir, ["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
    fs.rmSync(path.join(dir, `Pulumi.${stack}.yaml`), { force: true });
  }
}

/**
 * What serializing the 7 stored providers costs a program, in a fresh process set up as the Node
 * language host sets up a TypeScript project (cmd/run/run.js loads `typescript` as @pulumi/pulumi
 * resolves it, before the program). Pulumi's function serializer starts once per process whatever
 * it serializes (an inspector session with `Debugger.enable`; runtime/closure/v8Hooks.js): `startMs`
 * is that start, timed on a trivial object; `netMs` the 7 providers after it; `coldMs` the 7 in a
 * process where they are the first thing serialized (start included).
 */
async function serializeMs(): Promise<{ startMs: number; netMs: number; coldMs: number }> {
  const script = (warm: boolean) => `
    const pulumi = require("@pulumi/pulumi");
    require(require.resolve("typescript", { paths: [require.resolve("@pulumi/pulumi")] }));
    const p = require(${JSON.stringify(path.join(repoRoot, "dist", "provider", "index.js"))});
    const provs = [p.Bucket, p.ServiceAccount, p.CustomRole, p.BucketIamMember, p.ServiceAccountKey, p.ClusterSetting, p.Changefeed].map((t) => t.provider);
    (async () => {
      const t0 = performance.now();
      if (${warm}) { const trivial = { a() { return 1; } }; await pulumi.runtime.serializeFunction(() => trivial, { allowSecrets: true }); }
      const t1 = performance.now();
      for (const prov of provs) await pulumi.runtime.serializeFunction(() => prov, { allowSecrets: true });
      console.log(JSON.stringify([t1 - t0, performance.now() - t1]));
    })();`;
  const { execFileSync } = await import("child_process");
  const run = (warm: boolean): number[] =>
    JSON.parse(
      execFileSync(process.execPath, ["-e", script(warm)], { cwd: path.join(repoRoot, "stack"), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim(),
    );
  const [startMs, netMs] = run(true);
  return { startMs, netMs, coldMs: run(false)[1] };
}

/** Rows per second inserted on one connection, parameterized statements (the extended protocol). */
async function twinInsertRate(): Promise<number> {
  const c = new Client({ connectionString: standIns.twin.url });
  await c.connect();
  let n = 0;
  const end = performance.now() + 2000;
  let seq = 5_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
  while (performance.now() < end) {
    const e = makeEvents(1, seq++)[0];
    await insertEvents(c, [e]);
    n++;
  }
  await c.end();
  return n / 2;
}

/** Latency from INSERT to the event's line in the bucket, p99 over 100 events (checkpoint 300 ms). */
async function deliveryP99(): Promise<{ p99: number; handoffFree: true }> {
  const stack = `delivery-${crypto.randomBytes(2).toString("hex")}`;
  await cli.run(repoRoot, ["stack", "init", stack]);
  await cli.configure(repoRoot, stack, standInConfig(standIns.emu, standIns.twin.url, { forceDestroy: "true" }));
  try {
    await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", stack]);
    const bucket = JSON.parse((await cli.run(repoRoot, ["stack", "output", "--json", "--stack", stack])).stdout).bucketName;
    const sent = new Map<string, number>();
    const seen = new Map<string, number>();
    let seq = 8_000_000 + Math.floor(Math.random() * 100_000) * 10;
    for (let i = 0; i < 100; i++) {
      const e = makeEvents(1, seq++)[0];
      await insertEvents(standIns.pg, [e]);
      sent.set(`${e.instanceId}/${e.aggregateType}/${e.aggregateId}/${e.sequence}`, performance.now());
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 50));
    }
    const deadline = performance.now() + 60_000;
    while (seen.size < sent.size && performance.now() < deadline) {
      const lines = (await readDelivered(admin, bucket, "events/")).lines;
      const now = performance.now();
      for (const l of lines) {
        const k = eventKey(l);
        if (sent.has(k) && !seen.has(k)) seen.set(k, now);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const lat = [...seen.entries()].map(([k, t]) => t - sent.get(k)!).sort((a, b) => a - b);
    return { p99: lat[Math.min(lat.length - 1, Math.ceil(lat.length * 0.99) - 1)] ?? NaN, handoffFree: true };
  } finally {
    await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
    await cli.run(repoRoot, ["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
    fs.rmSync(path.join(repoRoot, `Pulumi.${stack}.yaml`), { force: true });
  }
}

/** The PostgreSQL source's figures (bench/postgres.ts), printed as they come. */
async function postgresFigures(): Promise<PgFigures | { pgError: string }> {
  let pg: PgFigures;
  try {
    pg = await pgBench();
  } catch (e) {
    // Reported, not thrown: the CockroachDB figures still come. Seen in some full runs: the engine's
    // publishes to the stand-in timed out during the full-speed burst (issue #24 follows it up).
    const pgError = String((e as Error).message).split("\n")[0];
    console.log(`postgres: failed: ${pgError}`);
    return { pgError };
  }
  console.log(
    `postgres: insert-to-topic p50 ${pg.pgInsertToTopicP50Ms} ms, p99 ${pg.pgInsertToTopicP99Ms} ms at ${pg.pgSteadyRatePerS} events/s; ${pg.pgThroughputEventsPerS} events/s at full speed; engine ${pg.pgEngineRssMb} MB resident`,
  );
  return pg;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  // First, in a process that runs nothing else yet: the stand-in serves the engine's gRPC from this
  // process, and after the CockroachDB part (its twin, 40-odd stacks) its answers came too late for
  // the engine's 30 s publish timeout on this 2-core machine.
  const pg = PARTS.includes("postgres") ? await postgresFigures() : {};
  if (!PARTS.includes("cockroach")) {
    console.log(JSON.stringify({ ...pg, seconds: Math.round((Date.now() - t0) / 1000) }));
    return;
  }
  standIns = await startStandIns({ checkpointMs: 300 });
  admin = await gcpClients({ credentials: standIns.emu.adminKeyFile, endpoint: standIns.emu.endpoint });
  await standIns.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  cli = new PulumiCli(fs.mkdtempSync(path.join(os.tmpdir(), "zas-bench-")));
  try {
    const root: RootRun[] = [];
    const n1: number[] = [];
    const nN: number[] = [];
    let extraResources = 1;
    // Warm-up: the language host's first compile of each project is not what a run costs.
    await streamsUp(1, 0);
    await rootRun(0, 0).catch(() => undefined);
    for (let run = 1; run <= RUNS; run++) {
      for (const L of [100, 300]) {
        const r = await rootRun(L, run);
        root.push(r);
        console.log(
          `run ${run} L=${L}ms: up ${Math.round(r.upMs)} ms, resource phase ${Math.round(r.phaseMs)} ms, ratio ${round(r.ratio)}, ${r.gcpCalls} Google calls (${r.tokens} tokens)`,
        );
      }
      const one = await streamsUp(1, run);
      const many = await streamsUp(N, run);
      extraResources = Math.max(1, many.resources - one.resources);
      n1.push(one.upMs);
      nN.push(many.upMs);
      console.log(
        `run ${run}: up of 1 stream ${Math.round(one.upMs)} ms (${one.resources} resources), of ${N} streams ${Math.round(many.upMs)} ms (${many.resources} resources)`,
      );
    }
    const at = (L: number) => root.filter((r) => r.L === L);
    const ser = [await serializeMs(), await serializeMs(), await serializeMs()];
    const ins = [await twinInsertRate(), await twinInsertRate(), await twinInsertRate()];
    const p99 = [(await deliveryP99()).p99, (await deliveryP99()).p99, (await deliveryP99()).p99];
    const result = {
      criticalPathRatioL100: round(median(at(100).map((r) => r.ratio))),
      criticalPathRatioL300: round(median(at(300).map((r) => r.ratio))),
      tokensPerUp: median(root.map((r) => r.tokens)),
      gcpCallsPerUp: median(root.map((r) => r.gcpCalls)),
      noopGcpCalls: median(at(100).map((r) => r.noopGcpCalls!)),
      noopSqlStatements: median(at(100).map((r) => r.noopSql!)),
      refreshGcpCalls: median(at(100).map((r) => r.refreshGcpCalls!)),
      providerBytesMax: median(at(100).map((r) => r.providerBytesMax!)),
      stateBytesPerStream: median(at(100).map((r) => r.stateBytes!)),
      upMsPerResourceN20: round(median(nN.map((t, i) => (t - n1[i]) / extraResources)), 1),
      upMsStreams1: Math.round(median(n1)),
      [`upMsStreams${N}`]: Math.round(median(nN)),
      serializeMsPerUp: round(median(ser.map((x) => x.netMs)), 1),
      serializerStartMs: round(median(ser.map((x) => x.startMs)), 1),
      serializeMsPerUpCold: round(median(ser.map((x) => x.coldMs)), 1),
      handoffMs: Math.round(median(at(100).map((r) => r.handoffMs!))),
      twinInsertRowsPerS: Math.round(median(ins)),
      deliveryP99Ms: Math.round(median(p99)),
      ...pg,
      runs: RUNS,
      streams: N,
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    console.log("");
    for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(24)} ${v}`);
    console.log(JSON.stringify(result));
  } finally {
    await standIns.stop();
    fs.rmSync(cli.base, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e?.stack ?? e);
  process.exit(1);
});
