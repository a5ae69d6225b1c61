// The GCP side with @pulumi/gcp instead of this package's dynamic resources; the CockroachDB side
// (ClusterSetting, Changefeed) from this package. See README.md beside this file.
import * as gcp from "@pulumi/gcp";
import { Changefeed, ClusterSetting } from "zitadel-audit-stream";

const bucket = new gcp.storage.Bucket("audit", {
  location: "EU",
  uniformBucketLevelAccess: true,
  publicAccessPrevention: "enforced",
  retentionPolicy: { retentionPeriod: String(365 * 86_400) }, // seconds, as a string in @pulumi/gcp 9
});
const writer = new gcp.serviceaccount.Account("cdc-writer", { accountId: "zitadel-cdc-writer" });
const role = new gcp.projects.IAMCustomRole("cdc-writer", {
  roleId: "zitadelCdcWriter",
  title: "ZITADEL audit stream writer",
  permissions: ["storage.objects.create"],
});
const grant = new gcp.storage.BucketIAMMember("cdc-writer", {
  bucket: bucket.name,
  role: role.name, // projects/<project>/roles/zitadelCdcWriter
  member: writer.member,
});
const key = new gcp.serviceaccount.Key("cdc-writer", { serviceAccountId: writer.name, keepers: { rotation: "2026-11" } });

const rangefeeds = new ClusterSetting("rangefeeds", {});
const feed = new Changefeed(
  "audit",
  {
    // gcp.serviceaccount.Key's privateKey is the base64 key file, as the sink expects.
    sink: { bucket: bucket.name, prefix: "events", partitionFormat: "flat", credentials: key.privateKey },
  },
  { dependsOn: [grant, rangefeeds] },
);

export const jobId = feed.jobId;
