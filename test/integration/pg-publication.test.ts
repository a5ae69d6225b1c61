// PgPublication on a real PostgreSQL 15: made insert-only with the planned columns and filter and its
// marker in the same transaction; a query change ALTERs it in place; a change by hand shows after a
// refresh and is set back; another deployment's publication is refused unless taken over; delete
// drops only what still carries this instance's marker.
import { Client } from "pg";
import { RunningPostgres, startZitadelDatabase } from "../../tools/harness/postgres";
import { pgPublicationOperations } from "../../provider/postgres/pg-publication";
import { GUIDE_COLUMNS } from "../../provider/cdc/events2";
import { Driver, State, TEST_DEPLOYMENT } from "../harness/driver";

jest.setTimeout(120_000);

let pg: RunningPostgres;
let admin: Client;
const driver = (deployment = TEST_DEPLOYMENT, owner = "proj/dev/audit-pub") =>
  new Driver(pgPublicationOperations, { "zitadel-audit-stream:postgresUrl": pg.url() }, () => ({ owner, deployment, namePrefix: "audit_pub" }));

async function onServer(name: string) {
  const p = await admin.query(
    "SELECT pubinsert, pubupdate, pubdelete, pubtruncate, obj_description(oid, 'pg_publication') AS comment FROM pg_publication WHERE pubname = $1",
    [name],
  );
  const t = await admin.query("SELECT attnames::text[] AS cols, rowfilter FROM pg_publication_tables WHERE pubname = $1", [name]);
  return p.rows[0] ? { ...p.rows[0], ...t.rows[0] } : undefined;
}

let db: Awaited<ReturnType<typeof startZitadelDatabase>>;
beforeAll(async () => {
  db = await startZitadelDatabase();
  ({ pg, admin } = db);
});
afterAll(() => db?.stop());

const states: [Driver, State][] = [];
afterEach(async () => {
  for (const [d, s] of states.splice(0)) await d.destroy(s).catch(() => undefined);
});

test("create: insert-only, the guide's columns without payload, the query's filter, and this instance's marker; refresh changes nothing", async () => {
  const d = driver();
  const { state } = await d.up({ query: { filter: { eventTypes: ["user.human.added", "user.human.changed"] } } });
  states.push([d, state]);
  expect(state.id).toMatch(/^audit_pub_[0-9a-f]{6}$/);
  const s = await onServer(state.id);
  expect(s).toMatchObject({ pubinsert: true, pubupdate: false, pubdelete: false, pubtruncate: false });
  expect([...s.cols].sort()).toEqual([...GUIDE_COLUMNS].sort());
  expect(s.cols).not.toContain("payload");
  expect(s.rowfilter).toMatch(/event_type.*user\.human\.added.*user\.human\.changed/);
  expect(s.comment).toMatch(new RegExp(`\\[zitadel-audit-stream ${TEST_DEPLOYMENT}-[0-9a-f]{10}-[0-9a-f]{8}\\]$`));
  const refreshed = (await d.refresh(state))!;
  expect(refreshed.outputs).toEqual(state.outputs);
  expect((await d.up({ query: { filter: { eventTypes: ["user.human.added", "user.human.changed"] } } }, refreshed)).op).toBe("same");
});

test("a query change ALTERs the publication in place; a change by hand shows after refresh and up sets the plan back", async () => {
  const d = driver();
  let { state } = await d.up({ query: { filter: { eventTypes: ["user.human.added"] } } });
  states.push([d, state]);
  const r = await d.up({ query: { filter: { eventTypes: ["user.human.added", "org.added"] } } }, state);
  expect(r.op).toBe("update");
  state = r.state;
  states.splice(0, 1, [d, state]);
  expect((await onServer(state.id)).rowfilter).toMatch(/org\.added/);

  await admin.query(`ALTER PUBLICATION ${state.id} SET TABLE eventstore.events2`); // every column, every row: payload leaves
  const drifted = (await d.refresh(state))!;
  expect(drifted.outputs.columns).toContain("payload");
  const back = await d.up({ query: { filter: { eventTypes: ["user.human.added", "org.added"] } } }, drifted);
  expect(back.op).toBe("update");
  const s = await onServer(state.id);
  expect(s.cols).not.toContain("payload");
  expect(s.rowfilter).toMatch(/org\.added/);
  expect((await d.refresh(back.state))!.outputs).toEqual(back.state.outputs);
});

test("part payload: the allow-listed types with their payload; without an allow-list it is refused at check", async () => {
  const d = driver(TEST_DEPLOYMENT, "proj/dev/audit-pub-payload");
  await expect(d.up({ part: "payload" })).rejects.toThrow(/query: part "payload" needs a payload allow-list/);
  const { state } = await d.up({ part: "payload", query: { payload: { eventTypes: ["user.human.added"] } } });
  states.push([d, state]);
  const s = await onServer(state.id);
  expect(s.cols).toContain("payload");
  expect(s.rowfilter).toMatch(/user\.human\.added/);
});

test("a create whose answer was lost continues with its publication; another deployment's of the same name is refused, unless taken over", async () => {
  const d = driver();
  const inputs = await d.check({ name: "shared_pub" });
  await d.create(inputs);
  // The same create again (the answer was lost: nothing in state): found by its marker and adopted.
  const again = await d.create(inputs);
  expect(again.outputs.takenOverFrom).toBe("");
  states.push([d, again]);

  const other = driver("7e57000000000002");
  await expect(other.up({ name: "shared_pub" })).rejects.toThrow(
    new RegExp(`publication shared_pub already exists: it was made by deployment ${TEST_DEPLOYMENT}.*takeOver: "${TEST_DEPLOYMENT}"`),
  );
  const taken = await other.up({ name: "shared_pub", takeOver: TEST_DEPLOYMENT });
  expect(taken.state.outputs.takenOverFrom).toBe(TEST_DEPLOYMENT);
  expect((await onServer("shared_pub")).comment).toMatch(/\[zitadel-audit-stream 7e57000000000002-/);
  // The first deployment's delete leaves it to the one that took it over.
  await d.destroy(again);
  expect(await onServer("shared_pub")).toBeDefined();
  await other.destroy(taken.state);
  expect(await onServer("shared_pub")).toBeUndefined();
  states.splice(0);
});
