// The emulator's Cloud Pub/Sub REST v1 subset, spoken over HTTP with fetch: @google-cloud/pubsub is not
// a dependency of this package, so the calls are the REST ones of docs/pubsub-research.md §8, made with
// OAuth tokens the emulator's /token issues for keys it created (the JWT-bearer grant Google's
// libraries use).
import * as crypto from "crypto";
import * as fs from "fs";
import { GcpEmulator } from "./emulator";
import { pubsubServiceAgentOf } from "./resourcemanager";

jest.setTimeout(30_000);

let emu: GcpEmulator;
let admin: string;
const P = () => `/v1/projects/${emu.project}`;
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

/** A token from the emulator's /token for a key file, by the JWT-bearer grant. */
async function tokenFor(keyFile: string): Promise<string> {
  const key = JSON.parse(keyFile);
  const now = Math.floor(Date.now() / 1000);
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const unsigned = `${part({ alg: "RS256", typ: "JWT", kid: key.private_key_id })}.${part({ iss: key.client_email, scope: "https://www.googleapis.com/auth/pubsub", aud: key.token_uri, iat: now, exp: now + 3600 })}`;
  const signature = crypto.sign("RSA-SHA256", Buffer.from(unsigned), key.private_key).toString("base64url");
  const res = await fetch(key.token_uri, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: `${unsigned}.${signature}` }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as any).access_token;
}

/** A new service account of the project (no grants) with a key, and a token for it. */
async function newAccount(id: string): Promise<{ email: string; token: string }> {
  const sa = emu.iam.createAccount(emu.project, id, {});
  return { email: sa.email, token: await tokenFor(emu.iam.createKey(sa, "KEY_ALG_RSA_2048").keyFile) };
}

