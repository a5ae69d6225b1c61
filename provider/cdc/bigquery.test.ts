import { bigQuerySchema, bigQuerySourceUris, dedupViewQuery, exampleQueries, sourceUriMatches } from "./bigquery";
import { loadSqlParser } from "./query";

beforeAll(loadSqlParser);

describe("bigQuerySchema", () => {
  test("the guide's query: its seven columns in order, events2 types mapped to BigQuery's", () => {
    expect(bigQuerySchema().map((f) => [f.name, f.type])).toEqual([
      ["instance_id", "STRING"],
      ["aggregate_type", "STRING"],
      ["aggregate_id", "STRING"],
      ["owner", "STRING"],
      ["event_type", "STRING"],
      ["sequence", "INT64"],
      ["created_at", "TIMESTAMP"],
    ]);
  });

  test("payload (allow-list or all) is a JSON column; position is BIGNUMERIC (NUMERIC would round its 10th fraction digit)", () => {
    const s = bigQuerySchema({ columns: ["aggregate_id", "sequence", "position"], payload: { eventTypes: ["user.human.added"] } });
    expect(s.map((f) => `${f.name}:${f.type}`)).toEqual(["aggregate_id:STRING", "sequence:INT64", "position:BIGNUMERIC", "payload:JSON"]);
    expect(bigQuerySchema({ payload: "all" }).at(-1)).toMatchObject({ name: "payload", type: "JSON" });
    expect(bigQuerySchema({ payload: "none" }).some((f) => f.name === "payload")).toBe(false);
  });

  test("a raw query maps columns, aliases named after a column (the guide's CASE … AS payload) and *", () => {
    const s = bigQuerySchema({
      query: "SELECT instance_id, aggregate_id AS agg, sequence, CASE WHEN event_type IN ('a.b') THEN payload END AS payload FROM eventstore.events2",
    });
    expect(s.map((f) => `${f.name}:${f.type}`)).toEqual(["instance_id:STRING", "agg:STRING", "sequence:INT64", "payload:JSON"]);
    expect(bigQuerySchema({ query: "SELECT * FROM eventstore.events2" })).toHaveLength(12);
  });

  test("a raw query output of unknown type asks for an explicit schema; a duplicate name is refused", () => {
    expect(() => bigQuerySchema({ query: "SELECT aggregate_id, lower(event_type) AS kind FROM eventstore.events2" })).toThrow(
      /"kind" is neither an events2 column nor named after one.*bigQuery\.schema/,
    );
    expect(() => bigQuerySchema({ query: "SELECT aggregate_id, event_type AS aggregate_id FROM eventstore.events2" })).toThrow(
      /"aggregate_id" is written twice/,
    );
  });
});

describe("bigQuerySourceUris", () => {
  test("one wildcard under the prefix, ending in the data files' extension", () => {
    expect(bigQuerySourceUris({ bucket: "b", prefix: "events" })).toEqual(["gs://b/events/*.ndjson"]);
    expect(bigQuerySourceUris({ bucket: "b", prefix: "/a/b/" })).toEqual(["gs://b/a/b/*.ndjson"]);
    expect(bigQuerySourceUris({ bucket: "b" })).toEqual(["gs://b/*.ndjson"]);
    expect(bigQuerySourceUris({ bucket: "b", prefix: "e", compression: "gzip" })).toEqual(["gs://b/e/*.ndjson.gz"]);
    expect(() => bigQuerySourceUris({ bucket: "b", compression: "zstd" })).toThrow(/gzip-compressed JSON, not zstd/);
  });

  test("the wildcard crosses '/' (partition folders) and stops at the prefix and the extension", () => {
    const [uri] = bigQuerySourceUris({ bucket: "b", prefix: "events" });
    expect(sourceUriMatches(uri, "b", "events/2026-11-28/19/202611281920166721340000000000-a1b2-1-2-00000000-events2-1.ndjson")).toBe(true);
    expect(sourceUriMatches(uri, "b", "events/202611281920166721340000000000-a1b2-1-2-00000000-events2-1.ndjson")).toBe(true);
    expect(sourceUriMatches(uri, "b", "events/2026-11-28/202611281920166721340000000000.RESOLVED")).toBe(false);
    expect(sourceUriMatches(uri, "b", "events-other/x.ndjson")).toBe(false);
    expect(sourceUriMatches(uri, "other", "events/x.ndjson")).toBe(false);
    expect(sourceUriMatches("gs://b/events/one.ndjson", "b", "events/one.ndjson")).toBe(true);
  });
});

describe("dedupViewQuery", () => {
  test("one row per primary key; the key columns are required", () => {
    const q = dedupViewQuery("`p.d.events`", bigQuerySchema());
    expect(q).toBe(
      "SELECT * EXCEPT(_copy) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY instance_id, aggregate_type, aggregate_id, sequence ORDER BY created_at) AS _copy FROM `p.d.events`) WHERE _copy = 1",
    );
    expect(() => dedupViewQuery("`p.d.events`", bigQuerySchema({ columns: ["aggregate_id", "event_type"] }))).toThrow(
      /needs the primary key columns .* does not write instance_id, aggregate_type, sequence/,
    );
  });

  test("example queries use only the columns the table has", () => {
    const all = exampleQueries("`p.d.v`", bigQuerySchema());
    expect(Object.keys(all).sort()).toEqual(["adminChanges", "eventsPerTypePerDay", "logins", "oneUsersHistory"]);
    expect(Object.keys(exampleQueries("`p.d.v`", bigQuerySchema({ columns: ["aggregate_id", "sequence"] })))).toEqual([]);
  });
});
