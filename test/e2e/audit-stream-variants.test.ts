// AuditStream variants through the real engine: streaming into an existing bucket, with the
// CockroachDB nodes' own Google identity (AUTH=implicit) instead of a key.
import { Client } from "pg";
import { GcpEmulator } from "../twin/gcp/emulator";
import { RunningTwin, startCockroachTwin } from "../twin/cockroach/spawn";
import { Consumer, consumerLayout } from "../harness/consumer";
import { TestStack, newTestStack, standInConfig } from "../harness/engine";
import { gcpClients } from "../../provider/gcp/client";
import { account, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";

jest.setTimeout(300_000);

let emu: GcpEmulator;
let twin: RunningTwin;
let consumer: Consumer;
let t: TestStack;

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  // The twin's nodes authenticate "implicitly" as this key's account (like a node's ADC).
  twin = await startCockroachTwin({ storageEndpoint: emu.endpoint, implicitKeyFile: emu.adminKeyFile, checkpointMs: 300 });
  consumer = consumerLayout("variants");
});
afterAll(async () => {
  await t?.dispose();
  consumer?.dispose();
  await twin?.stop();
  await emu?.stop();
});

test("existing bucket + implicit credentials: no bucket, account or key created; events arrive; destroy leaves the bucket", async () => {
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  await admin.storage.buckets.insert({ project: emu.project, requestBody: { name: "security-archive", iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } } });
  const { AuditStream } = consumer.pkg;
  t = await newTestStack({
    project: "zitadel-audit-variants",
    parentDir: consumer.dir,
    program: async () => {
      const s = new AuditStream("zitadel-audit", {
        existingBucket: "security-archive",
        prefix: "zitadel",
        partitionFormat: "daily",
        credentials: "implicit",
        implicitMember: `serviceAccount:${emu.adminEmail}`,
        changefeedOptions: { initial_scan: "no" },
      });
      return { bucket: s.bucketName, sink: s.sinkUriRedacted, email: s.serviceAccountEmail };
    },
    config: standInConfig(emu, twin.url),
  });
  const up = await t.stack.up();
  // component, role, grant, rangefeed setting, changefeed — and the stack.
  expect(up.summary.resourceChanges).toEqual({ create: 6 });
  expect(up.outputs.sink.value).toBe("gs://security-archive/zitadel?AUTH=implicit&partition_format=daily");
  expect(emu.iam.accounts.filter((a) => !a.bootstrap)).toEqual([]);
  const grant = emu.storage.buckets.get("security-archive")!.policy.bindings.find((b) => b.role.includes("zitadel_audit_writer"));
  expect(grant?.members).toEqual([`serviceAccount:${emu.adminEmail}`]);

  const pg = new Client({ connectionString: twin.url });
  await pg.connect();
  const events = makeEvents(8);
  await insertEvents(pg, events);
  await pg.end();
  const got = await waitFor("delivery", async () => {
    const d = await readDelivered(admin, "security-archive", "zitadel/");
    return account(events, d.lines).missing === 0 && d;
  });
  for (const f of got.files) expect(f).toMatch(/^zitadel\/\d{4}-\d\d-\d\d\/\d{33}-/);

  const d = await t.stack.destroy();
  expect(d.summary.resourceChanges).toEqual({ delete: 6 });
  expect(emu.storage.buckets.has("security-archive")).toBe(true);
  expect(emu.storage.buckets.get("security-archive")!.policy.bindings.some((b) => b.role.includes("zitadel_audit_writer"))).toBe(false);
});
