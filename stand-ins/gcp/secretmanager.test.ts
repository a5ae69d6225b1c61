// The emulator's Secret Manager subset over REST, as Terraform and the provider call it
// (docs/cloud-run-runtime.md §1): names with the project number, versions and their states, access
// only with the secret's own grant, 403 "(or it may not exist)" without it.
import { GcpEmulator } from "./emulator";
import { projectNumberOf } from "./resourcemanager";
import { RestClient, newAccountClient, restClient } from "./rest-client";
import * as fs from "fs";

jest.setTimeout(30_000);

let emu: GcpEmulator;
let admin: RestClient;
const S = () => `/v1/projects/${emu.project}/secrets`;
const b64 = (s: string) => Buffer.from(s).toString("base64");

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  admin = await restClient(emu, fs.readFileSync(emu.adminKeyFile, "utf8"));
});
afterAll(() => emu?.stop());

test("a secret answers with the project number; versions count from 1; latest is the newest whatever its state", async () => {
  const made = await admin.ok("POST", `${S()}?secretId=pw`, { replication: { automatic: {} }, labels: { a: "b" } });
  expect(made.name).toBe(`projects/${projectNumberOf(emu.project)}/secrets/pw`);
  expect((await admin.call("POST", `${S()}?secretId=pw`, { replication: { automatic: {} } })).status).toBe(409);
  expect((await admin.call("POST", `${S()}?secretId=nope`, {})).body.error.message).toBe("Field [replication] is required.");
  expect((await admin.call("POST", `${S()}/pw:addVersion`, {})).body.error.message).toBe("Field [payload] is required.");
  const v1 = await admin.ok("POST", `${S()}/pw:addVersion`, { payload: { data: b64("one") } });
  const v2 = await admin.ok(
    "POST",
    `/v1/projects/${projectNumberOf(emu.project)}/secrets/pw:addVersion`, // the number is taken on input too
    { payload: { data: b64("two") } },
  );
  expect([v1.name.split("/").pop(), v2.name.split("/").pop(), v2.state]).toEqual(["1", "2", "ENABLED"]);
  const read = (v: string) => admin.call("GET", `${S()}/pw/versions/${v}:access`);
  expect(Buffer.from((await read("1")).body.payload.data, "base64").toString()).toBe("one");
  expect(Buffer.from((await read("latest")).body.payload.data, "base64").toString()).toBe("two");
  await admin.ok("POST", `${S()}/pw/versions/2:disable`, {});
  const refused = await read("latest");
  expect([refused.status, refused.body.error.status, refused.body.error.message]).toEqual([
    400,
    "FAILED_PRECONDITION",
    `Secret Version [projects/${projectNumberOf(emu.project)}/secrets/pw/versions/2] is in DISABLED state.`,
  ]);
  await admin.ok("POST", `${S()}/pw/versions/1:destroy`, {});
  expect((await admin.call("POST", `${S()}/pw/versions/1:enable`, {})).status).toBe(400);
  expect((await admin.ok("GET", `${S()}/pw/versions`)).versions.map((v: any) => v.state)).toEqual(["DISABLED", "DESTROYED"]);
  expect((await admin.call("PATCH", `${S()}/pw`, { labels: {} })).body.error.message).toBe("Field [update_mask] is required.");
  expect((await admin.ok("PATCH", `${S()}/pw?updateMask=labels`, { labels: { c: "d" } })).labels).toEqual({ c: "d" });
  await admin.ok("DELETE", `${S()}/pw`);
  expect((await admin.call("GET", `${S()}/pw`)).status).toBe(404);
});

test("only the secret's accessor grant lets an account read it; without it 403 reads as for a missing secret", async () => {
  await admin.ok("POST", `${S()}?secretId=db`, { replication: { automatic: {} } });
  await admin.ok("POST", `${S()}/db:addVersion`, { payload: { data: b64("hunter2") } });
  const engine = await newAccountClient(emu, "engine-reader");
  const denied = await engine.call("GET", `${S()}/db/versions/1:access`);
  const missing = await engine.call("GET", `${S()}/nosuch/versions/1:access`);
  expect([denied.status, missing.status]).toEqual([403, 403]);
  expect(denied.body.error.message).toMatch(/^Permission 'secretmanager\.versions\.access' denied for resource '.*\/versions\/1' \(or it may not exist\)\.$/);
  expect(emu.secretmanager.accessAs(engine.email, emu.project, "db", "1")).toEqual({ error: expect.stringMatching(/denied/) });

  const policy = await admin.ok("GET", `${S()}/db:getIamPolicy`);
  await admin.ok("POST", `${S()}/db:setIamPolicy`, {
    policy: { etag: policy.etag, bindings: [{ role: "roles/secretmanager.secretAccessor", members: [`serviceAccount:${engine.email}`] }] },
  });
  const stale = await admin.call("POST", `${S()}/db:setIamPolicy`, { policy: { etag: policy.etag, bindings: [] } });
  expect([stale.status, stale.body.error.status]).toEqual([409, "ABORTED"]);
  expect(Buffer.from((await engine.ok("GET", `${S()}/db/versions/1:access`)).payload.data, "base64").toString()).toBe("hunter2");
  // The accessor role reads payloads only: not the secret's metadata, and never another secret.
  expect((await engine.call("GET", `${S()}/db`)).status).toBe(403);
  await admin.ok("POST", `${S()}?secretId=other`, { replication: { automatic: {} } });
  await admin.ok("POST", `${S()}/other:addVersion`, { payload: { data: b64("x") } });
  expect((await engine.call("GET", `${S()}/other/versions/1:access`)).status).toBe(403);
  expect(emu.secretmanager.accessAs(engine.email, projectNumberOf(emu.project), "db", "1")).toEqual({ data: Buffer.from("hunter2") });
});
