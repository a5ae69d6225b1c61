// Bad Changefeed and ClusterSetting inputs are refused at `check`, each naming its field.
import { named } from "../helpers/failures";
import { Changefeed, ClusterSetting } from "../../provider";
import { makeKeyWithAwkwardBase64 } from "../helpers/keys";

const key = makeKeyWithAwkwardBase64().base64;
const feed = (news: Record<string, unknown>) =>
  (Changefeed as any).provider.check({}, { owner: "unit/test/feed", sink: { bucket: "audit-bucket", credentials: key }, ...news, __provider: "text" });
const setting = (news: Record<string, unknown>) => (ClusterSetting as any).provider.check({}, { ...news, __provider: "text" });

type Case = [string, () => Promise<any>, string, RegExp];
const cases: Case[] = [
  ["no sink", () => feed({ sink: undefined }), "sink", /expected object/],
  ["sink bucket in capitals", () => feed({ sink: { bucket: "Audit", credentials: key } }), "sink.bucket", /lowercase/],
  ["sink without credentials or implicit auth", () => feed({ sink: { bucket: "audit-bucket" } }), "sink.credentials", /auth: "implicit"/],
  [
    "credentials that are not a key",
    () => feed({ sink: { bucket: "audit-bucket", credentials: Buffer.from("{}").toString("base64") } }),
    "sink.credentials",
    /no "type"/,
  ],
  [
    "query smuggled into the prefix",
    () => feed({ sink: { bucket: "audit-bucket", prefix: "x?AUTH=implicit", credentials: key } }),
    "sink.prefix",
    /path of letters/,
  ],
  ["unknown partition format", () => feed({ sink: { bucket: "audit-bucket", credentials: key, partitionFormat: "weekly" } }), "sink.partitionFormat", /"flat"/],
  ["connection that is not a postgres URL", () => feed({ connectionString: "mysql://root@db:3306" }), "connectionString", /postgresql:\/\//],
  ["unknown column", () => feed({ query: { columns: ["instance_id", "password"] } }), "query.columns.1", /unknown column/],
  ["payload as a column", () => feed({ query: { columns: ["payload"] } }), "query.columns.0", /"payload" option/],
  ["empty allow-list", () => feed({ query: { payload: { eventTypes: [] } } }), "query.payload.eventTypes", /at least one/],
  ["SQL in an event type", () => feed({ query: { payload: { eventTypes: ["a'); DROP TABLE x; --"] } } }), "query.payload.eventTypes.0", /dotted event type/],
  ["raw query with now()", () => feed({ query: { query: "SELECT now() AS t FROM eventstore.events2" } }), "query.query", /function now\(\)/],
  [
    "raw query with a join",
    () => feed({ query: { query: "SELECT 1 FROM eventstore.events2 a JOIN eventstore.events2 b ON true" } }),
    "query.query",
    /no joins/,
  ],
  [
    "raw query beside builder options",
    () => feed({ query: { query: "SELECT instance_id FROM eventstore.events2", payload: "all" } }),
    "query.payload",
    /replaces/,
  ],
  ["enriched envelope", () => feed({ options: { envelope: "enriched" } }), "options.envelope", /"bare"/],
  ["avro format", () => feed({ options: { format: "avro" } }), "options.format", /"json"/],
  ["kafka option", () => feed({ options: { kafka_sink_config: "{}" } }), "options.kafka_sink_config", /unknown option/],
  ["bad duration", () => feed({ options: { resolved: "ten seconds" } }), "options.resolved", /Go duration|flag/],
  ["cursor that is not a timestamp", () => feed({ options: { cursor: "yesterday" } }), "options.cursor", /HLC timestamp/],
  ["initial_scan only with resolved", () => feed({ options: { initial_scan: "only", resolved: "10s" } }), "options.resolved", /initial_scan "only"/],
  ["timeout too short", () => feed({ timeoutSeconds: 1 }), "timeoutSeconds", /at least 5 seconds/],
  ["unknown top-level option", () => feed({ sinkUri: "gs://x" }), "sinkUri", /unknown option/],
  ["setting name with SQL", () => setting({ name: "kv.rangefeed.enabled; DROP TABLE x" }), "name", /cluster setting name/],
  ["setting value with a control character", () => setting({ value: "a\nb" }), "value", /printable/],
];

describe("check refuses bad changefeed and setting inputs", () => {
  test(`at least 20 cases (${cases.length})`, () => expect(cases.length).toBeGreaterThanOrEqual(20));

  test.each(cases)("%s", async (_name, run, property, reason) => {
    const r = await run();
    expect(r.inputs).toBeUndefined();
    expect(named(r.failures)).toContainEqual({ property, reason: expect.stringMatching(reason) });
  });

  test("good inputs get the rendered SELECT and the redacted sink, never the key", async () => {
    const r = await feed({ query: { payload: { eventTypes: ["user.human.added"] } } });
    expect(r.failures).toBeUndefined();
    expect(r.inputs.select).toContain("CASE WHEN event_type IN ('user.human.added') THEN payload END AS payload");
    expect(r.inputs.sinkUriRedacted).toBe("gs://audit-bucket?AUTH=specified&CREDENTIALS=redacted");
    expect(JSON.stringify(r.inputs.sinkUriRedacted)).not.toContain(key.slice(0, 20));
  });
});

describe("Changefeed diff", () => {
  const diff = (olds: any, news: any) => (Changefeed as any).provider.diff("changefeed-1", olds, news);
  const inputs = {
    select: "SELECT instance_id FROM eventstore.events2",
    query: {},
    sink: { bucket: "b", credentials: "k" },
    options: {},
    timeoutSeconds: 120,
    verifySinkAccess: true,
    __provider: "p",
  };
  const state = {
    ...inputs,
    jobId: "1795486589029001980",
    status: "running",
    runningStatus: "running: resolved=1",
    highWaterTimestamp: "1.0000000000",
    error: "",
  };

  test("status outputs that change with every checkpoint cause no diff", async () => {
    expect(await diff({ ...state, runningStatus: "running: resolved=2", highWaterTimestamp: "2.0000000000" }, inputs)).toMatchObject({
      changes: false,
      replaces: [],
    });
  });

  test("a job that is not running is drift to heal, never a replacement", async () => {
    for (const status of ["paused", "canceled", "failed", "missing"]) {
      expect(await diff({ ...state, status }, inputs)).toMatchObject({ changes: true, replaces: [] });
    }
  });

  test("query, sink and option changes are updates", async () => {
    expect(await diff(state, { ...inputs, select: "SELECT owner FROM eventstore.events2" })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff(state, { ...inputs, sink: { bucket: "b", credentials: "k2" } })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff(state, { ...inputs, options: { resolved: "10s" } })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff(state, { ...inputs, verifySinkAccess: false })).toMatchObject({ changes: true, replaces: [] });
  });
});
