// Lifecycle scenarios of the whole pipeline through the real Pulumi engine: the root project's
// program (stack/program.ts) run from the package as a consumer installs it, against the
// stand-ins, counting every audit event by its key.
import { Client } from "pg";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { GcpEmulator } from "../../stand-ins";
import { RunningTwin, startCockroachTwin } from "../../stand-ins";
import { Consumer, consumerLayout } from "../harness/consumer";
import { TestStack, newTestStack, standInConfig } from "../harness/engine";
import { Gcp, gcpClients } from "../../provider/gcp/client";
import { ZitadelEvent, account, insertContinuously, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";
import { auditStreamProgram } from "../../stack/program";

jest.setTimeout(300_000);

let emu: GcpEmulator;
let twin: RunningTwin;
let consumer: Consumer;
let t: TestStack;
let pg: Client;
let admin: Gcp;
let bucket: string;
const inserted: ZitadelEvent[] = [];

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  twin = await startCockroachTwin({ storageEndpoint: emu.endpoint, checkpointMs: 300 });
  consumer = consumerLayout("lifecycle");
  admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  pg = new Client({ connectionString: twin.url });
  await pg.connect();
  t = await newTestStack({
    project: "zitadel-audit-lifecycle",
    parentDir: consumer.dir,
    program: auditStreamProgram(consumer.pkg),
    config: standInConfig(emu, twin.url, { changefeedOptions: JSON.stringify({ initial_scan: "no" }) }),
  });
});

afterAll(async () => {
  await pg?.end().catch(() => undefined);
  await t?.dispose();
  consumer?.dispose();
  await twin?.stop();
  await emu?.stop();
});