async function call(token: string | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(emu.endpoint + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const topicPath = (id: string) => `${P()}/topics/${encodeURIComponent(id)}`;
const subPath = (id: string) => `${P()}/subscriptions/${encodeURIComponent(id)}`;
const topicName = (id: string) => `projects/${emu.project}/topics/${id}`;

async function ok(token: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await call(token, method, path, body);
  if (res.status !== 200) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
const publish = (token: string, topic: string, messages: unknown[]) => call(token, "POST", `${topicPath(topic)}:publish`, { messages });
const pullNow = (token: string, sub: string, maxMessages = 10) => ok(token, "POST", `${subPath(sub)}:pull`, { maxMessages, returnImmediately: true });

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  admin = await tokenFor(fs.readFileSync(emu.adminKeyFile, "utf8"));
});
afterAll(() => emu.stop());

describe("topics", () => {
  test("create, get, list and delete; the same id again is 409 ALREADY_EXISTS; a missing one 404 NOT_FOUND", async () => {
    const created = await ok(admin, "PUT", topicPath("audit-events"), { labels: { team: "sec" }, messageRetentionDuration: "86400s" });
    expect(created).toEqual({ name: topicName("audit-events"), labels: { team: "sec" }, messageRetentionDuration: "86400s" });
    expect(await call(admin, "PUT", topicPath("audit-events"), {})).toEqual({
      status: 409,
      body: { error: { code: 409, message: "Resource already exists in the project (resource=audit-events).", status: "ALREADY_EXISTS" } },
    });
    expect(await ok(admin, "GET", topicPath("audit-events"))).toEqual(created);
    await ok(admin, "PUT", topicPath("other.topic_1~x+y%z"), {});
    const listed = await ok(admin, "GET", `${P()}/topics`);
    expect(listed.topics.map((t: any) => t.name)).toEqual(expect.arrayContaining([topicName("audit-events"), topicName("other.topic_1~x+y%z")]));
    expect(await ok(admin, "DELETE", topicPath("other.topic_1~x+y%z"))).toEqual({});
    expect(await call(admin, "GET", topicPath("other.topic_1~x+y%z"))).toEqual({
      status: 404,
      body: { error: { code: 404, message: "Resource not found (resource=other.topic_1~x+y%z).", status: "NOT_FOUND" } },
    });
    expect((await call(admin, "DELETE", topicPath("other.topic_1~x+y%z"))).status).toBe(404);
    expect(emu.pubsub.topics.has(topicName("audit-events"))).toBe(true);
  });

  test("ids: 3–255 characters, a letter first, no 'goog' prefix, only letters digits - _ . ~ + % (400 INVALID_ARGUMENT)", async () => {
    for (const bad of ["ab", "1abc", "goog-topic", "a!bc", "x".repeat(256), "-abc"]) {
      const res = await call(admin, "PUT", topicPath(bad), {});
      expect([bad, res.status, res.body.error.status]).toEqual([bad, 400, "INVALID_ARGUMENT"]);
      expect(res.body.error.message).toBe(
        `Invalid resource name given (name=projects/${emu.project}/topics/${bad}). Refer to https://cloud.google.com/pubsub/docs/admin#resource_names for more information.`,
      );
    }
    expect((await call(admin, "PUT", topicPath("abc"), {})).status).toBe(200);
    expect((await call(admin, "PUT", topicPath("x".repeat(255)), {})).status).toBe(200);
  });

  test("bad retention and labels are refused; a patch needs an update mask", async () => {
    expect((await call(admin, "PUT", topicPath("bad-retention"), { messageRetentionDuration: "599s" })).status).toBe(400);
    expect((await call(admin, "PUT", topicPath("bad-retention"), { messageRetentionDuration: "10m" })).status).toBe(400);
    expect((await call(admin, "PUT", topicPath("bad-labels"), { labels: { Team: "x" } })).status).toBe(400);
    expect(emu.pubsub.topics.has(topicName("bad-retention"))).toBe(false);
    await ok(admin, "PUT", topicPath("patched"), {});
    expect((await call(admin, "PATCH", topicPath("patched"), { topic: { labels: { a: "b" } } })).status).toBe(400);
    expect(await ok(admin, "PATCH", topicPath("patched"), { topic: { labels: { a: "b" } }, updateMask: "labels" })).toEqual({
      name: topicName("patched"),
      labels: { a: "b" },
    });
  });

  test("calls without a token get 401 in Pub/Sub's error shape", async () => {
    expect(await call(null, "GET", topicPath("audit-events"))).toEqual({
      status: 401,
      body: { error: { code: 401, message: expect.stringMatching(/missing required authentication credential/), status: "UNAUTHENTICATED" } },
    });
  });
});

describe("subscriptions", () => {
  beforeAll(async () => {
    await ok(admin, "PUT", topicPath("subs-topic"), {});
    await ok(admin, "PUT", topicPath("subs-dlq"), {});
  });

  test("create echoes Google's defaults; 409 for the same id; the topic must exist (404); list, get, delete", async () => {
    const created = await ok(admin, "PUT", subPath("subs-a"), { topic: topicName("subs-topic"), labels: { env: "test" } });
    expect(created).toEqual({
      name: `projects/${emu.project}/subscriptions/subs-a`,
      topic: topicName("subs-topic"),
      pushConfig: {},
      ackDeadlineSeconds: 10,
      messageRetentionDuration: "604800s",
      labels: { env: "test" },
      expirationPolicy: { ttl: "2678400s" },
      state: "ACTIVE",
    });
    expect(await call(admin, "PUT", subPath("subs-a"), { topic: topicName("subs-topic") })).toEqual({
      status: 409,
      body: { error: { code: 409, message: "Resource already exists in the project (resource=subs-a).", status: "ALREADY_EXISTS" } },
    });
    expect(await call(admin, "PUT", subPath("subs-b"), { topic: topicName("no-such-topic") })).toEqual({
      status: 404,
      body: { error: { code: 404, message: "Resource not found (resource=no-such-topic).", status: "NOT_FOUND" } },
    });
    expect((await call(admin, "PUT", subPath("subs-b"), {})).status).toBe(400);
    expect((await call(admin, "PUT", subPath("subs-b"), { topic: "subs-topic" })).status).toBe(400);
    expect(await ok(admin, "GET", subPath("subs-a"))).toEqual(created);
    expect((await ok(admin, "GET", `${P()}/subscriptions`)).subscriptions.map((s: any) => s.name)).toContain(created.name);
    expect(await ok(admin, "DELETE", subPath("subs-a"))).toEqual({});
    expect((await call(admin, "GET", subPath("subs-a"))).status).toBe(404);
    expect((await call(admin, "POST", `${subPath("subs-a")}:pull`, { maxMessages: 1 })).status).toBe(404);
    expect(emu.pubsub.subscriptions.has(created.name)).toBe(false);
  });

  test("field bounds: ack deadline 10–600, retention 10 min–31 days, maxDeliveryAttempts 5–100, a dead-letter topic that exists", async () => {
    const topic = topicName("subs-topic");
    const bad = [
      { ackDeadlineSeconds: 9 },
      { ackDeadlineSeconds: 601 },
      { messageRetentionDuration: "599s" },
      { messageRetentionDuration: `${31 * 86400 + 1}s` },
      { deadLetterPolicy: { deadLetterTopic: topicName("subs-dlq"), maxDeliveryAttempts: 4 } },
      { deadLetterPolicy: { deadLetterTopic: topicName("subs-dlq"), maxDeliveryAttempts: 101 } },
      { deadLetterPolicy: { deadLetterTopic: "subs-dlq" } },
      { expirationPolicy: { ttl: "3600s" } },
    ];
    for (const fields of bad) {
      const res = await call(admin, "PUT", subPath("subs-bounds"), { topic, ...fields });
      expect([fields, res.status, res.body.error.status]).toEqual([fields, 400, "INVALID_ARGUMENT"]);
    }
    expect((await call(admin, "PUT", subPath("subs-bounds"), { topic, deadLetterPolicy: { deadLetterTopic: topicName("no-such-dlq") } })).status).toBe(404);
    expect(emu.pubsub.subscriptions.has(`projects/${emu.project}/subscriptions/subs-bounds`)).toBe(false);
    const made = await ok(admin, "PUT", subPath("subs-bounds"), {
      topic,
      ackDeadlineSeconds: 600,
      messageRetentionDuration: `${31 * 86400}s`,
      retainAckedMessages: true,
      deadLetterPolicy: { deadLetterTopic: topicName("subs-dlq") },
      expirationPolicy: {},
    });
    expect(made).toMatchObject({
      ackDeadlineSeconds: 600,
      messageRetentionDuration: "2678400s",
      retainAckedMessages: true,
      deadLetterPolicy: { deadLetterTopic: topicName("subs-dlq"), maxDeliveryAttempts: 5 },
      expirationPolicy: {},
    });
  });

  test("patch changes the masked fields only; the filter and the topic cannot be patched; a bad value changes nothing", async () => {
    await ok(admin, "PUT", subPath("subs-patch"), { topic: topicName("subs-topic"), labels: { a: "1" } });
    const patched = await ok(admin, "PATCH", subPath("subs-patch"), {
      subscription: { ackDeadlineSeconds: 30, messageRetentionDuration: "3600s", labels: { b: "2" } },
      updateMask: "ackDeadlineSeconds,message_retention_duration",
    });
    expect(patched).toMatchObject({ ackDeadlineSeconds: 30, messageRetentionDuration: "3600s", labels: { a: "1" } });
    for (const mask of ["filter", "topic", "", "enableMessageOrdering"]) {
      const res = await call(admin, "PATCH", subPath("subs-patch"), {
        subscription: { filter: "attributes:x", topic: topicName("subs-dlq") },
        updateMask: mask,
      });
      expect([mask, res.status]).toEqual([mask, 400]);
    }
    const refused = await call(admin, "PATCH", subPath("subs-patch"), {
      subscription: { ackDeadlineSeconds: 60, messageRetentionDuration: "1s" },
      updateMask: "ackDeadlineSeconds,messageRetentionDuration",
    });
    expect(refused.status).toBe(400);
    expect(await ok(admin, "GET", subPath("subs-patch"))).toMatchObject({ ackDeadlineSeconds: 30, messageRetentionDuration: "3600s" });
  });

  test("deleting the topic leaves its subscriptions, with topic _deleted-topic_", async () => {
    await ok(admin, "PUT", topicPath("doomed"), {});
    await ok(admin, "PUT", subPath("orphan"), { topic: topicName("doomed") });
    await ok(admin, "DELETE", topicPath("doomed"));
    expect((await ok(admin, "GET", subPath("orphan"))).topic).toBe("_deleted-topic_");
    // A new topic of the same name does not re-attach it.
    await ok(admin, "PUT", topicPath("doomed"), {});
    expect((await publish(admin, "doomed", [{ data: b64("x") }])).status).toBe(200);
    expect(await pullNow(admin, "orphan")).toEqual({});
  });
});

describe("publish, pull, acknowledge", () => {
  beforeAll(async () => {
    await ok(admin, "PUT", topicPath("flow"), {});
  });

  test("a message published after the subscription exists is pulled with its bytes, attributes, id and publish time, and acked once", async () => {
    const early = await publish(admin, "flow", [{ data: b64("before the subscription") }]);
    expect(early.status).toBe(200);
    await ok(admin, "PUT", subPath("flow-sub"), { topic: topicName("flow") });
    const bytes = Buffer.from([0, 1, 2, 250, 255, 0x7b]);
    const t0 = Date.now();
    const published = await publish(admin, "flow", [
      { data: b64(bytes), attributes: { table: "events", op: "insert" } },
      { attributes: { only: "attributes" } },
      { data: b64('{"Key":[1],"Value":{"after":{"id":1}},"Topic":"flow"}'), orderingKey: "k1" },
    ]);
    expect(published.status).toBe(200);
    const ids: string[] = published.body.messageIds;
    expect(ids).toHaveLength(3);
    expect(new Set([...ids, ...early.body.messageIds]).size).toBe(4);

    const got = (await pullNow(admin, "flow-sub")).receivedMessages;
    expect(got.map((m: any) => m.message.messageId)).toEqual(ids);
    expect(Buffer.from(got[0].message.data, "base64").equals(bytes)).toBe(true);
    expect(got[0].message.attributes).toEqual({ table: "events", op: "insert" });
    expect(got[1].message).toEqual({ attributes: { only: "attributes" }, messageId: ids[1], publishTime: expect.any(String) });
    expect(got[2].message.orderingKey).toBe("k1");
    expect(Math.abs(Date.parse(got[0].message.publishTime) - t0)).toBeLessThan(5000);
    expect(got.every((m: any) => typeof m.ackId === "string" && m.ackId.length > 10 && m.deliveryAttempt === undefined)).toBe(true);
    expect(new Set(got.map((m: any) => m.ackId)).size).toBe(3);

    expect(await ok(admin, "POST", `${subPath("flow-sub")}:acknowledge`, { ackIds: got.map((m: any) => m.ackId) })).toEqual({});
    // Acking twice is not an error.
    expect(await ok(admin, "POST", `${subPath("flow-sub")}:acknowledge`, { ackIds: [got[0].ackId] })).toEqual({});
    emu.pubsub.advance(11_000);
    expect(await pullNow(admin, "flow-sub")).toEqual({});
    expect(emu.pubsub.published("flow").map((m) => m.messageId)).toEqual([...early.body.messageIds, ...ids]);
    expect(emu.pubsub.published(topicName("flow"))[1].data.equals(bytes)).toBe(true);
  });

  test("maxMessages caps a pull; what is left comes in the next one", async () => {
    await ok(admin, "PUT", subPath("flow-cap"), { topic: topicName("flow") });
    await publish(
      admin,
      "flow",
      [1, 2, 3, 4, 5].map((n) => ({ data: b64(`m${n}`) })),
    );
    const first = (await pullNow(admin, "flow-cap", 2)).receivedMessages;
    const rest = (await pullNow(admin, "flow-cap", 10)).receivedMessages;
    expect([...first, ...rest].map((m: any) => Buffer.from(m.message.data, "base64").toString())).toEqual(["m1", "m2", "m3", "m4", "m5"]);
    expect(first).toHaveLength(2);
    expect((await call(admin, "POST", `${subPath("flow-cap")}:pull`, { maxMessages: 0 })).body.error).toEqual({
      code: 400,
      message: "You have passed an invalid argument to the service (argument=max_messages).",
      status: "INVALID_ARGUMENT",
    });
  });

  test("publish refuses no messages, an empty message, bad base64 and a missing topic", async () => {
    expect((await publish(admin, "flow", [])).body.error.message).toBe(
      "The value for message_count is too small. You passed 0 in the request, but the minimum value is 1.",
    );
    const empty = await publish(admin, "flow", [{ data: b64("fine") }, { data: "" }]);
    expect([empty.status, empty.body.error.message]).toEqual([
      400,
      "One or more messages in the publish request is empty. Each message must contain either non-empty data, or at least one attribute.",
    ]);
    expect((await publish(admin, "flow", [{ attributes: {} }])).status).toBe(400);
    expect((await publish(admin, "flow", [{ data: "not base64!" }])).status).toBe(400);
    expect((await publish(admin, "flow", [{ data: b64("x"), attributes: { n: 1 } }])).status).toBe(400);
    const before = emu.pubsub.published("flow").length;
    expect((await publish(admin, "no-such-topic", [{ data: b64("x") }])).body.error).toEqual({
      code: 404,
      message: "Resource not found (resource=no-such-topic).",
      status: "NOT_FOUND",
    });
    // A refused request publishes nothing, not even its good messages.
    expect(emu.pubsub.published("flow").length).toBe(before);
  });

  test("a pull with nothing waits about a second; a message published meanwhile ends the wait", async () => {
    await ok(admin, "PUT", subPath("flow-wait"), { topic: topicName("flow") });
    let t0 = Date.now();
    expect(await ok(admin, "POST", `${subPath("flow-wait")}:pull`, { maxMessages: 1 })).toEqual({});
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    t0 = Date.now();
    const pulling = ok(admin, "POST", `${subPath("flow-wait")}:pull`, { maxMessages: 1 });
    await new Promise((r) => setTimeout(r, 200));
    await publish(admin, "flow", [{ data: b64("late") }]);
    const got = await pulling;
    expect(Date.now() - t0).toBeLessThan(900);
    expect(Buffer.from(got.receivedMessages[0].message.data, "base64").toString()).toBe("late");
    t0 = Date.now();
    expect(await pullNow(admin, "flow-wait")).toEqual({});
    expect(Date.now() - t0).toBeLessThan(500);
  });
});

describe("at-least-once delivery", () => {
  beforeAll(async () => {
    await ok(admin, "PUT", topicPath("redeliver"), {});
    await ok(admin, "PUT", topicPath("redeliver-dlq"), {});
  });

  test("an unacked message comes again after its ack deadline, with a new ack id; the stale ack id no longer acks it", async () => {
    await ok(admin, "PUT", subPath("redeliver-sub"), { topic: topicName("redeliver"), ackDeadlineSeconds: 10 });
    await publish(admin, "redeliver", [{ data: b64("again") }]);
    const first = (await pullNow(admin, "redeliver-sub")).receivedMessages[0];
    expect(await pullNow(admin, "redeliver-sub")).toEqual({});
    emu.pubsub.advance(9_000);
    expect(await pullNow(admin, "redeliver-sub")).toEqual({});
    emu.pubsub.advance(1_100);
    const second = (await pullNow(admin, "redeliver-sub")).receivedMessages[0];
    expect(second.message.messageId).toBe(first.message.messageId);
    expect(second.ackId).not.toBe(first.ackId);
    await ok(admin, "POST", `${subPath("redeliver-sub")}:acknowledge`, { ackIds: [first.ackId] });
    emu.pubsub.advance(10_100);
    const third = (await pullNow(admin, "redeliver-sub")).receivedMessages[0];
    expect(third.message.messageId).toBe(first.message.messageId);
    await ok(admin, "POST", `${subPath("redeliver-sub")}:acknowledge`, { ackIds: [third.ackId] });
    emu.pubsub.advance(10_100);
    expect(await pullNow(admin, "redeliver-sub")).toEqual({});
  });

  test("modifyAckDeadline 0 is a nack (delivered again at once); a longer deadline holds the message back", async () => {
    await ok(admin, "PUT", subPath("nack-sub"), { topic: topicName("redeliver") });
    await publish(admin, "redeliver", [{ data: b64("nack me") }]);
    const first = (await pullNow(admin, "nack-sub")).receivedMessages[0];
    await ok(admin, "POST", `${subPath("nack-sub")}:modifyAckDeadline`, { ackIds: [first.ackId], ackDeadlineSeconds: 0 });
    const second = (await pullNow(admin, "nack-sub")).receivedMessages[0];
    expect(second.message.messageId).toBe(first.message.messageId);
    await ok(admin, "POST", `${subPath("nack-sub")}:modifyAckDeadline`, { ackIds: [second.ackId], ackDeadlineSeconds: 60 });
    emu.pubsub.advance(30_000);
    expect(await pullNow(admin, "nack-sub")).toEqual({});
    emu.pubsub.advance(31_000);
    expect((await pullNow(admin, "nack-sub")).receivedMessages[0].message.messageId).toBe(first.message.messageId);
    expect((await call(admin, "POST", `${subPath("nack-sub")}:modifyAckDeadline`, { ackIds: [second.ackId], ackDeadlineSeconds: 601 })).status).toBe(400);
    expect((await call(admin, "POST", `${subPath("nack-sub")}:acknowledge`, { ackIds: [] })).status).toBe(400);
    expect((await call(admin, "POST", `${subPath("nack-sub")}:acknowledge`, { ackIds: ["not an ack id"] })).body.error.message).toBe(
      "You have passed an invalid ack ID to the service (ack_id=not an ack id).",
    );
    // An id of another shape is refused too (Google's emulator answers 400 for "bogus" as well); one of the
    // emulator's shape that it never issued, or that is stale, is ignored.
    for (const ackIds of [["bogus"], [second.ackId + "x"], [second.ackId.slice(1)]]) {
      expect(await call(admin, "POST", `${subPath("nack-sub")}:acknowledge`, { ackIds })).toEqual({
        status: 400,
        body: { error: { code: 400, message: `You have passed an invalid ack ID to the service (ack_id=${ackIds[0]}).`, status: "INVALID_ARGUMENT" } },
      });
      expect((await call(admin, "POST", `${subPath("nack-sub")}:modifyAckDeadline`, { ackIds, ackDeadlineSeconds: 0 })).status).toBe(400);
    }
    expect(await ok(admin, "POST", `${subPath("nack-sub")}:acknowledge`, { ackIds: ["A".repeat(32)] })).toEqual({});
  });

  /** Adds `member` to `role` on a topic's or subscription's policy. */
  async function bind(path: string, role: string, member: string): Promise<void> {
    const policy = await ok(admin, "GET", `${path}:getIamPolicy`);
    const bindings = [
      ...(policy.bindings ?? []).filter((b: any) => b.role !== role),
      { role, members: [...((policy.bindings ?? []).find((b: any) => b.role === role)?.members ?? []), member] },
    ];
    await ok(admin, "POST", `${path}:setIamPolicy`, { policy: { bindings, etag: policy.etag } });
  }
  const agent = () => `serviceAccount:${pubsubServiceAgentOf(emu.project)}`;

  test("without the service agent's two grants nothing is forwarded: the message keeps coming back, past maxDeliveryAttempts", async () => {
    await ok(admin, "PUT", topicPath("ungranted-dlq"), {});
    await ok(admin, "PUT", subPath("ungranted-dlq-reader"), { topic: topicName("ungranted-dlq") });
    await ok(admin, "PUT", subPath("dl-ungranted"), {
      topic: topicName("redeliver"),
      deadLetterPolicy: { deadLetterTopic: topicName("ungranted-dlq"), maxDeliveryAttempts: 5 },
    });
    const id = (await publish(admin, "redeliver", [{ data: b64("kept") }])).body.messageIds[0];
    const nackAll = async () => {
      const got = (await pullNow(admin, "dl-ungranted")).receivedMessages ?? [];
      expect(got.map((m: any) => m.message.messageId)).toEqual([id]);
      await ok(admin, "POST", `${subPath("dl-ungranted")}:modifyAckDeadline`, { ackIds: [got[0].ackId], ackDeadlineSeconds: 0 });
    };
    for (let attempt = 1; attempt <= 7; attempt++) await nackAll();
    // Publish on the dead-letter topic alone is not enough: the agent must also consume from the subscription.
    await bind(topicPath("ungranted-dlq"), "roles/pubsub.publisher", agent());
    for (let attempt = 1; attempt <= 2; attempt++) await nackAll();
    expect(emu.pubsub.published("ungranted-dlq")).toHaveLength(0);
    await bind(subPath("dl-ungranted"), "roles/pubsub.subscriber", agent());
    expect(await pullNow(admin, "dl-ungranted")).toEqual({});
    expect(((await pullNow(admin, "ungranted-dlq-reader")).receivedMessages ?? []).map((m: any) => Buffer.from(m.message.data, "base64").toString())).toEqual([
      "kept",
    ]);
  });

  test("with a dead-letter policy, deliveryAttempt counts up; after maxDeliveryAttempts the message goes to the dead-letter topic", async () => {
    await ok(admin, "PUT", subPath("dlq-reader"), { topic: topicName("redeliver-dlq") });
    await ok(admin, "PUT", subPath("dl-sub"), {
      topic: topicName("redeliver"),
      deadLetterPolicy: { deadLetterTopic: topicName("redeliver-dlq"), maxDeliveryAttempts: 5 },
    });
    await bind(topicPath("redeliver-dlq"), "roles/pubsub.publisher", agent());
    await bind(subPath("dl-sub"), "roles/pubsub.subscriber", agent());
    const id = (await publish(admin, "redeliver", [{ data: b64("poison"), attributes: { table: "events" } }])).body.messageIds[0];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const got = (await pullNow(admin, "dl-sub")).receivedMessages;
      expect(got.map((m: any) => [m.message.messageId, m.deliveryAttempt])).toEqual([[id, attempt]]);
      expect(emu.pubsub.published("redeliver-dlq")).toHaveLength(0);
      await ok(admin, "POST", `${subPath("dl-sub")}:modifyAckDeadline`, { ackIds: [got[0].ackId], ackDeadlineSeconds: 0 });
    }
    expect(await pullNow(admin, "dl-sub")).toEqual({});
    const dead = emu.pubsub.published("redeliver-dlq");
    expect(dead).toHaveLength(1);
    expect(dead[0].data.toString()).toBe("poison");
    expect(dead[0].attributes).toMatchObject({
      table: "events",
      CloudPubSubDeadLetterSourceDeliveryCount: "5",
      CloudPubSubDeadLetterSourceSubscription: "dl-sub",
    });
    const read = (await pullNow(admin, "dlq-reader")).receivedMessages;
    expect(read.map((m: any) => Buffer.from(m.message.data, "base64").toString())).toEqual(["poison"]);
    // The other subscription of the topic (nack-sub) still has its own copy: dead-lettering is per subscription.
    expect(emu.pubsub.subscriptions.get(`projects/${emu.project}/subscriptions/nack-sub`)!.backlog.some((l) => l.message.messageId === id)).toBe(true);
  });

  test("an expired ack deadline counts as a delivery attempt too", async () => {
    await ok(admin, "PUT", subPath("dl-expire"), {
      topic: topicName("redeliver"),
      ackDeadlineSeconds: 10,
      deadLetterPolicy: { deadLetterTopic: topicName("redeliver-dlq"), maxDeliveryAttempts: 5 },
    });
    await bind(topicPath("redeliver-dlq"), "roles/pubsub.publisher", agent());
    await bind(subPath("dl-expire"), "roles/pubsub.subscriber", agent());
    const before = emu.pubsub.published("redeliver-dlq").length;
    await publish(admin, "redeliver", [{ data: b64("slow consumer") }]);
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await pullNow(admin, "dl-expire")).receivedMessages.map((m: any) => m.deliveryAttempt)).toEqual([attempt]);
      emu.pubsub.advance(10_100);
    }
    expect(await pullNow(admin, "dl-expire")).toEqual({});
    expect(
      emu.pubsub
        .published("redeliver-dlq")
        .slice(before)
        .map((m) => m.data.toString()),
    ).toEqual(["slow consumer"]);
  });
});

