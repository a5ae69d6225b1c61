// Bad inputs are refused at `check` with field-level failures, before any API call.
import { named } from "../helpers/failures";
import { Bucket, BucketIamMember, CustomRole, PubSubServiceAgent, ServiceAccount, ServiceAccountKey, pubsubServiceAgentEmail } from "../../provider";
import { UNKNOWN } from "../../provider/engine/check";

const checkOf = (cls: any) => (news: Record<string, unknown>) => cls.provider.check({}, { ...news, __provider: "text" });
const bucket = checkOf(Bucket);
const sa = checkOf(ServiceAccount);
const role = checkOf(CustomRole);
const grant = checkOf(BucketIamMember);
const key = checkOf(ServiceAccountKey);

const SA_EMAIL = "writer-1@audit-project.iam.gserviceaccount.com";
const okGrant = { bucket: "audit-bucket", role: "roles/storage.objectCreator", member: `serviceAccount:${SA_EMAIL}` };

type Case = [string, () => Promise<any>, string, RegExp];
const cases: Case[] = [
  ["bucket name with capitals", () => bucket({ name: "Audit-Logs" }), "name", /lowercase/],
  ["bucket name starting with goog", () => bucket({ name: "goog-audit" }), "name", /goog/],
  ["bucket name containing google", () => bucket({ name: "my-google-logs" }), "name", /google/],
  ["bucket name too long", () => bucket({ name: "a".repeat(64) }), "name", /3 to 63/],
  ["bucket name that is an IP address", () => bucket({ name: "10.0.0.1" }), "name", /IP addresses/],
  ["bucket with neither name nor prefix", () => bucket({}), "name", /name or namePrefix/],
  ["bucket prefix with a slash", () => bucket({ namePrefix: "audit/logs" }), "namePrefix", /lowercase letters/],
  ["unknown storage class", () => bucket({ namePrefix: "a", storageClass: "GLACIER" }), "storageClass", /STANDARD/],
  ["location with spaces", () => bucket({ namePrefix: "a", location: "us central" }), "location", /Cloud Storage location/],
  ["label key with capitals", () => bucket({ namePrefix: "a", labels: { Team: "x" } }), "labels.Team", /label keys/],
  ["label value with a space", () => bucket({ namePrefix: "a", labels: { team: "i am" } }), "labels.team", /label values/],
  ["negative retention", () => bucket({ namePrefix: "a", retentionPeriodSeconds: -5 }), "retentionPeriodSeconds", /greater than zero/],
  ["retention of 100 years", () => bucket({ namePrefix: "a", retentionPeriodSeconds: 3_155_760_000 }), "retentionPeriodSeconds", /100 years/],
  [
    "lifecycle rule without condition",
    () => bucket({ namePrefix: "a", lifecycleRules: [{ action: { type: "Delete" }, condition: {} }] }),
    "lifecycleRules.0.condition",
    /at least one condition/,
  ],
  [
    "SetStorageClass without a class",
    () => bucket({ namePrefix: "a", lifecycleRules: [{ action: { type: "SetStorageClass" }, condition: { age: 30 } }] }),
    "lifecycleRules.0.action.storageClass",
    /required with SetStorageClass/,
  ],
  ["public access prevention typo", () => bucket({ namePrefix: "a", publicAccessPrevention: "enforce" }), "publicAccessPrevention", /"enforced"/],
  ["bucket option that does not exist", () => bucket({ namePrefix: "a", acl: "public-read" }), "acl", /unknown option/],
  ["accountId too short", () => sa({ accountId: "abc" }), "accountId", /6 to 30/],
  ["accountId with underscore", () => sa({ accountId: "cdc_writer" }), "accountId", /RFC 1035/],
  ["accountId ending in a hyphen", () => sa({ accountId: "cdc-writer-" }), "accountId", /RFC 1035/],
  ["display name over 100 bytes", () => sa({ accountId: "cdc-writer", displayName: "\u00e9".repeat(51) }), "displayName", /100 bytes/],
  ["project id with capitals", () => sa({ accountId: "cdc-writer", project: "My-Project" }), "project", /project id/],
  ["roleId with a hyphen", () => role({ roleId: "audit-writer", permissions: ["storage.objects.create"] }), "roleId", /letters, digits, '_' and '\.'/],
  ["role without permissions", () => role({ roleId: "auditWriter", permissions: [] }), "permissions", /at least one permission/],
  ["permission that is not a permission", () => role({ roleId: "auditWriter", permissions: ["storage.objects.*"] }), "permissions.0", /permission name/],
  ["unknown launch stage", () => role({ roleId: "auditWriter", permissions: ["storage.objects.create"], stage: "PROD" }), "stage", /GA/],
  ["member without a type prefix", () => grant({ ...okGrant, member: SA_EMAIL }), "member", /principal such as/],
  ["member of an unknown type", () => grant({ ...okGrant, member: "robot:" + SA_EMAIL }), "member", /principal such as/],
  ["role that is neither predefined nor custom", () => grant({ ...okGrant, role: "storage.objectCreator" }), "role", /roles\/<id>/],
  ["custom role in short form", () => grant({ ...okGrant, role: "roles/audit-writer" }), "role", /roles\/<id>/],
  ["grant on a bad bucket name", () => grant({ ...okGrant, bucket: "Bad Bucket" }), "bucket", /lowercase/],
  ["key for a user, not a service account", () => key({ serviceAccountEmail: "alice@example.com" }), "serviceAccountEmail", /service account email/],
  ["unknown key algorithm", () => key({ serviceAccountEmail: SA_EMAIL, keyAlgorithm: "KEY_ALG_RSA_4096" }), "keyAlgorithm", /KEY_ALG_RSA_2048/],
  ["rotation trigger that is not a string", () => key({ serviceAccountEmail: SA_EMAIL, rotationTrigger: 7 }), "rotationTrigger", /string/],
];

