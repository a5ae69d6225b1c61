// Preflight on real PostgreSQL servers: what facts.ts reads from the server, and what preflight.ts
// concludes, for a server not ready for a slot and for one that is until its slots run out.
import { Client } from "pg";
import { RunningPostgres, ZITADEL_EVENTS2_DDL, startPostgres } from "../../tools/harness/postgres";
import { readFacts } from "../../provider/postgres/facts";
import { EVENTS2_PG_COLUMNS, preflight } from "../../provider/postgres/preflight";

jest.setTimeout(120_000);

const servers: RunningPostgres[] = [];
afterAll(() => servers.forEach((s) => s.stop()));

async function connect(settings: Record<string, string>, withEvents2: boolean): Promise<{ pg: RunningPostgres; c: Client }> {
  const pg = await startPostgres(settings);
  servers.push(pg);
  const c = new Client({ connectionString: pg.url() });
  await c.connect();
  if (withEvents2) await c.query(ZITADEL_EVENTS2_DDL);
  return { pg, c };
}

test("a server with wal_level replica and no events2: both named, with the fix for a self-managed server", async () => {
  const { pg, c } = await connect({ wal_level: "replica" }, false);
  const facts = await readFacts(c);
  await c.end();
  expect(facts).toMatchObject({ walLevel: "replica", platform: "self-managed", events2Columns: {} });
  expect(Math.floor(facts.serverVersionNum / 10000)).toBe(pg.version);
  const r = preflight(facts, { slots: 1 });
  expect(r.problems).toEqual([
    expect.stringMatching(/^wal_level is replica.*restart PostgreSQL/),
    expect.stringMatching(/^eventstore\.events2 is not in this database/),
  ]);
});

test("a ready server reads as ready, ZITADEL's events2 as ZITADEL's; once its slots are taken, the next stream is refused", async () => {
  const { c } = await connect({ max_replication_slots: "2", max_slot_wal_keep_size: "1GB" }, true);
  const facts = await readFacts(c);
  expect(facts.events2Columns).toEqual(EVENTS2_PG_COLUMNS);
  expect(facts.maxSlotWalKeepSizeMb).toBe(1024);
  expect(preflight(facts, { slots: 2 })).toEqual({ problems: [], warnings: [expect.stringMatching(/^max_slot_wal_keep_size is 1024 MB/)] });
  await c.query("SELECT pg_create_logical_replication_slot('someone_else', 'pgoutput')");
  const after = await readFacts(c);
  await c.end();
  expect(after.slotsInUse).toBe(1);
  expect(preflight(after, { slots: 2 }).problems).toEqual([expect.stringMatching(/^max_replication_slots is 2 and 1 are in use; the stream needs 2 more/)]);
});
