// Each GCP resource's lifecycle against the emulator, through the real Google clients: create,
// no-op diff, in-place update, replace, refresh after an out-of-band delete, delete twice.
import { GcpEmulator } from "../../stand-ins";
import { Driver, TEST_DEPLOYMENT, PartialFailure, State } from "../harness/driver";
import type { Operations } from "../../provider/engine/contract";
import { bucketOperations } from "../../provider/gcp/bucket";
import { bucketIamMemberOperations } from "../../provider/gcp/bucket-iam-member";
import { customRoleOperations } from "../../provider/gcp/custom-role";
import { serviceAccountOperations } from "../../provider/gcp/service-account";
import { iamPropagation } from "../../provider/gcp/recovery";
import { serviceAccountKeyOperations } from "../../provider/gcp/service-account-key";
import { gcpClients } from "../../provider/gcp/client";

jest.setTimeout(120_000);

let emu: GcpEmulator;
let admin: Awaited<ReturnType<typeof gcpClients>>;
const config = () => ({ "gcp:credentials": emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": emu.endpoint, "gcp:project": emu.project });
// Resources that make objects get a deployment, as their constructors give one (the stack's identity).
const driver = (ops: Operations, deployment = TEST_DEPLOYMENT) =>
  new Driver(ops, config(), () => ([bucketOperations, serviceAccountOperations, customRoleOperations].some((o) => o === ops) ? { deployment } : {}));

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
});
afterAll(() => emu.stop());

