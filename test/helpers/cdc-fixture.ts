// The world a changefeed needs, built the way the guide's first five steps build it: a bucket, a
// service account, a custom role holding only storage.objects.create, the bucket grant, and a key.
import type { Client } from "pg";
import type { GcpEmulator } from "../../stand-ins";
import type { RunningTwin } from "../../stand-ins";
import type { Gcp } from "../../provider/gcp/client";
import type { TwinOptions } from "../../stand-ins";
import { startStandIns } from "./stand-ins";

export interface CdcFixture {
  emu: GcpEmulator;
  twin: RunningTwin;
  admin: Gcp;
  pg: Client;
  bucket: string;
  writerEmail: string;
  /** The writer's key file, base64, as IAM's privateKeyData returns it. */
  keyBase64: string;
  role: string;
  newKey(): Promise<string>;
  grant(): Promise<void>;
  revoke(): Promise<void>;
  stop(): Promise<void>;
}

export async function cdcFixture(opts: Partial<TwinOptions> = {}, bucket = "zitadel-audit-events"): Promise<CdcFixture> {
  const standIns = await startStandIns(opts);
  const { emu, admin } = standIns;
  const p = emu.project;
  await admin.storage.buckets.insert({ project: p, requestBody: { name: bucket, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } } });
  const sa = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "cdc-writer" } })).data;
  await admin.iam.projects.roles.create({
    parent: `projects/${p}`,
    requestBody: { roleId: "cdcObjectCreator", role: { title: "CDC object creator", includedPermissions: ["storage.objects.create"] } },
  });
  const role = `projects/${p}/roles/cdcObjectCreator`;
  const member = `serviceAccount:${sa.email}`;
  const setMember = async (present: boolean) => {
    const policy = (await admin.storage.buckets.getIamPolicy({ bucket })).data;
    const others = (policy.bindings ?? []).filter((b) => b.role !== role);
    policy.bindings = present ? [...others, { role, members: [member] }] : others;
    await admin.storage.buckets.setIamPolicy({ bucket, requestBody: policy });
  };
  await setMember(true);
  const newKey = async () => (await admin.iam.projects.serviceAccounts.keys.create({ name: sa.name!, requestBody: {} })).data.privateKeyData!;
  const keyBase64 = await newKey();
  return {
    ...standIns,
    bucket,
    writerEmail: sa.email!,
    keyBase64,
    role,
    newKey,
    grant: () => setMember(true),
    revoke: () => setMember(false),
  };
}
