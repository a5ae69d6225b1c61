// Golden tests against ZITADEL's guide "Streaming Audit Logs to External Systems"
// (docs/docs/guides/integrate/external-audit-log.md), and hostile inputs for every builder.
import { ValidationError, buildChangefeedQuery, buildCreateChangefeedStatement, buildSinkUri, loadSqlParser, redactSinkUri } from "../../provider";
import { quoteIdent, sqlString } from "../../provider/cdc/events2";
import { makeKeyWithAwkwardBase64 } from "../helpers/keys";

// The guide's two statements, verbatim (CREDENTIALS placeholder included).
const GUIDE_FIRST =
  "CREATE CHANGEFEED INTO 'gs://gc-storage-zitadel-data/events?partition_format=flat&AUTH=specified&CREDENTIALS=base64encodedkey' AS SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at FROM eventstore.events2;";
const GUIDE_SECOND =
  "CREATE CHANGEFEED INTO 'gs://gc-storage-zitadel-data/events?partition_format=flat&AUTH=specified&CREDENTIALS=base64encodedkey' AS SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at CASE WHEN event_type IN ('instance.domain.added', 'instance.domain.removed', 'instance.domain.primary.set' ) THEN payload END AS payload FROM eventstore.events2;";
const DOMAIN_EVENTS = ["instance.domain.added", "instance.domain.removed", "instance.domain.primary.set"];

const key = makeKeyWithAwkwardBase64();
const sink = () => buildSinkUri({ bucket: "gc-storage-zitadel-data", prefix: "events", partitionFormat: "flat", credentials: key.base64 });
const withKey = (guide: string) => guide.replace("base64encodedkey", encodeURIComponent(key.base64));

beforeAll(loadSqlParser);

