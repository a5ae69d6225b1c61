// Fault trials of the Changefeed: a CockroachDB connection cut right after each statement of
// create, handoff and key rotation; the provider process killed (-9) right after each of those
// statements took effect; the cluster losing its jobs; a failed handoff whose compensation goes over
// a cut connection. After each, the next `up` (from the state the engine had) must leave exactly one
// live job carrying the resource's marker, no event inserted before the fault missing, and destroy
// must leave none.
import * as crypto from "crypto";
import * as path from "path";
import { spawn } from "child_process";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { account, insertContinuously, readDelivered, waitFor } from "../helpers/events";
import { Driver, PartialFailure, State, TEST_DEPLOYMENT } from "../harness/driver";
import { findRepoRoot } from "../../tools/harness/root";
import { changefeedOperations } from "../../provider/cockroach/changefeed";

jest.setTimeout(300_000);

let f: CdcFixture;
let config: Record<string, string>;
beforeAll(async () => {
  f = await cdcFixture({ checkpointMs: 300 });
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  config = {
    "zitadel-audit-stream:cockroachUrl": f.twin.url,
    "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint,
    "gcp:credentials": f.emu.adminKeyFile,
    "gcp:project": f.emu.project,
  };
});
afterAll(() => f?.stop());

let block = 100_000;
/** Each scenario's events get sequences of their own (the primary key includes the sequence). */
const nextBlock = () => (block += 10_000);

const sink = (prefix: string, credentials = f.keyBase64) => ({ bucket: f.bucket, prefix, partitionFormat: "flat" as const, credentials });

/** One resource's program inputs, with its own identity (as the constructor gives it). */
function resource(prefix: string) {
  const owner = `faults/${prefix}/${crypto.randomUUID()}`;
  return {
    owner,
    inputs: { owner, deployment: TEST_DEPLOYMENT, sink: sink(prefix), options: { initial_scan: "no" }, timeoutSeconds: 30 } as Record<string, any>,
  };
}

/** A feed of its own, running, with events flowing in from here on. */
async function runningFeed(prefix: string) {
  const d = new Driver(changefeedOperations, config);
  const { inputs } = resource(prefix);
  const s0 = (await d.up(inputs)).state;
  const load = insertContinuously(f.twin.url, nextBlock());
  await new Promise((r) => setTimeout(r, 500));
  return { d, inputs, s0, load };
}

/** The changes the trials make: a query change (a handoff) and a new key (an ALTER). */
const handoffOf = (inputs: Record<string, any>) => ({ ...inputs, query: { payload: { eventTypes: ["user.human.added"] } } });
const rotationOf = async (inputs: Record<string, any>, prefix: string) => ({ ...inputs, sink: sink(prefix, await f.newKey()) });

async function liveJobsOf(marker: string): Promise<{ job_id: string; status: string }[]> {
  const rows = (await f.pg.query("SHOW CHANGEFEED JOBS")).rows;
  return rows.filter((j) => j.description.includes(`'${marker}'`) && ["running", "pending", "paused", "pause-requested"].includes(j.status));
}

async function fault(kind: "cut" | "hold", statement: string): Promise<void> {
  await f.pg.query(`SET CLUSTER SETTING twin.${kind}_after = '${statement}'`);
}

async function held(): Promise<string> {
  return (await f.pg.query("SHOW CLUSTER SETTING twin.held")).rows[0]["twin.held"];
}

