// Pub/Sub export subscriptions in the emulator: Cloud Storage files and BigQuery rows written as the
// project's Pub/Sub service agent, refused writes surfaced on the subscription's state with nothing lost,
// over REST with the admin's OAuth token (as pubsub.test.ts calls it).
import * as fs from "fs";
import { GcpEmulator } from "./emulator";
import { RestClient, restClient } from "./rest-client";
import { pubsubServiceAgentOf } from "./resourcemanager";
import { bqemulatorInstalled } from "./bigquery-engine";
import { objectName, textFile } from "./pubsub-exports";

jest.setTimeout(60_000);

let emu: GcpEmulator;
const agent = () => `serviceAccount:${pubsubServiceAgentOf(emu.project)}`;

let client: RestClient;
const call = (method: string, path: string, body?: unknown) => client.call(method, path, body);
const ok = (method: string, path: string, body?: unknown) => client.ok(method, path, body);
const P = () => `/v1/projects/${emu.project}`;
const publish = (topic: string, texts: string[]) =>
  ok("POST", `${P()}/topics/${topic}:publish`, { messages: texts.map((t) => ({ data: Buffer.from(t).toString("base64"), attributes: { k: "v" } })) });
const subscription = (id: string) => ok("GET", `${P()}/subscriptions/${id}`);
/** Past the file's maxDuration on the Pub/Sub clock, then one pass of the executor. */
async function after(seconds: number): Promise<void> {
  emu.pubsub.advance(seconds * 1000);
  await emu.pubsub.runExports();
}
const objects = (bucket: string) => emu.storage.buckets.get(bucket)!.objects.filter((o) => o.live);

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  client = await restClient(emu, fs.readFileSync(emu.adminKeyFile, "utf8"));
});
afterAll(() => emu?.stop());

describe("pure parts", () => {
  test("an object's name is prefix, the opening time in UTC, _ and a UUID, then the suffix", () => {
    const name = objectName(
      { filenamePrefix: "events/", filenameSuffix: ".ndjson" },
      Date.parse("2026-12-07T23:01:02.345Z"),
      "0b1e3c9e-6f0a-4a5b-9d2c-1f2e3d4c5b6a",
    );
    expect(name).toBe("events/2026-12-07T23:01:02+00:00_0b1e3c9e-6f0a-4a5b-9d2c-1f2e3d4c5b6a.ndjson");
  });
  test("text files hold the messages' data separated by newlines", () => {
    const lease = (s: string) => ({ message: { messageId: "1", data: Buffer.from(s), attributes: {}, publishTime: 0 }, attempts: 0, availableAt: 0 });
    expect(textFile([lease('{"a":1}'), lease('{"a":2}')]).toString()).toBe('{"a":1}\n{"a":2}');
  });
});