describe("filters", () => {
  test("attribute filters decide at publish time which subscriptions get a message", async () => {
    await ok(admin, "PUT", topicPath("filtered"), {});
    const filters: Record<string, string> = {
      "f-eq": 'attributes.kind = "audit" AND NOT attributes:test',
      "f-prefix": 'hasPrefix(attributes.table, "events") OR attributes:urgent',
      "f-paren": '(attributes.kind = "audit" OR attributes.kind = "login") AND attributes."dotted.key" = "1"',
      "f-none": "",
    };
    for (const [id, filter] of Object.entries(filters)) {
      const made = await ok(admin, "PUT", subPath(id), { topic: topicName("filtered"), filter });
      expect(made.filter).toBe(filter || undefined);
    }
    const messages: [string, Record<string, string>][] = [
      ["a", { kind: "audit" }],
      ["b", { kind: "audit", test: "" }],
      ["c", { table: "events_2026" }],
      ["d", { table: "users", urgent: "yes" }],
      ["e", { kind: "login", "dotted.key": "1" }],
      ["f", { kind: "audit", "dotted.key": "2" }],
      ["g", {}],
    ];
    await publish(
      admin,
      "filtered",
      messages.map(([d, attributes]) => ({ data: b64(d), attributes })),
    );
    const got: Record<string, string[]> = {};
    for (const id of Object.keys(filters)) {
      const received = (await pullNow(admin, id, 20)).receivedMessages ?? [];
      got[id] = received.map((m: any) => Buffer.from(m.message.data, "base64").toString());
      if (received.length) await ok(admin, "POST", `${subPath(id)}:acknowledge`, { ackIds: received.map((m: any) => m.ackId) });
    }
    expect(got).toEqual({
      "f-eq": ["a", "f"],
      "f-prefix": ["c", "d"],
      "f-paren": ["e"],
      "f-none": ["a", "b", "c", "d", "e", "f", "g"],
    });
    // Filtered-out messages are acknowledged, not held back: nothing comes later either.
    emu.pubsub.advance(11_000);
    for (const id of Object.keys(filters)) expect(await pullNow(admin, id)).toEqual({});
  });

  test("filters outside the supported forms are refused with 400", async () => {
    for (const filter of [
      'attributes.a = "1" AND attributes.b = "2" OR attributes:c',
      'attributes.a != "1"',
      'data = "x"',
      "attributes.a = 1",
      'hasPrefix(attributes.a "x")',
      "attributes:",
      `attributes.a = "${"x".repeat(260)}"`,
    ]) {
      const res = await call(admin, "PUT", subPath("f-bad"), { topic: topicName("filtered"), filter });
      expect([filter, res.status, res.body.error.status]).toEqual([filter, 400, "INVALID_ARGUMENT"]);
    }
  });
});

