// Google's Node Pub/Sub client (@google-cloud/pubsub, gRPC) reads what the twin's Changefeed sink
// publishes. The client speaks gRPC, which the GCP emulator does not serve, so it reads from Google's
// Pub/Sub emulator instead: the twin's own publisher (dist/stand-ins/cockroach/pubsub-sink.js,
// PubSubPublisher) publishes over REST to Google's emulator (the bearer token it sends, from the
// emulator's /token, is ignored there), and the official client's streaming pull receives it. The same
// bodies published by the same publisher into the GCP emulator and pulled over REST must look the same.
//
// Then the other way round: the official client publishes over gRPC to the GCP emulator's own gRPC
// Publisher (CONF_PUBSUB_GRPC, the admin's endpoint: stand-ins/gcp/pubsub-grpc.ts), as Debezium
// Server's Java client does, and a REST pull there must show what it sent, with the ids it was given.
//
// Env: CONF_PUBSUB_GOOGLE (host:port of Google's emulator; empty: SKIP, with CONF_PUBSUB_GOOGLE_SKIP),
//      CONF_GCP_ENDPOINT, CONF_ADMIN_KEY_FILE, CONF_PROJECT, CONF_PUBSUB_GRPC.
// Prints one line per check: "PASS|FAIL|SKIP name: detail". Exit status 0 when it ran to the end.
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const root = path.resolve(__dirname, "../../..");
const GOOGLE = process.env.CONF_PUBSUB_GOOGLE || "";
const PROJECT = process.env.CONF_PROJECT;
const ENDPOINT = process.env.CONF_GCP_ENDPOINT;
const KEY = fs.readFileSync(process.env.CONF_ADMIN_KEY_FILE, "utf8");

function report(status, name, detail) {
  let d = String(detail).split(/\s+/).join(" ");
  if (d.length > 600) d = d.slice(0, 600) + "…";
  console.log(`${status} ${name}: ${d}`);
}

