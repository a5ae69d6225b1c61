// ClusterSetting and Changefeed against the CockroachDB twin and the GCP emulator, driven in the
// engine's order. Handoff and rotation run while events are inserted continuously, and every
// event is counted by its key: missing must be 0; duplicates are reported (at-least-once).
import * as crypto from "crypto";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { Accounting, ZitadelEvent, account, insertContinuously, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";
import { Driver, TEST_DEPLOYMENT, PartialFailure, State } from "../harness/driver";
import type { Operations } from "../../provider/engine/contract";
import { changefeedOperations } from "../../provider/cockroach/changefeed";
import { clusterSettingOperations } from "../../provider/cockroach/cluster-setting";

jest.setTimeout(180_000);

let f: CdcFixture;
// Each Changefeed created gets its own identity (the constructor's project/stack/name), so jobs of
// different resources never share a marker.
const driver = (ops: Operations, fx?: CdcFixture, url?: string) => {
  const x = fx ?? f;
  return new Driver(
    ops,
    {
      "zitadel-audit-stream:cockroachUrl": url ?? x.twin.url,
      "zitadel-audit-stream:gcpEndpoint": x.emu.endpoint,
      "gcp:credentials": x.emu.adminKeyFile,
      "gcp:project": x.emu.project,
    },
    () => (ops === changefeedOperations ? { owner: `test/${crypto.randomUUID()}`, deployment: TEST_DEPLOYMENT } : {}),
  );
};

beforeAll(async () => {
  f = await cdcFixture();
});
afterAll(() => f?.stop());

async function settle(events: ZitadelEvent[], prefix: string): Promise<Accounting & { lines: Record<string, any>[] }> {
  let last: Accounting | undefined;
  let lines: Record<string, any>[] = [];
  await waitFor(
    `all ${events.length} events under ${prefix}`,
    async () => {
      lines = (await readDelivered(f.admin, f.bucket, prefix)).lines;
      last = account(events, lines);
      return last.missing === 0;
    },
    60_000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
  return { ...last!, lines };
}

describe("ClusterSetting", () => {
  let d: Driver;
  let s: State;
  beforeAll(async () => (d = driver(clusterSettingOperations)));

  test("turns kv.rangefeed.enabled on, remembering the value it found", async () => {
    expect((await f.pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled")).rows[0]["kv.rangefeed.enabled"]).toBe(false);
    s = (await d.up({})).state;
    expect(s.outputs).toMatchObject({ name: "kv.rangefeed.enabled", value: "true", previousValue: "false", keepOnDelete: true });
    expect((await f.pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled")).rows[0]["kv.rangefeed.enabled"]).toBe(true);
    expect((await d.up({}, s)).op).toBe("same");
  });

  test("refresh sees an out-of-band change, and the next up sets it again", async () => {
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = false");
    s = (await d.refresh(s))!;
    expect(s.outputs.value).toBe("false");
    const r = await d.up({}, s);
    expect(r.op).toBe("update");
    s = r.state;
    expect((await f.pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled")).rows[0]["kv.rangefeed.enabled"]).toBe(true);
  });

  test("delete keeps the value by default; keepOnDelete: false restores the one it found", async () => {
    await d.destroy(s);
    expect((await f.pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled")).rows[0]["kv.rangefeed.enabled"]).toBe(true);
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = false");
    const other = (await d.up({ keepOnDelete: false })).state;
    await d.destroy(other);
    expect((await f.pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled")).rows[0]["kv.rangefeed.enabled"]).toBe(false);
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  });

  test("a user without MODIFYCLUSTERSETTING gets a message that says what to grant", async () => {
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = false");
    const limited = driver(clusterSettingOperations, f, f.twin.url.replace("root@", "auditor@"));
    await expect(limited.up({})).rejects.toThrow(/lacks a privilege: only users with the MODIFYCLUSTERSETTING privilege .* Grant it/);
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  });
});

describe("ClusterSetting on a virtual cluster", () => {
  let v: CdcFixture;
  beforeAll(async () => (v = await cdcFixture({ virtualCluster: true }, "virtual-cluster-bucket")));
  afterAll(() => v?.stop());

  test("an operator-only setting that is already on is success; asking to turn it off says who can", async () => {
    const d = driver(clusterSettingOperations, v);
    const s = (await d.up({})).state;
    expect(s.outputs.value).toBe("true");
    await expect(d.up({ value: false }, s)).rejects.toThrow(/the platform manages it \(virtual cluster\)/);
  });
});

describe("Changefeed", () => {
  let d: Driver;
  let s: State;
  const sink = (prefix: string, credentials = f.keyBase64) => ({ bucket: f.bucket, prefix, partitionFormat: "flat" as const, credentials });
  let inputs: Record<string, any>;

  beforeAll(async () => {
    d = driver(changefeedOperations);
    inputs = { sink: sink("feed"), options: { initial_scan: "no" }, timeoutSeconds: 30 };
  });

  test("create streams the guide's columns; the same inputs are no change", async () => {
    s = (await d.up(inputs)).state;
    expect(s.outputs.jobId).toMatch(/^\d{16,19}$/);
    expect(s.outputs.status).toBe("running");
    expect(s.outputs.sinkUriRedacted).toBe(
      `gs://${f.bucket}/feed?partition_format=flat&AUTH=specified&CREDENTIALS=redacted`.replace(
        /\?.*/,
        "?AUTH=specified&CREDENTIALS=redacted&partition_format=flat",
      ),
    );
    const events = makeEvents(10, 10_000);
    await insertEvents(f.pg, events);
    const got = await settle(events, "feed/");
    expect(Object.keys(got.lines[0])).toEqual(["aggregate_id", "aggregate_type", "created_at", "event_type", "instance_id", "owner", "sequence"]);
    const again = await d.up(inputs, (await d.refresh(s))!);
    expect(again.op).toBe("same");
  });

  test("a key rotation is PAUSE/ALTER/RESUME on the same job, with nothing missing while events keep coming", async () => {
    const load = insertContinuously(f.twin.url, 20_000);
    await new Promise((r) => setTimeout(r, 600));
    const newKey = await f.newKey();
    inputs = { ...inputs, sink: sink("feed", newKey) };
    const r = await d.up(inputs, s);
    expect(r.op).toBe("update");
    expect(r.state.outputs.jobId).toBe(s.outputs.jobId);
    s = r.state;
    await new Promise((r) => setTimeout(r, 600));
    const events = await load.stop();
    const a = await settle(events, "feed/");
    console.log(`rotation: inserted=${a.inserted} delivered=${a.delivered} missing=${a.missing} duplicates=${a.duplicates}`);
    expect(a.missing).toBe(0);
    expect(a.inserted).toBeGreaterThan(20);
  });

  test("a query change hands off to a new job from the old high-water, with nothing missing", async () => {
    const load = insertContinuously(f.twin.url, 30_000);
    await new Promise((r) => setTimeout(r, 600));
    const before = s.outputs.jobId;
    inputs = { ...inputs, query: { payload: { eventTypes: ["instance.domain.added"] } } };
    const r = await d.up(inputs, s);
    expect(r.op).toBe("update");
    s = r.state;
    expect(s.outputs.jobId).not.toBe(before);
    expect(s.outputs.jobHistory).toEqual([before, s.outputs.jobId]);
    await waitFor("the old job canceled", async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [before])).rows[0].status === "canceled");
    await new Promise((r) => setTimeout(r, 600));
    const events = await load.stop();
    const a = await settle(events, "feed/");
    console.log(`handoff: inserted=${a.inserted} delivered=${a.delivered} missing=${a.missing} duplicates=${a.duplicates}`);
    expect(a.missing).toBe(0);
    expect(a.lines.some((l) => l.event_type === "instance.domain.added" && l.payload?.domain)).toBe(true);
  });

  test("refresh after an out-of-band PAUSE shows drift; the next up resumes the same job, losing nothing", async () => {
    await f.pg.query("PAUSE JOB $1", [s.outputs.jobId]);
    await waitFor("paused", async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].status === "paused");
    const during = makeEvents(6, 40_000);
    await insertEvents(f.pg, during);
    s = (await d.refresh(s))!;
    expect(s.outputs.status).toBe("paused");
    expect(s.outputs.health).toMatchObject({ state: "stopped", reason: expect.stringMatching(/^the job is paused.*`pulumi up` resumes it/) });
    const { diff } = await d.diff(inputs, s);
    expect(diff).toMatchObject({ changes: true, replaces: [] });
    const r = await d.up(inputs, s);
    expect(r.state.outputs.jobId).toBe(s.outputs.jobId);
    expect(r.state.outputs.status).toBe("running");
    expect(r.state.outputs.health).toMatchObject({ state: "healthy", lagSeconds: expect.any(Number) });
    s = r.state;
    expect((await settle(during, "feed/")).missing).toBe(0);
  });

  test("a grant removed out of band: refresh says failing and names the permission; up refuses until it is granted again, then the same job recovers, losing nothing", async () => {
    await f.revoke();
    const during = makeEvents(6, 45_000);
    await insertEvents(f.pg, during);
    await waitFor("a retryable error", async () =>
      /^retryable error/.test((await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].running_status ?? ""),
    );
    s = (await d.refresh(s))!;
    expect(s.outputs.status).toBe("running");
    expect(s.outputs.health).toMatchObject({
      state: "failing",
      reason: expect.stringMatching(/^the sink refuses the feed's writer \(HTTP 403, storage\.objects\.create missing\)/),
    });
    expect((await d.diff(inputs, s)).diff).toMatchObject({ changes: true });
    // Still refused: up says what to grant and leaves the job as it is.
    await expect(d.up({ ...inputs, timeoutSeconds: 5 }, s)).rejects.toThrow(/may not .*Grant storage\.objects\.create on the bucket/);
    expect((await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].status).toBe("running");
    await f.grant();
    const r = await d.up(inputs, s);
    expect(r.state.outputs.jobId).toBe(s.outputs.jobId);
    expect(r.state.outputs.health).toMatchObject({ state: "healthy" });
    s = r.state;
    expect((await settle(during, "feed/")).missing).toBe(0);
  });

  test("refresh after an out-of-band CANCEL shows it; the next up restarts from the last high-water", async () => {
    await f.pg.query("CANCEL JOB $1", [s.outputs.jobId]);
    await waitFor("canceled", async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].status === "canceled");
    const during = makeEvents(6, 50_000);
    await insertEvents(f.pg, during);
    s = (await d.refresh(s))!;
    expect(s.outputs.status).toBe("canceled");
    expect(s.outputs.health.state).toBe("stopped");
    const old = s.outputs.jobId;
    const r = await d.up(inputs, s);
    expect(r.op).toBe("update");
    s = r.state;
    expect(s.outputs.jobId).not.toBe(old);
    expect((await settle(during, "feed/")).missing).toBe(0);
  });

  test("a new sink the key may not write to is refused before the feed is touched", async () => {
    await f.admin.storage.buckets.insert({ project: f.emu.project, requestBody: { name: "no-grant-bucket" } });
    const bad = { ...inputs, sink: { ...inputs.sink, bucket: "no-grant-bucket" }, timeoutSeconds: 5 };
    const calls = f.emu.calls.length;
    await expect(d.up(bad, s)).rejects.toThrow(
      /may not \(testIamPermissions answered without storage\.objects\.create\)\. Grant storage\.objects\.create on the bucket to serviceAccount:cdc-writer@/,
    );
    expect(f.emu.calls.slice(calls).some((c) => c.path === "/storage/v1/b/no-grant-bucket/iam/testPermissions")).toBe(true);
    const row = (await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0];
    expect(row.status).toBe("running");
    expect(row.sink_uri).toContain(`gs://${f.bucket}/feed`);
  });

  test("a 503 storm during the access check, longer than its deadline, is reported as a storm, never as a missing grant", async () => {
    f.emu.knobs.faults.push({ method: "GET", path: /\/iam\/testPermissions$/, status: 503, times: 1_000_000, retryAfterSeconds: 0 });
    try {
      const failed = await d.up({ ...inputs, sink: sink("storm", await f.newKey()), timeoutSeconds: 5 }, s).catch((e) => e);
      expect(failed.message).toMatch(
        /may create objects in gs:\/\/[a-z-]+ failed \(nothing was changed; run `pulumi up` again\): .*still failing after \d+ attempts: .*Backend Error/,
      );
      expect(failed.message).not.toMatch(/may not|Grant storage/);
    } finally {
      f.emu.knobs.faults.length = 0;
    }
    const row = (await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0];
    expect(row.status).toBe("running");
    expect(row.sink_uri).toContain(`gs://${f.bucket}/feed`);
  });

  test("a new sink that fails under load is rolled back to the old one, and nothing is missing", async () => {
    // The writer may create objects in the new bucket, but every upload there fails.
    await f.admin.storage.buckets.insert({ project: f.emu.project, requestBody: { name: "flaky-bucket" } });
    const policy = (await f.admin.storage.buckets.getIamPolicy({ bucket: "flaky-bucket" })).data;
    policy.bindings!.push({ role: f.role, members: [`serviceAccount:${f.writerEmail}`] });
    await f.admin.storage.buckets.setIamPolicy({ bucket: "flaky-bucket", requestBody: policy });
    f.emu.knobs.faults.push({ method: "POST", path: /^\/upload\/storage\/v1\/b\/flaky-bucket\/o$/, status: 503, times: 1_000_000 });
    const load = insertContinuously(f.twin.url, 80_000);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await expect(d.up({ ...inputs, sink: { ...inputs.sink, bucket: "flaky-bucket" }, timeoutSeconds: 6 }, s)).rejects.toThrow(
        /did not work with the new sink or options \(.*503.*\), so the previous ones were set again, and the job checkpointed with them/,
      );
    } finally {
      f.emu.knobs.faults.length = 0;
    }
    const row = (await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0];
    expect(row.status).toBe("running");
    expect(row.sink_uri).toContain(`gs://${f.bucket}/feed`);
    await new Promise((r) => setTimeout(r, 300));
    const events = await load.stop();
    const a = await settle(events, "feed/");
    console.log(`rollback: inserted=${a.inserted} delivered=${a.delivered} missing=${a.missing} duplicates=${a.duplicates}`);
    expect(a.missing).toBe(0);
  });

  test("delete right after a PAUSE still cancels the job (CANCEL waits for the pause to complete)", async () => {
    const other = (await d.up({ ...inputs, sink: sink("pausing") })).state;
    await f.pg.query("PAUSE JOB $1", [other.outputs.jobId]);
    await d.destroy(other);
    await waitFor("canceled", async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [other.outputs.jobId])).rows[0].status === "canceled");
  });

  test("delete cancels the job; delete twice is fine", async () => {
    await d.destroy(s);
    await waitFor("canceled", async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].status === "canceled");
    await d.destroy(s);
  });

  test("with rangefeeds off, create fails with a message that says how to turn them on", async () => {
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = false");
    try {
      await expect(d.up({ sink: sink("off") })).rejects.toThrow(
        /rangefeeds are off\. Run SET CLUSTER SETTING kv\.rangefeed\.enabled = true, or declare a ClusterSetting/,
      );
    } finally {
      await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
    }
  });
});

describe("Changefeed on a slow cluster", () => {
  test("a create whose job does not start within timeoutSeconds fails, leaves its job running (as CockroachDB runs it) and recorded, and destroy cancels it", async () => {
    const slow = await cdcFixture({ jobStartDelayMs: 600_000 }, "slow-cluster-bucket");
    try {
      await slow.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
      const d = driver(changefeedOperations, slow);
      const failed = await d.up({ sink: { bucket: slow.bucket, credentials: slow.keyBase64 }, timeoutSeconds: 5 }).catch((e) => e);
      expect(failed.message).toMatch(/changefeed job \d+ did not checkpoint within 5s \(status pending\)\. It was left running, as CockroachDB runs it/);
      expect(failed).toBeInstanceOf(PartialFailure);
      expect(failed.state.outputs).toMatchObject({ status: "pending", jobId: expect.stringMatching(/^\d+$/) });
      expect(JSON.stringify(failed.state.outputs)).not.toContain(slow.keyBase64);
      await d.destroy(failed.state);
      const jobs = await waitFor("the job canceled", async () => {
        const rows = (await slow.pg.query("SHOW CHANGEFEED JOBS")).rows;
        return rows.every((j) => j.status === "canceled") && rows;
      });
      expect(jobs).toHaveLength(1);
    } finally {
      await slow.stop();
    }
  });
});

describe("Changefeed on older CockroachDB versions", () => {
  test("v24.1.2 without a licence key: create explains the licence; with one it works", async () => {
    const old = await cdcFixture({ version: "v24.1.2" }, "licence-bucket");
    try {
      await old.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
      const d = driver(changefeedOperations, old);
      const args = { sink: { bucket: old.bucket, credentials: old.keyBase64 }, timeoutSeconds: 30 };
      await expect(d.up(args)).rejects.toThrow(/need an enterprise licence on this version: set one .* or upgrade to v24\.3\+/);
      await old.pg.query("SET CLUSTER SETTING enterprise.license = 'crl-0-test'");
      const s = (await d.up(args)).state;
      expect(s.outputs.status).toBe("running");
      await d.destroy(s);
    } finally {
      await old.stop();
    }
  });

  test("v23.2.5, where ALTER drops a CDC query (#113491): a key rotation hands off instead, and the payload stays out", async () => {
    const old = await cdcFixture({ version: "v23.2.5" }, "old-version-bucket");
    try {
      await old.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
      await old.pg.query("SET CLUSTER SETTING enterprise.license = 'crl-0-test'");
      const d = driver(changefeedOperations, old);
      const s = (await d.up({ sink: { bucket: old.bucket, prefix: "p", credentials: old.keyBase64 }, options: { initial_scan: "no" }, timeoutSeconds: 30 }))
        .state;
      const r = await d.up(
        { sink: { bucket: old.bucket, prefix: "p", credentials: await old.newKey() }, options: { initial_scan: "no" }, timeoutSeconds: 30 },
        s,
      );
      expect(r.state.outputs.jobId).not.toBe(s.outputs.jobId);
      const events = makeEvents(5, 70_000);
      await insertEvents(old.pg, events);
      const lines = await waitFor("delivery", async () => {
        const l = (await readDelivered(old.admin, old.bucket, "p/")).lines;
        return account(events, l).missing === 0 && l;
      });
      expect(lines.every((l) => !("payload" in l))).toBe(true);
      await d.destroy(r.state);
    } finally {
      await old.stop();
    }
  });
});
