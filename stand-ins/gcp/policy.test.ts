// IAM policies the emulator keeps on resources (policy.ts): etags compared as the bytes they encode.
import * as fs from "fs";
import { GcpEmulator } from "./emulator";
import { sameEtag } from "./policy";
import { RestClient, restClient } from "./rest-client";

let emu: GcpEmulator;
let admin: RestClient;

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  admin = await restClient(emu, fs.readFileSync(emu.adminKeyFile, "utf8"));
});
afterAll(() => emu?.stop());

test("a policy etag is compared as the bytes it encodes: sent back url-safe (as gcloud's apitools does) it still matches", async () => {
  expect(sameEtag("ab+/cdef", "ab-_cdef")).toBe(true);
  expect(sameEtag("ab+/cdef", "ab+/cdeg")).toBe(false);
  // A bucket's policy, written until its etag holds '+' or '/', then written with that etag made url-safe.
  const bucket = `etag-${Date.now()}`;
  await admin.ok("POST", `/storage/v1/b?project=${emu.project}`, { name: bucket, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } });
  let policy = await admin.ok("GET", `/storage/v1/b/${bucket}/iam`);
  for (let i = 0; i < 100 && !/[+/]/.test(policy.etag); i++)
    policy = await admin.ok("PUT", `/storage/v1/b/${bucket}/iam`, { bindings: policy.bindings, etag: policy.etag });
  expect(policy.etag).toMatch(/[+/]/);
  const urlSafe = policy.etag.replace(/\+/g, "-").replace(/\//g, "_");
  const stale = await admin.call("PUT", `/storage/v1/b/${bucket}/iam`, { bindings: policy.bindings, etag: "AAAAAAAA" });
  expect(stale.status).toBe(412);
  expect((await admin.call("PUT", `/storage/v1/b/${bucket}/iam`, { bindings: policy.bindings, etag: urlSafe })).status).toBe(200);
});
