// PgSlot on a real PostgreSQL server: the slot made, found again after a lost answer, kept apart from
// a second deployment of the same names, refused where it cannot be told whose a slot is, and
// dropped only once its consumer lets go.
import { spawn, ChildProcess } from "child_process";
import * as path from "path";
import { Client } from "pg";
import { RunningPostgres, postgresBin, startPostgres, startZitadelDatabase } from "../../tools/harness/postgres";
import { pgSlotOperations } from "../../provider/postgres/pg-slot";
import { Driver, TEST_DEPLOYMENT } from "../harness/driver";

jest.setTimeout(120_000);

let pg: RunningPostgres;
let admin: Client;
const OWNER = "proj/dev/audit-slot";
const driver = (deployment = TEST_DEPLOYMENT) =>
  new Driver(pgSlotOperations, { "zitadel-audit-stream:postgresUrl": pg.url() }, () => ({ owner: OWNER, deployment, namePrefix: "audit_slot" }));
const slots = async () => (await admin.query("SELECT slot_name, plugin, active FROM pg_replication_slots ORDER BY slot_name")).rows;

let db: Awaited<ReturnType<typeof startZitadelDatabase>>;
beforeAll(async () => {
  db = await startZitadelDatabase({ max_replication_slots: "4", max_slot_wal_keep_size: "1GB" });
  ({ pg, admin } = db);
  await admin.query("CREATE PUBLICATION zas_test FOR TABLE eventstore.events2");
});
afterAll(() => db?.stop());
afterEach(async () => {
  await admin.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active");
});

test("create makes a pgoutput slot under a name derived from owner and deployment; refresh reads its health; destroy drops it", async () => {
  const d = driver();
  const { state } = await d.up({});
  expect(state.id).toMatch(/^audit_slot_[0-9a-f]{12}$/);
  expect(await slots()).toEqual([{ slot_name: state.id, plugin: "pgoutput", active: false }]);
  expect(state.outputs).toMatchObject({ name: state.id, database: "postgres", active: false, walStatus: "reserved", health: "idle" });
  expect(state.outputs.createdAtLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  // The same inputs again: nothing to do.
  expect((await d.up({}, state)).op).toBe("same");
  const refreshed = await d.refresh(state);
  expect(refreshed?.outputs.retainedBytes).toMatch(/^\d+$/);
  await d.destroy(state);
  expect(await slots()).toEqual([]);
  // Gone by hand: refresh says so.
  expect(await d.refresh(state)).toBeUndefined();
});

test("a create whose answer was lost finds its slot under the derived name and continues with it; another deployment of the same names makes its own", async () => {
  const d = driver();
  const inputs = await d.check({});
  // The slot an earlier create made before the process died: same name, nothing in state.
  await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [inputs.name]);
  const state = await d.create(inputs);
  expect(state.id).toBe(inputs.name);
  const other = await driver("7e57000000000002").up({});
  expect(other.state.id).not.toBe(state.id);
  expect((await slots()).map((s) => s.slot_name).sort()).toEqual([state.id, other.state.id].sort());
  await d.destroy(state);
  expect((await slots()).map((s) => s.slot_name)).toEqual([other.state.id]);
});

test("an explicit name that is taken is refused: a slot carries no mark of its maker", async () => {
  await admin.query("SELECT pg_create_logical_replication_slot('someone_elses', 'pgoutput')");
  await expect(driver().up({ name: "someone_elses" })).rejects.toThrow(/someone_elses.*already exists, and a slot carries no mark of who made it/);
  expect((await slots()).map((s) => s.slot_name)).toEqual(["someone_elses"]);
});

test("destroy waits for the consumer to let go, refuses after releaseTimeoutSeconds naming the backend, and drops the slot once it is free", async () => {
  const d = driver();
  const { state } = await d.up({ releaseTimeoutSeconds: 1 });
  const consumer = readSlot(state.id);
  try {
    await waitFor(async () => (await slots())[0]?.active === true);
    await expect(d.destroy(state)).rejects.toThrow(/still read by a consumer \(PostgreSQL backend pid \d+\) after 1s.*The slot was kept/);
    expect((await slots()).map((s) => s.slot_name)).toEqual([state.id]);
  } finally {
    consumer.kill("SIGKILL");
  }
  await d.destroy(state);
  expect(await slots()).toEqual([]);
});

test("a server without wal_level=logical is refused before anything is made, with the setting and its fix", async () => {
  const replica = await startPostgres({ wal_level: "replica" });
  try {
    const d = new Driver(pgSlotOperations, { "zitadel-audit-stream:postgresUrl": replica.url() }, () => ({
      owner: OWNER,
      deployment: TEST_DEPLOYMENT,
      namePrefix: "s",
    }));
    await expect(d.up({})).rejects.toThrow(/the server is not ready:\n {2}- wal_level is replica/);
  } finally {
    replica.stop();
  }
});

/** pg_recvlogical reading the slot over the replication protocol: the slot is active while it runs. */
function readSlot(slot: string): ChildProcess {
  const args = ["-d", pg.url(), "--slot", slot, "--start", "-f", "-", "-o", "proto_version=1", "-o", "publication_names=zas_test"];
  return spawn(path.join(postgresBin().bin, "pg_recvlogical"), args, { stdio: "ignore" });
}

async function waitFor(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 200));
  }
}
