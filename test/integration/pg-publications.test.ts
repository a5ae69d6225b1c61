// The publications planned from the `query` options, on a real PostgreSQL: each event reaches exactly
// one slot, no payload leaves the database unless allow-listed, and ALTER PUBLICATION applies from
// its place in the WAL on. Slots are read with pg_logical_slot_peek_binary_changes (the pgoutput
// protocol a CDC engine reads), looking for each event's aggregate id and payload text in the inserts.
import { Client } from "pg";
import { RunningPostgres, ZITADEL_EVENTS2_DDL, startPostgres } from "../../tools/harness/postgres";
import { alterPublicationSql, createPublicationSql, planPublications } from "../../provider/cdc/publication";
import type { ChangefeedQueryOptions } from "../../provider/cdc/query";

jest.setTimeout(120_000);

let pg: RunningPostgres;
let c: Client;

beforeAll(async () => {
  pg = await startPostgres();
  const admin = new Client({ connectionString: pg.url() });
  await admin.connect();
  await admin.query("CREATE DATABASE zitadel");
  await admin.end();
  c = new Client({ connectionString: pg.url("zitadel") });
  await c.connect();
  await c.query(ZITADEL_EVENTS2_DDL);
});
afterAll(async () => {
  await c?.end();
  pg?.stop();
});

const EVENTS: [string, string, Record<string, string>][] = [
  ["user", "user.human.added", { email: "pii-%@example.com" }],
  ["org", "org.added", { name: "org-name-%" }],
  ["instance", "instance.domain.added", { domain: "tenant-%.example.com" }],
  ["user", "user.token.added", { token: "secret-token-%" }],
];

let round = 0;

/** Inserts one event of each kind; returns aggregate id → [event type, payload text]. */
async function insertEach(): Promise<Map<string, [string, string]>> {
  round++;
  const made = new Map<string, [string, string]>();
  for (const [aggregateType, eventType, payload] of EVENTS) {
    const id = `agg-${round}-${eventType.replace(/\./g, "-")}`;
    const body = JSON.stringify(payload).replace("%", String(round));
    await c.query(
      `INSERT INTO eventstore.events2 VALUES ('inst-1', $1, $2, $3, 1, 1, now(), $4, 'SYSTEM', 'owner-1', EXTRACT(EPOCH FROM clock_timestamp()), 0)`,
      [aggregateType, id, eventType, body],
    );
    made.set(id, [eventType, Object.values(JSON.parse(body))[0] as string]);
  }
  return made;
}

/** The inserts a slot would stream for its publication: aggregate ids seen, and every payload text seen. */
async function streamed(slot: string, publication: string, events: Map<string, [string, string]>): Promise<{ ids: string[]; payloads: string[] }> {
  const r = await c.query(
    `SELECT encode(data, 'escape') AS d FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2) WHERE get_byte(data, 0) = 73`,
    [slot, publication],
  );
  const inserts: string[] = r.rows.map((x) => x.d);
  return {
    ids: [...events.keys()].filter((id) => inserts.some((d) => d.includes(id))),
    payloads: [...events.values()].map(([, text]) => text).filter((text) => inserts.some((d) => d.includes(text))),
  };
}

let n = 0;
/** Creates the planned publications, a slot each; returns their names. */
async function publish(options: ChangefeedQueryOptions): Promise<{ role: string; publication: string; slot: string }[]> {
  n++;
  const made = [];
  for (const p of planPublications(options)) {
    const publication = `pub_${n}_${p.role}`;
    const slot = `slot_${n}_${p.role}`;
    await c.query(createPublicationSql(publication, p));
    await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    made.push({ role: p.role, publication, slot });
  }
  return made;
}

test("the defaults: every event, once, and no payload at all", async () => {
  const [events] = await publish({});
  const made = await insertEach();
  const s = await streamed(events.slot, events.publication, made);
  expect(s.ids.sort()).toEqual([...made.keys()].sort());
  expect(s.payloads).toEqual([]);
});

test("a filter: only the chosen event types reach the slot", async () => {
  const [events] = await publish({ filter: { eventTypes: ["user.human.added", "org.added"] } });
  const made = await insertEach();
  const s = await streamed(events.slot, events.publication, made);
  expect(s.ids.map((id) => made.get(id)![0]).sort()).toEqual(["org.added", "user.human.added"]);
  expect(s.payloads).toEqual([]);
});

test("a payload allow-list: two slots, every event in exactly one, only the allowed payloads leave the database", async () => {
  const pubs = await publish({ payload: { eventTypes: ["org.added", "instance.domain.added"] } });
  expect(pubs.map((p) => p.role)).toEqual(["events", "payload"]);
  const made = await insertEach();
  const [events, payload] = await Promise.all(pubs.map((p) => streamed(p.slot, p.publication, made)));
  expect([...events.ids, ...payload.ids].sort()).toEqual([...made.keys()].sort());
  expect(events.ids.filter((id) => payload.ids.includes(id))).toEqual([]);
  expect(events.payloads).toEqual([]);
  expect(payload.payloads.sort()).toEqual([`org-name-${round}`, `tenant-${round}.example.com`]);
});

test("one slot cannot read both publications: PostgreSQL refuses different column lists (why there are two slots)", async () => {
  const pubs = await publish({ payload: { eventTypes: ["org.added"] } });
  await c.query("SELECT pg_create_logical_replication_slot('slot_both', 'pgoutput')");
  await insertEach();
  await expect(
    c.query("SELECT count(*) FROM pg_logical_slot_peek_binary_changes('slot_both', NULL, NULL, 'proto_version', '1', 'publication_names', $1)", [
      pubs.map((p) => p.publication).join(","),
    ]),
  ).rejects.toThrow(/cannot use different column lists for table "eventstore.events2" in different publications/);
  await c.query("SELECT pg_drop_replication_slot('slot_both')");
});

test("ALTER PUBLICATION on a live slot: the new filter applies from its place in the WAL, nothing before it is lost", async () => {
  const [events] = await publish({ filter: { eventTypes: ["user.human.added", "org.added"] } });
  const before = await insertEach();
  await c.query(alterPublicationSql(events.publication, planPublications({ filter: { eventTypes: ["org.added"] } })[0]));
  const after = await insertEach();
  const all = new Map([...before, ...after]);
  const s = await streamed(events.slot, events.publication, all);
  const kinds = (m: Map<string, [string, string]>) =>
    s.ids
      .filter((id) => m.has(id))
      .map((id) => m.get(id)![0])
      .sort();
  expect(kinds(before)).toEqual(["org.added", "user.human.added"]);
  expect(kinds(after)).toEqual(["org.added"]);
});
