// Whose is it (docs/identity.md), against the stand-ins: a same-named deployment is refused and left
// alone, takeOver takes over on purpose, a replacement's delete leaves the newer job, a first create that
// failed after CREATE leaves nothing behind destroy, and proof of delivery is a read-back.
import * as crypto from "crypto";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { account, insertContinuously, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";
import { Driver, PartialFailure, TEST_DEPLOYMENT } from "../harness/driver";
import type { Operations } from "../../provider/engine/contract";
import { changefeedOperations } from "../../provider/cockroach/changefeed";
import { serviceAccountOperations } from "../../provider/gcp/service-account";
import { bucketOperations } from "../../provider/gcp/bucket";
import { streamIdentityOperations } from "../../provider/stream-identity";
import { jobMarker } from "../../provider/ownership";
import { sqlTimeouts } from "../../provider/cockroach/sql";

jest.setTimeout(180_000);

let f: CdcFixture;
const OTHER = "0e4e000000000002";
const config = () => ({
  "zitadel-audit-stream:cockroachUrl": f.twin.url,
  "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint,
  "gcp:credentials": f.emu.adminKeyFile,
  "gcp:project": f.emu.project,
});
/** A resource as one deployment's constructor declares it: its owner (project/stack/name) and the deployment. */
const driver = (ops: Operations, owner: string, deployment = TEST_DEPLOYMENT) => new Driver(ops, config(), () => ({ owner, deployment }));
let block = 300_000;
const nextBlock = () => (block += 10_000);

beforeAll(async () => {
  f = await cdcFixture({ checkpointMs: 300 });
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
});
afterAll(() => f?.stop());

const sink = (prefix: string) => ({ bucket: f.bucket, prefix, partitionFormat: "flat" as const, credentials: f.keyBase64 });
const feed = (prefix: string) => ({ sink: sink(prefix), options: { initial_scan: "no" as const }, timeoutSeconds: 30 });
async function live(marker: string): Promise<string[]> {
  const rows = (await f.pg.query("SHOW CHANGEFEED JOBS")).rows;
  return rows
    .filter((j) => String(j.description).includes(`'${marker}'`) && ["running", "pending", "paused", "pause-requested"].includes(j.status))
    .map((j) => String(j.job_id));
}

describe("a second deployment with the same names", () => {
  test("its changefeed is refused naming the job and the deployment; the first one's job runs on; takeOver continues from it", async () => {
    const owner = `p/prod/${crypto.randomUUID()}`;
    const first = (await driver(changefeedOperations, owner).up(feed("same-names"))).state;
    const second = driver(changefeedOperations, owner, OTHER);
    const refused = await second.up(feed("same-names")).then(
      () => new Error("it succeeded"),
      (e) => e as Error,
    );
    expect(refused.message).toMatch(
      new RegExp(
        `a changefeed of a resource with this name already runs, made by another deployment .*: job ${first.outputs.jobId} \\(running, deployment ${TEST_DEPLOYMENT}\\)\\. It is left as it is, and nothing was created\\. .*set takeOver: "${TEST_DEPLOYMENT}"`,
      ),
    );
    expect(await live(first.outputs.marker)).toEqual([first.outputs.jobId]);
    expect(await live(jobMarker({ owner, deployment: OTHER }))).toEqual([]);
    // On purpose (the state was lost): the second continues from the first's job and cancels it.
    const events = makeEvents(5, nextBlock());
    await insertEvents(f.pg, events);
    const taken = (await second.up({ ...feed("same-names"), takeOver: TEST_DEPLOYMENT })).state;
    expect(taken.outputs.takenOverFrom).toBe(TEST_DEPLOYMENT);
    expect(await live(first.outputs.marker)).toEqual([]);
    expect(await live(taken.outputs.marker)).toEqual([taken.outputs.jobId]);
    await waitFor("every event", async () => account(events, (await readDelivered(f.admin, f.bucket, "same-names/")).lines).missing === 0);
    await second.destroy(taken);
  });

  test("its service account is refused and keeps its description; takeOver adopts and re-tags it", async () => {
    const owner = `p/prod/writer-${crypto.randomUUID().slice(0, 8)}`;
    const first = (await driver(serviceAccountOperations, owner).up({ namePrefix: "writer", description: "the writer" })).state;
    const before = (await f.admin.iam.projects.serviceAccounts.get({ name: first.id })).data.description;
    const refused = await driver(serviceAccountOperations, owner, OTHER)
      .up({ namePrefix: "writer", description: "the writer" })
      .then(
        () => new Error("it succeeded"),
        (e) => e as Error,
      );
    expect(refused.message).toMatch(
      new RegExp(`service account ${first.outputs.email} already exists: it was made by deployment ${TEST_DEPLOYMENT} .*set takeOver: "${TEST_DEPLOYMENT}"`),
    );
    expect((await f.admin.iam.projects.serviceAccounts.get({ name: first.id })).data.description).toBe(before);
    const taken = (await driver(serviceAccountOperations, owner, OTHER).up({ namePrefix: "writer", description: "the writer", takeOver: TEST_DEPLOYMENT }))
      .state;
    expect(taken.outputs).toMatchObject({ email: first.outputs.email, takenOverFrom: TEST_DEPLOYMENT, description: "the writer" });
    expect((await f.admin.iam.projects.serviceAccounts.get({ name: first.id })).data.description).toMatch(
      new RegExp(`^the writer \\[zitadel-audit-stream ${OTHER}-`),
    );
    // The first deployment's delete now leaves the account alone: it was taken over.
    await driver(serviceAccountOperations, owner).destroy(first);
    expect((await f.admin.iam.projects.serviceAccounts.get({ name: first.id })).data.disabled ?? false).toBe(false);
    await driver(serviceAccountOperations, owner, OTHER).destroy(taken);
  });

  test("its bucket with forceDestroy is refused, and a taken-over bucket is neither emptied nor deleted by the first one's destroy", async () => {
    const owner = `p/prod/bucket-${crypto.randomUUID().slice(0, 8)}`;
    const first = (await driver(bucketOperations, owner).up({ namePrefix: "audit", forceDestroy: true })).state;
    await f.admin.storage.objects.insert({ bucket: first.id, name: "events/one.ndjson", media: { body: "{}\n" } });
    const refused = await driver(bucketOperations, owner, OTHER)
      .up({ namePrefix: "audit", forceDestroy: true })
      .then(
        () => new Error("it succeeded"),
        (e) => e as Error,
      );
    expect(refused.message).toMatch(
      new RegExp(`bucket ${first.id} already exists: it was made by deployment ${TEST_DEPLOYMENT}.*Its objects and settings were not touched`),
    );
    const taken = (await driver(bucketOperations, owner, OTHER).up({ namePrefix: "audit", forceDestroy: true, takeOver: TEST_DEPLOYMENT })).state;
    await driver(bucketOperations, owner).destroy(first);
    const left = (await f.admin.storage.objects.list({ bucket: first.id })).data.items ?? [];
    expect(left.map((o) => o.name)).toEqual(["events/one.ndjson"]);
    await driver(bucketOperations, owner, OTHER).destroy(taken);
  });
});

describe("two instances of one resource (a replacement, a parent move)", () => {
  test("the new instance continues from the old job; the old one's delete never cancels the newer job", async () => {
    const owner = `p/prod/${crypto.randomUUID()}`;
    const d = driver(changefeedOperations, owner);
    const old = (await d.up(feed("replaced"))).state;
    const load = insertContinuously(f.twin.url, nextBlock());
    await new Promise((r) => setTimeout(r, 500));
    // The engine creates the replacement first (no prior state), then deletes the old instance.
    const fresh = (await d.up(feed("replaced"))).state;
    expect(fresh.outputs.jobId).not.toBe(old.outputs.jobId);
    await d.destroy(old);
    expect(await live(fresh.outputs.marker)).toEqual([fresh.outputs.jobId]);
    const events = await load.stop();
    const lines = await waitFor(
      "every event",
      async () => {
        const l = (await readDelivered(f.admin, f.bucket, "replaced/")).lines;
        return account(events, l).missing === 0 && l;
      },
      60_000,
    );
    expect(account(events, lines).missing).toBe(0);
    await d.destroy(fresh);
    expect(await live(fresh.outputs.marker)).toEqual([]);
  });
});

describe("a first create that failed after CREATE CHANGEFEED", () => {
  test("the cluster unreachable right after it: the failure says a job may run and records the resource; its delete cancels the job", async () => {
    // A cluster of its own: "down" closes every connection to it.
    const g = await cdcFixture({ checkpointMs: 300 }, "down-after-create");
    const reconnect = sqlTimeouts.reconnectMs;
    sqlTimeouts.reconnectMs = 2_000;
    try {
      await g.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
      const owner = `p/prod/${crypto.randomUUID()}`;
      const d = new Driver(
        changefeedOperations,
        {
          ...config(),
          "zitadel-audit-stream:cockroachUrl": g.twin.url,
          "zitadel-audit-stream:gcpEndpoint": g.emu.endpoint,
          "gcp:credentials": g.emu.adminKeyFile,
        },
        () => ({ owner, deployment: TEST_DEPLOYMENT }),
      );
      // The CREATE takes effect, then the cluster does not answer for longer than the reconnect window.
      await g.pg.query("SET CLUSTER SETTING twin.down_after = 'CREATE CHANGEFEED:5000'");
      const failed = await d.up({ ...feed("failed-create"), sink: { bucket: g.bucket, prefix: "failed-create", credentials: g.keyBase64 } }).catch((e) => e);
      expect(failed).toBeInstanceOf(PartialFailure);
      expect(failed.message).toMatch(
        /create changefeed failed: .*whether the job was made cannot be read .*: a job of this resource \(metrics_label zitadel-audit-stream\.7e57000000000001\.[0-9a-f]{10}\) may run\. The next `pulumi up` continues from it, and `pulumi destroy` cancels it/,
      );
      expect(failed.state.outputs.jobId).toBe("");
      await new Promise((r) => setTimeout(r, 5_000));
      const { Client } = await import("pg");
      const pg = new Client({ connectionString: g.twin.url });
      await pg.connect();
      const marker = jobMarker({ owner, deployment: TEST_DEPLOYMENT });
      const liveOf = async () =>
        (await pg.query("SHOW CHANGEFEED JOBS")).rows.filter(
          (j) => String(j.description).includes(`'${marker}'`) && ["running", "pending", "paused"].includes(j.status),
        );
      expect(await liveOf()).toHaveLength(1);
      await d.destroy(failed.state);
      expect(await liveOf()).toEqual([]);
      await pg.end();
    } finally {
      sqlTimeouts.reconnectMs = reconnect;
      await g.stop();
    }
  });

  test("when the process died (nothing recorded), the stream identity's delete cancels it", async () => {
    const ids = new Driver(streamIdentityOperations, config());
    const identity = (await ids.up({ sweepJobs: true })).state;
    const owner = `p/prod/${crypto.randomUUID()}`;
    const marker = jobMarker({ owner, deployment: identity.outputs.deployment });
    // A job of the stream that no state records (as a killed create leaves it), and one of another stream.
    const orphan = (
      await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH initial_scan = 'no', metrics_label = '${marker}' AS SELECT instance_id FROM eventstore.events2`, [
        `gs://${f.bucket}/orphan?CREDENTIALS=${encodeURIComponent(f.keyBase64)}`,
      ])
    ).rows[0].job_id;
    const others = jobMarker({ owner, deployment: OTHER });
    const other = (
      await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH initial_scan = 'no', metrics_label = '${others}' AS SELECT instance_id FROM eventstore.events2`, [
        `gs://${f.bucket}/other?CREDENTIALS=${encodeURIComponent(f.keyBase64)}`,
      ])
    ).rows[0].job_id;
    await ids.destroy(identity);
    expect(await live(marker)).toEqual([]);
    expect(await live(others)).toEqual([String(other)]);
    void orphan;
    await f.pg.query(`CANCEL JOB ${other}`);
  });
});