describe("Cloud Storage subscriptions", () => {
  const BUCKET = "exports-bucket";
  beforeAll(async () => {
    await ok("POST", `/storage/v1/b?project=${emu.project}`, { name: BUCKET, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } });
    await ok("PUT", `${P()}/topics/to-gcs`, {});
  });

  test("bad configs are refused with INVALID_ARGUMENT", async () => {
    for (const config of [
      { bucket: "gs://x" },
      { bucket: BUCKET, maxDuration: "30s" },
      { bucket: BUCKET, maxDuration: "601s" },
      { bucket: BUCKET, maxBytes: 10 },
    ]) {
      const r = await call("PUT", `${P()}/subscriptions/bad-gcs`, { topic: `projects/${emu.project}/topics/to-gcs`, cloudStorageConfig: config });
      expect([config, r.status, r.body.error.status]).toEqual([config, 400, "INVALID_ARGUMENT"]);
    }
  });

  test("create needs the bucket and the service agent's grant; a grant lost later stops the writing, loses nothing, and it resumes once restored", async () => {
    const config = { bucket: BUCKET, filenamePrefix: "audit/", filenameSuffix: ".ndjson", maxDuration: "60s" };
    const create = () => call("PUT", `${P()}/subscriptions/gcs-sub`, { topic: `projects/${emu.project}/topics/to-gcs`, cloudStorageConfig: config });
    const missing = await call("PUT", `${P()}/subscriptions/gcs-nobucket`, {
      topic: `projects/${emu.project}/topics/to-gcs`,
      cloudStorageConfig: { bucket: "no-such-bucket" },
    });
    expect([missing.status, missing.body.error.status]).toEqual([404, "NOT_FOUND"]);
    const refused = await create();
    expect([refused.status, refused.body.error.status]).toEqual([403, "PERMISSION_DENIED"]);
    expect(refused.body.error.message).toMatch(/^The caller does not have permission/);

    const policy = await ok("GET", `/storage/v1/b/${BUCKET}/iam`);
    const granted = {
      ...policy,
      bindings: [
        ...(policy.bindings ?? []),
        { role: "roles/storage.objectCreator", members: [agent()] },
        { role: "roles/storage.legacyBucketReader", members: [agent()] },
      ],
    };
    const setPolicy = async (p: any) => ok("PUT", `/storage/v1/b/${BUCKET}/iam`, { ...p, etag: (await ok("GET", `/storage/v1/b/${BUCKET}/iam`)).etag });
    await setPolicy(granted);
    const made = (await create()).body;
    expect(made.cloudStorageConfig).toEqual({ ...config, textConfig: {}, state: "ACTIVE" });

    await publish("to-gcs", ['{"n":1}', '{"n":2}', '{"n":3}']);
    await emu.pubsub.runExports(); // the file opens with its first message
    await after(30);
    expect(objects(BUCKET)).toHaveLength(0); // not due yet
    await setPolicy(policy); // the grant is taken away
    await after(31);
    expect(objects(BUCKET)).toHaveLength(0);
    expect((await subscription("gcs-sub")).cloudStorageConfig.state).toBe("PERMISSION_DENIED");
    // The next pass begins a new file, not yet due: that proves nothing, so the state stays.
    await after(2);
    expect((await subscription("gcs-sub")).cloudStorageConfig.state).toBe("PERMISSION_DENIED");
    expect((await call("POST", `${P()}/subscriptions/gcs-sub:pull`, { maxMessages: 10 })).body.error.status).toBe("FAILED_PRECONDITION");

    await setPolicy(granted);
    await after(2); // past the retry pause: the file is begun anew
    await after(61);
    const files = objects(BUCKET);
    expect(files).toHaveLength(1);
    expect(files[0].name).toMatch(/^audit\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00_[0-9a-f-]{36}\.ndjson$/);
    expect(files[0].data.toString()).toBe('{"n":1}\n{"n":2}\n{"n":3}');
    expect((await subscription("gcs-sub")).cloudStorageConfig.state).toBe("ACTIVE");
    expect(emu.pubsub.subscriptions.get(`projects/${emu.project}/subscriptions/gcs-sub`)!.backlog).toHaveLength(0);
  });

  test("maxBytes closes a file early: every message in exactly one file, in publish order", async () => {
    await ok("PUT", `${P()}/subscriptions/gcs-bytes`, {
      topic: `projects/${emu.project}/topics/to-gcs`,
      cloudStorageConfig: { bucket: BUCKET, filenamePrefix: "bytes/", maxBytes: "1000" },
    });
    const texts = Array.from({ length: 25 }, (_, i) => JSON.stringify({ i, pad: "x".repeat(90) }));
    const before = new Set(objects(BUCKET).map((o) => o.name));
    for (const t of texts) {
      await publish("to-gcs", [t]);
      await emu.pubsub.runExports();
    }
    await after(301); // the default maxDuration (5 minutes) closes the last one
    const files = objects(BUCKET).filter((o) => o.name.startsWith("bytes/") && !before.has(o.name));
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files.flatMap((f) => f.data.toString().split("\n"))).toEqual(texts);
  });
});

