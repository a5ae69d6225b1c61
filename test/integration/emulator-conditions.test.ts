// IAM Conditions on bucket bindings in the emulator: a grant scoped to a prefix lets its member read and
// list the objects under it and nothing else; a condition the emulator cannot judge is refused when set.
import { GcpEmulator } from "../../stand-ins";
import { conditionHolds, parseCondition } from "../../stand-ins/gcp/conditions";
import { Gcp, gcpClients } from "../../provider/gcp/client";
import { statusOf } from "../../provider/gcp/recovery";
import { prefixCondition } from "../../provider/gcp/bucket-iam-member";

jest.setTimeout(60_000);

let emu: GcpEmulator;
let admin: Gcp;
beforeAll(async () => {
  emu = await new GcpEmulator().start();
  admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
});
afterAll(() => emu.stop());

const status = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e) => statusOf(e),
  );

test("the condition language: the prefix condition holds for objects under the prefix and listings of it, nothing else", () => {
  const c = prefixCondition("audit", "events");
  const object = (name: string) => ({ resourceName: `projects/_/buckets/audit/objects/${name}`, resourceType: "storage.googleapis.com/Object" as const });
  const list = (prefix: string) => ({ resourceName: "projects/_/buckets/audit", resourceType: "storage.googleapis.com/Bucket" as const, listPrefix: prefix });
  expect(conditionHolds(c, object("events/2026/a.ndjson"))).toBe(true);
  expect(conditionHolds(c, object("eventsx/a.ndjson"))).toBe(false);
  expect(conditionHolds(c, object("secrets/a"))).toBe(false);
  expect(conditionHolds(c, list("events/"))).toBe(true);
  expect(conditionHolds(c, list("events/2026-"))).toBe(true);
  expect(conditionHolds(c, list(""))).toBe(false);
  expect(conditionHolds(c, { resourceName: "projects/_/buckets/audit", resourceType: "storage.googleapis.com/Bucket" })).toBe(false);
  expect(() => parseCondition('request.time < timestamp("2030-01-01T00:00:00Z")')).toThrow(/cannot read the condition at " < timestamp/);
  expect(() => parseCondition('request.host == "x"')).toThrow(/request\.host is not part of the condition language/);
  expect(
    conditionHolds(
      { expression: '!(resource.type == "storage.googleapis.com/Bucket") && resource.name.startsWith("projects/_/buckets/audit/objects/a")' },
      object("a/b"),
    ),
  ).toBe(true);
});

test("a reader granted objectViewer under a prefix reads and lists only there; the policy shows the condition at version 3", async () => {
  const p = emu.project;
  await admin.storage.buckets.insert({ project: p, requestBody: { name: "scoped-audit", iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } } });
  for (const name of ["events/a.ndjson", "events/b.ndjson", "other/secret.txt"])
    await admin.storage.objects.insert({ bucket: "scoped-audit", name, media: { body: "x\n" } });
  const sa = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "scoped-reader" } })).data;
  const key = (await admin.iam.projects.serviceAccounts.keys.create({ name: sa.name!, requestBody: {} })).data;
  const reader = await gcpClients({ credentials: Buffer.from(key.privateKeyData!, "base64").toString("utf8"), endpoint: emu.endpoint });

  const policy = (await admin.storage.buckets.getIamPolicy({ bucket: "scoped-audit", optionsRequestedPolicyVersion: 3 })).data;
  const condition = prefixCondition("scoped-audit", "events");
  // Version 1 with a condition is refused, as Google does.
  expect(
    await status(
      admin.storage.buckets.setIamPolicy({
        bucket: "scoped-audit",
        requestBody: {
          ...policy,
          bindings: [...(policy.bindings ?? []), { role: "roles/storage.objectViewer", members: [`serviceAccount:${sa.email}`], condition }],
        },
      }),
    ),
  ).toBe(400);
  await admin.storage.buckets.setIamPolicy({
    bucket: "scoped-audit",
    requestBody: {
      ...policy,
      version: 3,
      bindings: [...(policy.bindings ?? []), { role: "roles/storage.objectViewer", members: [`serviceAccount:${sa.email}`], condition }],
    },
  });
  const back = (await admin.storage.buckets.getIamPolicy({ bucket: "scoped-audit", optionsRequestedPolicyVersion: 3 })).data;
  expect(back.version).toBe(3);
  expect(back.bindings).toContainEqual({ role: "roles/storage.objectViewer", members: [`serviceAccount:${sa.email}`], condition });

  expect(await status(reader.storage.objects.get({ bucket: "scoped-audit", object: "events/a.ndjson" }))).toBe(200);
  expect(await status(reader.storage.objects.get({ bucket: "scoped-audit", object: "other/secret.txt" }))).toBe(403);
  expect(((await reader.storage.objects.list({ bucket: "scoped-audit", prefix: "events/" })).data.items ?? []).map((o) => o.name)).toEqual([
    "events/a.ndjson",
    "events/b.ndjson",
  ]);
  expect(await status(reader.storage.objects.list({ bucket: "scoped-audit" }))).toBe(403);
  expect(await status(reader.storage.objects.list({ bucket: "scoped-audit", prefix: "other/" }))).toBe(403);
});

test("a condition the emulator cannot evaluate is refused when set, naming it", async () => {
  const p = emu.project;
  await admin.storage.buckets.insert({ project: p, requestBody: { name: "cond-refused", iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } } });
  const policy = (await admin.storage.buckets.getIamPolicy({ bucket: "cond-refused", optionsRequestedPolicyVersion: 3 })).data;
  const e = await admin.storage.buckets
    .setIamPolicy({
      bucket: "cond-refused",
      requestBody: {
        ...policy,
        version: 3,
        bindings: [
          {
            role: "roles/storage.objectViewer",
            members: ["group:soc@example.com"],
            condition: { title: "until 2030", expression: 'request.time < timestamp("2030-01-01T00:00:00Z")' },
          },
        ],
      },
    })
    .then(
      () => undefined,
      (x) => x,
    );
  expect(statusOf(e)).toBe(400);
  expect(String(e.message)).toMatch(/The condition "until 2030" cannot be evaluated by this emulator/);
});
