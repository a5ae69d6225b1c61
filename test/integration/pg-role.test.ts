// PgRole on a real PostgreSQL 15: the engine's login may stream and read eventstore.events2 and nothing
// else; its password reaches the server only as a SCRAM verifier and rotates in place; another
// deployment's role is refused; delete drops only this instance's role.
import { Client } from "pg";
import { RunningPostgres, startZitadelDatabase } from "../../tools/harness/postgres";
import { pgRoleOperations } from "../../provider/postgres/pg-role";
import { Driver, TEST_DEPLOYMENT } from "../harness/driver";

jest.setTimeout(120_000);

let pg: RunningPostgres;
let admin: Client;
const driver = (deployment = TEST_DEPLOYMENT) =>
  new Driver(pgRoleOperations, { "zitadel-audit-stream:postgresUrl": pg.url() }, () => ({
    owner: "proj/dev/audit-login",
    deployment,
    namePrefix: "audit_login",
  }));

/** A session as the role, over TCP with its password (the cluster checks passwords of every role but postgres). */
async function as(name: string, password: string): Promise<Client> {
  const c = new Client({ host: "127.0.0.1", port: pg.port, database: "postgres", user: name, password });
  await c.connect();
  return c;
}

let db: Awaited<ReturnType<typeof startZitadelDatabase>>;
beforeAll(async () => {
  db = await startZitadelDatabase({}, { passwords: true });
  ({ pg, admin } = db);
  await admin.query("CREATE TABLE public.secrets (x int)");
});
afterAll(() => db?.stop());

test("the role logs in with its generated password, may read events2 and stream, and nothing else; the server holds only a verifier", async () => {
  const d = driver();
  const { state } = await d.up({});
  expect(state.id).toMatch(/^audit_login_[0-9a-f]{6}$/);
  const r = (
    await admin.query("SELECT rolcanlogin, rolreplication, rolsuper, rolcreaterole, rolcreatedb, rolpassword FROM pg_authid WHERE rolname = $1", [state.id])
  ).rows[0];
  expect(r).toMatchObject({ rolcanlogin: true, rolreplication: true, rolsuper: false, rolcreaterole: false, rolcreatedb: false });
  expect(r.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
  expect(state.outputs.password).toMatch(/^[A-Za-z0-9]{32}$/);

  const c = await as(state.id, state.outputs.password);
  try {
    await expect(c.query("SELECT count(*) FROM eventstore.events2")).resolves.toBeDefined();
    await expect(c.query("SELECT * FROM public.secrets")).rejects.toThrow(/permission denied/);
    await expect(c.query("DELETE FROM eventstore.events2")).rejects.toThrow(/permission denied/);
    await expect(c.query("SELECT pg_create_logical_replication_slot('x_by_role', 'pgoutput')")).resolves.toBeDefined();
    await c.query("SELECT pg_drop_replication_slot('x_by_role')");
  } finally {
    await c.end();
  }

  // Rotation: the new password works, the old one no longer does.
  const rotated = await d.up({ passwordRotationTrigger: "2026-12" }, state);
  expect(rotated.op).toBe("update");
  expect(rotated.state.outputs.password).not.toBe(state.outputs.password);
  await (await as(state.id, rotated.state.outputs.password)).end();
  await expect(as(state.id, state.outputs.password)).rejects.toThrow(/password authentication failed/);

  await d.destroy(rotated.state);
  expect((await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [state.id])).rowCount).toBe(0);
});

test("another deployment's role of the same name is refused and kept; taken over, it gets a password only the new state knows", async () => {
  const d = driver();
  const { state } = await d.up({ name: "shared_login" });
  const other = driver("7e57000000000002");
  await expect(other.up({ name: "shared_login" })).rejects.toThrow(/role shared_login already exists: it was made by deployment 7e57000000000001/);
  await (await as("shared_login", state.outputs.password)).end();
  const taken = await other.up({ name: "shared_login", takeOver: TEST_DEPLOYMENT });
  expect(taken.state.outputs.takenOverFrom).toBe(TEST_DEPLOYMENT);
  await expect(as("shared_login", state.outputs.password)).rejects.toThrow(/password authentication failed/);
  await d.destroy(state); // no longer its own: kept
  expect((await admin.query("SELECT 1 FROM pg_roles WHERE rolname = 'shared_login'")).rowCount).toBe(1);
  await other.destroy(taken.state);
  expect((await admin.query("SELECT 1 FROM pg_roles WHERE rolname = 'shared_login'")).rowCount).toBe(0);
});