describe("Bucket", () => {
  let d: Driver;
  let s: State;
  beforeAll(async () => (d = driver(bucketOperations)));

  test("create applies the audit defaults and a stable generated name", async () => {
    const r = await d.up({ namePrefix: "audit-logs", labels: { team: "iam" } });
    s = r.state;
    expect(r.op).toBe("create");
    expect(s.id).toMatch(/^audit-logs-[0-9a-f]{6}$/);
    const b = emu.storage.buckets.get(s.id)!;
    expect(b.fields.iamConfiguration).toEqual({ uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: "enforced" });
    expect(b.fields.location).toBe("US");
    expect(s.outputs).toMatchObject({ name: s.id, url: `gs://${s.id}`, project: emu.project, storageClass: "STANDARD", forceDestroy: false });
  });

  test("the same inputs are no change and keep the name", async () => {
    const r = await d.up({ namePrefix: "audit-logs", labels: { team: "iam" } }, s);
    expect(r.op).toBe("same");
    expect(r.state.inputs.name).toBe(s.id);
  });

  test("labels, versioning, lifecycle and retention update in place; removed labels are removed", async () => {
    const before = emu.storage.buckets.get(s.id)!.metageneration;
    const lifecycleRules = [{ action: { type: "Delete" }, condition: { age: 400 } }];
    const r = await d.up({ namePrefix: "audit-logs", labels: { env: "prod" }, versioning: true, lifecycleRules, retentionPeriodSeconds: 3600 }, s);
    expect(r.op).toBe("update");
    s = r.state;
    const b = emu.storage.buckets.get(s.id)!;
    expect(b.metageneration).toBe(before + 1);
    expect(b.fields.labels).toEqual({ env: "prod" });
    expect(b.fields.versioning).toEqual({ enabled: true });
    expect(b.fields.lifecycle).toEqual({ rule: lifecycleRules });
    expect(b.fields.retentionPolicy).toEqual({ retentionPeriod: "3600" });
    // forceDestroy alone changes state, not the bucket.
    const calls = emu.mutatingCalls().length;
    s = (
      await d.up({ namePrefix: "audit-logs", labels: { env: "prod" }, versioning: true, lifecycleRules, retentionPeriodSeconds: 3600, forceDestroy: true }, s)
    ).state;
    expect(emu.mutatingCalls().length).toBe(calls);
    expect(s.outputs.forceDestroy).toBe(true);
  });

  test("refresh reports drift made out of band, and removal of the retention policy", async () => {
    await admin.storage.buckets.patch({ bucket: s.id, requestBody: { labels: { env: "dev" }, retentionPolicy: null } as any });
    const r = (await d.refresh(s))!;
    expect(r.outputs.labels).toEqual({ env: "dev" });
    expect(r.outputs.retentionPeriodSeconds).toBeUndefined();
    const { diff } = await d.diff({ namePrefix: "audit-logs", labels: { env: "prod" } }, r);
    expect(diff.changes).toBe(true);
    expect(diff.replaces).toEqual([]);
  });

  test("a location change replaces the bucket under a new name, creating first", async () => {
    const old = s;
    await admin.storage.buckets.patch({ bucket: old.id, requestBody: { retentionPolicy: null } as any });
    const r = await d.up(
      { namePrefix: "audit-logs", location: "europe-west3", forceDestroy: true },
      { ...old, outputs: { ...old.outputs, retentionPeriodSeconds: undefined } },
    );
    expect(r.op).toBe("replace");
    s = r.state;
    expect(s.id).not.toBe(old.id);
    expect(s.id).toMatch(/^audit-logs-/);
    expect(emu.storage.buckets.get(s.id)!.fields.location).toBe("EUROPE-WEST3");
    expect(emu.storage.buckets.has(old.id)).toBe(false);
  });

  test("a replacement of a bucket that holds objects is refused in preview, even with forceDestroy, unless replaceNonEmpty", async () => {
    const a = (await d.up({ namePrefix: "audit-archive", location: "US", forceDestroy: true })).state;
    await admin.storage.objects.insert({ bucket: a.id, name: "events/1.ndjson", media: { body: "{}" } }, admin.uploadOptions);
    await expect(d.diff({ namePrefix: "audit-archive", location: "EU", forceDestroy: true }, a)).rejects.toThrow(
      new RegExp(
        `changing location of bucket ${a.id} replaces it, and it holds objects \\(audit files\\) that the replacement would delete \\(forceDestroy\\)\\. Keep location as it was; or copy the objects yourself and set replaceNonEmpty: true`,
      ),
    );
    expect(emu.storage.buckets.get(a.id)!.objects.length).toBe(1);
    const r = await d.up({ namePrefix: "audit-archive", location: "EU", forceDestroy: true, replaceNonEmpty: true }, a);
    expect(r.op).toBe("replace");
    expect(emu.storage.buckets.has(a.id)).toBe(false);
    await d.destroy(r.state);
  });

  test("forceDestroy of a bucket whose objects are under retention says it is the retention policy, not a permission", async () => {
    const r = (await d.up({ name: "audit-retained", retentionPeriodSeconds: 3600, forceDestroy: true })).state;
    await admin.storage.objects.insert({ bucket: "audit-retained", name: "events/1.ndjson", media: { body: "{}" } }, admin.uploadOptions);
    const failed = await d.destroy(r).catch((e) => e);
    expect(failed.message).toMatch(/HTTP 403.*retention.*This is the bucket's retention policy, not a missing permission/);
    expect(failed.message).not.toMatch(/lacks/);
    expect(emu.storage.buckets.has("audit-retained")).toBe(true);
  });

  test("a non-empty bucket is kept on delete unless forceDestroy, with a message that says so", async () => {
    const kept = (await d.up({ name: "audit-keep-me" })).state;
    await admin.storage.objects.insert({ bucket: "audit-keep-me", name: "x.ndjson", media: { body: "{}" } }, admin.uploadOptions);
    await expect(d.destroy(kept)).rejects.toThrow(
      /not empty, so it was kept and the destroy stops here\. To keep the archive and drop it from the stack, set the resource option retainOnDelete: true .*forceDestroy: true/,
    );
    expect(emu.storage.buckets.has("audit-keep-me")).toBe(true);
    const forced = (await d.up({ name: "audit-keep-me", forceDestroy: true }, kept)).state;
    await d.destroy(forced);
    expect(emu.storage.buckets.has("audit-keep-me")).toBe(false);
  });

  test("an explicit name replaced in place deletes first", async () => {
    const a = (await d.up({ name: "audit-explicit", location: "US" })).state;
    const { diff } = await d.diff({ name: "audit-explicit", location: "EU" }, a);
    expect(diff).toMatchObject({ changes: true, replaces: ["location"], deleteBeforeReplace: true });
    await d.destroy(a);
  });

  test("refresh after an out-of-band delete reports it gone; delete twice is fine", async () => {
    await admin.storage.buckets.delete({ bucket: s.id });
    expect(await d.refresh(s)).toBeUndefined();
    await d.destroy(s);
    await d.destroy(s);
  });
});

describe("ServiceAccount", () => {
  let d: Driver;
  let s: State;
  beforeAll(async () => (d = driver(serviceAccountOperations)));

  test("create waits until the account is visible, even with IAM lag", async () => {
    emu.knobs.serviceAccountPropagationMs = 1200;
    try {
      const t0 = Date.now();
      s = (await d.up({ namePrefix: "cdc-writer", displayName: "CDC writer" })).state;
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1200);
    } finally {
      emu.knobs.serviceAccountPropagationMs = 0;
    }
    expect(s.outputs.accountId).toMatch(/^cdc-writer-[0-9a-f]{6}$/);
    expect(s.outputs.email).toBe(`${s.outputs.accountId}@${emu.project}.iam.gserviceaccount.com`);
    expect(s.outputs.member).toBe(`serviceAccount:${s.outputs.email}`);
    expect(s.id).toBe(`projects/${emu.project}/serviceAccounts/${s.outputs.email}`);
  });

  test("IAM slower than the wait: the account is recorded in state, and the next up finds the same one", async () => {
    emu.knobs.serviceAccountPropagationMs = 4000;
    iamPropagation.deadlineMs = 1000;
    const slow = new Driver(serviceAccountOperations, config(), () => ({ owner: "gcp-resources/test/slow-sa", deployment: TEST_DEPLOYMENT }));
    try {
      const failed = await slow.up({ namePrefix: "slow-writer" }).catch((e) => e);
      expect(failed).toBeInstanceOf(PartialFailure);
      expect(failed.message).toMatch(
        /was created but IAM still does not show it after 1s\. The account was created and is recorded in state; the next `pulumi up` checks it again/,
      );
      await new Promise((r) => setTimeout(r, 3200));
      const again = await slow.up({ namePrefix: "slow-writer" }, failed.state);
      expect(again.op).toBe("update");
      expect(again.state.outputs.email).toBe(failed.state.outputs.email);
      expect(again.state.outputs.uniqueId).toMatch(/^\d+$/);
      expect(again.state.outputs.pendingVisibility).toBeUndefined();
      const all = (await admin.iam.projects.serviceAccounts.list({ name: `projects/${emu.project}` })).data.accounts ?? [];
      expect(all.filter((a) => a.email!.startsWith("slow-writer-"))).toHaveLength(1);
      await slow.destroy(again.state);
    } finally {
      emu.knobs.serviceAccountPropagationMs = 0;
      iamPropagation.deadlineMs = 180_000;
    }
  });

  test("no change, then an in-place description update", async () => {
    expect((await d.up({ namePrefix: "cdc-writer", displayName: "CDC writer" }, s)).op).toBe("same");
    const r = await d.up({ namePrefix: "cdc-writer", displayName: "CDC writer", description: "writes changefeed files" }, s);
    expect(r.op).toBe("update");
    s = r.state;
    // The account carries the resource's identity after the user's text (provider/ownership.ts); outputs show the text alone.
    expect(emu.iam.findByEmail(s.outputs.email)!.description).toMatch(
      new RegExp(`^writes changefeed files \\[zitadel-audit-stream ${TEST_DEPLOYMENT}-[0-9a-f]{10}-${s.outputs.instance}\\]$`),
    );
    expect(s.outputs.description).toBe("writes changefeed files");
    expect(s.outputs.uniqueId).toBe(emu.iam.findByEmail(s.outputs.email)!.uniqueId);
  });

  test("an accountId change replaces", async () => {
    const r = await d.up({ accountId: "cdc-writer-two", displayName: "CDC writer" }, s);
    expect(r.op).toBe("replace");
    expect(emu.iam.findByEmail(s.outputs.email)!.deleted).toBe(true);
    s = r.state;
    expect(s.outputs.accountId).toBe("cdc-writer-two");
  });

  test("an existing account that another deployment made is not adopted", async () => {
    await expect(driver(serviceAccountOperations, "0e4e000000000002").up({ accountId: "cdc-writer-two" })).rejects.toThrow(
      new RegExp(
        `already exists: it was made by deployment ${TEST_DEPLOYMENT} .*not by this stack's deployment 0e4e000000000002\\. It is left as it is\\. If it is yours .* set takeOver: "${TEST_DEPLOYMENT}"`,
      ),
    );
  });

  test("out-of-band delete shows on refresh; delete twice is fine", async () => {
    await admin.iam.projects.serviceAccounts.delete({ name: s.id });
    expect(await d.refresh(s)).toBeUndefined();
    await d.destroy(s);
    await d.destroy(s);
  });
});