describe("proof of delivery", () => {
  test("a writer without the grant, with events flowing: up fails with the sink's error, the job is left running (not paused) and recorded", async () => {
    const owner = `p/prod/${crypto.randomUUID()}`;
    const d = driver(changefeedOperations, owner);
    await f.revoke();
    const load = insertContinuously(f.twin.url, nextBlock());
    try {
      const failed = await d.up({ ...feed("no-grant"), verifySinkAccess: false, timeoutSeconds: 10 }).catch((e) => e);
      expect(failed).toBeInstanceOf(PartialFailure);
      expect(failed.message).toMatch(
        /changefeed job \d+ (cannot write to its sink: the sink refuses the feed's writer \(HTTP 403, storage\.objects\.create missing\)|did not prove delivery within 10s: it checkpointed past events it selects)/,
      );
      expect(failed.message).toMatch(/It was left running, as CockroachDB runs it/);
      const marker = jobMarker({ owner, deployment: TEST_DEPLOYMENT });
      const [job] = (await f.pg.query("SHOW CHANGEFEED JOB $1", [failed.state.outputs.jobId])).rows;
      expect(job.status).toBe("running");
      expect(await live(marker)).toEqual([failed.state.outputs.jobId]);
      // Granted again: CockroachDB's retries deliver, and the next up proves it on the same job.
      await f.grant();
      const healed = (await d.up({ ...feed("no-grant"), verifySinkAccess: false, timeoutSeconds: 30 }, failed.state)).state;
      expect(healed.outputs.jobId).toBe(failed.state.outputs.jobId);
      await d.destroy(healed);
    } finally {
      await f.grant();
      await load.stop();
    }
  });

  test("a job retrying a sink error the update did not cause is not paused by the update", async () => {
    const owner = `p/prod/${crypto.randomUUID()}`;
    const d = driver(changefeedOperations, owner);
    const s = (await d.up(feed("retrying"))).state;
    await f.revoke();
    try {
      await insertEvents(f.pg, makeEvents(3, nextBlock()));
      await waitFor("a retryable error", async () =>
        /^retryable error/.test((await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].running_status ?? ""),
      );
      const failed = await d.up({ ...feed("retrying"), timeoutSeconds: 5 }, s).then(
        () => new Error("it succeeded"),
        (e) => e as Error,
      );
      expect(failed.message).toMatch(/may not \(testIamPermissions answered without storage\.objects\.create\)/);
      expect((await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].status).toBe("running");
    } finally {
      await f.grant();
    }
    await d.destroy(s);
  });
});

describe("the GC window", () => {
  test("a feed gone past gc.ttlseconds: up says so and changes nothing; a chosen newer cursor restarts from there, the gap recorded in gaps and health's deadline from the cluster", async () => {
    const owner = `p/prod/${crypto.randomUUID()}`;
    const d = driver(changefeedOperations, owner);
    const s = (await d.up(feed("gc-window"))).state;
    const before = makeEvents(3, nextBlock());
    await insertEvents(f.pg, before);
    await waitFor("the first events", async () => account(before, (await readDelivered(f.admin, f.bucket, "gc-window/")).lines).missing === 0);
    const h = (
      await waitFor("a high-water past them", async () => {
        const j = (await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0];
        return j.high_water_timestamp && j;
      })
    ).high_water_timestamp as string;
    await f.pg.query("ALTER TABLE eventstore.events2 CONFIGURE ZONE USING gc.ttlseconds = 2");
    try {
      // The job is lost (cancelled out of band) and stays away longer than the GC window.
      await f.pg.query(`CANCEL JOB ${s.outputs.jobId}`);
      await new Promise((r) => setTimeout(r, 3_000));
      const refresh = (await d.refresh(s))!;
      expect(refresh.outputs.health).toMatchObject({ state: "stopped", resumeBefore: expect.any(String) });
      const refused = await d.up(feed("gc-window"), refresh).then(
        () => new Error("it succeeded"),
        (e) => e as Error,
      );
      expect(refused.message).toMatch(
        /older than CockroachDB's garbage-collection window .* Nothing was changed\. .*set options\.cursor to a recent time \(the gap, from .* to it, is then recorded in the output `gaps`\)/,
      );
      expect(await live(s.outputs.marker)).toEqual([]);
      // The user chooses to continue from now, with a gap on record.
      const cursor = new Date().toISOString();
      const after = makeEvents(3, nextBlock());
      const healed = (await d.up({ ...feed("gc-window"), options: { initial_scan: "no", cursor } }, refresh)).state;
      expect(healed.outputs.gaps).toEqual([
        { from: expect.stringMatching(/^\d+\.\d+$/), to: cursor, at: expect.any(String), reason: "options.cursor was set after the last high-water" },
      ]);
      expect(BigInt(healed.outputs.gaps[0].from.split(".")[0]) >= BigInt(h.split(".")[0])).toBe(true);
      expect(await live(s.outputs.marker)).toEqual([healed.outputs.jobId]);
      await insertEvents(f.pg, after);
      await waitFor("the events after the cursor", async () => account(after, (await readDelivered(f.admin, f.bucket, "gc-window/")).lines).missing === 0);
      await d.destroy(healed);
    } finally {
      await f.pg.query("ALTER TABLE eventstore.events2 CONFIGURE ZONE USING gc.ttlseconds = 14400");
    }
  });
});

describe("true messages", () => {
  test("a key deleted while the feed runs: up says to rotate it, not to run up again", async () => {
    const owner = `p/prod/${crypto.randomUUID()}`;
    const d = driver(changefeedOperations, owner);
    const key = await f.admin.iam.projects.serviceAccounts.keys.create({ name: `projects/-/serviceAccounts/${f.writerEmail}`, requestBody: {} });
    const s = (await d.up({ ...feed("deleted-key"), sink: { ...sink("deleted-key"), credentials: key.data.privateKeyData! } })).state;
    await f.admin.iam.projects.serviceAccounts.keys.delete({ name: key.data.name! });
    await insertEvents(f.pg, makeEvents(2, nextBlock()));
    await waitFor("the feed refused", async () =>
      /^retryable error/.test((await f.pg.query("SHOW CHANGEFEED JOB $1", [s.outputs.jobId])).rows[0].running_status ?? ""),
    );
    const refreshed = (await d.refresh(s))!;
    expect(refreshed.outputs.health.reason).toMatch(/does not accept the feed's credentials .*rotate the key \(keyRotationTrigger\)/);
    const failed = await d
      .up({ ...feed("deleted-key"), sink: { ...sink("deleted-key"), credentials: key.data.privateKeyData! }, timeoutSeconds: 5 }, refreshed)
      .then(
        () => new Error("it succeeded"),
        (e) => e as Error,
      );
    // (An access token minted before the deletion may still pass the access check; the job's own error then says it.)
    expect(failed.message).toMatch(
      /Google does not accept the sink's key .* Rotate it \(AuditStream: change keyRotationTrigger|the sink does not accept the feed's credentials \(a deleted or disabled key or account\): rotate the key \(keyRotationTrigger\)/,
    );
    expect(failed.message).not.toMatch(/run `pulumi up` again/);
    await d.destroy(s);
  });

  test("connectionString pointing at another cluster: a replacement; the feed starts there and the old job is cancelled", async () => {
    const other = await cdcFixture({ checkpointMs: 300 }, "other-cluster");
    try {
      await other.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
      const owner = `p/prod/${crypto.randomUUID()}`;
      const d = driver(changefeedOperations, owner);
      const here = { ...feed("moved-cluster"), connectionString: f.twin.url };
      const s = (await d.up(here)).state;
      expect(s.outputs.clusterId).toMatch(/^[0-9a-f-]{36}$/);
      // Another URL for the same cluster is no replacement.
      expect((await d.diff({ ...here, connectionString: f.twin.url.replace("127.0.0.1", "localhost") }, s)).diff).toMatchObject({ replaces: [] });
      const there = {
        ...feed("moved-cluster"),
        connectionString: other.twin.url,
        sink: { bucket: other.bucket, prefix: "moved-cluster", partitionFormat: "flat" as const, credentials: other.keyBase64 },
      };
      const d2 = new Driver(
        changefeedOperations,
        { ...config(), "gcp:credentials": other.emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": other.emu.endpoint },
        () => ({ owner, deployment: TEST_DEPLOYMENT }),
      );
      const r = await d2.up(there, s);
      expect(r.op).toBe("replace");
      expect(r.state.outputs.clusterId).not.toBe(s.outputs.clusterId);
      expect(await live(s.outputs.marker)).toEqual([]);
      const onOther = (await other.pg.query("SHOW CHANGEFEED JOBS")).rows.filter((j) => j.status === "running").map((j) => String(j.job_id));
      expect(onOther).toEqual([r.state.outputs.jobId]);
      await d2.destroy(r.state);
    } finally {
      await other.stop();
    }
  });
});
