// The Pub/Sub destination against the stand-ins: the topic, subscription and IAM member resources,
// and a Changefeed into gcpubsub:// whose every event a SIEM's collector pulls from the subscription;
// a writer that lost its grant is failing (health) and refused by up until granted again.
import * as crypto from "crypto";
import { Driver, TEST_DEPLOYMENT, State } from "../harness/driver";
import { pubsubTopicOperations } from "../../provider/gcp/pubsub-topic";
import { pubsubSubscriptionOperations } from "../../provider/gcp/pubsub-subscription";
import { pubsubIamMemberOperations } from "../../provider/gcp/pubsub-iam-member";
import { changefeedOperations } from "../../provider/cockroach/changefeed";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { account, eventKey, insertEvents, makeEvents, pullMessages, waitFor } from "../helpers/events";

jest.setTimeout(120_000);
let f: CdcFixture;
const gcpConfig = () => ({ "gcp:credentials": f.emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint, "gcp:project": f.emu.project });
const driver = (ops: any, owner: string) =>
  new Driver(ops, { ...gcpConfig(), "zitadel-audit-stream:cockroachUrl": f.twin.url }, () => ({ owner: `pubsub-test/${owner}`, deployment: TEST_DEPLOYMENT }));

const pullAll = (subscription: string) => pullMessages(f.admin, subscription);

beforeAll(async () => {
  f = await cdcFixture();
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
});
afterAll(() => f?.stop());

describe("topic, subscription and grants", () => {
  let topic: State, sub: State, grant: State;
  const topics = () => driver(pubsubTopicOperations, "topic");
  test("create; same inputs are no change; refresh reads back what was made", async () => {
    const t = topics();
    topic = (await t.up({ name: "audit-events", labels: { team: "soc" } })).state;
    expect(topic.id).toBe(`projects/${f.emu.project}/topics/audit-events`);
    expect((await t.up({ name: "audit-events", labels: { team: "soc" } }, topic)).op).toBe("same");
    expect((await t.up({ name: "audit-events", labels: { team: "soc" } }, (await t.refresh(topic))!)).op).toBe("same");
    const s = driver(pubsubSubscriptionOperations, "sub");
    sub = (await s.up({ name: "audit-siem", topic: "audit-events" })).state;
    const got = (await f.admin.pubsub.request<any>("GET", `/${sub.id}`)).data;
    expect(got).toMatchObject({ topic: topic.id, ackDeadlineSeconds: 60, messageRetentionDuration: "604800s" });
    // Never expires: an idle audit subscription must not be deleted after 31 days.
    expect(got.expirationPolicy ?? {}).not.toHaveProperty("ttl", expect.stringMatching(/\d/));
    expect((await s.up({ name: "audit-siem", topic: "audit-events" }, (await s.refresh(sub))!)).op).toBe("same");
    const r = await s.up({ name: "audit-siem", topic: "audit-events", ackDeadlineSeconds: 120 }, sub);
    expect(r.op).toBe("update");
    sub = r.state;
    expect((await f.admin.pubsub.request<any>("GET", `/${sub.id}`)).data.ackDeadlineSeconds).toBe(120);
  });

  test("a topic of the same name is adopted only with this resource's label", async () => {
    expect((await topics().up({ name: "audit-events", labels: { team: "soc" } })).op).toBe("create");
    await expect(driver(pubsubTopicOperations, "someone-else").up({ name: "audit-events" })).rejects.toThrow(
      /already exists: it belongs to another resource of this stack \(resource [0-9a-f]{10}, instance [0-9a-f]{8}\): two resources name the same object\. It is left as it is\. Otherwise choose another name for the topic\./,
    );
  });

  test("a member on the topic: added without touching others, refresh sees it removed, delete twice is fine", async () => {
    const g = new Driver(pubsubIamMemberOperations, gcpConfig());
    const other = { role: "roles/pubsub.viewer", members: ["group:soc@example.com"] };
    await f.admin.pubsub.request("POST", `/${topic.id}:setIamPolicy`, { policy: { bindings: [other] } });
    grant = (await g.up({ resource: topic.id, role: "roles/pubsub.publisher", member: `serviceAccount:${f.writerEmail}` })).state;
    const policy = (await f.admin.pubsub.request<any>("GET", `/${topic.id}:getIamPolicy`)).data;
    expect(policy.bindings).toEqual(expect.arrayContaining([other, { role: "roles/pubsub.publisher", members: [`serviceAccount:${f.writerEmail}`] }]));
    expect((await g.up({ resource: topic.id, role: "roles/pubsub.publisher", member: `serviceAccount:${f.writerEmail}` }, (await g.refresh(grant))!)).op).toBe(
      "same",
    );
    await g.destroy(grant);
    expect(await g.refresh(grant)).toBeUndefined();
    await g.destroy(grant);
    expect((await f.admin.pubsub.request<any>("GET", `/${topic.id}:getIamPolicy`)).data.bindings).toEqual([other]);
  });
});