describe("CustomRole", () => {
  let d: Driver;
  let s: State;
  beforeAll(async () => (d = driver(customRoleOperations)));

  test("create, then no change", async () => {
    s = (await d.up({ roleIdPrefix: "auditWriter", permissions: ["storage.objects.create"] })).state;
    expect(s.outputs.roleId).toMatch(/^auditWriter_[0-9a-f]{6}$/);
    expect(s.outputs.name).toBe(`projects/${emu.project}/roles/${s.outputs.roleId}`);
    expect(s.outputs).toMatchObject({ title: s.outputs.roleId, stage: "GA", permissions: ["storage.objects.create"] });
    expect((await d.up({ roleIdPrefix: "auditWriter", permissions: ["storage.objects.create"] }, s)).op).toBe("same");
  });

  test("permissions and title update in place", async () => {
    const r = await d.up({ roleIdPrefix: "auditWriter", title: "Audit writer", permissions: ["storage.objects.create", "storage.objects.delete"] }, s);
    expect(r.op).toBe("update");
    s = r.state;
    const role = emu.iam.roles.get(`${emu.project}/${s.outputs.roleId}`)!;
    expect(role.includedPermissions).toEqual(["storage.objects.create", "storage.objects.delete"]);
    expect(role.title).toBe("Audit writer");
  });

  test("a soft-deleted role of the same id is undeleted and patched, not refused", async () => {
    const first = (await d.up({ roleId: "auditWriterFixed", permissions: ["storage.objects.get"] })).state;
    await d.destroy(first);
    expect(emu.iam.roles.get(`${emu.project}/auditWriterFixed`)!.deleted).toBe(true);
    const again = (await d.up({ roleId: "auditWriterFixed", permissions: ["storage.objects.create"] })).state;
    const role = emu.iam.roles.get(`${emu.project}/auditWriterFixed`)!;
    expect(role.deleted).toBe(false);
    expect(role.includedPermissions).toEqual(["storage.objects.create"]);
    await d.destroy(again);
  });

  test("a roleId change replaces; refresh of a role deleted out of band reports it gone; delete twice", async () => {
    const r = await d.up({ roleId: "auditWriterRenamed", permissions: ["storage.objects.create"] }, s);
    expect(r.op).toBe("replace");
    expect(emu.iam.roles.get(`${emu.project}/${s.outputs.roleId}`)!.deleted).toBe(true);
    s = r.state;
    await admin.iam.projects.roles.delete({ name: s.id });
    expect(await d.refresh(s)).toBeUndefined();
    await d.destroy(s);
    await d.destroy(s);
  });
});

