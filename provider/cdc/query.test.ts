import { ALLOWED_CDC_FUNCTIONS, sampleCall } from "./functions";
import { buildChangefeedQuery, loadSqlParser, validateRawQuery } from "./query";
import { ValidationError } from "../validation";

describe("buildChangefeedQuery (structured)", () => {
  test("payload: all appends the payload column", () => {
    expect(buildChangefeedQuery({ payload: "all", columns: ["event_type"] })).toBe("SELECT event_type, payload FROM eventstore.events2");
  });

  test("position is quoted; owner and sequence stay bare as in the guide", () => {
    expect(buildChangefeedQuery({ columns: ["owner", "sequence", "position"] })).toBe('SELECT owner, sequence, "position" FROM eventstore.events2');
  });

  test("filters become one WHERE joined by AND, in a fixed order", () => {
    expect(
      buildChangefeedQuery({
        columns: ["instance_id", "event_type"],
        filter: { eventTypes: ["user.human.added"], instanceIds: ["2701", "2702"], aggregateTypes: ["user"] },
      }),
    ).toBe(
      "SELECT instance_id, event_type FROM eventstore.events2 WHERE instance_id IN ('2701', '2702') AND aggregate_type IN ('user') AND event_type IN ('user.human.added')",
    );
  });

  test("a database-qualified table", () => {
    expect(buildChangefeedQuery({ table: "zitadel.eventstore.events2", columns: ["sequence"] })).toBe("SELECT sequence FROM zitadel.eventstore.events2");
  });

  test("every problem is reported at once", () => {
    try {
      buildChangefeedQuery({ columns: ["nope" as any], payload: { eventTypes: [] }, filter: { instanceIds: [] } });
      fail("expected a ValidationError");
    } catch (e) {
      expect((e as ValidationError).problems.map((p) => p.field).sort()).toEqual(["columns.0", "filter.instanceIds", "payload.eventTypes"]);
    }
  });
});

describe("raw queries", () => {
  beforeAll(loadSqlParser);

  test.each([
    "SELECT * FROM eventstore.events2",
    "SELECT e.instance_id, e.event_type FROM eventstore.events2 AS e WHERE e.aggregate_type = 'user'",
    "SELECT instance_id, event_op() AS op, statement_timestamp() AS at FROM eventstore.events2",
    "SELECT instance_id, (cdc_prev).event_type AS before FROM eventstore.events2",
    "SELECT instance_id, payload->>'userName' AS user_name FROM eventstore.events2 WHERE event_type LIKE 'user.%'",
    "SELECT instance_id, CASE WHEN event_type IN ('a.b') THEN payload END AS payload FROM eventstore.events2",
    "SELECT lower(event_type) AS t, jsonb_build_object('id', aggregate_id) AS j FROM eventstore.events2",
    "SELECT instance_id, created_at::STRING AS at FROM eventstore.events2",
    "SELECT instance_id FROM eventstore.events2 WHERE coalesce(owner, '') <> ''",
  ])("accepts %s", (query) => {
    expect(validateRawQuery(query + " ;\n")).toBe(query);
  });

  test("functions follow provider/cdc/functions.ts: every listed one is accepted, CockroachDB's refused ones and its removed 22.2 names are not", () => {
    for (const fn of ALLOWED_CDC_FUNCTIONS) expect(() => validateRawQuery(`SELECT ${sampleCall(fn)} AS x FROM eventstore.events2`)).not.toThrow();
    for (const fn of ["current_setting", "pg_backend_pid", "random", "cdc_is_delete", "cdc_mvcc_timestamp", "cluster_logical_timestamp"]) {
      expect(() => validateRawQuery(`SELECT ${fn}() AS x FROM eventstore.events2`)).toThrow(new RegExp(`function ${fn}\\(\\) is not on the list`));
    }
  });

  test("a query on another table skips the events2 column check but keeps the CDC rules", () => {
    expect(validateRawQuery("SELECT id, anything FROM audit.other")).toBe("SELECT id, anything FROM audit.other");
    expect(() => validateRawQuery("SELECT now() FROM audit.other")).toThrow(/now\(\)/);
  });

  test("all the problems of one raw query are listed", () => {
    try {
      validateRawQuery("SELECT count(*), now(), bogus FROM eventstore.events2 ORDER BY 1");
      fail("expected a ValidationError");
    } catch (e) {
      const reasons = (e as ValidationError).problems.map((p) => p.reason).join("\n");
      expect(reasons).toMatch(/ORDER BY/);
      expect(reasons).toMatch(/aggregate count/);
      expect(reasons).toMatch(/now\(\)/);
      expect(reasons).toMatch(/"bogus"/);
    }
  });
});
