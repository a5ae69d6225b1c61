// Least privilege: the deploying identity holds exactly DEPLOYER_PERMISSIONS (bound at project level
// in the emulator, which enforces IAM on every call), and runs the whole lifecycle of the guide's
// GCP resources plus a changefeed: create, refresh, update, a key rotation, destroy. The emulator's
// log of permission checks must show every listed permission used and none refused.
import * as crypto from "crypto";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { insertEvents, makeEvents, readDelivered, account, waitFor } from "../helpers/events";
import { Driver, State, TEST_DEPLOYMENT } from "../harness/driver";
import type { Operations } from "../../provider/engine/contract";
import { BIGQUERY_DEPLOYER_PERMISSIONS, DEPLOYER_PERMISSIONS, PUBSUB_DEPLOYER_PERMISSIONS } from "../../provider/permissions";
import { pubsubTopicOperations } from "../../provider/gcp/pubsub-topic";
import { pubsubServiceAgentOperations } from "../../provider/gcp/pubsub-service-agent";
import { pubsubSubscriptionOperations } from "../../provider/gcp/pubsub-subscription";
import { pubsubIamMemberOperations } from "../../provider/gcp/pubsub-iam-member";
import { bucketOperations } from "../../provider/gcp/bucket";
import { serviceAccountOperations } from "../../provider/gcp/service-account";
import { customRoleOperations } from "../../provider/gcp/custom-role";
import { bucketIamMemberOperations } from "../../provider/gcp/bucket-iam-member";
import { serviceAccountKeyOperations } from "../../provider/gcp/service-account-key";
import { changefeedOperations } from "../../provider/cockroach/changefeed";
import { bigQueryDatasetOperations } from "../../provider/gcp/bigquery-dataset";
import { bigQueryTableOperations } from "../../provider/gcp/bigquery-table";
import { bigQueryViewOperations } from "../../provider/gcp/bigquery-view";
import { bqemulatorInstalled } from "../../stand-ins";

jest.setTimeout(180_000);

let f: CdcFixture;
afterAll(() => f?.stop());

