// The emulator's Resource Manager subset, read through Google's own Node client
// (@googleapis/cloudresourcemanager v1, as the provider uses it).
import { GcpEmulator } from "./emulator";
import { projectNumberOf, pubsubServiceAgentOf } from "./resourcemanager";
import { gcpClients } from "../../provider/gcp/client";
import { statusOf } from "../../provider/gcp/recovery";

let emu: GcpEmulator;
beforeAll(async () => {
  emu = await new GcpEmulator().start();
});
afterAll(() => emu.stop());

test("projects.get answers the project's number, the same on every call; the Pub/Sub service agent's email is made of it", async () => {
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  const first = (await admin.resourcemanager.projects.get({ projectId: emu.project })).data;
  expect(first).toMatchObject({ projectId: emu.project, lifecycleState: "ACTIVE", name: emu.project });
  expect(first.projectNumber).toMatch(/^[1-9]\d{11}$/);
  expect((await admin.resourcemanager.projects.get({ projectId: emu.project })).data.projectNumber).toBe(first.projectNumber);
  expect(projectNumberOf(emu.project)).toBe(first.projectNumber);
  expect(pubsubServiceAgentOf(emu.project)).toBe(`service-${first.projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`);
  expect(projectNumberOf("another-project")).not.toBe(first.projectNumber);
  expect(emu.resourcemanager.isServiceAgent(pubsubServiceAgentOf(emu.project))).toBe(true);
  expect(emu.resourcemanager.isServiceAgent(pubsubServiceAgentOf("not-a-project-here"))).toBe(false);
});

test("without resourcemanager.projects.get, and for a project that does not exist, 403 alike (no probing of ids)", async () => {
  const sa = emu.iam.createAccount(emu.project, "crm-reader", {});
  const keyFile = emu.iam.createKey(sa, "KEY_ALG_RSA_2048").keyFile;
  const reader = await gcpClients({ credentials: keyFile, endpoint: emu.endpoint, project: emu.project });
  const denied = await reader.resourcemanager.projects.get({ projectId: emu.project }).catch((e) => e);
  expect([statusOf(denied), denied.response?.data?.error?.message, denied.response?.data?.error?.status]).toEqual([
    403,
    "The caller does not have permission",
    "PERMISSION_DENIED",
  ]);
  emu.grantProject(sa.email, ["resourcemanager.projects.get"]);
  expect((await reader.resourcemanager.projects.get({ projectId: emu.project })).data.projectNumber).toBe(projectNumberOf(emu.project));
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  const missing = await admin.resourcemanager.projects.get({ projectId: "no-such-project" }).catch((e) => e);
  expect([statusOf(missing), missing.response?.data?.error?.message]).toEqual([403, "The caller does not have permission"]);
});
