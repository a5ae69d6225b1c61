// The provider objects as Pulumi stores them: serialized from the package as a consumer installs it,
// small, referring only to module paths we keep stable, and working when a fresh Node process loads
// them the way the dynamic-provider host does (require-from-string, cwd = the program directory).
import * as fs from "fs";
import * as path from "path";
import { execFile } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { GcpEmulator } from "../twin/gcp/emulator";
import { Consumer, consumerLayout } from "../harness/consumer";

jest.setTimeout(120_000);

/**
 * Every module a stored provider may `require`. Renaming or removing one breaks `destroy` and
 * `refresh` of stacks created with an older version, so a change here must be deliberate.
 */
const STABLE_MODULES = [
  "zitadel-audit-stream/dist/provider/gcp/bucket.js",
  "zitadel-audit-stream/dist/provider/gcp/service-account.js",
  "zitadel-audit-stream/dist/provider/gcp/custom-role.js",
  "zitadel-audit-stream/dist/provider/gcp/bucket-iam-member.js",
  "zitadel-audit-stream/dist/provider/gcp/service-account-key.js",
  "zitadel-audit-stream/dist/provider/cockroach/cluster-setting.js",
  "zitadel-audit-stream/dist/provider/cockroach/changefeed.js",
];
const RESOURCES = ["Bucket", "ServiceAccount", "CustomRole", "BucketIamMember", "ServiceAccountKey", "ClusterSetting", "Changefeed"] as const;

let emu: GcpEmulator;
let consumer: Consumer;
const texts: Record<string, string> = {};

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  consumer = consumerLayout("serialize");
  for (const r of RESOURCES) {
    const provider = (consumer.pkg as any)[r].provider;
    texts[r] = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
  }
});
afterAll(async () => {
  consumer?.dispose();
  await emu?.stop();
});

test.each(RESOURCES)("%s's serialized provider is at most 4 KB and refers only to a stable module", (r) => {
  expect(texts[r].length).toBeLessThanOrEqual(4096);
  // The stored provider loads its module by a specifier it holds, and captures no other module.
  const stored = [...texts[r].matchAll(/\bmodule: "([^"]+)"/g)].map((m) => m[1]);
  expect(stored).toHaveLength(1);
  expect(STABLE_MODULES).toContain(stored[0]);
  expect(texts[r]).not.toMatch(/require\("/);
  for (const mod of STABLE_MODULES) expect(fs.existsSync(path.join(consumer.dir, "node_modules", mod))).toBe(true);
});

test("loaded in a fresh process, the GCP providers create, read and delete against the emulator, and the CockroachDB ones check", async () => {
  const dir = path.join(consumer.dir, "fresh");
  fs.mkdirSync(dir);
  for (const r of RESOURCES) fs.writeFileSync(path.join(dir, `${r}.js`), texts[r]);
  const script = `
    const fs = require("fs");
    const load = (r) => require("require-from-string")(fs.readFileSync(r + ".js", "utf8")).handler();
    const config = { get: (k) => (${JSON.stringify({ "gcp:credentials": emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": emu.endpoint })})[k] };
    async function lifecycle(r, news) {
      const p = load(r);
      await p.configure({ config });
      const checked = await p.check({}, { ...news, __provider: "x" });
      if (checked.failures) throw new Error(r + ": " + JSON.stringify(checked.failures));
      const created = await p.create(checked.inputs);
      const read = await p.read(created.id, created.outs);
      return { p, created, read };
    }
    (async () => {
      const out = {};
      const b = await lifecycle("Bucket", { namePrefix: "fresh-proc" });
      const sa = await lifecycle("ServiceAccount", { namePrefix: "fresh-proc" });
      const role = await lifecycle("CustomRole", { roleIdPrefix: "freshProc", permissions: ["storage.objects.create"] });
      const grant = await lifecycle("BucketIamMember", { bucket: b.created.id, role: role.created.outs.name, member: sa.created.outs.member });
      const key = await lifecycle("ServiceAccountKey", { serviceAccountEmail: sa.created.outs.email });
      for (const [name, x] of Object.entries({ b, sa, role, grant, key })) out[name] = { id: x.created.id, readId: x.read.id };
      out.keyIsJson = JSON.parse(key.created.outs.privateKeyJson).type === "service_account";
      const feed = load("Changefeed");
      await feed.configure({ config });
      const checked = await feed.check({}, { owner: "serialization/test/feed", sink: { bucket: b.created.id, credentials: key.created.outs.privateKeyBase64 }, __provider: "x" });
      out.feedSelect = checked.inputs.select;
      const setting = load("ClusterSetting");
      await setting.configure({ config });
      out.settingName = (await setting.check({}, { __provider: "x" })).inputs.name;
      for (const x of [key, grant, role, sa, b]) await x.p.delete(x.created.id, x.created.outs);
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e.stack || e); process.exit(1); });`;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ["-e", script], { cwd: dir }, (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(out))),
  );
  const out = JSON.parse(stdout.trim().split("\n").pop()!);
  for (const r of ["b", "sa", "role", "grant", "key"]) {
    expect(out[r].id).toBeTruthy();
    expect(out[r].readId).toBe(out[r].id);
  }
  expect(out.keyIsJson).toBe(true);
  expect(out.feedSelect).toBe("SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at FROM eventstore.events2");
  expect(out.settingName).toBe("kv.rangefeed.enabled");
  // Deleted again: nothing of ours is left.
  expect(emu.storage.buckets.has(out.b.id)).toBe(false);
  expect(emu.iam.accounts.filter((a) => a.email.startsWith("fresh-proc") && !a.deleted)).toEqual([]);
  expect(emu.iam.roles.get(`${emu.project}/${out.role.id.split("/").pop()}`)!.deleted).toBe(true);
});