describe("a changefeed into Pub/Sub", () => {
  const topicId = () => `projects/${f.emu.project}/topics/feed-events`;
  const subId = () => `projects/${f.emu.project}/subscriptions/feed-siem`;
  let feed: State;
  let inputs: Record<string, unknown>;
  const setGrant = async (present: boolean) => {
    const policy = (await f.admin.pubsub.request<any>("GET", `/${topicId()}:getIamPolicy`)).data;
    const member = `serviceAccount:${f.writerEmail}`;
    const others = (policy.bindings ?? []).filter((b: any) => b.role !== "roles/pubsub.publisher");
    await f.admin.pubsub.request("POST", `/${topicId()}:setIamPolicy`, {
      policy: { ...policy, bindings: present ? [...others, { role: "roles/pubsub.publisher", members: [member] }] : others },
    });
  };

  beforeAll(async () => {
    await f.admin.pubsub.request("PUT", `/${topicId()}`, {});
    await f.admin.pubsub.request("PUT", `/${subId()}`, { topic: topicId() });
    inputs = {
      sink: { project: f.emu.project, topic: "feed-events", region: "us-east1", credentials: f.keyBase64 },
      options: { initial_scan: "no" },
      timeoutSeconds: 10,
    };
  });

  test("without pubsub.topics.publish the create is refused before a job exists, naming the grant", async () => {
    await expect(driver(changefeedOperations, crypto.randomUUID()).up(inputs)).rejects.toThrow(
      /may publish to projects\/.*\/topics\/feed-events: it may not .*Grant pubsub\.topics\.publish on the topic .*roles\/pubsub\.publisher/,
    );
  });

  test("every event arrives as one {Key, Value, Topic} message; the sink shows CREDENTIALS redacted", async () => {
    await setGrant(true);
    const d = driver(changefeedOperations, "feed");
    feed = (await d.up(inputs)).state;
    expect(feed.outputs.sinkUriRedacted).toBe(`gcpubsub://${f.emu.project}?AUTH=specified&CREDENTIALS=redacted&region=us-east1&topic_name=feed-events`);
    expect(feed.outputs.health.state).toBe("healthy");
    const events = makeEvents(12, 80_000);
    await insertEvents(f.pg, events);
    const messages: any[] = [];
    await waitFor("every event pulled", async () => {
      messages.push(...(await pullAll(subId())));
      return (
        account(
          events,
          messages.map((m) => m.Value),
        ).missing === 0
      );
    });
    const m = messages[0];
    expect(Object.keys(m)).toEqual(["Key", "Value", "Topic"]);
    expect(m.Topic).toBe("feed-events");
    expect(m.Key).toEqual([m.Value.instance_id, m.Value.aggregate_type, m.Value.aggregate_id, m.Value.sequence]);
    expect(Object.keys(m.Value).sort()).toEqual(["aggregate_id", "aggregate_type", "created_at", "event_type", "instance_id", "owner", "sequence"]);
    expect(new Set(messages.map((x) => eventKey(x.Value))).size).toBeGreaterThanOrEqual(events.length);
  });

  test("a lost grant: health failing after refresh, up refuses until granted again, then nothing is missing", async () => {
    const d = driver(changefeedOperations, "feed");
    await setGrant(false);
    const events = makeEvents(6, 81_000);
    await insertEvents(f.pg, events);
    await waitFor("a retryable error", async () =>
      /^retryable error/.test((await f.pg.query("SHOW CHANGEFEED JOB $1", [feed.outputs.jobId])).rows[0].running_status ?? ""),
    );
    feed = (await d.refresh(feed))!;
    expect(feed.outputs.health).toMatchObject({
      state: "failing",
      reason: expect.stringMatching(
        /^the sink refuses the feed's writer \(HTTP 403, pubsub\.topics\.publish missing\): grant it again \(the writer's role on the topic\)/,
      ),
    });
    await expect(d.up({ ...inputs, timeoutSeconds: 5 }, feed)).rejects.toThrow(/Grant pubsub\.topics\.publish on the topic/);
    await setGrant(true);
    feed = (await d.up(inputs, feed)).state;
    expect(feed.outputs.health.state).toBe("healthy");
    const messages: any[] = [];
    await waitFor("the events after the outage", async () => {
      messages.push(...(await pullAll(subId())));
      return (
        account(
          events,
          messages.map((m) => m.Value),
        ).missing === 0
      );
    });
    await d.destroy(feed);
  });
});
