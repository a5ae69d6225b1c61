// AuditStream variants through the real engine: streaming into an existing bucket, with the
// CockroachDB nodes' own Google identity (AUTH=implicit) instead of a key; and into both the bucket
// and a Pub/Sub topic, one changefeed each.
import { Client } from "pg";
import { GcpEmulator } from "../../stand-ins";
import { RunningTwin, startCockroachTwin } from "../../stand-ins";
import { Consumer, consumerLayout } from "../harness/consumer";
import { TestStack, newTestStack, standInConfig } from "../harness/engine";
import { gcpClients } from "../../provider/gcp/client";
import { pubsubServiceAgentOf } from "../../stand-ins";
import { account, insertContinuously, insertEvents, makeEvents, pullMessages, readDelivered, waitFor } from "../helpers/events";

jest.setTimeout(300_000);

let emu: GcpEmulator;
let twin: RunningTwin;
let consumer: Consumer;
let t: TestStack;

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  // The twin's nodes authenticate "implicitly" as this key's account (like a node's ADC).
  twin = await startCockroachTwin({ storageEndpoint: emu.endpoint, implicitKeyFile: emu.adminKeyFile, checkpointMs: 300 });
  consumer = consumerLayout("variants");
});
afterAll(async () => {
  await t?.dispose();
  consumer?.dispose();
  await twin?.stop();
  await emu?.stop();
});

test("existing bucket + implicit credentials: no bucket, account or key created; events arrive; destroy leaves the bucket", async () => {
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  await admin.storage.buckets.insert({
    project: emu.project,
    requestBody: { name: "security-archive", iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } },
  });
  const { AuditStream } = consumer.pkg;
  t = await newTestStack({
    project: "zitadel-audit-variants",
    parentDir: consumer.dir,
    program: async () => {
      const s = new AuditStream("zitadel-audit", {
        existingBucket: "security-archive",
        prefix: "zitadel",
        partitionFormat: "daily",
        credentials: "implicit",
        implicitMember: `serviceAccount:${emu.adminEmail}`,
        changefeedOptions: { initial_scan: "no" },
      });
      return { bucket: s.bucketName, sink: s.sinkUriRedacted, email: s.serviceAccountEmail };
    },
    config: standInConfig(emu, twin.url),
  });
  // With implicit credentials nothing can check the nodes' identity beforehand: up proves delivery by
  // reading back what the job writes, so events flow while it runs (ZITADEL writes them in production).
  const load = insertContinuously(twin.url, 40_000);
  const up = await t.stack.up();
  const during = await load.stop();
  // component, identity, role, grant, rangefeed setting, changefeed — and the stack.
  expect(up.summary.resourceChanges).toEqual({ create: 7 });
  expect(up.outputs.sink.value).toBe("gs://security-archive/zitadel?AUTH=implicit&partition_format=daily");
  expect(emu.iam.accounts.filter((a) => !a.bootstrap)).toEqual([]);
  const grant = emu.storage.buckets.get("security-archive")!.policy.bindings.find((b) => b.role.includes("zitadel_audit_writer"));
  expect(grant?.members).toEqual([`serviceAccount:${emu.adminEmail}`]);

  const pg = new Client({ connectionString: twin.url });
  await pg.connect();
  // (Events from before the job started are not streamed: initial_scan "no".)
  expect(during.length).toBeGreaterThan(0);
  const events = makeEvents(8);
  await insertEvents(pg, events);
  await pg.end();
  const got = await waitFor("delivery", async () => {
    const d = await readDelivered(admin, "security-archive", "zitadel/");
    return account(events, d.lines).missing === 0 && d;
  });
  for (const f of got.files) expect(f).toMatch(/^zitadel\/\d{4}-\d\d-\d\d\/\d{33}-/);

  const d = await t.stack.destroy();
  expect(d.summary.resourceChanges).toEqual({ delete: 7 });
  expect(emu.storage.buckets.has("security-archive")).toBe(true);
  expect(emu.storage.buckets.get("security-archive")!.policy.bindings.some((b) => b.role.includes("zitadel_audit_writer"))).toBe(false);
});