/** `up` in a process of its own, killed with SIGKILL once the twin held `statement`'s answer. */
async function upKilledAfter(statement: string, news: Record<string, any>, prev?: State): Promise<void> {
  const before = (await held()).split(",").filter(Boolean).length;
  await fault("hold", statement);
  const runner = path.join(findRepoRoot(), "dist", "test", "harness", "op-runner.js");
  const child = spawn(process.execPath, [runner, JSON.stringify({ module: "cockroach/changefeed", operations: "changefeedOperations", config, news, prev })], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr.on("data", (d) => stderr.push(String(d)));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await waitFor(`${statement} to be held`, async () => (await held()).split(",").filter(Boolean).length > before, 60_000, 50).catch((e) => {
    child.kill("SIGKILL");
    throw new Error(`${(e as Error).message}; runner said: ${stderr.join("")}`);
  });
  child.kill("SIGKILL");
  await exited;
}

/** Loads events through the scenario, then checks the Must-show: one live job, none missing, destroy leaves none. */
async function verify(d: Driver, s: State, prefix: string, load: { stop(): Promise<any[]> }, marker: string) {
  expect(s.outputs.status).toBe("running");
  const live = await liveJobsOf(marker);
  expect(live.map((j) => String(j.job_id))).toEqual([String(s.outputs.jobId)]);
  await new Promise((r) => setTimeout(r, 400));
  const events = await load.stop();
  let last: ReturnType<typeof account> | undefined;
  await waitFor(
    `all ${events.length} events under ${prefix}/`,
    async () => {
      last = account(events, (await readDelivered(f.admin, f.bucket, `${prefix}/`)).lines);
      return last.missing === 0;
    },
    60_000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
  console.log(`${prefix}: inserted=${last!.inserted} missing=${last!.missing} duplicates=${last!.duplicates}`);
  await d.destroy(s);
  expect(await liveJobsOf(marker)).toEqual([]);
}

describe("a connection cut right after a statement", () => {
  test("first create: CREATE CHANGEFEED took effect, the answer was lost; the job is adopted, not doubled", async () => {
    const d = new Driver(changefeedOperations, config);
    const { inputs } = resource("cut-create");
    await fault("cut", "CREATE CHANGEFEED");
    const s = (await d.up(inputs)).state;
    const load = insertContinuously(f.twin.url, nextBlock());
    await verify(d, s, "cut-create", load, s.outputs.marker);
  });

  for (const statement of ["PAUSE JOB", "CREATE CHANGEFEED", "CANCEL JOB"]) {
    test(`handoff (query change): after ${statement}`, async () => {
      const prefix = `cut-handoff-${statement.split(" ")[0].toLowerCase()}`;
      const { d, inputs, s0, load } = await runningFeed(prefix);
      await fault("cut", statement);
      const s = (await d.up(handoffOf(inputs), s0)).state;
      expect(s.outputs.jobId).not.toBe(s0.outputs.jobId);
      await verify(d, s, prefix, load, s.outputs.marker);
    });
  }

  for (const statement of ["PAUSE JOB", "ALTER CHANGEFEED", "RESUME JOB"]) {
    test(`key rotation (ALTER): after ${statement}`, async () => {
      const prefix = `cut-rotate-${statement.split(" ")[0].toLowerCase()}`;
      const { d, inputs, s0, load } = await runningFeed(prefix);
      await fault("cut", statement);
      const s = (await d.up(await rotationOf(inputs, prefix), s0)).state;
      expect(s.outputs.jobId).toBe(s0.outputs.jobId);
      await verify(d, s, prefix, load, s.outputs.marker);
    });
  }
});

describe("the provider process killed (-9) right after a statement took effect", () => {
  test("first create, after CREATE CHANGEFEED: the next up continues from the job state never recorded", async () => {
    const d = new Driver(changefeedOperations, config);
    const { inputs } = resource("kill-create");
    const checked = await d.check(inputs);
    await upKilledAfter("CREATE CHANGEFEED", inputs);
    expect(await liveJobsOf(checked.marker)).toHaveLength(1);
    // With initial_scan "no" the feed owes what was written after its job started.
    const load = insertContinuously(f.twin.url, nextBlock());
    await new Promise((r) => setTimeout(r, 500));
    const s = (await d.up(inputs)).state;
    await verify(d, s, "kill-create", load, checked.marker);
  });

  for (const statement of ["PAUSE JOB", "CREATE CHANGEFEED", "CANCEL JOB"]) {
    test(`handoff, after ${statement}: the next up from the old state leaves one job`, async () => {
      const prefix = `kill-handoff-${statement.split(" ")[0].toLowerCase()}`;
      const { d, inputs, s0, load } = await runningFeed(prefix);
      const news = handoffOf(inputs);
      await upKilledAfter(statement, news, s0);
      // A refresh reconciles too: no more than one job of the resource stays live.
      const refreshed = (await d.refresh(s0))!;
      expect((await liveJobsOf(s0.outputs.marker)).length).toBeLessThanOrEqual(1);
      const s = (await d.up(news, refreshed)).state;
      await verify(d, s, prefix, load, s0.outputs.marker);
    });
  }

  for (const statement of ["PAUSE JOB", "ALTER CHANGEFEED", "RESUME JOB"]) {
    test(`key rotation, after ${statement}: the next up from the old state heals the same job`, async () => {
      const prefix = `kill-rotate-${statement.split(" ")[0].toLowerCase()}`;
      const { d, inputs, s0, load } = await runningFeed(prefix);
      const news = await rotationOf(inputs, prefix);
      await upKilledAfter(statement, news, s0);
      const s = (await d.up(news, s0)).state;
      expect(s.outputs.jobId).toBe(s0.outputs.jobId);
      await verify(d, s, prefix, load, s0.outputs.marker);
    });
  }
});

describe("the cluster and the sink misbehave", () => {
  test("the cluster loses its jobs: a plain up (no refresh) sees it in diff and restarts from the last high-water", async () => {
    const d = new Driver(changefeedOperations, config);
    const { inputs } = resource("lost-jobs");
    const s0 = (await d.up(inputs)).state;
    const load = insertContinuously(f.twin.url, nextBlock());
    await new Promise((r) => setTimeout(r, 800));
    const before = (await d.diff(inputs, s0)).diff;
    expect(before.changes).toBe(false);
    // Only the high-water the state recorded at create is known: let the job deliver past it first.
    await waitFor(
      "a checkpoint",
      async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [s0.outputs.jobId])).rows[0]?.high_water_timestamp !== s0.outputs.highWaterTimestamp,
    );
    await f.pg.query("SET CLUSTER SETTING twin.lose_jobs = 'now'");
    expect((await d.diff(inputs, s0)).diff.changes).toBe(true);
    const r = await d.up(inputs, s0);
    expect(r.op).toBe("update");
    expect(r.state.outputs.jobId).not.toBe(s0.outputs.jobId);
    await verify(d, r.state, "lost-jobs", load, s0.outputs.marker);
  });

  test("a handoff whose new job cannot write, with RESUME of the old one cut: it is resumed (read back) and the message says so", async () => {
    const d = new Driver(changefeedOperations, config);
    const { inputs } = resource("failed-handoff");
    const s0 = (await d.up(inputs)).state;
    const load = insertContinuously(f.twin.url, nextBlock());
    await f.admin.storage.buckets.insert({ project: f.emu.project, requestBody: { name: "no-grant-handoff" } });
    await fault("cut", "RESUME JOB");
    const bad = { ...handoffOf(inputs), sink: { ...inputs.sink, bucket: "no-grant-handoff" }, verifySinkAccess: false, timeoutSeconds: 5 };
    const failed = await d.up(bad, s0).catch((e) => e);
    expect(failed).toBeInstanceOf(PartialFailure);
    expect(failed.message).toMatch(/The previous job \d+ was resumed \(read back: running\) and delivers as before/);
    expect(failed.state.outputs).toMatchObject({ jobId: s0.outputs.jobId, status: "running" });
    // The next up with the old inputs heals the sink it never changed (its key is not in the partial state).
    const s = (await d.up(inputs, failed.state)).state;
    await verify(d, s, "failed-handoff", load, s0.outputs.marker);
  });
});