async function allDelivered(label: string) {
  let last = account(inserted, []);
  await waitFor(
    `${label}: all ${inserted.length} events`,
    async () => {
      last = account(inserted, (await readDelivered(admin, bucket, "events/")).lines);
      return last.missing === 0;
    },
    60_000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
  console.log(`${label}: inserted=${last.inserted} delivered=${last.delivered} missing=${last.missing} duplicates=${last.duplicates}`);
  return last;
}

/** Runs `up` while events keep being inserted; returns the engine's events for ordering checks. */
async function upUnderLoad(from: number): Promise<{ summary: Record<string, number>; events: EngineEvent[] }> {
  const load = insertContinuously(twin.url, from);
  await new Promise((r) => setTimeout(r, 300));
  const events: EngineEvent[] = [];
  const up = await t.stack.up({ onEvent: (e) => events.push(e) });
  await new Promise((r) => setTimeout(r, 300));
  inserted.push(...(await load.stop()));
  return { summary: up.summary.resourceChanges as Record<string, number>, events };
}

test("up provisions the guide's pipeline and the events arrive", async () => {
  const up = await t.stack.up({ onOutput: (s) => t.log.push(s) });
  expect(up.summary.resourceChanges).toEqual({ create: 10 });
  const o = up.outputs;
  bucket = o.bucketName.value;
  expect(o.feedStatus.value).toBe("running");
  expect(o.sinkUriRedacted.value).toBe(`gs://${bucket}/events?AUTH=specified&CREDENTIALS=redacted&partition_format=flat`);
  expect(o.roleName.value).toMatch(new RegExp(`^projects/${emu.project}/roles/zitadel_audit_writer_[0-9a-f]{6}$`));
  expect(emu.iam.roles.get(`${emu.project}/${o.roleName.value.split("/").pop()}`)!.includedPermissions).toEqual(["storage.objects.create"]);
  const events = makeEvents(30);
  await insertEvents(pg, events);
  inserted.push(...events);
  const a = await allDelivered("up");
  expect(a.missing).toBe(0);
});

test("preview afterwards shows no changes", async () => {
  const pv = await t.stack.preview();
  expect(pv.changeSummary).toEqual({ same: 10 });
});

test("a query change is an update (handoff) with nothing missing", async () => {
  await t.stack.setConfig("zitadel-audit-stream:payloadEventTypes", { value: JSON.stringify(["instance.domain.added"]) });
  const before = (await t.stack.outputs()).jobId.value;
  const { summary } = await upUnderLoad(1000);
  expect(summary).toEqual({ same: 9, update: 1 });
  expect((await t.stack.outputs()).jobId.value).not.toBe(before);
  expect((await allDelivered("query change")).missing).toBe(0);
});

test("a key rotation replaces the key, switches the feed, and deletes the old key only after that", async () => {
  const keysBefore = [...emu.iam.findByEmail((await t.stack.outputs()).serviceAccountEmail.value)!.keys.values()].filter((k) => !k.deleted).map((k) => k.id);
  expect(keysBefore).toHaveLength(1);
  await t.stack.setConfig("zitadel-audit-stream:keyRotationTrigger", { value: "2026-11-24" });
  const { summary, events } = await upUnderLoad(2000);
  expect(summary).toEqual({ same: 8, replace: 1, update: 1 });
  // Engine order: the changefeed update finished before the old key's deletion began.
  const seq = (pred: (e: EngineEvent) => boolean) => events.findIndex(pred);
  const feedUpdated = seq(
    (e) => e.resOutputsEvent?.metadata.op === "update" && e.resOutputsEvent.metadata.urn.endsWith("Changefeed::zitadel-audit-changefeed"),
  );
  const oldKeyDeleting = seq(
    (e) => e.resourcePreEvent?.metadata.op === "delete-replaced" && e.resourcePreEvent.metadata.urn.endsWith("ServiceAccountKey::zitadel-audit-key"),
  );
  expect(feedUpdated).toBeGreaterThanOrEqual(0);
  expect(oldKeyDeleting).toBeGreaterThan(feedUpdated);
  const keysAfter = [...emu.iam.findByEmail((await t.stack.outputs()).serviceAccountEmail.value)!.keys.values()].filter((k) => !k.deleted).map((k) => k.id);
  expect(keysAfter).toHaveLength(1);
  expect(keysAfter[0]).not.toBe(keysBefore[0]);
  expect((await allDelivered("key rotation")).missing).toBe(0);
});

test("refresh after an out-of-band pause shows the drift, and the next up heals it", async () => {
  const jobId = (await t.stack.outputs()).jobId.value;
  await pg.query("PAUSE JOB $1", [jobId]);
  await waitFor("paused", async () => (await pg.query("SHOW CHANGEFEED JOB $1", [jobId])).rows[0].status === "paused");
  const during = makeEvents(10, 3000);
  await insertEvents(pg, during);
  inserted.push(...during);
  const rf = await t.stack.refresh();
  expect(rf.summary.resourceChanges).toMatchObject({ update: 1 });
  const pv = await t.stack.preview();
  expect(pv.changeSummary).toEqual({ same: 9, update: 1 });
  const up = await t.stack.up();
  expect(up.summary.resourceChanges).toEqual({ same: 9, update: 1 });
  expect(up.outputs.jobId.value).toBe(jobId);
  expect(up.outputs.feedStatus.value).toBe("running");
  expect((await allDelivered("after healing")).missing).toBe(0);
});

test("a grant removed out of band while events keep coming: refresh says failing and names the permission, preview says why in one line, up heals it with nothing lost", async () => {
  const outs = await t.stack.outputs();
  const [jobId, role] = [outs.jobId.value, outs.roleName.value];
  const policy = (await admin.storage.buckets.getIamPolicy({ bucket })).data;
  await admin.storage.buckets.setIamPolicy({ bucket, requestBody: { ...policy, bindings: (policy.bindings ?? []).filter((b) => b.role !== role) } });
  const during = makeEvents(10, 4000);
  await insertEvents(pg, during);
  inserted.push(...during);
  await waitFor("a retryable error", async () => /^retryable error/.test((await pg.query("SHOW CHANGEFEED JOB $1", [jobId])).rows[0].running_status ?? ""));
  await t.stack.refresh();
  const feed = (await t.stack.exportStack()).deployment.resources.find((r: any) => r.type === "pulumi-nodejs:dynamic/cockroach:Changefeed");
  expect(feed.outputs.status).toBe("running");
  expect(feed.outputs.health).toMatchObject({
    state: "failing",
    reason: expect.stringMatching(/^the sink refuses the feed's writer \(HTTP 403, storage\.objects\.create missing\)/),
  });
  let shown = "";
  await t.stack.preview({ onOutput: (o) => (shown += o) });
  expect(shown).toMatch(
    new RegExp(`changefeed job ${jobId} is failing: the sink refuses the feed's writer \\(HTTP 403, storage\\.objects\\.create missing\\)`),
  );
  // The refresh also found the grant gone: up grants it again, then the same job recovers.
  const up = await t.stack.up();
  expect(up.outputs.jobId.value).toBe(jobId);
  expect(up.outputs.health.value).toMatchObject({ state: "healthy" });
  expect((await allDelivered("after the grant came back")).missing).toBe(0);
});

test("destroy cancels the feed and keeps the bucket with its files (no forceDestroy)", async () => {
  const jobId = (await t.stack.outputs()).jobId.value;
  const files = (await readDelivered(admin, bucket, "events/")).files.length;
  const d = await t.stack.destroy();
  expect(d.summary.resourceChanges).toEqual({ delete: 10 });
  await waitFor("canceled", async () => (await pg.query("SHOW CHANGEFEED JOB $1", [jobId])).rows[0].status === "canceled");
  expect(emu.storage.buckets.has(bucket)).toBe(true);
  expect((await readDelivered(admin, bucket, "events/")).files.length).toBe(files);
  expect(emu.storage.buckets.get(bucket)!.policy.bindings.some((b) => b.role.includes("zitadel_audit_writer"))).toBe(false);
  expect(emu.iam.accounts.filter((a) => !a.deleted && !a.bootstrap)).toEqual([]);
});