test("both destinations: one job into the bucket and one into the topic, every event in each; the publisher holds exactly pubsub.topics.publish on the topic; a message nobody acknowledges is dead-lettered and kept; destroy removes both", async () => {
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  const siem = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${emu.project}`, requestBody: { accountId: "siem-collector" } })).data;
  const { AuditStream } = consumer.pkg;
  const both = await newTestStack({
    project: "zitadel-audit-both",
    parentDir: consumer.dir,
    program: async () => {
      const s = new AuditStream("zas-both", {
        bucket: { forceDestroy: true },
        changefeedOptions: { initial_scan: "no" },
        destinations: ["gcs", "pubsub"],
        pubsub: { region: "us-east1", subscribers: [`serviceAccount:${siem.email}`], maxDeliveryAttempts: 5 },
      });
      return {
        bucket: s.bucketName,
        jobId: s.jobId,
        pubsubJobId: s.pubsubJobId,
        topic: s.pubsubTopic,
        subscription: s.pubsubSubscription,
        deadLetter: s.pubsubDeadLetterSubscription,
        health: s.health,
      };
    },
    config: standInConfig(emu, twin.url),
  });
  try {
    const up = await both.stack.up();
    const o = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value]));
    expect(o.jobId).not.toBe(o.pubsubJobId);
    expect(o.topic).toBe(`projects/${emu.project}/topics/zas-both-events`);
    expect(o.health).toMatchObject({ state: "healthy", reason: expect.stringMatching(/^(Cloud Storage|Pub\/Sub) feed: /) });
    // The publisher's role holds exactly pubsub.topics.publish, bound on the topic alone; the collector subscribes.
    const topicPolicy = emu.pubsub.topics.get(o.topic)!.policy.bindings;
    const publisherRole = topicPolicy.find((b: any) => b.role.includes("zas_both_publisher"))!.role;
    expect(emu.rolePermissions(publisherRole)).toEqual(["pubsub.topics.publish"]);
    const membersOf = (bindings: { role: string; members: string[] }[], role: string) =>
      bindings
        .filter((b) => b.role === role)
        .flatMap((b) => b.members)
        .sort();
    expect(membersOf(emu.pubsub.subscriptions.get(o.subscription)!.policy.bindings, "roles/pubsub.subscriber")).toContain(`serviceAccount:${siem.email}`);

    const pg = new Client({ connectionString: twin.url });
    await pg.connect();
    const events = makeEvents(10, 90_000);
    await insertEvents(pg, events);
    await pg.end();
    await waitFor("in the bucket", async () => account(events, (await readDelivered(admin, o.bucket, "events/")).lines).missing === 0);
    const pulled: any[] = [];
    await waitFor("in the subscription", async () => {
      pulled.push(...(await pullMessages(admin, o.subscription)).map((m) => m.Value));
      return account(events, pulled).missing === 0;
    });

    // Dead-lettering works only with the service agent's two grants and a subscription on the dead-letter topic.
    const agent = `serviceAccount:${pubsubServiceAgentOf(emu.project)}`;
    const deadLetterTopic = `${o.topic}-dead-letter`;
    expect(o.deadLetter).toBe(`projects/${emu.project}/subscriptions/zas-both-siem-dead-letter`);
    expect(membersOf(emu.pubsub.topics.get(deadLetterTopic)!.policy.bindings, "roles/pubsub.publisher")).toEqual([agent]);
    expect(membersOf(emu.pubsub.subscriptions.get(o.subscription)!.policy.bindings, "roles/pubsub.subscriber")).toEqual(
      [agent, `serviceAccount:${siem.email}`].sort(),
    );
    expect(membersOf(emu.pubsub.subscriptions.get(o.deadLetter)!.policy.bindings, "roles/pubsub.subscriber")).toEqual([`serviceAccount:${siem.email}`]);
    await admin.pubsub.request("POST", `/${o.topic}:publish`, { messages: [{ data: Buffer.from("not an event").toString("base64") }] });
    for (let attempt = 1; attempt <= 5; attempt++) {
      const got = await waitFor(
        `delivery ${attempt}`,
        async () =>
          (await admin.pubsub.request<any>("POST", `/${o.subscription}:pull`, { maxMessages: 1, returnImmediately: true })).data.receivedMessages?.[0],
      );
      expect(got.deliveryAttempt).toBe(attempt);
      await admin.pubsub.request("POST", `/${o.subscription}:modifyAckDeadline`, { ackIds: [got.ackId], ackDeadlineSeconds: 0 });
    }
    const dead = await waitFor(
      "the dead-lettered message",
      async () => (await admin.pubsub.request<any>("POST", `/${o.deadLetter}:pull`, { maxMessages: 10, returnImmediately: true })).data.receivedMessages,
    );
    expect(dead.map((m: any) => [Buffer.from(m.message.data, "base64").toString(), m.message.attributes.CloudPubSubDeadLetterSourceSubscription])).toEqual([
      ["not an event", "zas-both-siem"],
    ]);

    const d = await both.stack.destroy();
    expect(d.summary.resourceChanges?.delete).toBeGreaterThan(10);
    const check = new Client({ connectionString: twin.url });
    await check.connect();
    const jobs = (await check.query("SHOW CHANGEFEED JOBS")).rows.filter((j: any) => [o.jobId, o.pubsubJobId].includes(String(j.job_id)));
    await check.end();
    expect(jobs.map((j: any) => j.status)).toEqual(["canceled", "canceled"]);
    expect(emu.pubsub.topics.has(o.topic)).toBe(false);
    expect(emu.pubsub.subscriptions.has(o.subscription)).toBe(false);
    expect(emu.pubsub.topics.has(deadLetterTopic)).toBe(false);
    expect(emu.pubsub.subscriptions.has(o.deadLetter)).toBe(false);
  } finally {
    await both.dispose();
  }
});