describe("BucketIamMember and ServiceAccountKey", () => {
  let account: State;
  let member: State;
  let key: State;
  let bd: Driver, sad: Driver, md: Driver, kd: Driver;

  beforeAll(async () => {
    [bd, sad, md, kd] = [driver(bucketOperations), driver(serviceAccountOperations), driver(bucketIamMemberOperations), driver(serviceAccountKeyOperations)];
    await bd.up({ name: "audit-grants", forceDestroy: true });
    account = (await sad.up({ accountId: "grantee-one" })).state;
  });

  test("a grant on a bucket that does not exist (a mistyped existingBucket) is refused at check, naming it", async () => {
    const calls = emu.calls.length;
    await expect(md.check({ bucket: "no-such-audit-bucket", role: "roles/storage.objectCreator", member: "user:a@example.com" })).rejects.toThrow(
      /^bucket: gs:\/\/no-such-audit-bucket does not exist \(with AuditStream: check existingBucket/,
    );
    expect(emu.calls.slice(calls).filter((c) => c.path === "/storage/v1/b/no-such-audit-bucket")).toHaveLength(1);
  });

  test("the grant is added next to existing bindings, never replacing them", async () => {
    const other = (await sad.up({ accountId: "someone-else" })).state;
    const policy = (await admin.storage.buckets.getIamPolicy({ bucket: "audit-grants" })).data;
    policy.bindings!.push({ role: "roles/storage.objectCreator", members: [other.outputs.member] });
    await admin.storage.buckets.setIamPolicy({ bucket: "audit-grants", requestBody: policy });

    member = (await md.up({ bucket: "audit-grants", role: "roles/storage.objectCreator", member: account.outputs.member })).state;
    const after = emu.storage.buckets.get("audit-grants")!.policy.bindings;
    const creators = after.find((b) => b.role === "roles/storage.objectCreator")!;
    expect(creators.members.sort()).toEqual([account.outputs.member, other.outputs.member].sort());
    expect(after.some((b) => b.role === "roles/storage.legacyBucketOwner")).toBe(true);
    expect((await md.up({ bucket: "audit-grants", role: "roles/storage.objectCreator", member: account.outputs.member }, member)).op).toBe("same");

    await md.destroy(member);
    const left = emu.storage.buckets.get("audit-grants")!.policy.bindings.find((b) => b.role === "roles/storage.objectCreator")!;
    expect(left.members).toEqual([other.outputs.member]);
    await md.destroy(member);
  });

  test("a concurrent policy writer (412) and a not-yet-visible account (400) are retried", async () => {
    const fresh = await sad.create(await sad.check({ accountId: "brand-new-one" }));
    // IAM lag for the grant (the account looks new again), and one concurrent policy write.
    emu.knobs.serviceAccountPropagationMs = 1500;
    emu.iam.findByEmail(fresh.outputs.email)!.createdAt = Date.now();
    emu.knobs.faults.push({ method: "PUT", path: /^\/storage\/v1\/b\/audit-grants\/iam$/, status: 412, times: 1 });
    const before = emu.calls.length;
    try {
      member = (await md.up({ bucket: "audit-grants", role: "roles/storage.objectCreator", member: fresh.outputs.member })).state;
    } finally {
      emu.knobs.serviceAccountPropagationMs = 0;
    }
    const sets = emu.calls
      .slice(before)
      .filter((c) => c.method === "PUT" && c.path.endsWith("/iam"))
      .map((c) => c.status);
    expect(sets[0]).toBe(412);
    expect(sets).toContain(400);
    expect(sets[sets.length - 1]).toBe(200);
    expect(emu.storage.buckets.get("audit-grants")!.policy.bindings.find((b) => b.role === "roles/storage.objectCreator")!.members).toContain(
      fresh.outputs.member,
    );
  });

  test("out-of-band revoke shows on refresh; a member change replaces", async () => {
    const policy = (await admin.storage.buckets.getIamPolicy({ bucket: "audit-grants" })).data;
    policy.bindings = policy.bindings!.map((b) => ({ ...b, members: b.members!.filter((m) => m !== member.outputs.member) }));
    await admin.storage.buckets.setIamPolicy({ bucket: "audit-grants", requestBody: policy });
    expect(await md.refresh(member)).toBeUndefined();
    const { diff } = await md.diff({ bucket: "audit-grants", role: "roles/storage.objectViewer", member: member.outputs.member }, member);
    expect(diff.replaces).toEqual(["role"]);
  });

  test("a key: secret outputs, no-op diff, rotation creates the new key before deleting the old", async () => {
    key = (await kd.up({ serviceAccountEmail: account.outputs.email })).state;
    const file = JSON.parse(key.outputs.privateKeyJson);
    expect(file.client_email).toBe(account.outputs.email);
    expect(Buffer.from(key.outputs.privateKeyBase64, "base64").toString("utf8")).toBe(key.outputs.privateKeyJson);
    expect(key.outputs.keyId).toBe(file.private_key_id);
    expect((await kd.up({ serviceAccountEmail: account.outputs.email }, key)).op).toBe("same");

    const before = emu.calls.length;
    const r = await kd.up({ serviceAccountEmail: account.outputs.email, rotationTrigger: "2026-11" }, key);
    expect(r.op).toBe("replace");
    const order = emu.calls
      .slice(before)
      .filter((c) => c.method !== "GET" && c.path.includes("/keys"))
      .map((c) => c.method);
    expect(order).toEqual(["POST", "DELETE"]);
    expect(r.state.outputs.keyId).not.toBe(key.outputs.keyId);
    const sa = emu.iam.findByEmail(account.outputs.email)!;
    expect(sa.keys.get(key.outputs.keyId)!.deleted).toBe(true);
    key = r.state;
  });

  test("a deleted key shows as gone on refresh; delete twice is fine", async () => {
    await admin.iam.projects.serviceAccounts.keys.delete({ name: key.id });
    expect(await kd.refresh(key)).toBeUndefined();
    await kd.destroy(key);
    await kd.destroy(key);
  });
});