describe("the guide's statements", () => {
  test("defaults render the guide's first statement, with the key URL-encoded", () => {
    const rendered = buildCreateChangefeedStatement({ inlineSink: sink() }) + ";";
    expect(rendered).toBe(withKey(GUIDE_FIRST));
  });

  test("the payload allow-list renders the guide's second statement with its missing comma added", () => {
    // Two edits to the guide's text: the comma it lacks before CASE (a syntax error as written,
    // cockroach-changefeeds.md §1.3), and the stray space before the closing parenthesis.
    const fixed = GUIDE_SECOND.replace("created_at CASE", "created_at, CASE").replace("'instance.domain.primary.set' )", "'instance.domain.primary.set')");
    expect(fixed).not.toBe(GUIDE_SECOND);
    const rendered = buildCreateChangefeedStatement({ inlineSink: sink(), query: { payload: { eventTypes: DOMAIN_EVENTS } } }) + ";";
    expect(rendered).toBe(withKey(fixed));
  });

  test("the builder's SELECTs are valid PostgreSQL-family SQL; the guide's second one is not", async () => {
    const { parseSync } = require("libpg-query");
    expect(() => parseSync(buildChangefeedQuery({ payload: { eventTypes: DOMAIN_EVENTS } }))).not.toThrow();
    const guideSelect = GUIDE_SECOND.slice(GUIDE_SECOND.indexOf("AS SELECT") + 3, -1);
    // PostgreSQL >= 16 takes a bare keyword as a column label, so it stumbles at WHEN, not CASE.
    expect(() => parseSync(guideSelect)).toThrow(/syntax error at or near "(CASE|WHEN)"/);
  });

  test("a key whose base64 holds + / = survives the URI exactly as Go's url.Query() reads it", () => {
    expect(key.base64).toMatch(/\+/);
    expect(key.base64).toMatch(/\//);
    expect(key.base64).toMatch(/=$/);
    // URLSearchParams decodes like Go's url.ParseQuery: '+' means space.
    const read = new URLSearchParams(sink().split("?")[1]).get("CREDENTIALS")!;
    expect(read).toBe(key.base64);
    expect(Buffer.from(read, "base64").toString("utf8")).toBe(key.json);
    // The guide's way (raw base64 pasted in) loses every '+', which is cockroach #126552.
    const naive = new URLSearchParams(`CREDENTIALS=${key.base64}`).get("CREDENTIALS")!;
    expect(naive).not.toBe(key.base64);
  });

  test("the redacted form matches CockroachDB's SHOW CHANGEFEED JOB sink_uri", () => {
    expect(redactSinkUri(sink())).toBe("gs://gc-storage-zitadel-data/events?AUTH=specified&CREDENTIALS=redacted&partition_format=flat");
    expect(redactSinkUri(sink())).not.toContain(encodeURIComponent(key.base64).slice(0, 40));
  });
});

type Case = [name: string, call: () => unknown, field: string, reason: RegExp];
const q = (opts: any) => () => buildChangefeedQuery(opts);
const raw = (query: string) => () => buildChangefeedQuery({ query });
const s = (opts: any) => () => buildSinkUri({ bucket: "audit-bucket", credentials: key.base64, ...opts });
const w = (options: any) => () => buildCreateChangefeedStatement({ options });

const hostile: Case[] = [
  // structured query options
  ["SQL in a column name", q({ columns: ["instance_id; DROP TABLE users"] }), "columns.0", /unknown column/],
  ["quote in a column name", q({ columns: ['instance_id"'] }), "columns.0", /unknown column/],
  ["look-alike dotless i in a column", q({ columns: ["\u0131nstance_id"] }), "columns.0", /unknown column/],
  ["payload as a column", q({ columns: ["instance_id", "payload"] }), "columns.1", /"payload" option/],
  ["empty column list", q({ columns: [] }), "columns", /at least one column/],
  ["duplicate column", q({ columns: ["owner", "owner"] }), "columns.1", /listed twice/],
  ["empty payload allow-list", q({ payload: { eventTypes: [] } }), "payload.eventTypes", /payload "none"/],
  ["quote and comment in an event type", q({ payload: { eventTypes: ["user.added'); DROP TABLE x; --"] } }), "payload.eventTypes.0", /dotted event type/],
  ["NUL in an event type", q({ payload: { eventTypes: ["user.human.added\u0000"] } }), "payload.eventTypes.0", /dotted event type/],
  ["Cyrillic look-alike in an event type", q({ payload: { eventTypes: ["us\u0435r.human.added"] } }), "payload.eventTypes.0", /dotted event type/],
  ["oversized event type", q({ payload: { eventTypes: ["a".repeat(201)] } }), "payload.eventTypes.0", /at most 200/],
  ["huge allow-list", q({ payload: { eventTypes: Array.from({ length: 501 }, (_, i) => `e.t${i}`) } }), "payload.eventTypes", /at most 500/],
  ["unknown payload mode", q({ payload: "some" }), "payload", /"none", "all"/],
  ["extra key in payload", q({ payload: { eventTypes: ["a.b"], orElse: "payload" } }), "payload.orElse", /unknown option "orElse"/],
  ["tautology in an instance id", q({ filter: { instanceIds: ["1' OR '1'='1"] } }), "filter.instanceIds.0", /instance id/],
  ["comment in an aggregate type", q({ filter: { aggregateTypes: ["user/*"] } }), "filter.aggregateTypes.0", /aggregate type/],
  ["trailing comment in a filter event type", q({ filter: { eventTypes: ["user.added -- "] } }), "filter.eventTypes.0", /dotted event type/],
  ["unknown filter key", q({ filter: { creator: ["x"] } }), "filter.creator", /unknown option/],
  ["statement in the table name", q({ table: "eventstore.events2; DROP TABLE users" }), "table", /plain lower-case/],
  ["quoted table name", q({ table: 'eventstore."events2"' }), "table", /plain lower-case/],
  ["four-part table name", q({ table: "a.b.c.d" }), "table", /plain lower-case/],
  ["misspelt option", q({ colums: ["owner"] }), "colums", /unknown option "colums"/],
  ["raw query beside structured options", q({ query: "SELECT 1", columns: ["owner"] }), "columns", /replaces/],
  // raw queries, judged by the real PostgreSQL parser
  ["stacked statement", raw("SELECT instance_id FROM eventstore.events2; DROP TABLE users"), "query", /single statement/],
  ["two tables", raw("SELECT * FROM eventstore.events2, users"), "query", /exactly one table/],
  ["join", raw("SELECT * FROM eventstore.events2 e JOIN users u ON true"), "query", /no joins/],
  ["sub-query", raw("SELECT (SELECT 1) AS x FROM eventstore.events2"), "query", /sub-queries/],
  ["aggregate", raw("SELECT count(*) FROM eventstore.events2"), "query", /aggregate count/],
  ["now()", raw("SELECT now() FROM eventstore.events2"), "query", /function now\(\)/],
  ["volatile uuid", raw("SELECT gen_random_uuid() FROM eventstore.events2"), "query", /gen_random_uuid/],
  ["current_timestamp", raw("SELECT current_timestamp FROM eventstore.events2"), "query", /statement_timestamp/],
  ["comment", raw("SELECT * FROM eventstore.events2 -- and more"), "query", /comments/],
  ["order and limit", raw("SELECT * FROM eventstore.events2 ORDER BY sequence LIMIT 1"), "query", /ORDER BY/],
  ["CTE", raw("WITH x AS (SELECT 1) SELECT * FROM eventstore.events2"), "query", /CTEs/],
  ["not a SELECT", raw("INSERT INTO eventstore.events2 VALUES (1)"), "query", /SELECT statement/],
  ["union", raw("SELECT * FROM eventstore.events2 UNION SELECT * FROM eventstore.events2"), "query", /UNION/],
  ["placeholder", raw("SELECT instance_id FROM eventstore.events2 WHERE event_type = $1"), "query", /placeholders/],
  ["unknown column", raw("SELECT secret FROM eventstore.events2"), "query", /unknown column "secret"/],
  ["full-width letters", raw("SELECT * FROM eventstore.events2 WHERE event_type = '\uff55ser'"), "query", /non-ASCII/],
  ["function in FROM", raw("SELECT * FROM generate_series(1, 2)"), "query", /no functions in FROM/],
  ["window function", raw("SELECT row_number() OVER () FROM eventstore.events2"), "query", /window function/],
  ["not SQL at all", raw("SELECT FROM WHERE"), "query", /not valid SQL/],
  ["NUL in a raw query", raw("SELECT * FROM eventstore.events2\u0000"), "query", /control characters/],
  // sink URI
  ["upper-case bucket", s({ bucket: "Audit_Bucket" }), "bucket", /lowercase/],
  ["goog prefix", s({ bucket: "goog-audit" }), "bucket", /goog/],
  ["google inside", s({ bucket: "my-g00gle-audit" }), "bucket", /google/],
  ["IP-address bucket", s({ bucket: "192.168.1.1" }), "bucket", /IP addresses/],
  ["short bucket", s({ bucket: "ab" }), "bucket", /3 to 63/],
  ["query smuggled in the bucket", s({ bucket: "audit?AUTH=implicit" }), "bucket", /lowercase/],
  ["parent segment in the prefix", s({ prefix: "../other-bucket" }), "prefix", /"\.\."/],
  ["query smuggled in the prefix", s({ prefix: "events?AUTH=implicit" }), "prefix", /path of letters/],
  ["empty prefix segment", s({ prefix: "a//b" }), "prefix", /single '\/'/],
  ["credentials that are not base64", s({ credentials: "not base64!!" }), "credentials", /neither key JSON nor/],
  ["credentials that are not JSON", s({ credentials: Buffer.from("hello").toString("base64") }), "credentials", /does not decode to JSON/],
  ["credentials that are not a Google key", s({ credentials: Buffer.from('{"foo":1}').toString("base64") }), "credentials", /no "type"/],
  ["no credentials and no auth", () => buildSinkUri({ bucket: "audit-bucket" }), "credentials", /auth: "implicit"/],
  ["implicit auth with a key", s({ auth: "implicit" }), "credentials", /takes no "credentials"/],
  ["impersonating a non-service account", s({ assumeRole: ["evil@example.com"] }), "assumeRole.0", /service account email/],
  ["unknown partition format", s({ partitionFormat: "weekly" }), "partitionFormat", /"flat", "daily"/],
  ["parameter smuggled in file_size", s({ fileSize: "16MB&AUTH=implicit" }), "fileSize", /size such as/],
  ["unknown sink option", s({ topic_prefix: "x" }), "topic_prefix", /unknown option/],
  // WITH options
  ["enriched envelope", w({ envelope: "enriched" }), "envelope", /"bare"/],
  ["avro into cloud storage", w({ format: "avro" }), "format", /"json", "parquet"/],
  ["Kafka option on a GCS sink", w({ kafka_sink_config: "{}" }), "kafka_sink_config", /unknown option/],
  ["negative duration", w({ resolved: "-1s" }), "resolved", /Go duration|flag/],
  ["SQL in a duration", w({ min_checkpoint_frequency: "10s'; DROP TABLE x; --" }), "min_checkpoint_frequency", /Go duration/],
  ["function as a cursor", w({ cursor: "now()" }), "cursor", /HLC timestamp/],
  ["csv without initial_scan only", w({ format: "csv" }), "format", /initial_scan "only"/],
  ["initial_scan only with resolved", w({ initial_scan: "only", resolved: "10s" }), "resolved", /initial_scan "only"/],
  ["quote in metrics_label", w({ metrics_label: "x'y" }), "metrics_label", /letters, digits/],
  ["flag given a value", w({ diff: "yes" }), "diff", /flag/],
  ["key_column without unordered", w({ unordered: undefined, key_column: "owner" }), "key_column", /unordered/],
];

describe("hostile inputs are refused with the field named", () => {
  test(`at least 25 cases (${hostile.length})`, () => expect(hostile.length).toBeGreaterThanOrEqual(25));

  test.each(hostile)("%s", (_name, call, field, reason) => {
    let caught: unknown;
    try {
      call();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const problems = (caught as ValidationError).problems;
    expect(problems).toContainEqual({ field, reason: expect.stringMatching(reason) });
  });
});

describe("whatever reaches SQL text is provably quoted", () => {
  const nasty = ["it's", "''; DROP TABLE x; --", "\\", "\\'", "a\nb", "$$", "$1", "/* x */", "\u00e9v\u00e9nement", "\u{1F600}", '"', "E'x'", "  ", ""];

  test.each(nasty)("string literal %j parses back to itself", (value) => {
    const { parseSync } = require("libpg-query");
    const ast = parseSync(`SELECT ${sqlString(value)} AS v`);
    expect(ast.stmts).toHaveLength(1);
    const target = ast.stmts[0].stmt.SelectStmt.targetList;
    expect(target).toHaveLength(1);
    expect(target[0].ResTarget.val.A_Const.sval?.sval ?? "").toBe(value);
  });

  test.each(nasty.filter((v) => v !== ""))("identifier %j parses back to itself", (value) => {
    const { parseSync } = require("libpg-query");
    const ast = parseSync(`SELECT 1 AS ${quoteIdent(value)}`);
    expect(ast.stmts[0].stmt.SelectStmt.targetList[0].ResTarget.name).toBe(value);
  });

  test("NUL is refused rather than quoted", () => {
    expect(() => sqlString("a\u0000b")).toThrow(/NUL/);
    expect(() => quoteIdent("a\u0000b")).toThrow(/NUL/);
  });

  test("an inline sink with a quote stays one literal", () => {
    const stmt = buildCreateChangefeedStatement({ inlineSink: "gs://b/x?a='; DROP TABLE y; --" });
    expect(stmt.startsWith("CREATE CHANGEFEED INTO 'gs://b/x?a=''; DROP TABLE y; --' AS SELECT")).toBe(true);
  });
});