describe("permissions and IAM policies", () => {
  let nobody: { email: string; token: string };
  let pub: { email: string; token: string };
  let sub: { email: string; token: string };

  beforeAll(async () => {
    nobody = await newAccount("no-grants");
    pub = await newAccount("topic-publisher");
    sub = await newAccount("sub-consumer");
    for (const t of ["perm-a", "perm-b"]) await ok(admin, "PUT", topicPath(t), {});
  });

  test("a service account with no grant gets 403 PERMISSION_DENIED on publish, naming pubsub.topics.publish", async () => {
    const res = await publish(nobody.token, "perm-a", [{ data: b64("x") }]);
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 403, message: "User not authorized to perform this action.", status: "PERMISSION_DENIED" });
    expect(res.body.error.details[0].metadata.permission).toBe("pubsub.topics.publish");
    expect(emu.checks.filter((c) => c.principal === nobody.email).map((c) => [c.permission, c.ok])).toContainEqual(["pubsub.topics.publish", false]);
    // Without rights in the project a missing topic is 403 too, not 404: the caller cannot learn it is missing.
    expect((await publish(nobody.token, "no-such-topic", [{ data: b64("x") }])).status).toBe(403);
    expect((await call(nobody.token, "PUT", topicPath("nobody-topic"), {})).body.error.details[0].metadata.permission).toBe("pubsub.topics.create");
    expect(emu.pubsub.published("perm-a")).toHaveLength(0);
  });

  test("getIamPolicy / setIamPolicy: empty policy etag ACAB, a stale etag is 409 ABORTED, GET and POST both read", async () => {
    const empty = await ok(admin, "GET", `${topicPath("perm-a")}:getIamPolicy`);
    expect(empty).toEqual({ etag: "ACAB" });
    const binding = { role: "roles/pubsub.publisher", members: [`serviceAccount:${pub.email}`] };
    const set = await ok(admin, "POST", `${topicPath("perm-a")}:setIamPolicy`, { policy: { bindings: [binding], etag: empty.etag } });
    expect(set).toEqual({ version: 1, etag: expect.any(String), bindings: [binding] });
    expect(set.etag).not.toBe("ACAB");
    expect(await ok(admin, "GET", `${topicPath("perm-a")}:getIamPolicy`)).toEqual(set);
    expect(await ok(admin, "POST", `${topicPath("perm-a")}:getIamPolicy`, {})).toEqual(set);
    const stale = await call(admin, "POST", `${topicPath("perm-a")}:setIamPolicy`, { policy: { bindings: [], etag: empty.etag } });
    expect([stale.status, stale.body.error.status]).toEqual([409, "ABORTED"]);
    expect((await ok(admin, "GET", `${topicPath("perm-a")}:getIamPolicy`)).bindings).toEqual([binding]);
    // Roles of other services and unknown accounts are refused; so are deleted custom roles.
    const badRole = await call(admin, "POST", `${topicPath("perm-a")}:setIamPolicy`, {
      policy: { bindings: [{ role: "roles/storage.admin", members: [`serviceAccount:${pub.email}`] }] },
    });
    expect([badRole.status, badRole.body.error.message]).toEqual([400, "Role roles/storage.admin is not supported for this resource."]);
    const ghost = await call(admin, "POST", `${topicPath("perm-a")}:setIamPolicy`, {
      policy: { bindings: [{ role: "roles/pubsub.viewer", members: [`serviceAccount:ghost@${emu.project}.iam.gserviceaccount.com`] }] },
    });
    expect(ghost.status).toBe(400);
    expect((await call(admin, "GET", `${topicPath("no-such-topic")}:getIamPolicy`)).status).toBe(404);
    // Reading and writing the policy need their own permissions.
    expect((await call(pub.token, "GET", `${topicPath("perm-a")}:getIamPolicy`)).body.error.details[0].metadata.permission).toBe("pubsub.topics.getIamPolicy");
    expect((await call(pub.token, "POST", `${topicPath("perm-a")}:setIamPolicy`, { policy: { bindings: [] } })).body.error.details[0].metadata.permission).toBe(
      "pubsub.topics.setIamPolicy",
    );
  });

  test("a topic-level roles/pubsub.publisher binding lets the account publish to that topic only, and nothing else", async () => {
    // Bound in the previous test.
    const res = await publish(pub.token, "perm-a", [{ data: b64("granted") }]);
    expect(res.status).toBe(200);
    expect(emu.pubsub.published("perm-a").map((m) => m.data.toString())).toEqual(["granted"]);
    expect((await publish(pub.token, "perm-b", [{ data: b64("x") }])).status).toBe(403);
    expect((await call(pub.token, "GET", topicPath("perm-a"))).status).toBe(403); // publisher has no pubsub.topics.get
    expect((await call(pub.token, "DELETE", topicPath("perm-a"))).status).toBe(403);
    expect((await call(pub.token, "PUT", topicPath("pub-made"), {})).status).toBe(403);
    expect((await call(pub.token, "GET", `${P()}/topics`)).status).toBe(403);
  });

  test("testIamPermissions answers exactly the held subset, needs no permission, and is empty for a missing resource", async () => {
    const asked = [
      "pubsub.topics.publish",
      "pubsub.topics.get",
      "pubsub.topics.attachSubscription",
      "pubsub.topics.setIamPolicy",
      "pubsub.subscriptions.consume",
    ];
    expect(await ok(pub.token, "POST", `${topicPath("perm-a")}:testIamPermissions`, { permissions: asked })).toEqual({
      permissions: ["pubsub.topics.publish"],
    });
    expect(await ok(pub.token, "POST", `${topicPath("perm-b")}:testIamPermissions`, { permissions: asked })).toEqual({});
    expect(await ok(nobody.token, "POST", `${topicPath("perm-a")}:testIamPermissions`, { permissions: asked })).toEqual({});
    expect(await ok(pub.token, "POST", `${topicPath("no-such-topic")}:testIamPermissions`, { permissions: asked })).toEqual({});
    // The owner holds everything asked.
    expect((await ok(admin, "POST", `${topicPath("perm-a")}:testIamPermissions`, { permissions: asked })).permissions).toEqual(asked);
    expect((await call(pub.token, "POST", `${topicPath("perm-a")}:testIamPermissions`, { permissions: ["pubsub.*"] })).status).toBe(400);
  });

  test("roles/pubsub.subscriber on a subscription lets the account pull and ack there, not read its config or pull elsewhere", async () => {
    await ok(admin, "PUT", subPath("perm-sub"), { topic: topicName("perm-b") });
    await ok(admin, "PUT", subPath("perm-other"), { topic: topicName("perm-b") });
    const denied = await call(sub.token, "POST", `${subPath("perm-sub")}:pull`, { maxMessages: 1, returnImmediately: true });
    expect([denied.status, denied.body.error.details[0].metadata.permission]).toEqual([403, "pubsub.subscriptions.consume"]);
    const policy = await ok(admin, "GET", `${subPath("perm-sub")}:getIamPolicy`);
    await ok(admin, "POST", `${subPath("perm-sub")}:setIamPolicy`, {
      policy: { ...policy, bindings: [{ role: "roles/pubsub.subscriber", members: [`serviceAccount:${sub.email}`] }] },
    });
    await publish(admin, "perm-b", [{ data: b64("for the subscriber") }]);
    const got = (await pullNow(sub.token, "perm-sub")).receivedMessages;
    expect(got.map((m: any) => Buffer.from(m.message.data, "base64").toString())).toEqual(["for the subscriber"]);
    expect(await ok(sub.token, "POST", `${subPath("perm-sub")}:acknowledge`, { ackIds: [got[0].ackId] })).toEqual({});
    expect(await ok(sub.token, "POST", `${subPath("perm-sub")}:modifyAckDeadline`, { ackIds: [got[0].ackId], ackDeadlineSeconds: 0 })).toEqual({});
    expect((await call(sub.token, "GET", subPath("perm-sub"))).status).toBe(403); // subscriber has no pubsub.subscriptions.get
    expect((await call(sub.token, "POST", `${subPath("perm-other")}:pull`, { maxMessages: 1, returnImmediately: true })).status).toBe(403);
    expect(
      await ok(sub.token, "POST", `${subPath("perm-sub")}:testIamPermissions`, {
        permissions: ["pubsub.subscriptions.consume", "pubsub.subscriptions.get", "pubsub.topics.attachSubscription"],
      }),
    ).toEqual({
      permissions: ["pubsub.subscriptions.consume"],
    });
  });

  test("creating a subscription needs pubsub.subscriptions.create on the project and pubsub.topics.attachSubscription on the topic", async () => {
    const maker = await newAccount("sub-maker");
    emu.grantProject(maker.email, ["pubsub.subscriptions.create"]);
    const denied = await call(maker.token, "PUT", subPath("made-by-maker"), { topic: topicName("perm-a") });
    expect([denied.status, denied.body.error.details[0].metadata.permission]).toEqual([403, "pubsub.topics.attachSubscription"]);
    const policy = await ok(admin, "GET", `${topicPath("perm-a")}:getIamPolicy`);
    await ok(admin, "POST", `${topicPath("perm-a")}:setIamPolicy`, {
      policy: { etag: policy.etag, bindings: [...policy.bindings, { role: "roles/pubsub.subscriber", members: [`serviceAccount:${maker.email}`] }] },
    });
    expect((await call(maker.token, "PUT", subPath("made-by-maker"), { topic: topicName("perm-a") })).status).toBe(200);
    // The topic binding gives nothing on another topic.
    expect((await call(maker.token, "PUT", subPath("made-by-maker-b"), { topic: topicName("perm-b") })).status).toBe(403);
    // Nor the project grant anything but what it lists.
    expect((await call(maker.token, "GET", `${P()}/subscriptions`)).status).toBe(403);
  });

  test("custom roles may hold Pub/Sub permissions; project grants reach every topic; a disabled account holds nothing", async () => {
    const roleRes = await call(admin, "POST", `${P()}/roles`, {
      roleId: "auditPublisher",
      role: { title: "Audit publisher", includedPermissions: ["pubsub.topics.publish", "pubsub.topics.get"] },
    });
    expect(roleRes.status).toBe(200);
    expect((await call(admin, "POST", `${P()}/roles`, { roleId: "badPubsub", role: { title: "x", includedPermissions: ["pubsub.topics.fly"] } })).status).toBe(
      400,
    );
    const custom = await newAccount("custom-publisher");
    await ok(admin, "PUT", topicPath("perm-custom"), {});
    await ok(admin, "POST", `${topicPath("perm-custom")}:setIamPolicy`, {
      policy: { bindings: [{ role: `projects/${emu.project}/roles/auditPublisher`, members: [`serviceAccount:${custom.email}`] }] },
    });
    expect((await publish(custom.token, "perm-custom", [{ data: b64("custom") }])).status).toBe(200);
    expect((await ok(custom.token, "GET", topicPath("perm-custom"))).name).toBe(topicName("perm-custom"));
    expect((await publish(custom.token, "perm-a", [{ data: b64("x") }])).status).toBe(403);

    const wide = await newAccount("project-publisher");
    emu.grantProject(wide.email, ["pubsub.topics.publish"]);
    for (const t of ["perm-a", "perm-b", "perm-custom"]) expect((await publish(wide.token, t, [{ data: b64("wide") }])).status).toBe(200);

    const scope = { project: emu.project, topic: "perm-custom" };
    expect(emu.allowed(custom.email, "pubsub.topics.publish", scope)).toBe(true);
    await ok(admin, "POST", `${P()}/serviceAccounts/${custom.email}:disable`, {});
    expect(emu.allowed(custom.email, "pubsub.topics.publish", scope)).toBe(false);
    expect((await publish(custom.token, "perm-custom", [{ data: b64("x") }])).status).toBe(401);
    await ok(admin, "POST", `${P()}/serviceAccounts/${custom.email}:enable`, {});
    expect(emu.allowed(custom.email, "pubsub.topics.publish", scope)).toBe(true);
    await ok(admin, "DELETE", `${P()}/serviceAccounts/${custom.email}`);
    expect(emu.allowed(custom.email, "pubsub.topics.publish", scope)).toBe(false);
  });

  test("the predefined roles: viewer reads, editor writes but cannot touch IAM policies", async () => {
    const viewer = await newAccount("pubsub-viewer");
    const editor = await newAccount("pubsub-editor");
    const policy = await ok(admin, "GET", `${topicPath("perm-b")}:getIamPolicy`);
    await ok(admin, "POST", `${topicPath("perm-b")}:setIamPolicy`, {
      policy: {
        etag: policy.etag,
        bindings: [
          { role: "roles/pubsub.viewer", members: [`serviceAccount:${viewer.email}`] },
          { role: "roles/pubsub.editor", members: [`serviceAccount:${editor.email}`] },
        ],
      },
    });
    expect((await call(viewer.token, "GET", topicPath("perm-b"))).status).toBe(200);
    expect((await publish(viewer.token, "perm-b", [{ data: b64("x") }])).status).toBe(403);
    expect((await publish(editor.token, "perm-b", [{ data: b64("x") }])).status).toBe(200);
    expect((await call(editor.token, "GET", `${topicPath("perm-b")}:getIamPolicy`)).status).toBe(403);
    // A topic binding grants on the topic only: list is a project permission.
    expect((await call(viewer.token, "GET", `${P()}/topics`)).status).toBe(403);
  });
});

