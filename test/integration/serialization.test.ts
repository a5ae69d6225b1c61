// The provider objects as Pulumi stores them: serialized from the package as a consumer installs it,
// small, referring only to module paths we keep stable, and working when a fresh Node process loads
// them the way the dynamic-provider host does (require-from-string, cwd = the program directory) —
// today's and those stacks made by version 0.1.0 hold (test/fixtures/stored-providers-0.1.0.json).
import * as fs from "fs";
import * as path from "path";
import { execFile } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { GcpEmulator } from "../../stand-ins";
import { Consumer, consumerLayout } from "../harness/consumer";

jest.setTimeout(120_000);

/**
 * Every module a stored provider may `require`, listed from provider/stored/ itself. Renaming or
 * removing one breaks `destroy` and `refresh` of stacks created with an older version, so the folder
 * must keep every path a released version stored (test/fixtures/stored-modules.json); a new module is
 * added to that list deliberately.
 */
const STORED_DIR = path.join(__dirname, "..", "..", "provider", "stored");
const STORED_MODULES = fs
  .readdirSync(STORED_DIR)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => `zitadel-audit-stream/dist/provider/stored/${f.replace(/\.ts$/, ".js")}`)
  .sort();
const PINNED: string[] = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "stored-modules.json"), "utf8"));
/** What 0.1.0 stored: `{ module: "<one of these>", operations: "<its export>" }` and forwarding methods. */
const V010_MODULES: Record<string, string> = {
  "zitadel-audit-stream/dist/provider/gcp/bucket.js": "bucketOperations",
  "zitadel-audit-stream/dist/provider/gcp/service-account.js": "serviceAccountOperations",
  "zitadel-audit-stream/dist/provider/gcp/custom-role.js": "customRoleOperations",
  "zitadel-audit-stream/dist/provider/gcp/bucket-iam-member.js": "bucketIamMemberOperations",
  "zitadel-audit-stream/dist/provider/gcp/service-account-key.js": "serviceAccountKeyOperations",
  "zitadel-audit-stream/dist/provider/cockroach/cluster-setting.js": "clusterSettingOperations",
  "zitadel-audit-stream/dist/provider/cockroach/changefeed.js": "changefeedOperations",
};
/** The resources 0.1.0 had (its fixture holds their stored text). */
const RESOURCES = ["Bucket", "ServiceAccount", "CustomRole", "BucketIamMember", "ServiceAccountKey", "ClusterSetting", "Changefeed"] as const;
const V010: Record<string, string> = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "stored-providers-0.1.0.json"), "utf8"));

let emu: GcpEmulator;
let consumer: Consumer;
/** Every exported resource's serialized provider, by class name. */
const texts: Record<string, string> = {};

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  consumer = consumerLayout("serialize");
  for (const [name, value] of Object.entries(consumer.pkg as Record<string, any>)) {
    if (typeof value !== "function" || !value.provider) continue;
    const provider = value.provider;
    texts[name] = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
  }
});
afterAll(async () => {
  consumer?.dispose();
  await emu?.stop();
});

test("provider/stored/ keeps every module a released version's state may require, and nothing unlisted", () => {
  expect(STORED_MODULES).toEqual([...PINNED].sort());
  for (const mod of STORED_MODULES) expect(fs.existsSync(path.join(consumer.dir, "node_modules", mod))).toBe(true);
});

test("every resource's serialized provider is at most 1 KB: a require of its own stored module, nothing else; every stored module is some resource's", () => {
  expect(Object.keys(texts).length).toBeGreaterThanOrEqual(RESOURCES.length);
  const used = new Map<string, string>();
  for (const [r, text] of Object.entries(texts)) {
    expect({ r, bytes: text.length <= 1024 }).toEqual({ r, bytes: true });
    const required = [...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]);
    expect({ r, required: required.length }).toEqual({ r, required: 1 });
    expect(STORED_MODULES).toContain(required[0]);
    expect(text).not.toMatch(/\bmodule: "/);
    expect({ module: required[0], usedBy: used.get(required[0]) ?? r }).toEqual({ module: required[0], usedBy: r });
    used.set(required[0], r);
  }
  expect([...used.keys()].sort()).toEqual(STORED_MODULES);
});

test.each(RESOURCES)("%s: what 0.1.0 stored still names a module and export this version has", (r) => {
  const [, mod, ops] = /\bmodule: "([^"]+)", operations: "([^"]+)"/.exec(V010[r])!;
  expect(V010_MODULES[mod]).toBe(ops);
  expect(typeof require(path.join(consumer.dir, "node_modules", mod))[ops].delete).toBe("function");
});

test.each([
  ["today's", "fresh-new", () => texts],
  ["0.1.0's", "fresh-old", () => V010],
])(
  "%s stored providers, loaded in a fresh process: the GCP ones create, read and delete against the emulator, and the CockroachDB ones check",
  async (_format, prefix, stored) => {
    const dir = path.join(consumer.dir, prefix);
    fs.mkdirSync(dir);
    for (const r of RESOURCES) fs.writeFileSync(path.join(dir, `${r}.js`), stored()[r]);
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
      const b = await lifecycle("Bucket", { namePrefix: "${prefix}" });
      const sa = await lifecycle("ServiceAccount", { namePrefix: "${prefix}" });
      const role = await lifecycle("CustomRole", { roleIdPrefix: "${prefix.replace("-", "_")}", permissions: ["storage.objects.create"] });
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
    expect(emu.iam.accounts.filter((a) => a.email.startsWith(prefix) && !a.deleted)).toEqual([]);
    expect(emu.iam.roles.get(`${emu.project}/${out.role.id.split("/").pop()}`)!.deleted).toBe(true);
  },
);
