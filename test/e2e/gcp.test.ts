// The GCP half through the real Pulumi engine, from the package as a consumer installs it,
// against the GCP emulator.
import * as fs from "fs";
import * as path from "path";
import { GcpEmulator } from "../../stand-ins";
import { newTestStack, TestStack } from "../harness/engine";
import { Consumer, consumerLayout } from "../harness/consumer";

jest.setTimeout(300_000);

let emu: GcpEmulator;
let consumer: Consumer;
let t: TestStack;
let rotation = "initial";

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  consumer = consumerLayout("gcp-e2e");
  const { Bucket, ServiceAccount, CustomRole, BucketIamMember, ServiceAccountKey } = consumer.pkg;
  t = await newTestStack({
    project: "gcp-e2e",
    parentDir: consumer.dir,
    program: async () => {
      const bucket = new Bucket("audit", { forceDestroy: true, labels: { app: "zitadel" } });
      const sa = new ServiceAccount("cdc-writer", { displayName: "CockroachDB changefeed writer" });
      const role = new CustomRole("cdcWriter", { title: "Changefeed object writer", permissions: ["storage.objects.create"] });
      new BucketIamMember("grant", { bucket: bucket.name, role: role.name, member: sa.member });
      const key = new ServiceAccountKey("key", { serviceAccountEmail: sa.email, rotationTrigger: rotation });
      return { bucket: bucket.name, email: sa.email, role: role.name, keyId: key.keyId, keyJson: key.privateKeyJson };
    },
    config: {
      "gcp:credentials": { value: fs.readFileSync(emu.adminKeyFile, "utf8"), secret: true },
      "gcp:project": { value: emu.project },
      "zitadel-audit-stream:gcpEndpoint": { value: emu.endpoint },
    },
  });
});

afterAll(async () => {
  await t?.dispose();
  consumer?.dispose();
  await emu?.stop();
});

const ours = () => ({
  buckets: [...emu.storage.buckets.keys()],
  accounts: emu.iam.accounts.filter((a) => !a.deleted && !a.bootstrap).map((a) => a.email),
  roles: [...emu.iam.roles.values()].filter((r) => !r.deleted).map((r) => r.roleId),
  keys: emu.iam.accounts.filter((a) => !a.bootstrap).flatMap((a) => [...a.keys.values()].filter((k) => !k.deleted).map((k) => k.id)),
});

test("up creates the five resources, and the grant really lets the key write", async () => {
  const up = await t.stack.up({ onOutput: (s) => t.log.push(s) });
  expect(up.summary.resourceChanges).toEqual({ create: 7 });
  const o = up.outputs;
  expect(o.keyJson.secret).toBe(true);
  expect(ours()).toEqual({ buckets: [o.bucket.value], accounts: [o.email.value], roles: [o.role.value.split("/").pop()], keys: [o.keyId.value] });
  const binding = emu.storage.buckets.get(o.bucket.value)!.policy.bindings.find((b) => b.role === o.role.value);
  expect(binding?.members).toEqual([`serviceAccount:${o.email.value}`]);
  expect(emu.allowed(o.email.value, "storage.objects.create", { project: emu.project, bucket: o.bucket.value })).toBe(true);
  expect(emu.allowed(o.email.value, "storage.objects.get", { project: emu.project, bucket: o.bucket.value })).toBe(false);
});

test("the key and the credentials are secrets in the state file: no private key in plaintext", async () => {
  // The state as the backend stores it (exportStack would show secrets decrypted).
  const files = fs
    .readdirSync(t.workDir, { recursive: true })
    .map(String)
    .filter((f) => /\.pulumi\/stacks\/.*\.json$/.test(f));
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const state = fs.readFileSync(path.join(t.workDir, f), "utf8");
    // Booleans, so that a failure does not print key material.
    expect(state.includes("BEGIN PRIVATE KEY")).toBe(false);
    expect(state.includes("private_key")).toBe(false);
    expect(state.includes("ciphertext")).toBe(true);
  }
});

test("a second up changes nothing and makes no mutating call", async () => {
  const since = Date.now();
  const up = await t.stack.up();
  expect(up.summary.resourceChanges).toEqual({ same: 7 });
  expect(emu.mutatingCalls(since)).toEqual([]);
});

test("a rotationTrigger change replaces only the key, creating the new one before deleting the old", async () => {
  const oldKey = (await t.stack.outputs()).keyId.value;
  rotation = "2026-11-24";
  const pv = await t.stack.preview();
  expect(pv.changeSummary).toEqual({ same: 6, replace: 1 });
  const since = Date.now();
  const up = await t.stack.up();
  expect(up.summary.resourceChanges).toEqual({ same: 6, replace: 1 });
  const newKey = up.outputs.keyId.value;
  expect(newKey).not.toBe(oldKey);
  expect(ours().keys).toEqual([newKey]);
  const keyCalls = emu
    .mutatingCalls(since)
    .filter((c) => c.path.includes("/keys"))
    .map((c) => c.method);
  expect(keyCalls).toEqual(["POST", "DELETE"]);
});

test("destroy leaves the emulator with nothing of ours", async () => {
  const d = await t.stack.destroy();
  expect(d.summary.resourceChanges).toEqual({ delete: 7 });
  expect(ours()).toEqual({ buckets: [], accounts: [], roles: [], keys: [] });
});
