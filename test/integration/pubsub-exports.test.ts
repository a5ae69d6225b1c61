// Export subscriptions and the native table against the stand-ins: a Cloud Storage subscription and a
// BigQuery subscription made by PubSubSubscription (refused, naming the grant, until the service agent
// may write; changed in place; a lost grant seen by refresh), and BigQueryNativeTable (additive schema
// changes in place, other changes refused, a table with rows kept on destroy unless deleteWithRows).
import { Driver, TEST_DEPLOYMENT } from "../harness/driver";
import { jsonLines, runHealth } from "../harness/cli";
import { startStandIns, StandIns } from "../helpers/stand-ins";
import { bqemulatorInstalled, pubsubServiceAgentOf } from "../../stand-ins";
import { pubsubTopicOperations } from "../../provider/gcp/pubsub-topic";
import { pubsubSubscriptionOperations } from "../../provider/gcp/pubsub-subscription";
import { bucketIamMemberOperations } from "../../provider/gcp/bucket-iam-member";
import { bigQueryNativeTableOperations, schemaChange } from "../../provider/gcp/bigquery-native-table";

jest.setTimeout(120_000);
let s: StandIns;
const gcpConfig = () => ({ "gcp:credentials": s.emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": s.emu.endpoint, "gcp:project": s.emu.project });
const driver = (ops: any, owner: string) => new Driver(ops, gcpConfig(), () => ({ owner: `exports-test/${owner}`, deployment: TEST_DEPLOYMENT }));
const agent = () => `serviceAccount:${pubsubServiceAgentOf(s.emu.project)}`;
const publish = (topic: string, texts: string[]) =>
  s.admin.pubsub.request("POST", `/projects/${s.emu.project}/topics/${topic}:publish`, {
    messages: texts.map((t) => ({ data: Buffer.from(t).toString("base64") })),
  });
const BUCKET = "exports-archive";

beforeAll(async () => {
  s = await startStandIns();
  await s.admin.storage.buckets.insert({
    project: s.emu.project,
    requestBody: { name: BUCKET, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } },
  });
  await driver(pubsubTopicOperations, "topic").up({ name: "exports-events" });
});
afterAll(() => s?.stop());

describe("a Cloud Storage subscription", () => {
  const inputs = (maxDuration = "60s") => ({
    name: "exports-gcs",
    topic: "exports-events",
    cloudStorage: { bucket: BUCKET, filenamePrefix: "events/", filenameSuffix: ".ndjson", maxDuration },
  });
  test("refused until the service agent holds its two roles on the bucket; then Pub/Sub writes the messages as text files", async () => {
    const d = driver(pubsubSubscriptionOperations, "gcs");
    await expect(d.up(inputs())).rejects.toThrow(/exports-gcs|permission/i);
    const g = new Driver(bucketIamMemberOperations, gcpConfig());
    const grants = [];
    for (const role of ["roles/storage.objectCreator", "roles/storage.legacyBucketReader"])
      grants.push((await g.up({ bucket: BUCKET, role, member: agent() })).state);
    let sub = (await d.up(inputs())).state;
    expect(sub.outputs).toMatchObject({ exportState: "ACTIVE", cloudStorage: { maxDuration: "60s", filenamePrefix: "events/" } });
    expect((await d.up(inputs(), (await d.refresh(sub))!)).op).toBe("same");

    await publish("exports-events", ['{"n":1}', '{"n":2}']);
    await s.emu.pubsub.runExports();
    s.emu.pubsub.advance(61_000);
    await s.emu.pubsub.runExports();
    const files = (await s.admin.storage.objects.list({ bucket: BUCKET, prefix: "events/" })).data.items ?? [];
    expect(files.map((o) => o.name)).toEqual([expect.stringMatching(/^events\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00_[0-9a-f-]{36}\.ndjson$/)]);

    // maxDuration changes in place: the subscription (and what it holds) stays.
    const changed = await d.up(inputs("120s"), sub);
    expect(changed.op).toBe("update");
    sub = changed.state;
    expect((await s.admin.pubsub.request<any>("GET", `/${sub.id}`)).data.cloudStorageConfig.maxDuration).toBe("120s");

    // The grant lost: refresh shows why Pub/Sub stopped writing.
    await g.destroy(grants[0]);
    await publish("exports-events", ['{"n":3}']);
    await s.emu.pubsub.runExports();
    s.emu.pubsub.advance(121_000);
    await s.emu.pubsub.runExports();
    expect((await d.refresh(sub))!.outputs.exportState).toBe("PERMISSION_DENIED");
    await d.destroy(sub);
  });
});

test("a subscription made anew under its name (ordering is fixed at creation) is deleted first, then made", async () => {
  const d = driver(pubsubSubscriptionOperations, "ordered");
  const made = (await d.up({ name: "exports-siem", topic: "exports-events" })).state;
  const r = await d.up({ name: "exports-siem", topic: "exports-events", enableMessageOrdering: true }, made);
  expect(r.op).toBe("replace");
  expect((await s.admin.pubsub.request<any>("GET", `/${r.state.id}`)).data.enableMessageOrdering).toBe(true);
  await d.destroy(r.state);
});

(bqemulatorInstalled() ? describe : describe.skip)("a BigQuery subscription into a native table", () => {
  const schema = [
    { name: "id", type: "STRING", mode: "REQUIRED" },
    { name: "event_type", type: "STRING" },
    { name: "subscription_name", type: "STRING" },
    { name: "message_id", type: "STRING" },
    { name: "publish_time", type: "TIMESTAMP" },
    { name: "attributes", type: "JSON" },
  ];
  const tableInputs = (fields = schema, extra = {}) => ({ datasetId: "exports", tableId: "events", schema: fields, ...extra });

  test("rows arrive; schema grows in place, other changes are refused; a table with rows survives destroy unless deleteWithRows", async () => {
    await s.admin.bigquery.request("POST", `/projects/${s.emu.project}/datasets`, { datasetReference: { projectId: s.emu.project, datasetId: "exports" } });
    const t = driver(bigQueryNativeTableOperations, "table");
    let table = (await t.up(tableInputs())).state;
    expect(table.outputs).toMatchObject({ fullId: `${s.emu.project}.exports.events`, rows: 0 });
    expect((await t.up(tableInputs(), (await t.refresh(table))!)).op).toBe("same");

    const sub = driver(pubsubSubscriptionOperations, "bq");
    const subInputs = { name: "exports-bq", topic: "exports-events", bigQuery: { table: `${s.emu.project}.exports.events` } };
    await expect(sub.up(subInputs)).rejects.toThrow(/permission/i);
    const ds = (await s.admin.bigquery.request<any>("GET", `/projects/${s.emu.project}/datasets/exports`)).data;
    await s.admin.bigquery.request("PATCH", `/projects/${s.emu.project}/datasets/exports`, { access: [...ds.access, { role: "WRITER", iamMember: agent() }] });
    const made = (await sub.up(subInputs)).state;
    expect(made.outputs.bigQuery).toEqual({ table: `${s.emu.project}.exports.events`, useTableSchema: true, writeMetadata: true, dropUnknownFields: true });
    await publish("exports-events", ['{"id":"1","event_type":"user.added","position":"12.5"}', '{"id":"2","event_type":"user.removed"}']);
    await s.emu.pubsub.runExports();
    table = (await t.refresh(table))!;
    expect(table.outputs.rows).toBe(2);

    const grown = [...schema, { name: "instance_id", type: "STRING" }];
    const r = await t.up(tableInputs(grown), table);
    expect(r.op).toBe("update");
    table = r.state;
    await expect(t.up(tableInputs(schema.slice(1)), table)).rejects.toThrow(/column id would be removed.*new NULLABLE columns/);
    await expect(t.up(tableInputs(grown.map((f) => (f.name === "event_type" ? { ...f, type: "INT64" } : f))), table)).rejects.toThrow(
      /column event_type would change type from STRING to INT64/,
    );

    await sub.destroy(made);
    await expect(t.destroy(table)).rejects.toThrow(/holds 2 rows of audit events, so it is kept.*deleteWithRows: true/);
    expect((await s.admin.bigquery.request<any>("GET", `/projects/${s.emu.project}/datasets/exports/tables/events`)).status).toBe(200);
    table = (await t.up(tableInputs(grown, { deleteWithRows: true }), table)).state;
    await t.destroy(table);
    expect(await t.refresh(table)).toBeUndefined();
  });
});

describe("schemaChange", () => {
  const f = (name: string, type = "STRING", mode: "NULLABLE" | "REQUIRED" = "NULLABLE") => ({ name, type, mode }) as any;
  test.each([
    ["same columns", [f("a")], [f("a")], "none"],
    ["a NULLABLE column added", [f("a")], [f("a"), f("b")], "add"],
    ["REQUIRED relaxed to NULLABLE", [f("a", "STRING", "REQUIRED")], [f("a")], "add"],
    ["a column removed", [f("a"), f("b")], [f("a")], "refused"],
    ["a type changed", [f("a")], [f("a", "INT64")], "refused"],
    ["NULLABLE made REQUIRED", [f("a")], [f("a", "STRING", "REQUIRED")], "refused"],
    ["a REQUIRED column added", [f("a")], [f("a"), f("b", "STRING", "REQUIRED")], "refused"],
    ["names compare without case", [f("A")], [f("a")], "none"],
  ])("%s → %s", (_what, olds, news, kind) => {
    expect(schemaChange(olds, news).kind).toBe(kind);
  });
});

test("health --subscription, through the built CLI: a Cloud Storage subscription that lost its grant is failing (exit 1), writing again healthy (exit 0)", async () => {
  const env = { ...process.env, GOOGLE_CREDENTIALS: s.emu.adminKeyFile, ZITADEL_AUDIT_STREAM_GCP_ENDPOINT: s.emu.endpoint };
  const run = (...argv: string[]) => runHealth(argv, env);
  const g = new Driver(bucketIamMemberOperations, gcpConfig());
  const grants = [];
  for (const role of ["roles/storage.objectCreator", "roles/storage.legacyBucketReader"])
    grants.push((await g.up({ bucket: BUCKET, role, member: agent() })).state);
  const d = driver(pubsubSubscriptionOperations, "health");
  const sub = (await d.up({ name: "exports-health", topic: "exports-events", cloudStorage: { bucket: BUCKET, filenamePrefix: "health/" } })).state;
  const name = sub.outputs.fullName as string;
  let r = await run("--subscription", name);
  expect([r.status, r.stdout.trim()]).toEqual([
    0,
    `subscription ${name}: healthy: Cloud Storage subscription ${name} is writing; 0 messages wait, the oldest for 0 s`,
  ]);

  // A pull subscription nobody reads: its oldest message's age (Cloud Monitoring) past the bound is lagging.
  const pull = (await d.up({ name: "exports-unread", topic: "exports-events" })).state;
  await publish("exports-events", ['{"n":1}', '{"n":2}']);
  s.emu.pubsub.advance(700_000);
  r = await run("--subscription", pull.outputs.fullName as string, "--max-backlog-age-seconds", "600");
  expect([r.status, r.stdout.trim()]).toEqual([
    1,
    expect.stringMatching(
      /: lagging: subscription .*exports-unread: 2 messages wait, the oldest for 7\d\d s \(over 600 s\): its reader \(the SIEM's collector\) is behind or stopped/,
    ),
  ]);
  await d.destroy(pull);

  await g.destroy(grants[0]);
  await publish("exports-events", ['{"n":9}']);
  await s.emu.pubsub.runExports();
  s.emu.pubsub.advance(301_000);
  await s.emu.pubsub.runExports();
  r = await run("--subscription", name, "--subscription", `projects/${s.emu.project}/subscriptions/no-such-sub`, "--json");
  expect(r.status).toBe(1);
  expect(jsonLines(r.stdout)).toEqual([
    { subscription: name, state: "failing", reason: expect.stringMatching(/is PERMISSION_DENIED: it writes nothing and its messages wait.*grant it again/) },
    { subscription: `projects/${s.emu.project}/subscriptions/no-such-sub`, state: "failing", reason: expect.stringMatching(/does not exist/) },
  ]);
  await g.destroy(grants[1]);
  await d.destroy(sub);
});
