// examples/postgres-cloud-run as a user runs it: the package installed from its directory, `pulumi up`
// through the CLI against PostgreSQL 15 and the stand-ins, whose Cloud Run runs the real Debezium
// Server as the service declares it. Asserted through the CLI and what arrives: a setting Cloud Run
// cannot use is refused at preview naming it; events flow; a password rotation (a new secret version,
// a new revision pinned to it) replaces the engine's instance with nothing lost; destroy leaves no
// service, secret or slot.
import * as fs from "fs";
import { Client } from "pg";
import { ConsumerProject, PulumiCli, consumerProject, summary } from "../harness/cli";
import { startZitadelDatabase, insertZitadelEvents } from "../../tools/harness/postgres";
import { DEBEZIUM_VERSION, cloudRunEngineUp, debeziumImage } from "../../tools/harness/debezium";
import { pullWithKeys } from "../../tools/harness/delivered";
import { GcpEmulator, eventKey, insertedKey, makeEvents } from "../../stand-ins";
import { Gcp, gcpClients } from "../../provider/gcp/client";
import * as os from "os";
import * as path from "path";

jest.setTimeout(600_000);

let db: Awaited<ReturnType<typeof startZitadelDatabase>>;
let emu: GcpEmulator;
let admin: Gcp;
let project: ConsumerProject;
let cli: PulumiCli;
const STACK = "dev";
const TYPES = ["user.human.added", "user.human.password.changed", "org.added"];

beforeAll(async () => {
  [db, emu] = await Promise.all([startZitadelDatabase({}, { passwords: true }), new GcpEmulator().start()]);
  admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  emu.cloudRun.images.set(
    `europe-west1-docker.pkg.dev/${emu.project}/quay/debezium/server:${DEBEZIUM_VERSION}`,
    debeziumImage(async (sa) => ({ DEBEZIUM_SINK_PUBSUB_ADDRESS: await emu.pubsubGrpc.endpointFor(sa) })),
  );
  project = consumerProject("postgres-cloud-run", "directory");
  cli = new PulumiCli(fs.mkdtempSync(path.join(os.tmpdir(), "zas-cli-run-")));
});
afterAll(async () => {
  if (cli && project) await cli.run(project.dir, ["destroy", "--yes", "--skip-preview", "--stack", STACK], { allowFailure: true });
  project?.dispose();
  await emu?.stop();
  await db?.stop();
  if (cli) fs.rmSync(cli.base, { recursive: true, force: true });
});

test("examples/postgres-cloud-run: refused settings named at preview; events flow; a password rotation rolls the engine with nothing lost; destroy leaves nothing", async () => {
  const dir = project.dir;
  await cli.run(dir, ["stack", "init", STACK]);
  await cli.configure(dir, STACK, {
    "gcp:project": { value: emu.project },
    "gcp:credentials": { value: fs.readFileSync(emu.adminKeyFile, "utf8"), secret: true },
    "zitadel-audit-stream:gcpEndpoint": { value: emu.endpoint },
    "zitadel-audit-stream:postgresUrl": { value: db.pg.url(), secret: true },
    "zitadel-audit-postgres:region": { value: "europe-west1" },
    "zitadel-audit-postgres:image": { value: `quay.io/debezium/server:${DEBEZIUM_VERSION}` },
    "zitadel-audit-postgres:forceDestroy": { value: "true" },
    "zitadel-audit-postgres:passwordRotationTrigger": { value: "1" },
  });
  // quay.io cannot be pulled by Cloud Run: refused before anything is made, naming the setting and the fix.
  const refused = await cli.run(dir, ["preview", "--stack", STACK], { allowFailure: true });
  expect(refused.code).not.toBe(0);
  expect(refused.stdout + refused.stderr).toMatch(
    /source\.postgres\.cloudRun\.image: Cloud Run cannot pull quay\.io\/debezium\/server:\S+ from quay\.io: make an Artifact Registry remote repository/,
  );

  await cli.run(dir, [
    "config",
    "set",
    "--stack",
    STACK,
    "zitadel-audit-postgres:image",
    `europe-west1-docker.pkg.dev/${emu.project}/quay/debezium/server:${DEBEZIUM_VERSION}`,
  ]);
  const up = await cli.run(dir, ["up", "--yes", "--skip-preview", "--stack", STACK]);
  expect(summary(up.stdout).created).toBeGreaterThan(15);
  const out = JSON.parse((await cli.run(dir, ["stack", "output", "--json", "--stack", STACK])).stdout);
  const [service] = out.engineServices;
  expect(service).toBe(`projects/${emu.project}/locations/europe-west1/services/zitadel-audit-engine`);
  const first = await cloudRunEngineUp(emu, service, 180_000);
  expect(fs.readdirSync(path.join(first.dir))).toContain("tmp"); // the stand-in's container: its own /tmp

  const writer = new Client({ connectionString: db.pg.url() });
  await writer.connect();
  const all = makeEvents(40, 0);
  await insertZitadelEvents(writer, all.slice(0, 20));

  // Rotation: the role's new password, a new secret version, a new revision pinned to it, while events are written.
  await cli.run(dir, ["config", "set", "--stack", STACK, "zitadel-audit-postgres:passwordRotationTrigger", "2"]);
  const writing = insertZitadelEvents(writer, all.slice(20, 30), 0);
  const rotated = await cli.run(dir, ["up", "--yes", "--skip-preview", "--stack", STACK]);
  await writing;
  expect(rotated.stdout).toMatch(/~\s+pulumi-nodejs:dynamic\/postgres:PgRole zitadel-audit-engine-login updated/);
  expect(rotated.stdout).toMatch(/~\s+pulumi-nodejs:dynamic\/gcp:SecretManagerSecret zitadel-audit-engine-password updated/);
  expect(rotated.stdout).toMatch(/~\s+pulumi-nodejs:dynamic\/gcp:CloudRunService zitadel-audit-engine updated/);
  const second = await cloudRunEngineUp(emu, service, 180_000, first);
  expect(second.revision).toMatch(/^zitadel-audit-engine-00002-/);
  expect(first.exited).toBe(true);
  const versions = emu.secretmanager.secrets.get(`${emu.project}/zitadel-audit-engine-password`)!.versions.map((v) => v.state);
  expect(versions).toEqual(["ENABLED", "ENABLED"]);
  await insertZitadelEvents(writer, all.slice(30));
  await writer.end();

  const expected = new Set(all.filter((e) => TYPES.includes(e.eventType)).map(insertedKey));
  const got = new Set<string>();
  const deadline = Date.now() + 120_000;
  while ([...expected].some((k) => !got.has(k)) && Date.now() < deadline) {
    for (const m of await pullWithKeys(admin, out.siemSubscription)) got.add(eventKey(m.data));
    await new Promise((r) => setTimeout(r, 500));
  }
  expect([...expected].filter((k) => !got.has(k))).toEqual([]);
  expect([...got].filter((k) => !expected.has(k))).toEqual([]);

  const destroyed = await cli.run(dir, ["destroy", "--yes", "--skip-preview", "--stack", STACK]);
  expect(summary(destroyed.stdout).deleted).toBe(summary(up.stdout).created);
  expect([emu.cloudRun.services.size, emu.secretmanager.secrets.size]).toEqual([0, 0]);
  expect((await db.admin.query("SELECT count(*)::int AS n FROM pg_replication_slots")).rows[0].n).toBe(0);
  expect(second.exited).toBe(true);
});
