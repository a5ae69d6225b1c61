// `import` and `get` of the package's resources fail in the program with one sentence that says
// there is no import and what to do instead (the dynamic provider host would otherwise fail with
// "code must be a string, not undefined", pulumi-dynamic.md §1.3).
import { Bucket, BucketIamMember, Changefeed, ClusterSetting, CustomRole, ServiceAccount, ServiceAccountKey } from "../../provider";
import { bucketOperations } from "../../provider/gcp/bucket";
import { changefeedOperations } from "../../provider/cockroach/changefeed";

const make: [string, (opts: any) => unknown][] = [
  ["Bucket", (o) => new Bucket("b", {}, o)],
  ["ServiceAccount", (o) => new ServiceAccount("sa", {}, o)],
  ["CustomRole", (o) => new CustomRole("r", { permissions: ["storage.objects.create"] }, o)],
  ["BucketIamMember", (o) => new BucketIamMember("g", { bucket: "b", role: "roles/x", member: "user:a@b.c" }, o)],
  ["ServiceAccountKey", (o) => new ServiceAccountKey("k", { serviceAccountEmail: "writer-abc123@p-123.iam.gserviceaccount.com" }, o)],
  ["ClusterSetting", (o) => new ClusterSetting("s", {}, o)],
  ["Changefeed", (o) => new Changefeed("f", { sink: { bucket: "b", auth: "implicit" } }, o)],
];

test.each(make)("%s: import and get are refused with what to do instead", (type, construct) => {
  for (const [opts, how] of [
    [{ import: "existing-id" }, "imported"],
    [{ id: "existing-id" }, "read with `get`"],
  ] as const) {
    expect(() => construct(opts)).toThrow(
      new RegExp(`^${type} \\w+ cannot be ${how.replace(/[`]/g, ".")}: dynamic resources have no import in Pulumi; .+\\.$`),
    );
  }
});

test("read without state (what import would call) says the same", async () => {
  await expect(bucketOperations.read(undefined, "audit-logs")).rejects.toThrow(/^Bucket audit-logs cannot be imported: .*existingBucket/);
  await expect(changefeedOperations.read(undefined, "changefeed-1")).rejects.toThrow(/^Changefeed changefeed-1 cannot be imported: .*marker/);
});
