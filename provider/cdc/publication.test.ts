import { alterPublicationSql, createPublicationSql, engineFilterOf, planPublications } from "./publication";

const KEY_AND_TYPE = ["instance_id", "aggregate_type", "aggregate_id", "owner", "event_type", "sequence", "created_at"];

test.each<[string, object, object[]]>([
  ["the defaults: the guide's columns, no payload, every event", {}, [{ role: "events", columns: KEY_AND_TYPE, where: "" }]],
  [
    "a filter becomes the row filter",
    { filter: { eventTypes: ["user.human.added"], instanceIds: ["i1"] } },
    [{ role: "events", where: "instance_id IN ('i1') AND event_type IN ('user.human.added')" }],
  ],
  [
    "chosen columns",
    { columns: ["instance_id", "aggregate_type", "aggregate_id", "sequence", "position"] },
    [{ columns: ["instance_id", "aggregate_type", "aggregate_id", "sequence", "position"] }],
  ],
  ['payload "all": one publication with payload', { payload: "all" }, [{ role: "events", columns: [...KEY_AND_TYPE, "payload"] }]],
  [
    "a payload allow-list: two publications, every event in exactly one",
    { payload: { eventTypes: ["instance.domain.added", "org.added"] }, filter: { aggregateTypes: ["instance", "org", "user"] } },
    [
      {
        role: "events",
        columns: KEY_AND_TYPE,
        where: "aggregate_type IN ('instance', 'org', 'user') AND event_type NOT IN ('instance.domain.added', 'org.added')",
      },
      {
        role: "payload",
        columns: [...KEY_AND_TYPE, "payload"],
        where: "aggregate_type IN ('instance', 'org', 'user') AND event_type IN ('instance.domain.added', 'org.added')",
      },
    ],
  ],
])("%s", (_what, options, expected) => {
  const plan = planPublications(options);
  expect(plan).toHaveLength(expected.length);
  plan.forEach((p, i) => expect(p).toMatchObject(expected[i]));
});

test("no publication carries payload unless the options allow it", () => {
  for (const o of [{}, { filter: { eventTypes: ["user.human.added"] } }, { columns: ["instance_id", "aggregate_type", "aggregate_id", "sequence"] }]) {
    expect(planPublications(o as object).flatMap((p) => p.columns)).not.toContain("payload");
  }
});

test("a raw query is refused, naming the options to use instead", () => {
  expect(() => planPublications({ query: "SELECT instance_id FROM eventstore.events2" })).toThrow(
    /query: a raw query is CockroachDB's CDC SELECT.*use columns, payload and filter/,
  );
});

test("the statements: insert-only, quoted where PostgreSQL needs it, the filter in parentheses", () => {
  const [p] = planPublications({ columns: ["instance_id", "aggregate_type", "aggregate_id", "sequence", "position"], filter: { eventTypes: ["org.added"] } });
  expect(createPublicationSql("zitadel_audit", p)).toBe(
    `CREATE PUBLICATION zitadel_audit FOR TABLE eventstore.events2 (instance_id, aggregate_type, aggregate_id, sequence, "position") WHERE (event_type IN ('org.added')) WITH (publish = 'insert')`,
  );
  expect(alterPublicationSql("zitadel_audit", p)).toBe(
    `ALTER PUBLICATION zitadel_audit SET TABLE eventstore.events2 (instance_id, aggregate_type, aggregate_id, sequence, "position") WHERE (event_type IN ('org.added'))`,
  );
  expect(createPublicationSql("zitadel_audit", planPublications({})[0])).not.toMatch(/WHERE/);
});

test("values are SQL string literals: a quote in an event type cannot end the filter", () => {
  expect(() => planPublications({ filter: { eventTypes: ["x') OR true --"] } })).toThrow(/dotted event type/);
});

describe("PostgreSQL 14, selected in the engine (engineFilteringOnPg14)", () => {
  const columns = ["instance_id", "aggregate_type", "aggregate_id", "event_type", "sequence", "created_at", "creator", "owner", "position"];
  test.each<[string, object, "events" | "payload", object]>([
    ["no options: every event, no payload", {}, "events", { columns: expect.not.arrayContaining(["payload"]) }],
    ["event types and instances", { filter: { eventTypes: ["a", "b"], instanceIds: ["i1"] } }, "events", { eventTypes: ["a", "b"], instanceIds: ["i1"] }],
    [
      "an allow-list, the events part: not the allow-listed types",
      { filter: { eventTypes: ["a", "b"] }, payload: { eventTypes: ["b", "c"] } },
      "events",
      { eventTypes: ["a", "b"], notEventTypes: ["b", "c"] },
    ],
    [
      "an allow-list, the payload part: selected and allowed, with payload",
      { filter: { eventTypes: ["a", "b"] }, payload: { eventTypes: ["b", "c"] } },
      "payload",
      { eventTypes: ["b"], columns: expect.arrayContaining(["payload"]) },
    ],
    ["an allow-list without a type filter, the payload part", { payload: { eventTypes: ["c"] } }, "payload", { eventTypes: ["c"] }],
  ])("engineFilterOf: %s", (_, query, part, expected) => {
    const f = engineFilterOf(query as any, part);
    expect(f).toMatchObject(expected);
    if (part === "events") expect(f.columns).not.toContain("payload");
    for (const c of columns.filter((c) => ["instance_id", "aggregate_type", "aggregate_id", "event_type"].includes(c))) expect(f.columns).toContain(c);
  });

  test("the publication holds the whole table, insert-only: 14 has neither column lists nor row filters", () => {
    expect(createPublicationSql("p14", { role: "events", columns: [], where: "" })).toBe(
      `CREATE PUBLICATION p14 FOR TABLE eventstore.events2 WITH (publish = 'insert')`,
    );
    expect(alterPublicationSql("p14", { role: "events", columns: [], where: "" })).toBe(`ALTER PUBLICATION p14 SET TABLE eventstore.events2`);
  });
});