test("a deployer with exactly the documented permissions runs the full lifecycle, and needs each of them", async () => {
  f = await cdcFixture({ checkpointMs: 300 });
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  const p = f.emu.project;
  const deployer = (await f.admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "deployer" } })).data;
  const deployerKey = Buffer.from(
    (await f.admin.iam.projects.serviceAccounts.keys.create({ name: deployer.name!, requestBody: {} })).data.privateKeyData!,
    "base64",
  ).toString("utf8");
  f.emu.grantProject(deployer.email!, DEPLOYER_PERMISSIONS);
  const config = {
    "gcp:credentials": deployerKey,
    "gcp:project": p,
    "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint,
    "zitadel-audit-stream:cockroachUrl": f.twin.url,
  };
  const run = crypto.randomUUID();
  // Every resource gets its identity as its constructor gives it: owner, and the stream's deployment where it makes objects.
  const d = (ops: Operations, name?: string, deployment = true) =>
    new Driver(ops, config, () => (name ? { owner: `least/${run}/${name}`, ...(deployment ? { deployment: TEST_DEPLOYMENT } : {}) } : {}));
  const [bucketD, saD, roleD, grantD, keyD, feedD] = [
    d(bucketOperations, "bucket"),
    d(serviceAccountOperations, "sa"),
    d(customRoleOperations, "role"),
    d(bucketIamMemberOperations, "grant", false),
    d(serviceAccountKeyOperations),
    d(changefeedOperations, "feed"),
  ];
  const checksBefore = f.emu.checks.length;

  const bucket = (await bucketD.up({ namePrefix: "least-audit", forceDestroy: true })).state;
  let sa = (await saD.up({ namePrefix: "least-writer", displayName: "writer" })).state;
  let role = (await roleD.up({ roleIdPrefix: "least_writer", permissions: ["storage.objects.create"] })).state;
  const grantArgs = { bucket: bucket.outputs.name, role: role.outputs.name, member: sa.outputs.member };
  const grant = (await grantD.up(grantArgs)).state;
  let key = (await keyD.up({ serviceAccountEmail: sa.outputs.email })).state;
  const sink = (k: State) => ({ bucket: bucket.outputs.name, prefix: "events", partitionFormat: "flat", credentials: k.outputs.privateKeyBase64 });
  let feed = (await feedD.up({ sink: sink(key), options: { initial_scan: "no" }, timeoutSeconds: 30, exclusiveKeys: true })).state;
  const events = makeEvents(5, 900_000);
  await insertEvents(f.pg, events);

  // refresh every resource; update the account and the role in place
  for (const [drv, s] of [
    [bucketD, bucket],
    [saD, sa],
    [roleD, role],
    [grantD, grant],
    [keyD, key],
  ] as const)
    expect(await drv.refresh(s)).toBeDefined();
  sa = (await saD.up({ namePrefix: "least-writer", displayName: "writer (renamed)" }, sa)).state;
  role = (await roleD.up({ roleIdPrefix: "least_writer", permissions: ["storage.objects.create"], description: "changefeed writer" }, role)).state;
  await bucketD.up({ namePrefix: "least-audit", forceDestroy: true, labels: { team: "security" } }, bucket);

  // key rotation: new key, the feed switched to it, then the old key deleted
  const rotated = await keyD.up({ serviceAccountEmail: sa.outputs.email, rotationTrigger: "2" }, key);
  feed = (await feedD.up({ sink: sink(rotated.state), options: { initial_scan: "no" }, timeoutSeconds: 30, exclusiveKeys: true }, feed)).state;
  key = rotated.state;
  await waitFor("the events delivered", async () => account(events, (await readDelivered(f.admin, bucket.outputs.name, "events/")).lines).missing === 0);

  // destroy, in dependency order
  await feedD.destroy(feed);
  await keyD.destroy(key);
  await grantD.destroy(grant);
  await roleD.destroy(role);
  await saD.destroy(sa);
  await bucketD.destroy(bucket);

  const mine = f.emu.checks.slice(checksBefore).filter((c) => c.principal === deployer.email);
  expect(mine.filter((c) => !c.ok)).toEqual([]);
  const used = [...new Set(mine.map((c) => c.permission))].sort();
  expect(used).toEqual(DEPLOYER_PERMISSIONS);
});

(bqemulatorInstalled() ? test : test.skip)(
  "with bigQuery: the documented BigQuery permissions run the dataset, table and view lifecycle, and each is needed",
  async () => {
    f ??= await cdcFixture({ checkpointMs: 300 });
    const p = f.emu.project;
    const deployer = (await f.admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "bq-deployer" } })).data;
    const deployerKey = Buffer.from(
      (await f.admin.iam.projects.serviceAccounts.keys.create({ name: deployer.name!, requestBody: {} })).data.privateKeyData!,
      "base64",
    ).toString("utf8");
    f.emu.grantProject(deployer.email!, BIGQUERY_DEPLOYER_PERMISSIONS);
    const config = { "gcp:credentials": deployerKey, "gcp:project": p, "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint };
    const d = (ops: Operations, name: string) => new Driver(ops, config, () => ({ owner: `least/bq/${name}` }));
    const [dsD, tbD, vwD] = [d(bigQueryDatasetOperations, "ds"), d(bigQueryTableOperations, "tb"), d(bigQueryViewOperations, "vw")];
    const checksBefore = f.emu.checks.length;
    const table = {
      datasetId: "least_audit",
      tableId: "events",
      schema: [{ name: "aggregate_id", type: "STRING" }],
      sourceUris: [`gs://${f.bucket}/least/*.ndjson`],
    };
    let ds = (await dsD.up({ datasetId: "least_audit", readers: ["group:auditors@example.com"] })).state;
    let tb = (await tbD.up(table)).state;
    let vw = (await vwD.up({ datasetId: "least_audit", tableId: "events_view", query: `SELECT aggregate_id FROM \`${tb.outputs.fullId}\`` })).state;
    for (const [drv, s] of [
      [dsD, ds],
      [tbD, tb],
      [vwD, vw],
    ] as const)
      expect(await drv.refresh(s)).toBeDefined();
    ds = (await dsD.up({ datasetId: "least_audit", readers: ["group:soc@example.com"] }, ds)).state;
    tb = (await tbD.up({ ...table, description: "events" }, tb)).state;
    vw = (await vwD.up({ datasetId: "least_audit", tableId: "events_view", query: `SELECT DISTINCT aggregate_id FROM \`${tb.outputs.fullId}\`` }, vw)).state;
    await vwD.destroy(vw);
    await tbD.destroy(tb);
    await dsD.destroy(ds);
    const mine = f.emu.checks.slice(checksBefore).filter((c) => c.principal === deployer.email);
    expect(mine.filter((c) => !c.ok)).toEqual([]);
    const used = [...new Set(mine.map((c) => c.permission))].sort();
    expect(used).toEqual(BIGQUERY_DEPLOYER_PERMISSIONS.filter((x) => x.startsWith("bigquery.")));
  },
);

