// The emulator's gRPC Publisher.Publish, called over a real gRPC channel with @grpc/grpc-js: the
// same topics, IAM and validation as REST, each principal at its own endpoint, errors as gRPC statuses.
import * as crypto from "crypto";
import * as fs from "fs";
import * as grpc from "@grpc/grpc-js";
import { GcpEmulator } from "./emulator";
import { PUBLISH_PATH, decodePublishRequest, decodePublishResponse, encodePublishRequest } from "./pubsub-grpc";

jest.setTimeout(30_000);

let emu: GcpEmulator;

beforeAll(async () => {
  emu = await new GcpEmulator().start();
});
afterAll(() => emu?.stop());

async function rest(method: string, path: string, body?: unknown): Promise<any> {
  const key = JSON.parse(fs.readFileSync(emu.adminKeyFile, "utf8"));
  const now = Math.floor(Date.now() / 1000);
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const unsigned = `${part({ alg: "RS256", typ: "JWT", kid: key.private_key_id })}.${part({ iss: key.client_email, scope: "https://www.googleapis.com/auth/pubsub", aud: key.token_uri, iat: now, exp: now + 3600 })}`;
  const assertion = `${unsigned}.${crypto.sign("RSA-SHA256", Buffer.from(unsigned), key.private_key).toString("base64url")}`;
  const tok = (await (
    await fetch(key.token_uri, { method: "POST", body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }) })
  ).json()) as any;
  const res = await fetch(emu.endpoint + path, {
    method,
    headers: { authorization: `Bearer ${tok.access_token}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.json();
}

function publish(endpoint: string, topic: string, messages: { data: Buffer; attributes: Record<string, string>; orderingKey: string }[]): Promise<string[]> {
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  const id = (b: Buffer) => b;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(PUBLISH_PATH, id, id, encodePublishRequest(topic, messages), (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(decodePublishResponse(res!));
    }),
  );
}

test("the request codec reads back what it writes, attributes and ordering key included", () => {
  const m = [{ data: Buffer.from('{"a":1}'), attributes: { k: "v", x: "" }, orderingKey: '{"aggregate_id":"1"}' }];
  expect(decodePublishRequest(encodePublishRequest("projects/p/topics/t", m))).toEqual({ topic: "projects/p/topics/t", messages: m });
});

test("a granted principal publishes at its endpoint; the messages are the topic's, with their ordering key; others are refused as gRPC statuses", async () => {
  const topic = `projects/${emu.project}/topics/grpc-events`;
  await rest("PUT", `/v1/${topic}`, {});
  const writer = emu.iam.createAccount(emu.project, "grpc-writer", {});
  const stranger = emu.iam.createAccount(emu.project, "grpc-stranger", {});
  await rest("POST", `/v1/${topic}:setIamPolicy`, { policy: { bindings: [{ role: "roles/pubsub.publisher", members: [`serviceAccount:${writer.email}`] }] } });

  const at = await emu.pubsubGrpc.endpointFor(writer.email);
  expect(await emu.pubsubGrpc.endpointFor(writer.email)).toBe(at);
  const ids = await publish(at, topic, [
    { data: Buffer.from("one"), attributes: {}, orderingKey: "agg-1" },
    { data: Buffer.from("two"), attributes: { kind: "x" }, orderingKey: "agg-1" },
  ]);
  expect(ids).toHaveLength(2);
  expect(emu.pubsub.published(topic).map((m) => [m.messageId, m.data.toString(), m.orderingKey, m.attributes])).toEqual([
    [ids[0], "one", "agg-1", {}],
    [ids[1], "two", "agg-1", { kind: "x" }],
  ]);

  const denied = publish(await emu.pubsubGrpc.endpointFor(stranger.email), topic, [{ data: Buffer.from("x"), attributes: {}, orderingKey: "" }]);
  await expect(denied).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  // A missing topic: NOT_FOUND for a principal of the project's (one with a grant on this topic only gets PERMISSION_DENIED, as over REST).
  await expect(
    publish(await emu.pubsubGrpc.endpointFor(emu.adminEmail), `projects/${emu.project}/topics/nope`, [
      { data: Buffer.from("x"), attributes: {}, orderingKey: "" },
    ]),
  ).rejects.toMatchObject({
    code: grpc.status.NOT_FOUND,
  });
  await expect(publish(at, topic, [{ data: Buffer.alloc(0), attributes: {}, orderingKey: "" }])).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
});