describe("retention and expiration (these move the Pub/Sub clock a day)", () => {
  test("unacked messages older than the retention are dropped; an idle subscription expires after its TTL", async () => {
    await ok(admin, "PUT", topicPath("aging"), {});
    await ok(admin, "PUT", subPath("short-retention"), { topic: topicName("aging"), messageRetentionDuration: "600s" });
    await ok(admin, "PUT", subPath("long-retention"), { topic: topicName("aging"), expirationPolicy: {} });
    await ok(admin, "PUT", subPath("expiring"), { topic: topicName("aging"), expirationPolicy: { ttl: "86400s" } });
    await publish(admin, "aging", [{ data: b64("old") }]);
    emu.pubsub.advance(601_000);
    expect(await pullNow(admin, "short-retention")).toEqual({});
    expect((await pullNow(admin, "long-retention")).receivedMessages).toHaveLength(1);
    emu.pubsub.advance(86_400_000 - 601_000 + 1_000);
    expect((await call(admin, "GET", subPath("expiring"))).status).toBe(404);
    expect(emu.pubsub.subscriptions.has(`projects/${emu.project}/subscriptions/expiring`)).toBe(false);
    // Pulling counts as activity: long-retention has no TTL, short-retention was pulled a day ago but has the 31-day default.
    expect((await call(admin, "GET", subPath("short-retention"))).status).toBe(200);
  });
});