describe("check refuses bad inputs with the field named", () => {
  test(`at least 25 cases (${cases.length})`, () => expect(cases.length).toBeGreaterThanOrEqual(25));

  test.each(cases)("%s", async (_name, run, property, reason) => {
    const r = await run();
    expect(r.inputs).toBeUndefined();
    expect(r.failures?.length).toBeGreaterThan(0);
    expect(named(r.failures)).toContainEqual({ property, reason: expect.stringMatching(reason) });
  });
});

describe("check on good inputs", () => {
  test("fills defaults so diff compares complete values, and keeps a generated name stable", async () => {
    const first = await bucket({ namePrefix: "audit-logs" });
    expect(first.inputs).toMatchObject({
      location: "US",
      storageClass: "STANDARD",
      uniformBucketLevelAccess: true,
      publicAccessPrevention: "enforced",
      forceDestroy: false,
      autoNamed: true,
    });
    const again = await (Bucket as any).provider.check(first.inputs, { namePrefix: "audit-logs", __provider: "text" });
    expect(again.inputs.name).toBe(first.inputs.name);
    const moved = await (Bucket as any).provider.check(first.inputs, { namePrefix: "audit-logs", location: "eu", __provider: "text" });
    expect(moved.inputs.name).not.toBe(first.inputs.name);
    expect(moved.inputs.location).toBe("EU");
  });

  test("values still unknown during preview are not failures", async () => {
    const r = await grant({ bucket: UNKNOWN, role: "roles/storage.objectCreator", member: UNKNOWN });
    expect(r.failures).toBeUndefined();
    expect(r.inputs.member).toBe(UNKNOWN);
    const bad = await grant({ bucket: UNKNOWN, role: "nonsense", member: UNKNOWN });
    expect(named(bad.failures).map((f: any) => f.property)).toEqual(["role"]);
  });

  test("the Pub/Sub service agent: the project from config or the argument, no undefined values, a new project replaces", async () => {
    const agent = (PubSubServiceAgent as any).provider;
    const env = process.env;
    const saved = ["GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_CREDENTIALS"].map((k) => [k, env[k]] as const);
    for (const [k] of saved) delete env[k];
    try {
      // (The host adds __provider back to every result.)
      expect(await agent.check({}, { __provider: "text" })).toStrictEqual({ inputs: {} }); // strict: no key holding undefined
      expect((await agent.check({}, { project: "audit-project", __provider: "text" })).inputs).toEqual({ project: "audit-project" });
      expect(named((await agent.check({}, { project: "Audit Project", __provider: "text" })).failures).map((f: any) => f.property)).toEqual(["project"]);
    } finally {
      for (const [k, v] of saved) if (v !== undefined) env[k] = v;
    }
    const olds = {
      project: "audit-project",
      projectNumber: "415104041262",
      email: "service-415104041262@gcp-sa-pubsub.iam.gserviceaccount.com",
      member: "serviceAccount:service-415104041262@gcp-sa-pubsub.iam.gserviceaccount.com",
    };
    expect(await agent.diff("x", olds, { project: "audit-project" })).toMatchObject({ changes: false });
    expect(await agent.diff("x", olds, { project: "other-project" })).toMatchObject({ changes: true, replaces: ["project"] });
    expect(pubsubServiceAgentEmail("415104041262")).toBe(olds.email);
  });

  test("permissions are de-duplicated and sorted; the title defaults to the role id", async () => {
    const r = await role({ roleId: "auditWriter", permissions: ["storage.objects.get", "storage.objects.create", "storage.objects.get"] });
    expect(r.inputs.permissions).toEqual(["storage.objects.create", "storage.objects.get"]);
    expect(r.inputs.title).toBe("auditWriter");
  });
});