describe("keys", () => {
  test("a key made but never recorded (a crash after keys.create) is deleted once the feed runs on the next key", async () => {
    const p = f.emu.project;
    // The stream's writer, as its ServiceAccount makes it: the description carries the stream's identity (docs/identity.md).
    const sa = (
      await f.admin.iam.projects.serviceAccounts.create({
        name: `projects/${p}`,
        requestBody: { accountId: "prune-writer", serviceAccount: { description: `writer [zitadel-audit-stream ${TEST_DEPLOYMENT}-0123456789-abcdef01]` } },
      })
    ).data;
    const policy = (await f.admin.storage.buckets.getIamPolicy({ bucket: f.bucket })).data;
    policy.bindings = [...(policy.bindings ?? []), { role: f.role, members: [`serviceAccount:${sa.email}`] }];
    await f.admin.storage.buckets.setIamPolicy({ bucket: f.bucket, requestBody: policy });
    const newKey = async () => (await f.admin.iam.projects.serviceAccounts.keys.create({ name: sa.name!, requestBody: {} })).data;
    const k1 = await newKey();
    const d = new Driver(changefeedOperations, { ...config, "gcp:credentials": f.emu.adminKeyFile, "gcp:project": p });
    const { inputs } = resource("prune");
    const first = { ...inputs, sink: sink("prune", k1.privateKeyData!), exclusiveKeys: true };
    const s0 = (await d.up(first)).state;
    const orphan = await newKey(); // what a crash between keys.create and the state write leaves
    const k3 = await newKey();
    const s = (await d.up({ ...first, sink: sink("prune", k3.privateKeyData!) }, s0)).state;
    const live = (await f.admin.iam.projects.serviceAccounts.keys.list({ name: sa.name!, keyTypes: ["USER_MANAGED"] })).data.keys ?? [];
    expect(live.map((k) => k.name)).toEqual([k3.name]);
    expect(live.map((k) => k.name)).not.toContain(orphan.name);
    expect(s.outputs.unusedKeys ?? []).toEqual([]);
    await d.destroy(s);
  });
});