(bqemulatorInstalled() ? describe : describe.skip)("BigQuery subscriptions", () => {
  const p = () => emu.project;
  const tablePath = () => `/bigquery/v2/projects/${p()}/datasets/exports/tables`;
  beforeAll(async () => {
    await ok("POST", `/bigquery/v2/projects/${p()}/datasets`, { datasetReference: { projectId: p(), datasetId: "exports" } });
    await ok("POST", tablePath(), {
      tableReference: { projectId: p(), datasetId: "exports", tableId: "events" },
      schema: {
        fields: [
          { name: "id", type: "STRING", mode: "REQUIRED" },
          { name: "n", type: "INT64" },
          { name: "at", type: "TIMESTAMP" },
          { name: "subscription_name", type: "STRING" },
          { name: "message_id", type: "STRING" },
          { name: "publish_time", type: "TIMESTAMP" },
          { name: "attributes", type: "JSON" },
        ],
      },
    });
    await ok("PUT", `${P()}/topics/to-bq`, {});
  });
  const rows = async () =>
    (
      (await ok("POST", `/bigquery/v2/projects/${p()}/queries`, { query: "SELECT id, n, message_id FROM exports.events ORDER BY id", useLegacySql: false }))
        .rows ?? []
    ).map((r: any) => r.f.map((c: any) => c.v));

  test("create needs the table, its columns and the service agent's grant; rows by the table's schema with metadata; a message that does not fit stays, the rest are written", async () => {
    const config = { table: `${p()}.exports.events`, useTableSchema: true, writeMetadata: true, dropUnknownFields: true };
    const create = (c: object) => call("PUT", `${P()}/subscriptions/bq-sub`, { topic: `projects/${emu.project}/topics/to-bq`, bigqueryConfig: c });
    expect((await create({ ...config, table: `${p()}.exports.nothing` })).status).toBe(404);
    expect((await create(config)).status).toBe(403);
    const ds = await ok("GET", `/bigquery/v2/projects/${p()}/datasets/exports`);
    await ok("PATCH", `/bigquery/v2/projects/${p()}/datasets/exports`, { access: [...ds.access, { role: "WRITER", iamMember: agent() }] });
    const noData = await create({ table: config.table });
    expect([noData.status, noData.body.error.message]).toEqual([400, expect.stringContaining("has no column data")]);
    expect((await create(config)).body.bigqueryConfig).toEqual({ ...config, state: "ACTIVE" });

    await publish("to-bq", ['{"id":"a","n":1,"at":"2026-12-07T23:00:00.123456Z","__op":"c"}', '{"n":3}', '{"id":"b","n":"2"}']);
    await emu.pubsub.runExports();
    expect((await subscription("bq-sub")).bigqueryConfig.state).toBe("ACTIVE");
    const got = await rows();
    expect(got.map((r: any[]) => r.slice(0, 2))).toEqual([
      ["a", "1"],
      ["b", "2"],
    ]);
    expect(got.every((r: any[]) => /^\d+$/.test(r[2]))).toBe(true);
    expect((await ok("GET", `${tablePath()}/events`)).numRows).toBe("2");
    // {"n":3} has no id (REQUIRED): not written, still in the backlog, offered again.
    const backlog = () => emu.pubsub.subscriptions.get(`projects/${emu.project}/subscriptions/bq-sub`)!.backlog;
    expect(backlog().map((l) => l.message.data.toString())).toEqual(['{"n":3}']);
    await after(2);
    expect(backlog()[0].attempts).toBe(2);

    // The grant taken away: the subscription shows it, and what comes meanwhile waits.
    await ok("PATCH", `/bigquery/v2/projects/${p()}/datasets/exports`, { access: ds.access });
    await publish("to-bq", ['{"id":"c"}']);
    await after(2);
    expect((await subscription("bq-sub")).bigqueryConfig.state).toBe("PERMISSION_DENIED");
    expect(backlog()).toHaveLength(2);
    await ok("PATCH", `/bigquery/v2/projects/${p()}/datasets/exports`, { access: [...ds.access, { role: "WRITER", iamMember: agent() }] });
    await after(2);
    expect((await subscription("bq-sub")).bigqueryConfig.state).toBe("ACTIVE");
    expect((await rows()).map((r: any[]) => r[0])).toEqual(["a", "b", "c"]);
  });
});

describe("changing an export in place", () => {
  test("a subscription becomes a Cloud Storage one by update mask, keeping its backlog; removing the config makes it a pull subscription again", async () => {
    const BUCKET = "exports-switch";
    await ok("POST", `/storage/v1/b?project=${emu.project}`, { name: BUCKET, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } });
    await ok("PUT", `/storage/v1/b/${BUCKET}/iam`, {
      bindings: [
        { role: "roles/storage.objectCreator", members: [agent()] },
        { role: "roles/storage.legacyBucketReader", members: [agent()] },
      ],
    });
    await ok("PUT", `${P()}/topics/switch`, {});
    await ok("PUT", `${P()}/subscriptions/switch-sub`, { topic: `projects/${emu.project}/topics/switch` });
    await publish("switch", ["one", "two"]);
    const patched = await ok("PATCH", `${P()}/subscriptions/switch-sub`, {
      subscription: { cloudStorageConfig: { bucket: BUCKET, maxDuration: "60s" } },
      updateMask: "cloudStorageConfig",
    });
    expect(patched.cloudStorageConfig.bucket).toBe(BUCKET);
    await emu.pubsub.runExports();
    await after(61);
    expect(objects(BUCKET).map((o) => o.data.toString())).toEqual(["one\ntwo"]);
    await publish("switch", ["three"]);
    await emu.pubsub.runExports(); // taken into a file not yet due
    const back = await ok("PATCH", `${P()}/subscriptions/switch-sub`, { subscription: {}, updateMask: "cloudStorageConfig" });
    expect(back.cloudStorageConfig).toBeUndefined();
    const pulled = await ok("POST", `${P()}/subscriptions/switch-sub:pull`, { maxMessages: 10, returnImmediately: true });
    expect(pulled.receivedMessages.map((m: any) => Buffer.from(m.message.data, "base64").toString())).toEqual(["three"]);
  });
});