async function check(name, fn) {
  try {
    report("PASS", name, await fn());
    return true;
  } catch (e) {
    report("FAIL", name, `${e && e.name}: ${e && e.message}`);
    return false;
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Rows as the twin's Changefeed writes them (pubsub-sink.ts pubsubMessage; research doc §3): an insert, a
// delete (after: null), a resolved timestamp (not wrapped), non-ASCII text, and enough rows for two
// publish batches of at most 100.
function bodies(pubsubMessage, topic) {
  const out = [
    pubsubMessage('["zitadel-audit",1]', '{"after":{"id":1,"event_type":"user.added","payload":{"userName":"ada"}}}', topic),
    pubsubMessage('["zitadel-audit",2]', '{"after":null}', topic),
    '{"resolved":"1795884811137001570.0000000001"}',
    pubsubMessage('["zitadel-audit",3]', '{"after":{"id":3,"event_type":"user.changed","payload":{"displayName":"Zoë – ✓"}}}', topic),
  ];
  for (let i = 10; i < 160; i++) out.push(pubsubMessage(`["zitadel-audit",${i}]`, `{"after":{"id":${i},"event_type":"session.added"}}`, topic));
  return out;
}

/** What a consumer sees of a message, as the official client hands it over (or as REST pull returns it). */
function seen(m) {
  return { data: m.data, attributes: m.attributes, orderingKey: m.orderingKey };
}

/** REST calls to the GCP emulator as its admin (a token from its /token for the admin's key); any answer but 200 fails the check. */
async function gcpEmulatorRest(KeyToken) {
  const token = await new KeyToken(() => KEY, "https://www.googleapis.com/auth/pubsub").get();
  return async (method, p, body) => {
    const res = await fetch(`${ENDPOINT}/v1/projects/${PROJECT}/${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = await res.json().catch(() => ({}));
    assert(res.status === 200, `GCP emulator ${method} ${p} -> ${res.status} ${JSON.stringify(json).slice(0, 200)}`);
    return json;
  };
}

async function main() {
  if (!GOOGLE) {
    report("SKIP", "pubsub-node", process.env.CONF_PUBSUB_GOOGLE_SKIP || "Google's Pub/Sub emulator is not available");
    return;
  }
  process.env.PUBSUB_EMULATOR_HOST = GOOGLE;
  // No GCE metadata server here: without this google-auth-library probes for one (and warns).
  process.env.METADATA_SERVER_DETECTION = "none";
  const { PubSub } = require("@google-cloud/pubsub");
  const clientVersion = require("@google-cloud/pubsub/package.json").version;
  const { PubSubPublisher, pubsubMessage } = require(path.join(root, "dist/stand-ins/cockroach/pubsub-sink.js"));
  const { KeyToken } = require(path.join(root, "dist/stand-ins/cockroach/key-token.js"));

  const run = crypto.randomBytes(3).toString("hex");
  const topicId = `conf-node-${run}-audit`;
  const subId = `conf-node-${run}-siem`;
  const sink = { kind: "pubsub", project: PROJECT, topic: topicId, region: "us-east1", auth: "specified", credentials: KEY };
  const sent = bodies(pubsubMessage, topicId);

  const pubsub = new PubSub({ projectId: PROJECT });
  let subscription;
  const ok = await check("pubsub-node.admin", async () => {
    const [topic] = await pubsub.createTopic(topicId);
    [subscription] = await topic.createSubscription(subId);
    const [meta] = await subscription.getMetadata();
    assert(meta.ackDeadlineSeconds === 10 && meta.topic === `projects/${PROJECT}/topics/${topicId}`, `subscription metadata ${JSON.stringify(meta)}`);
    return `@google-cloud/pubsub ${clientVersion} over gRPC to Google's emulator at ${GOOGLE}: created ${topicId} and ${subId}`;
  });
  if (!ok) return;

  await check("pubsub-node.sink-publish", async () => {
    await new PubSubPublisher(sink, `http://${GOOGLE}`).publish(sent);
    return `the twin's PubSubPublisher published ${sent.length} rows (in batches of at most 100) over REST to Google's emulator`;
  });

  // Streaming pull with the official client until every row came (at-least-once: duplicates counted).
  const got = new Map();
  let duplicates = 0;
  const received = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    subscription.on("message", (m) => {
      const key = m.data.toString("utf8");
      if (got.has(key)) duplicates++;
      else got.set(key, m);
      m.ack();
      if (got.size === sent.length) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    subscription.on("error", (e) => {
      clearTimeout(timer);
      resolve(e);
    });
  });
  await subscription.close(); // flushes the acks

  await check("pubsub-node.sink-message", async () => {
    assert(received === true, `received ${got.size} of ${sent.length} rows within 20 s${received instanceof Error ? `: ${received.message}` : ""}`);
    const problems = [];
    for (const body of sent) {
      const m = got.get(body);
      if (!m) {
        problems.push(`missing ${body.slice(0, 60)}`);
        continue;
      }
      if (!Buffer.isBuffer(m.data) || !m.data.equals(Buffer.from(body))) problems.push(`data differs for ${body.slice(0, 60)}`);
      if (JSON.stringify(m.attributes) !== "{}") problems.push(`attributes ${JSON.stringify(m.attributes)}`);
      if (m.orderingKey !== "") problems.push(`orderingKey ${JSON.stringify(m.orderingKey)}`);
      if (!(typeof m.id === "string" && m.id)) problems.push(`id ${m.id}`);
      if (!(m.publishTime instanceof Date) || Number.isNaN(m.publishTime.getTime())) problems.push(`publishTime ${m.publishTime}`);
      if (m.deliveryAttempt !== 0) problems.push(`deliveryAttempt ${m.deliveryAttempt} (no dead-letter policy: 0)`);
      const parsed = JSON.parse(m.data.toString("utf8"));
      const keys = Object.keys(parsed).join(",");
      if (keys !== "Key,Value,Topic" && keys !== "resolved") problems.push(`JSON keys ${keys}`);
      if (keys === "Key,Value,Topic" && (parsed.Topic !== topicId || !Array.isArray(parsed.Key))) problems.push(`Key/Topic ${JSON.stringify(parsed).slice(0, 80)}`);
    }
    assert(problems.length === 0, problems.slice(0, 5).join("; "));
    return `${got.size} rows, data byte-identical, JSON {Key,Value,Topic} (and one {resolved}), attributes {}, orderingKey "", deliveryAttempt 0, ${duplicates} duplicates`;
  });

  await check("pubsub-node.acked", async () => {
    const res = await fetch(`http://${GOOGLE}/v1/projects/${PROJECT}/subscriptions/${subId}:pull`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ maxMessages: 10, returnImmediately: true }),
    });
    const body = await res.json();
    assert(res.status === 200 && !body.receivedMessages, `REST pull after the client acked everything: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
    return "the client's acks reached Google's emulator: a REST pull afterwards is empty";
  });

  // The same rows through the same publisher into the GCP emulator, pulled over REST: a consumer sees
  // the same data and attributes there as the official client saw on Google's emulator.
  await check("pubsub-node.twin-differential", async () => {
    const rest = await gcpEmulatorRest(KeyToken);
    await rest("PUT", `topics/${topicId}`, {});
    await rest("PUT", `subscriptions/${subId}`, { topic: `projects/${PROJECT}/topics/${topicId}` });
    await new PubSubPublisher(sink, ENDPOINT).publish(sent);
    const twin = new Map();
    for (let i = 0; i < 40 && twin.size < sent.length; i++) {
      const body = await rest("POST", `subscriptions/${subId}:pull`, { maxMessages: 100, returnImmediately: true });
      const rms = body.receivedMessages || [];
      for (const rm of rms) {
        const data = Buffer.from(rm.message.data || "", "base64");
        twin.set(data.toString("utf8"), { data, attributes: rm.message.attributes || {}, orderingKey: rm.message.orderingKey || "" });
      }
      if (rms.length) await rest("POST", `subscriptions/${subId}:acknowledge`, { ackIds: rms.map((rm) => rm.ackId) });
    }
    const diffs = [];
    for (const body of sent) {
      const a = got.get(body);
      const b = twin.get(body);
      if (!a || !b) diffs.push(`${body.slice(0, 50)}: official client ${a ? "got" : "missed"} it, GCP emulator REST ${b ? "got" : "missed"} it`);
      else if (JSON.stringify({ ...seen(a), data: a.data.toString("base64") }) !== JSON.stringify({ ...seen(b), data: b.data.toString("base64") })) {
        diffs.push(`${body.slice(0, 50)}: ${JSON.stringify(seen(a))} vs ${JSON.stringify(seen(b))}`);
      }
    }
    assert(diffs.length === 0, diffs.slice(0, 3).join("; "));
    return `${twin.size} rows: data, attributes and orderingKey as the official client saw them on Google's emulator`;
  });

  await check("pubsub-node.grpc-publish", async () => {
    const grpcAt = process.env.CONF_PUBSUB_GRPC;
    assert(grpcAt, "CONF_PUBSUB_GRPC is not set (the twin's JSON line has no pubsubGrpc)");
    const rest = await gcpEmulatorRest(KeyToken);
    const t = `conf-node-${run}-grpc`;
    await rest("PUT", `topics/${t}`, {});
    await rest("PUT", `subscriptions/${t}-siem`, { topic: `projects/${PROJECT}/topics/${t}`, enableMessageOrdering: true });
    const client = new PubSub({ projectId: PROJECT, apiEndpoint: grpcAt, emulatorMode: true });
    const topic = client.topic(t, { messageOrdering: true });
    const out = [
      { data: Buffer.from('{"aggregate_id":"a","sequence":1}'), attributes: { source: "conformance" }, orderingKey: '{"aggregate_id":"a"}' },
      { data: Buffer.from('{"aggregate_id":"a","sequence":2}'), attributes: {}, orderingKey: '{"aggregate_id":"a"}' },
      { data: Buffer.from('{"aggregate_id":"b","sequence":1}'), attributes: {}, orderingKey: "" },
    ];
    const ids = [];
    for (const m of out) ids.push(await topic.publishMessage(m));
    await client.close();
    const body = await rest("POST", `subscriptions/${t}-siem:pull`, { maxMessages: 10, returnImmediately: true });
    const rms = body.receivedMessages || [];
    const back = rms.map((rm) => ({
      id: rm.message.messageId,
      data: Buffer.from(rm.message.data || "", "base64").toString("utf8"),
      attributes: rm.message.attributes || {},
      orderingKey: rm.message.orderingKey || "",
    }));
    const want = out.map((m, i) => ({ id: ids[i], data: m.data.toString("utf8"), attributes: m.attributes, orderingKey: m.orderingKey }));
    assert(JSON.stringify(back) === JSON.stringify(want), `REST pull ${JSON.stringify(back)} vs published ${JSON.stringify(want)}`);
    return `@google-cloud/pubsub ${clientVersion} published ${out.length} messages over gRPC to the GCP emulator (${grpcAt}); a REST pull shows them in order with their ids, attributes and ordering keys`;
  });
  await pubsub.close();
}

main()
  .then(() => process.exit(0))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