test("with the Pub/Sub destination: the documented Pub/Sub permissions run the topic, subscription, service agent and grant lifecycle, and each is needed", async () => {
  f ??= await cdcFixture({ checkpointMs: 300 });
  const p = f.emu.project;
  const deployer = (await f.admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "ps-deployer" } })).data;
  const deployerKey = Buffer.from(
    (await f.admin.iam.projects.serviceAccounts.keys.create({ name: deployer.name!, requestBody: {} })).data.privateKeyData!,
    "base64",
  ).toString("utf8");
  f.emu.grantProject(deployer.email!, PUBSUB_DEPLOYER_PERMISSIONS);
  const config = { "gcp:credentials": deployerKey, "gcp:project": p, "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint };
  const d = (ops: Operations, name?: string, deployment = true) =>
    new Driver(ops, config, () => (name ? { owner: `least/ps/${name}`, ...(deployment ? { deployment: TEST_DEPLOYMENT } : {}) } : {}));
  const [topicD, subD, grantD] = [d(pubsubTopicOperations, "topic"), d(pubsubSubscriptionOperations, "sub"), d(pubsubIamMemberOperations, "grant", false)];
  const checksBefore = f.emu.checks.length;
  let topic = (await topicD.up({ name: "least-events" })).state;
  let sub = (await subD.up({ name: "least-siem", topic: "least-events" })).state;
  const member = `serviceAccount:${f.writerEmail}`;
  // Dead-lettering's service agent (its number from Resource Manager), granted like any member.
  const agentD = d(pubsubServiceAgentOperations);
  const agent = (await agentD.up({})).state;
  const grants = [
    (await grantD.up({ resource: topic.id, role: "roles/pubsub.publisher", member })).state,
    (await grantD.up({ resource: sub.id, role: "roles/pubsub.subscriber", member })).state,
    (await grantD.up({ resource: sub.id, role: "roles/pubsub.subscriber", member: agent.outputs.member })).state,
  ];
  // A changefeed into the topic proves delivery through a probe subscription (created, pulled, deleted).
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  const feedD = new Driver(changefeedOperations, { ...config, "zitadel-audit-stream:cockroachUrl": f.twin.url }, () => ({
    owner: "least/ps/feed",
    deployment: TEST_DEPLOYMENT,
  }));
  const feed = (
    await feedD.up({
      sink: { project: p, topic: "least-events", region: "us-east1", credentials: f.keyBase64 },
      options: { initial_scan: "no" },
      timeoutSeconds: 30,
    })
  ).state;
  await feedD.destroy(feed);
  for (const [drv, s] of [[topicD, topic], [subD, sub], [agentD, agent], ...grants.map((g) => [grantD, g] as const)] as const)
    expect(await drv.refresh(s)).toBeDefined();
  topic = (await topicD.up({ name: "least-events", labels: { team: "soc" } }, topic)).state;
  sub = (await subD.up({ name: "least-siem", topic: "least-events", ackDeadlineSeconds: 90 }, sub)).state;
  for (const g of grants) await grantD.destroy(g);
  await agentD.destroy(agent);
  await subD.destroy(sub);
  await topicD.destroy(topic);
  const mine = f.emu.checks.slice(checksBefore).filter((c) => c.principal === deployer.email);
  expect(mine.filter((c) => !c.ok)).toEqual([]);
  expect([...new Set(mine.map((c) => c.permission))].sort()).toEqual(PUBSUB_DEPLOYER_PERMISSIONS);
});
