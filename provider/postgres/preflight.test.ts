import { EVENTS2_PG_COLUMNS, PgFacts, preflight } from "./preflight";
import { filteringOn } from "./pg-publication";

const ready: PgFacts = {
  serverVersionNum: 150018,
  walLevel: "logical",
  maxReplicationSlots: 10,
  slotsInUse: 0,
  maxWalSenders: 10,
  walSendersInUse: 0,
  maxSlotWalKeepSizeMb: 10240,
  platform: "self-managed",
  events2Columns: { ...EVENTS2_PG_COLUMNS },
};

const { position: _dropped, ...withoutPosition } = EVENTS2_PG_COLUMNS;

test.each<[string, Partial<PgFacts>, { slots: number; engineFilteringOnPg14?: boolean }, RegExp[]]>([
  ["a ready PostgreSQL 15", {}, { slots: 1 }, []],
  ["PostgreSQL 13", { serverVersionNum: 130012 }, { slots: 1 }, [/^PostgreSQL 13: ZITADEL v3 and v4 run on PostgreSQL 14 to 18/]],
  [
    "PostgreSQL 14 without the opt-in",
    { serverVersionNum: 140011 },
    { slots: 1 },
    [/^PostgreSQL 14 has no publication column lists or row filters.*engineFilteringOnPg14: true/],
  ],
  ["PostgreSQL 14 with the opt-in", { serverVersionNum: 140011 }, { slots: 1, engineFilteringOnPg14: true }, []],
  [
    "wal_level replica, self-managed",
    { walLevel: "replica" },
    { slots: 1 },
    [/^wal_level is replica.*ALTER SYSTEM SET wal_level = 'logical'.*restart PostgreSQL/],
  ],
  ["wal_level replica on Cloud SQL", { walLevel: "replica", platform: "cloudsql" }, { slots: 1 }, [/cloudsql\.logical_decoding=on/]],
  ["wal_level replica on AlloyDB", { walLevel: "replica", platform: "alloydb" }, { slots: 1 }, [/alloydb\.logical_decoding=on/]],
  ["wal_level replica on RDS", { walLevel: "replica", platform: "rds" }, { slots: 1 }, [/rds\.logical_replication = 1.*reboot/]],
  ["no free slot", { maxReplicationSlots: 4, slotsInUse: 4 }, { slots: 1 }, [/^max_replication_slots is 4 and 4 are in use; the stream needs 1 more/]],
  ["one slot free, two needed (payload allow-list)", { maxReplicationSlots: 4, slotsInUse: 3 }, { slots: 2 }, [/needs 2 more/]],
  ["no free WAL sender", { maxWalSenders: 2, walSendersInUse: 2 }, { slots: 1 }, [/^max_wal_senders is 2 and 2 are in use/]],
  ["events2 missing (another database)", { events2Columns: {} }, { slots: 1 }, [/^eventstore\.events2 is not in this database: connect to ZITADEL's database/]],
  ["events2 without position", { events2Columns: withoutPosition }, { slots: 1 }, [/^eventstore\.events2 has no column position/]],
  [
    "events2 with position as a float",
    { events2Columns: { ...EVENTS2_PG_COLUMNS, position: "double precision" } },
    { slots: 1 },
    [/position is double precision, not numeric/],
  ],
])("%s", (_what, facts, needs, expected) => {
  const r = preflight({ ...ready, ...facts }, needs);
  expect(r.problems).toHaveLength(expected.length);
  expected.forEach((re, i) => expect(r.problems[i]).toMatch(re));
});

test("the slot's WAL bound is always spoken of: unbounded fills the disk, bounded loses events past it", () => {
  expect(preflight({ ...ready, maxSlotWalKeepSizeMb: -1 }, { slots: 1 }).warnings).toEqual([
    expect.stringMatching(/^max_slot_wal_keep_size is unbounded \(-1\).*until its disk fills/),
  ]);
  expect(preflight(ready, { slots: 1 }).warnings).toEqual([expect.stringMatching(/^max_slot_wal_keep_size is 10240 MB: .*invalidates the slot/)]);
});

test.each([
  [150004, undefined, "database"],
  [180000, true, "database"],
  [140011, true, "engine"],
])("filteringOn(%d, opt-in %s) = %s", (version, optIn, by) => {
  expect(filteringOn(version, optIn, "create publication p")).toBe(by);
});

test.each([
  [140011, undefined, /PostgreSQL 14 has no column lists or row filters.*set engineFilteringOnPg14: true.*reach the engine's process/],
  [130009, true, /PostgreSQL 13 .* ZITADEL v3\/v4 need 14 or later/],
])("filteringOn(%d, opt-in %s) refuses", (version, optIn, message) => {
  expect(() => filteringOn(version, optIn as boolean | undefined, "create publication p")).toThrow(message);
});
