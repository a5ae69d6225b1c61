// The PostgreSQL source's pure parts: where the engine connects, a slot's verdict as the stream's
// health, and which arguments are refused with it (the rest of the source is exercised by the demo and
// the e2e suites on a real PostgreSQL, Debezium Server and the stand-ins).
import { engineDatabase, slotHealth, sourceProblems } from "./postgres";
import { filenamePrefix, nativeTableSchema } from "../destinations/subscriptions";

test.each<[string, Parameters<typeof engineDatabase>[0], string | undefined, ReturnType<typeof engineDatabase>]>([
  [
    "from the URL",
    undefined,
    "postgresql://admin:pw@db.internal:6432/zitadel?sslmode=require",
    { host: "db.internal", port: 6432, dbname: "zitadel", sslmode: "require" },
  ],
  ["default port", undefined, "postgresql://admin@10.0.0.5/zitadel", { host: "10.0.0.5", port: 5432, dbname: "zitadel" }],
  [
    "engineDatabase wins",
    { host: "10.1.2.3", sslmode: "verify-full" },
    "postgresql://admin@127.0.0.1:5432/zitadel",
    { host: "10.1.2.3", port: 5432, dbname: "zitadel", sslmode: "verify-full" },
  ],
])("engineDatabase: %s", (_what, given, url, want) => {
  expect(engineDatabase(given, url)).toEqual(want);
});

test.each([
  ["streaming", "healthy"],
  ["idle", "stopped"],
  ["at-risk", "lagging"],
  ["lost", "failing"],
] as const)("a slot %s is a stream %s, its reason naming the slot", (state, health) => {
  const h = slotHealth("audit_events_1", state, "2000000");
  expect(h.state).toBe(health);
  expect(h.reason).toMatch(/^slot audit_events_1: /);
});

test("the CockroachDB source (default) has no PostgreSQL problems; the PostgreSQL one names what it cannot use", () => {
  expect(sourceProblems({})).toEqual([]);
  expect(sourceProblems({ source: "cockroach", manageRangefeedSetting: false })).toEqual([]);
  expect(sourceProblems({ source: { postgres: {} }, timeoutSeconds: 30, partitionFormat: "daily" })).toEqual([
    "timeoutSeconds: CockroachDB's only; the PostgreSQL source has no such setting",
    "partitionFormat: CockroachDB's only; the PostgreSQL source has no such setting",
  ]);
  expect(sourceProblems({ source: { postgres: {} }, query: { payload: { eventTypes: ["user.human.added"] } } })).toEqual([]);
});

test("the native table holds the query's columns then Pub/Sub's metadata; files sort under the prefix", () => {
  expect(nativeTableSchema({}).map((f) => f.name)).toEqual([
    "instance_id",
    "aggregate_type",
    "aggregate_id",
    "owner",
    "event_type",
    "sequence",
    "created_at",
    "subscription_name",
    "message_id",
    "publish_time",
    "attributes",
  ]);
  expect(filenamePrefix(undefined)).toBe("events/");
  expect(filenamePrefix("/audit/zitadel/")).toBe("audit/zitadel/");
  expect(filenamePrefix("")).toBe("");
});
