// The emulator's BigQuery subset: datasets, external NDJSON tables over the emulator's own buckets,
// views, and queries run by bqemulator, with BigQuery's permissions and its JSON reader's rules.
// Needs bqemulator (npm run setup, i.e. bash tools/bqemulator/install.sh); skipped without it.
import * as zlib from "zlib";
import { GcpEmulator } from "./emulator";
import { bqemulatorInstalled } from "./bigquery-engine";
import { BIGQUERY_ROLES } from "./roles";
import { Gcp, gcpClients } from "../../provider/gcp/client";

jest.setTimeout(120_000);
const run = bqemulatorInstalled() ? describe : describe.skip;
if (!bqemulatorInstalled()) console.warn("bigquery.test: skipped, bqemulator is not installed (run `npm run setup` or bash tools/bqemulator/install.sh)");

interface Res {
  status: number;
  body: any;
}
type Bq = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Res>;

let emu: GcpEmulator;
let admin: Gcp;
let bq: Bq;
let p: string;

/** BigQuery REST calls with the credentials' token; never throws, so a test sees the status and Google's body. */
async function bqAs(credentials: string): Promise<Bq> {
  const clients = await gcpClients({ credentials, endpoint: emu.endpoint });
  const auth = clients.storage.context._options.auth as any;
  return async (method, path, body, headers = {}) => {
    const token = (await auth.getAccessToken()).token;
    const res = await fetch(`${emu.endpoint}/bigquery/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

/** A service account with a key, and a BigQuery caller using it. */
async function account(id: string): Promise<{ email: string; bq: Bq }> {
  const sa = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: id } })).data;
  const key = (await admin.iam.projects.serviceAccounts.keys.create({ name: sa.name!, requestBody: {} })).data;
  return { email: sa.email!, bq: await bqAs(Buffer.from(key.privateKeyData!, "base64").toString("utf8")) };
}

async function put(bucket: string, name: string, data: Buffer | string, meta: Record<string, unknown> = {}): Promise<void> {
  const token = (await (admin.storage.context._options.auth as any).getAccessToken()).token;
  const boundary = "b0undary";
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\ncontent-type: application/json\r\n\r\n${JSON.stringify({ name, ...meta })}\r\n--${boundary}\r\ncontent-type: application/x-ndjson\r\n\r\n`,
    ),
    Buffer.from(data),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const res = await fetch(`${emu.endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=multipart`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": `multipart/related; boundary=${boundary}` },
    body,
  });
  expect(res.status).toBe(200);
}

// CockroachDB changefeed NDJSON: keys sorted, a space after ':' and ',', bare INT8 and DECIMAL numbers.
interface Ev {
  id: string;
  seq: string;
  type: string;
  at: string;
  position?: string;
  user?: string;
}
const line = (e: Ev) =>
  `{"__crdb__": {"updated": "1764358816672134000.0000000000"}, "aggregate_id": "${e.id}", "aggregate_type": "user", "created_at": "${e.at}", ` +
  `"event_type": "${e.type}", "instance_id": "i1", "owner": "o1", "payload": {"userName": "${e.user ?? e.id}"}, "position": ${e.position ?? "1795884811137001570.0000000001"}, "sequence": ${e.seq}}`;
const ndjson = (events: Ev[]) => events.map(line).join("\n") + "\n";

const SCHEMA = {
  fields: [
    { name: "instance_id", type: "STRING", mode: "NULLABLE" },
    { name: "aggregate_type", type: "STRING", mode: "NULLABLE" },
    { name: "aggregate_id", type: "STRING", mode: "NULLABLE" },
    { name: "sequence", type: "INT64", mode: "NULLABLE" },
    { name: "event_type", type: "STRING", mode: "NULLABLE" },
    { name: "created_at", type: "TIMESTAMP", mode: "NULLABLE" },
    { name: "owner", type: "STRING", mode: "NULLABLE" },
    { name: "position", type: "BIGNUMERIC", mode: "NULLABLE" },
    { name: "payload", type: "JSON", mode: "NULLABLE" },
  ],
};

const externalTable = (dataset: string, table: string, sourceUris: string[], extra: Record<string, unknown> = {}) => ({
  tableReference: { projectId: p, datasetId: dataset, tableId: table },
  schema: SCHEMA,
  externalDataConfiguration: { sourceUris, sourceFormat: "NEWLINE_DELIMITED_JSON", ignoreUnknownValues: true, ...extra },
});

const sql = (caller: Bq, query: string, extra: Record<string, unknown> = {}) =>
  caller("POST", `/projects/${p}/queries`, { query, useLegacySql: false, ...extra });
const values = (r: Res) => (r.body.rows ?? []).map((row: any) => row.f.map((c: any) => c.v));

const BUCKET = "bq-feed";
const events = (n: number, from = 0): Ev[] =>
  Array.from({ length: n }, (_, i) => ({
    id: String(100 + ((from + i) % 3)),
    seq: String(9007199254740992n + BigInt(from + i)),
    type: (from + i) % 2 ? "user.human.added" : "user.human.changed",
    at: `2026-11-${String(27 + ((from + i) % 2)).padStart(2, "0")}T19:20:16.${String(672134 + from + i).padStart(6, "0")}Z`,
  }));

run("the emulator's BigQuery subset", () => {
  beforeAll(async () => {
    emu = await new GcpEmulator().start();
    p = emu.project;
    admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
    bq = await bqAs(emu.adminKeyFile);
    await admin.storage.buckets.insert({ project: p, requestBody: { name: BUCKET, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } } });
  });
  afterAll(() => emu?.stop());

  test("the engine starts on the first BigQuery call, not with the emulator", async () => {
    expect(emu.bigquery.engine.running).toBe(false);
    const t0 = Date.now();
    const r = await bq("POST", `/projects/${p}/datasets`, { datasetReference: { projectId: p, datasetId: "feed" } });
    expect(r.status).toBe(200);
    expect(emu.bigquery.engine.running).toBe(true);
    console.log(`bqemulator start-up: ${emu.bigquery.engine.startupMs} ms (first call ${Date.now() - t0} ms)`);
  });

  describe("datasets", () => {
    test("insert answers the dataset with BigQuery's default access; a second insert is 409, a bad id 400", async () => {
      const r = await bq("POST", `/projects/${p}/datasets`, {
        datasetReference: { projectId: p, datasetId: "ds_one" },
        labels: { team: "sec" },
        description: "d",
      });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        kind: "bigquery#dataset",
        id: `${p}:ds_one`,
        datasetReference: { projectId: p, datasetId: "ds_one" },
        location: "US",
        labels: { team: "sec" },
        description: "d",
      });
      expect(r.body.creationTime).toMatch(/^\d{13}$/);
      expect(r.body.lastModifiedTime).toMatch(/^\d{13}$/);
      expect(typeof r.body.etag).toBe("string");
      expect(r.body.access).toEqual(
        expect.arrayContaining([
          { role: "OWNER", userByEmail: emu.adminEmail },
          { role: "OWNER", specialGroup: "projectOwners" },
          { role: "WRITER", specialGroup: "projectWriters" },
          { role: "READER", specialGroup: "projectReaders" },
        ]),
      );
      expect(r.body.access).toHaveLength(4);
      const again = await bq("POST", `/projects/${p}/datasets`, { datasetReference: { projectId: p, datasetId: "ds_one" } });
      expect([again.status, again.body.error.message, again.body.error.errors[0].reason, again.body.error.status]).toEqual([
        409,
        `Already Exists: Dataset ${p}:ds_one`,
        "duplicate",
        "ALREADY_EXISTS",
      ]);
      const bad = await bq("POST", `/projects/${p}/datasets`, { datasetReference: { projectId: p, datasetId: "bad-id" } });
      expect([bad.status, bad.body.error.errors[0].reason]).toEqual([400, "invalid"]);
      expect((await bq("GET", `/projects/${p}/datasets/ds_one`)).body).toEqual(r.body);
    });

    test("given access entries come back in legacy role names; patch replaces the list and honours If-Match", async () => {
      const reader = await account("ds-reader");
      const r = await bq("POST", `/projects/${p}/datasets`, {
        datasetReference: { projectId: p, datasetId: "ds_two" },
        location: "EU",
        access: [
          { role: "roles/bigquery.dataOwner", specialGroup: "projectOwners" },
          { role: "roles/bigquery.dataViewer", iamMember: `serviceAccount:${reader.email}` },
        ],
      });
      expect(r.status).toBe(200);
      expect(r.body.location).toBe("EU");
      expect(r.body.access).toEqual([
        { role: "OWNER", specialGroup: "projectOwners" },
        { role: "READER", iamMember: `serviceAccount:${reader.email}` },
      ]);
      const stale = r.body.etag;
      const patched = await bq(
        "PATCH",
        `/projects/${p}/datasets/ds_two`,
        {
          access: [
            { role: "OWNER", specialGroup: "projectOwners" },
            { role: "WRITER", userByEmail: reader.email },
          ],
          friendlyName: "two",
        },
        { "if-match": stale },
      );
      expect(patched.status).toBe(200);
      expect(patched.body.access).toEqual([
        { role: "OWNER", specialGroup: "projectOwners" },
        { role: "WRITER", userByEmail: reader.email },
      ]);
      expect([patched.body.friendlyName, patched.body.location]).toEqual(["two", "EU"]);
      expect(patched.body.etag).not.toBe(stale);
      const conflict = await bq("PATCH", `/projects/${p}/datasets/ds_two`, { description: "x" }, { "if-match": stale });
      expect(conflict.status).toBe(412);
      const moved = await bq("PATCH", `/projects/${p}/datasets/ds_two`, { location: "US" });
      expect(moved.status).toBe(400);
    });

    test("delete: a missing dataset is 404; a non-empty one 400 resourceInUse unless deleteContents=true", async () => {
      const missing = await bq("GET", `/projects/${p}/datasets/nope`);
      expect([missing.status, missing.body.error.message, missing.body.error.errors[0].reason]).toEqual([404, `Not found: Dataset ${p}:nope`, "notFound"]);
      expect((await bq("DELETE", `/projects/${p}/datasets/nope`)).status).toBe(404);
      await bq("POST", `/projects/${p}/datasets/ds_one/tables`, {
        tableReference: { projectId: p, datasetId: "ds_one", tableId: "plain" },
        schema: { fields: [{ name: "a", type: "STRING" }] },
      });
      const inUse = await bq("DELETE", `/projects/${p}/datasets/ds_one`);
      expect([inUse.status, inUse.body.error.message, inUse.body.error.errors[0].reason]).toEqual([
        400,
        `Dataset ${p}:ds_one is still in use`,
        "resourceInUse",
      ]);
      expect((await bq("DELETE", `/projects/${p}/datasets/ds_one?deleteContents=true`)).status).toBe(204);
      expect((await bq("GET", `/projects/${p}/datasets/ds_one`)).status).toBe(404);
      // The name is free again, in the engine too.
      expect((await bq("POST", `/projects/${p}/datasets`, { datasetReference: { projectId: p, datasetId: "ds_one" } })).status).toBe(200);
      expect(
        (
          await bq("POST", `/projects/${p}/datasets/ds_one/tables`, {
            tableReference: { projectId: p, datasetId: "ds_one", tableId: "plain" },
            schema: { fields: [{ name: "a", type: "STRING" }] },
          })
        ).status,
      ).toBe(200);
    });
  });

  describe("external tables over the emulator's buckets", () => {
    const layouts: Record<string, (file: string) => string> = {
      flat: (f) => `cf-flat/${f}`,
      daily: (f) => `cf-daily/2026-11-28/${f}`,
      hourly: (f) => `cf-hourly/2026-11-28/19/${f}`,
    };
    const file = (n: number) => `2026112819201667213${n}000000000-1a2b3c4d-1-2-0000000${n}-events2-1.ndjson`;

    beforeAll(async () => {
      for (const [layout, at] of Object.entries(layouts)) {
        await put(BUCKET, at(file(1)), ndjson(events(3)));
        await put(BUCKET, at(file(2)), ndjson(events(2, 3)));
        // A RESOLVED file is not NDJSON of rows: `*.ndjson` leaves it out.
        await put(BUCKET, at("202611281920166721340000000000.RESOLVED"), '{"__crdb__": {"resolved": "1764358816672134000.0000000000"}}');
        const r = await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", `events_${layout}`, [`gs://${BUCKET}/cf-${layout}/*.ndjson`]));
        expect(r.status).toBe(200);
      }
    });

    test("tables.get shows the external table as stored, with BigQuery's type names", async () => {
      const r = await bq("GET", `/projects/${p}/datasets/feed/tables/events_flat`);
      expect(r.body).toMatchObject({
        kind: "bigquery#table",
        id: `${p}:feed.events_flat`,
        type: "EXTERNAL",
        location: "US",
        externalDataConfiguration: { sourceUris: [`gs://${BUCKET}/cf-flat/*.ndjson`], sourceFormat: "NEWLINE_DELIMITED_JSON", ignoreUnknownValues: true },
      });
      expect(r.body.schema.fields.map((f: any) => `${f.name}:${f.type}:${f.mode}`)).toContain("sequence:INTEGER:NULLABLE");
      const list = await bq("GET", `/projects/${p}/datasets/feed/tables`);
      expect(list.body.tables.map((t: any) => t.tableReference.tableId)).toEqual(["events_daily", "events_flat", "events_hourly"]);
      const dup = await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", "events_flat", [`gs://${BUCKET}/x/*.ndjson`]));
      expect([dup.status, dup.body.error.message]).toEqual([409, `Already Exists: Table ${p}:feed.events_flat`]);
      expect((await bq("GET", `/projects/${p}/datasets/feed/tables/nope`)).body.error.message).toBe(`Not found: Table ${p}:feed.nope`);
      const twoStars = await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", "bad", [`gs://${BUCKET}/*/x/*.ndjson`]));
      expect(twoStars.status).toBe(400);
    });

    test.each(Object.keys(layouts))("a wildcard crosses '/' in the %s layout and leaves the RESOLVED file out", async (layout) => {
      const r = await sql(bq, `SELECT COUNT(*) AS n, COUNT(DISTINCT sequence) AS s FROM \`${p}.feed.events_${layout}\``);
      expect(r.status).toBe(200);
      expect(values(r)).toEqual([["5", "5"]]);
    });

    test("INT64 above 2^53 and a BIGNUMERIC with 10 decimals come back exact; TIMESTAMP as BigQuery writes it", async () => {
      const r = await sql(
        bq,
        `SELECT sequence, position, created_at, JSON_VALUE(payload, '$.userName') AS u FROM \`${p}.feed.events_flat\` WHERE sequence = 9007199254740995`,
      );
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ kind: "bigquery#queryResponse", jobComplete: true, cacheHit: false, totalRows: "1" });
      expect(r.body.jobReference).toMatchObject({ projectId: p, location: "US" });
      expect(r.body.schema.fields.map((f: any) => f.type)).toEqual(["INTEGER", "BIGNUMERIC", "TIMESTAMP", "STRING"]);
      const [[seq, position, at, user]] = values(r);
      expect([seq, position, user]).toEqual(["9007199254740995", "1795884811137001570.0000000001", "100"]);
      // Seconds since the epoch as a double ("1.7958936166721370E9"); exact microseconds on request.
      expect(at).toMatch(/^1\.\d+E9$/);
      expect(Math.abs(Number(at) * 1e6 - (Date.parse("2026-11-28T19:20:16.672Z") * 1000 + 137))).toBeLessThan(2);
      const micros = await sql(bq, `SELECT created_at FROM \`${p}.feed.events_flat\` WHERE sequence = 9007199254740995`, {
        formatOptions: { useInt64Timestamp: true },
      });
      expect(values(micros)).toEqual([[String(Date.parse("2026-11-28T19:20:16.672Z") * 1000 + 137)]]);
      // The stored results are served again by jobs.getQueryResults.
      const again = await bq("GET", `/projects/${p}/queries/${r.body.jobReference.jobId}`);
      expect([again.status, again.body.kind, values(again)]).toEqual([200, "bigquery#getQueryResultsResponse", values(r)]);
    });

    test("the demo's queries run: counts, group by, DATE(), filters, JSON_VALUE, a query parameter", async () => {
      const t = `\`${p}.feed.events_daily\``;
      expect(values(await sql(bq, `SELECT COUNT(*) AS n FROM ${t}`))).toEqual([["5"]]);
      expect(values(await sql(bq, `SELECT event_type, COUNT(*) AS n FROM ${t} GROUP BY event_type ORDER BY n DESC, event_type`))).toEqual([
        ["user.human.changed", "3"],
        ["user.human.added", "2"],
      ]);
      expect(
        values(await sql(bq, `SELECT DATE(created_at) AS day, event_type, COUNT(*) AS n FROM ${t} GROUP BY day, event_type ORDER BY day, event_type`)),
      ).toEqual([
        ["2026-11-27", "user.human.changed", "3"],
        ["2026-11-28", "user.human.added", "2"],
      ]);
      expect(values(await sql(bq, `SELECT sequence, event_type FROM ${t} WHERE aggregate_type = 'user' AND aggregate_id = '101' ORDER BY sequence`))).toEqual([
        ["9007199254740993", "user.human.added"],
        ["9007199254740996", "user.human.changed"],
      ]);
      expect(values(await sql(bq, `SELECT JSON_VALUE(payload, '$.userName') AS u FROM feed.events_daily WHERE sequence = 9007199254740992`))).toEqual([
        ["100"],
      ]);
      const param = await sql(bq, `SELECT COUNT(*) AS n FROM ${t} WHERE aggregate_type = 'user' AND aggregate_id = @user_id`, {
        parameterMode: "NAMED",
        queryParameters: [{ name: "user_id", parameterType: { type: "STRING" }, parameterValue: { value: "102" } }],
      });
      expect(values(param)).toEqual([["1"]]);
      expect(
        values(
          await sql(
            bq,
            `SELECT aggregate_id AS user_id, event_type FROM ${t} WHERE event_type IN ('user.human.added', 'user.token.added') ORDER BY created_at DESC`,
          ),
        ),
      ).toEqual([
        ["100", "user.human.added"],
        ["101", "user.human.added"],
      ]);
      const none = await sql(bq, `SELECT aggregate_type FROM ${t} WHERE STARTS_WITH(event_type, 'instance.') OR event_type LIKE '%.member.%'`);
      expect([none.status, none.body.totalRows, none.body.rows]).toEqual([200, "0", undefined]);
      // BIGNUMERIC is held as exact text in the engine: compare it with PARSE_BIGNUMERIC.
      expect(values(await sql(bq, `SELECT COUNT(*) FROM ${t} WHERE PARSE_BIGNUMERIC(position) > PARSE_BIGNUMERIC('1795884811137001570')`))).toEqual([["5"]]);
      // defaultDataset lets a query name the table alone.
      expect(values(await sql(bq, "SELECT COUNT(*) FROM events_hourly", { defaultDataset: { projectId: p, datasetId: "feed" } }))).toEqual([["5"]]);
    });

    test("a new file is read by the next query; the unchanged set is not reloaded", async () => {
      await put(BUCKET, `cf-flat/${file(3)}`, ndjson(events(1, 5)));
      expect(values(await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.events_flat\``))).toEqual([["6"]]);
      const loads = () => emu.bigquery.engine.calls.filter((c) => c.includes("/tables/events_flat/insertAll")).length;
      const before = loads();
      expect(values(await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.events_flat\``))).toEqual([["6"]]);
      expect(loads()).toBe(before);
    });

    test("gzip: objects stored with contentEncoding gzip, and .ndjson.gz files with compression GZIP", async () => {
      await put(BUCKET, `gz-enc/a.ndjson`, zlib.gzipSync(ndjson(events(2))), { contentEncoding: "gzip" });
      await put(BUCKET, `gz-file/a.ndjson.gz`, zlib.gzipSync(ndjson(events(3))));
      await put(BUCKET, `gz-file/2026-11-28/b.ndjson.gz`, zlib.gzipSync(ndjson(events(1, 3))));
      expect((await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", "gz_enc", [`gs://${BUCKET}/gz-enc/*.ndjson`]))).status).toBe(200);
      expect(
        (
          await bq(
            "POST",
            `/projects/${p}/datasets/feed/tables`,
            externalTable("feed", "gz_file", [`gs://${BUCKET}/gz-file/*.ndjson.gz`], { compression: "GZIP" }),
          )
        ).status,
      ).toBe(200);
      expect(values(await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.gz_enc\``))).toEqual([["2"]]);
      expect(values(await sql(bq, `SELECT COUNT(*), MAX(sequence) FROM \`${p}.feed.gz_file\``))).toEqual([["4", "9007199254740995"]]);
    });

    test("a wildcard that matches nothing fails the query", async () => {
      expect((await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", "empty", [`gs://${BUCKET}/none-yet/*.ndjson`]))).status).toBe(200);
      const r = await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.empty\``);
      expect(r.status).toBe(404);
      expect(r.body.error.message).toContain(`gs://${BUCKET}/none-yet/*.ndjson: matched no files`);
    });
  });

  describe("BigQuery's JSON reader rules", () => {
    test("CockroachDB's __crdb__ is a bad record without ignoreUnknownValues and dropped with it", async () => {
      await put(BUCKET, "rules/crdb/f.ndjson", ndjson(events(2)));
      await bq(
        "POST",
        `/projects/${p}/datasets/feed/tables`,
        externalTable("feed", "strict", [`gs://${BUCKET}/rules/crdb/*.ndjson`], { ignoreUnknownValues: false }),
      );
      const r = await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.strict\``);
      expect([r.status, r.body.error.errors[0].reason]).toEqual([400, "invalid"]);
      expect(r.body.error.message).toBe(
        `Error while reading table: ${p}.feed.strict, error message: JSON table encountered too many errors, giving up. Rows: 1; errors: 1. Please look into the errors[] collection for more details. File: gs://${BUCKET}/rules/crdb/f.ndjson`,
      );
      expect(r.body.error.errors[1].message).toContain("JSON parsing error in row starting at position 0: No such field: __crdb__.");
      // Patching the table's configuration takes effect at the next query.
      const patched = await bq("PATCH", `/projects/${p}/datasets/feed/tables/strict`, {
        externalDataConfiguration: { sourceUris: [`gs://${BUCKET}/rules/crdb/*.ndjson`], sourceFormat: "NEWLINE_DELIMITED_JSON", ignoreUnknownValues: true },
      });
      expect(patched.status).toBe(200);
      expect(values(await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.strict\``))).toEqual([["2"]]);
    });

    test("a value of the wrong type fails the query with 400 naming the file, the line's position and the field; maxBadRecords lets it be skipped", async () => {
      const good = ndjson(events(2));
      const bad = line(events(1, 2)[0]).replace(/"sequence": \d+/, '"sequence": "abc"');
      await put(BUCKET, "rules/types/x.ndjson", good + bad + "\n");
      await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", "typed", [`gs://${BUCKET}/rules/types/*.ndjson`]));
      const r = await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.typed\``);
      expect(r.status).toBe(400);
      expect(r.body.error.message).toContain(`Rows: 3; errors: 1.`);
      expect(r.body.error.message).toContain(`File: gs://${BUCKET}/rules/types/x.ndjson`);
      expect(r.body.error.errors[1].message).toBe(
        `Error while reading table: ${p}.feed.typed, error message: JSON parsing error in row starting at position ${Buffer.byteLength(good)}: Could not convert value 'string_value: "abc"' to integer. Field: sequence; Value: abc File: gs://${BUCKET}/rules/types/x.ndjson`,
      );
      await bq("PATCH", `/projects/${p}/datasets/feed/tables/typed`, {
        externalDataConfiguration: {
          sourceUris: [`gs://${BUCKET}/rules/types/*.ndjson`],
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          ignoreUnknownValues: true,
          maxBadRecords: 1,
        },
      });
      expect(values(await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.typed\``))).toEqual([["2"]]);
    });

    test("other wrong values are bad records too, never NULLs: a fraction in INT64, a number in STRING, a bad timestamp, INT64 overflow", async () => {
      const base = events(1)[0];
      const cases = [
        line(base).replace(/"sequence": \d+/, '"sequence": 1.5'),
        line(base).replace('"aggregate_id": "100"', '"aggregate_id": 100'),
        line(base).replace(/"created_at": "[^"]+"/, '"created_at": "yesterday"'),
        line(base).replace(/"sequence": \d+/, '"sequence": 9223372036854775808'),
        '["not", "an", "object"]',
        "{broken",
      ];
      for (const [i, text] of cases.entries()) {
        await put(BUCKET, `rules/each/${i}/f.ndjson`, text + "\n");
        await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", `bad_${i}`, [`gs://${BUCKET}/rules/each/${i}/f.ndjson`]));
        const r = await sql(bq, `SELECT * FROM \`${p}.feed.bad_${i}\``);
        expect([i, r.status]).toEqual([i, 400]);
        expect(r.body.error.message).toContain(`File: gs://${BUCKET}/rules/each/${i}/f.ndjson`);
      }
      // INT64 as a string of digits, NUMERIC-range extremes as BIGNUMERIC, and a timestamp offset are fine.
      await put(
        BUCKET,
        "rules/ok/f.ndjson",
        line({
          ...base,
          seq: '"-9223372036854775808"',
          at: "2026-11-28 20:20:16.5+01:00",
          position: '"-12345678901234567890.123456789012345678901234567890"',
        }) + "\n",
      );
      await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", "ok", [`gs://${BUCKET}/rules/ok/f.ndjson`]));
      const r = await sql(bq, `SELECT sequence, position, created_at FROM \`${p}.feed.ok\``, { formatOptions: { useInt64Timestamp: true } });
      expect(values(r)).toEqual([
        ["-9223372036854775808", "-12345678901234567890.12345678901234567890123456789", String(Date.parse("2026-11-28T19:20:16.5Z") * 1000)],
      ]);
    });
  });

  describe("views", () => {
    beforeAll(async () => {
      const evs = events(4);
      await put(BUCKET, "dedup/2026-11-28/a.ndjson", ndjson(evs));
      // At-least-once: a re-delivered file repeats rows.
      await put(BUCKET, "dedup/2026-11-28/b.ndjson", ndjson(evs.slice(1)));
      await bq("POST", `/projects/${p}/datasets/feed/tables`, externalTable("feed", "events", [`gs://${BUCKET}/dedup/*.ndjson`]));
    });

    const dedup = () =>
      `SELECT * EXCEPT(_row) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY instance_id, aggregate_type, aggregate_id, sequence ORDER BY created_at) AS _row FROM \`${p}.feed.events\`) WHERE _row = 1`;

    test("the de-duplicating view returns each event once and sees files added after its creation", async () => {
      const r = await bq("POST", `/projects/${p}/datasets/feed/tables`, {
        tableReference: { projectId: p, datasetId: "feed", tableId: "events_dedup" },
        view: { query: dedup(), useLegacySql: false },
      });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ type: "VIEW", view: { query: dedup(), useLegacySql: false } });
      expect(r.body.schema.fields.map((f: any) => `${f.name}:${f.type}`)).toEqual(SCHEMA.fields.map((f) => `${f.name}:${f.type.replace("INT64", "INTEGER")}`));
      expect(values(await sql(bq, `SELECT COUNT(*) AS n FROM \`${p}.feed.events\``))).toEqual([["7"]]);
      expect(values(await sql(bq, `SELECT COUNT(*) AS n FROM \`${p}.feed.events_dedup\``))).toEqual([["4"]]);
      const rows = await sql(bq, `SELECT sequence, position FROM \`${p}.feed.events_dedup\` ORDER BY sequence`);
      expect(rows.body.schema.fields.map((f: any) => f.type)).toEqual(["INTEGER", "BIGNUMERIC"]);
      expect(values(rows).map((v: string[]) => v[0])).toEqual(["9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995"]);
      await put(BUCKET, "dedup/2026-11-29/c.ndjson", ndjson(events(2, 4)));
      expect(values(await sql(bq, `SELECT event_type, COUNT(*) AS n FROM \`${p}.feed.events_dedup\` GROUP BY event_type ORDER BY n DESC, event_type`))).toEqual(
        [
          ["user.human.added", "3"],
          ["user.human.changed", "3"],
        ],
      );
    });

    test("a view's query is checked at insert (400); patch replaces it", async () => {
      const mk = (tableId: string, query: string) =>
        bq("POST", `/projects/${p}/datasets/feed/tables`, {
          tableReference: { projectId: p, datasetId: "feed", tableId },
          view: { query, useLegacySql: false },
        });
      const col = await mk("v_bad", `SELECT nope FROM \`${p}.feed.events\``);
      expect([col.status, col.body.error.errors[0].reason]).toEqual([400, "invalid"]);
      expect((await mk("v_bad", `SELECT * FROM \`${p}.feed.missing\``)).status).toBe(400);
      expect((await mk("v_bad", "SELEC oops")).status).toBe(400);
      expect((await bq("GET", `/projects/${p}/datasets/feed/tables/v_bad`)).status).toBe(404);
      expect((await mk("v_users", `SELECT DISTINCT aggregate_id FROM \`${p}.feed.events\``)).status).toBe(200);
      const patched = await bq("PATCH", `/projects/${p}/datasets/feed/tables/v_users`, {
        view: { query: `SELECT DISTINCT event_type FROM \`${p}.feed.events\``, useLegacySql: false },
      });
      expect(patched.status).toBe(200);
      expect(values(await sql(bq, `SELECT * FROM \`${p}.feed.v_users\` ORDER BY 1`))).toEqual([["user.human.added"], ["user.human.changed"]]);
      // A bad replacement is refused and leaves the view as it was.
      const refused = await bq("PATCH", `/projects/${p}/datasets/feed/tables/v_users`, {
        view: { query: `SELECT nope FROM \`${p}.feed.events\``, useLegacySql: false },
      });
      expect(refused.status).toBe(400);
      expect((await bq("GET", `/projects/${p}/datasets/feed/tables/v_users`)).body.view.query).toBe(`SELECT DISTINCT event_type FROM \`${p}.feed.events\``);
      expect(values(await sql(bq, `SELECT * FROM \`${p}.feed.v_users\` ORDER BY 1`))).toEqual([["user.human.added"], ["user.human.changed"]]);
    });

    test("a view stored with useLegacySql omitted (the REST default, legacy SQL) fails when a GoogleSQL query reads it", async () => {
      const r = await bq("POST", `/projects/${p}/datasets/feed/tables`, {
        tableReference: { projectId: p, datasetId: "feed", tableId: "v_legacy" },
        view: { query: "SELECT 1 AS x" },
      });
      expect(r.status).toBe(200);
      expect(r.body.view).toEqual({ query: "SELECT 1 AS x" });
      const q = await sql(bq, `SELECT * FROM \`${p}.feed.v_legacy\``);
      expect([q.status, q.body.error.errors[0].reason, q.body.error.message]).toEqual([
        400,
        "invalidQuery",
        "Cannot reference a legacy SQL view in a standard SQL query.",
      ]);
    });
  });

  describe("jobs.query errors", () => {
    test("an unknown column is a 400 invalidQuery (bqemulator's 200-with-errors), a missing table 404, legacy SQL refused", async () => {
      const col = await sql(bq, `SELECT nope FROM \`${p}.feed.events_flat\``);
      expect([col.status, col.body.error.errors[0].reason, col.body.error.status]).toEqual([400, "invalidQuery", "INVALID_ARGUMENT"]);
      expect(col.body.error.message).toMatch(/nope/);
      const table = await sql(bq, `SELECT * FROM \`${p}.feed.missing\``);
      expect([table.status, table.body.error.message]).toEqual([404, `Not found: Table ${p}:feed.missing was not found in location US`]);
      const legacy = await bq("POST", `/projects/${p}/queries`, { query: "SELECT 1" });
      expect([legacy.status, legacy.body.error.errors[0].reason]).toEqual([400, "invalidQuery"]);
      expect(legacy.body.error.message).toContain("useLegacySql: false");
      const dml = await sql(bq, `DELETE FROM \`${p}.feed.events\` WHERE TRUE`);
      expect(dml.status).toBe(501);
    });
  });

  describe("jobs.insert, jobs.get", () => {
    const insert = (caller: Bq, query: unknown, jobReference: Record<string, unknown> = {}) =>
      caller("POST", `/projects/${p}/jobs`, { jobReference: { projectId: p, ...jobReference }, configuration: { query } });
    const count = () => ({ query: `SELECT COUNT(*) AS n FROM \`${p}.feed.events_hourly\``, useLegacySql: false });

    test("a query job: insert answers RUNNING, jobs.get DONE, getQueryResults its rows; a taken id is 409, another location 404", async () => {
      const r = await insert(bq, count(), { jobId: "job_count_1" });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        kind: "bigquery#job",
        id: `${p}:US.job_count_1`,
        jobReference: { projectId: p, jobId: "job_count_1", location: "US" },
        configuration: { jobType: "QUERY", query: count() },
        status: { state: "RUNNING" },
      });
      const got = await bq("GET", `/projects/${p}/jobs/job_count_1?location=US`);
      expect(got.status).toBe(200);
      expect(got.body.status).toEqual({ state: "DONE" });
      expect(got.body.statistics.endTime).toMatch(/^\d{13}$/);
      const res = await bq("GET", `/projects/${p}/queries/job_count_1?formatOptions.useInt64Timestamp=True`);
      expect([res.status, res.body.jobComplete, values(res)]).toEqual([200, true, [["5"]]]);
      expect((await insert(bq, count(), { jobId: "job_count_1" })).status).toBe(409);
      expect((await bq("GET", `/projects/${p}/jobs/job_count_1?location=EU`)).status).toBe(404);
      expect((await bq("GET", `/projects/${p}/jobs/job_nope`)).status).toBe(404);
      // A jobs.query job is a job too.
      const q = await sql(bq, count().query);
      expect((await bq("GET", `/projects/${p}/jobs/${q.body.jobReference.jobId}`)).body.status.state).toBe("DONE");
    });

    test("a query that fails is a job DONE with errorResult, which getQueryResults answers; a bad request or a load job is an HTTP error", async () => {
      const r = await insert(bq, { query: `SELECT nope FROM \`${p}.feed.events_hourly\``, useLegacySql: false });
      expect(r.status).toBe(200);
      expect(r.body.status.state).toBe("DONE");
      expect(r.body.status.errorResult.reason).toBe("invalidQuery");
      expect(r.body.status.errorResult.message).toMatch(/nope/);
      const res = await bq("GET", `/projects/${p}/queries/${r.body.jobReference.jobId}`);
      expect([res.status, res.body.error.errors[0].reason]).toEqual([400, "invalidQuery"]);
      const missing = await insert(bq, { query: `SELECT * FROM \`${p}.feed.missing\``, useLegacySql: false });
      expect([missing.status, missing.body.status.errorResult.reason]).toEqual([200, "notFound"]);
      // configuration.query.useLegacySql defaults to true, as in jobs.query.
      const legacy = await insert(bq, { query: "SELECT 1" });
      expect([legacy.body.configuration.query.useLegacySql, legacy.body.status.errorResult.reason]).toEqual([true, "invalidQuery"]);
      expect((await bq("POST", `/projects/${p}/jobs`, { configuration: { query: {} } })).status).toBe(400);
      expect((await bq("POST", `/projects/${p}/jobs`, { configuration: { load: { sourceUris: [`gs://${BUCKET}/x`] } } })).status).toBe(501);
    });

    test("insert needs bigquery.jobs.create; the creator may get its job, another caller needs bigquery.jobs.get", async () => {
      const nobody = await account("bq-job-nobody");
      const denied = await insert(nobody.bq, { query: "SELECT 1 AS x", useLegacySql: false });
      expect([denied.status, denied.body.error.message]).toEqual([
        403,
        `Access Denied: Project ${p}: User does not have bigquery.jobs.create permission in project ${p}.`,
      ]);
      const user = await account("bq-job-user");
      emu.grantProject(user.email, BIGQUERY_ROLES["roles/bigquery.jobUser"]);
      const r = await insert(user.bq, { query: "SELECT 1 AS x", useLegacySql: false });
      expect(r.status).toBe(200);
      const id = r.body.jobReference.jobId;
      expect((await user.bq("GET", `/projects/${p}/jobs/${id}`)).status).toBe(200);
      expect(values(await user.bq("GET", `/projects/${p}/queries/${id}`))).toEqual([["1"]]);
      expect((await nobody.bq("GET", `/projects/${p}/jobs/${id}`)).status).toBe(403);
      expect((await bq("GET", `/projects/${p}/jobs/${id}`)).status).toBe(200);
    });
  });

  describe("permissions", () => {
    test("no grant: 403 on datasets.insert and on jobs.query", async () => {
      const nobody = await account("bq-nobody");
      const ins = await nobody.bq("POST", `/projects/${p}/datasets`, { datasetReference: { projectId: p, datasetId: "mine" } });
      expect([ins.status, ins.body.error.errors[0].reason, ins.body.error.message]).toEqual([
        403,
        "accessDenied",
        `Access Denied: Project ${p}: User does not have bigquery.datasets.create permission in project ${p}.`,
      ]);
      const q = await sql(nobody.bq, `SELECT COUNT(*) FROM \`${p}.feed.events_flat\``);
      expect([q.status, q.body.error.message]).toEqual([
        403,
        `Access Denied: Project ${p}: User does not have bigquery.jobs.create permission in project ${p}.`,
      ]);
      expect((await nobody.bq("GET", `/projects/${p}/datasets/feed`)).status).toBe(403);
    });

    test("jobUser + a READER entry + the bucket's objectViewer: the query runs; each missing piece is a 403", async () => {
      const reader = await account("bq-reader");
      emu.grantProject(reader.email, BIGQUERY_ROLES["roles/bigquery.jobUser"]);
      const q = () => sql(reader.bq, `SELECT COUNT(*) AS n FROM \`${p}.feed.events_hourly\``);
      const noData = await q();
      expect([noData.status, noData.body.error.message]).toEqual([
        403,
        `Access Denied: Table ${p}:feed.events_hourly: User does not have permission to query table ${p}:feed.events_hourly, or perhaps it does not exist.`,
      ]);

      const ds = (await bq("GET", `/projects/${p}/datasets/feed`)).body;
      expect((await bq("PATCH", `/projects/${p}/datasets/feed`, { access: [...ds.access, { role: "READER", userByEmail: reader.email }] })).status).toBe(200);
      const noBucket = await q();
      expect(noBucket.status).toBe(403);
      expect(noBucket.body.error.message).toContain(`${reader.email} does not have storage.objects.list access`);
      expect(emu.checks.filter((c) => c.principal === reader.email && !c.ok).map((c) => c.permission)).toContain("storage.objects.list");

      const policy = (await admin.storage.buckets.getIamPolicy({ bucket: BUCKET })).data;
      policy.bindings = [...(policy.bindings ?? []), { role: "roles/storage.objectViewer", members: [`serviceAccount:${reader.email}`] }];
      await admin.storage.buckets.setIamPolicy({ bucket: BUCKET, requestBody: policy });
      const ok = await q();
      expect([ok.status, values(ok)]).toEqual([200, [["5"]]]);
      // A READER may read the dataset and its tables but not change them.
      expect((await reader.bq("GET", `/projects/${p}/datasets/feed/tables/events_hourly`)).status).toBe(200);
      expect((await reader.bq("PATCH", `/projects/${p}/datasets/feed`, { description: "mine" })).status).toBe(403);
      expect((await reader.bq("DELETE", `/projects/${p}/datasets/feed/tables/events_hourly`)).status).toBe(403);
      // Another caller cannot read this caller's results; its creator can.
      expect((await reader.bq("GET", `/projects/${p}/queries/${ok.body.jobReference.jobId}`)).status).toBe(200);
      const other = await account("bq-other");
      expect((await other.bq("GET", `/projects/${p}/queries/${ok.body.jobReference.jobId}`)).status).toBe(403);
    });

    test("a view needs getData on the view's dataset only, plus read access to the buckets of the external tables behind it", async () => {
      const viewer = await account("bq-view-reader");
      emu.grantProject(viewer.email, BIGQUERY_ROLES["roles/bigquery.jobUser"]);
      await bq("POST", `/projects/${p}/datasets`, {
        datasetReference: { projectId: p, datasetId: "shared" },
        access: [
          { role: "OWNER", specialGroup: "projectOwners" },
          { role: "roles/bigquery.dataViewer", iamMember: `serviceAccount:${viewer.email}` },
        ],
      });
      const v = await bq("POST", `/projects/${p}/datasets/shared/tables`, {
        tableReference: { projectId: p, datasetId: "shared", tableId: "counts" },
        view: { query: `SELECT COUNT(*) AS n FROM \`${p}.feed.events_flat\``, useLegacySql: false },
      });
      expect(v.status).toBe(200);
      const q = () => sql(viewer.bq, `SELECT n FROM \`${p}.shared.counts\``);
      const noBucket = await q();
      expect(noBucket.status).toBe(403);
      expect(noBucket.body.error.message).toContain("storage.objects.list");
      const policy = (await admin.storage.buckets.getIamPolicy({ bucket: BUCKET })).data;
      policy.bindings = [...(policy.bindings ?? []), { role: "roles/storage.objectViewer", members: [`serviceAccount:${viewer.email}`] }];
      await admin.storage.buckets.setIamPolicy({ bucket: BUCKET, requestBody: policy });
      expect(values(await q())).toEqual([["6"]]);
      // The table behind the view is not readable directly.
      expect((await sql(viewer.bq, `SELECT COUNT(*) FROM \`${p}.feed.events_flat\``)).status).toBe(403);
    });
  });

  test("a BigLake table (connectionId) reads its files as the connection's account; an unknown connection is 404, a malformed id 400", async () => {
    await put(BUCKET, "biglake/2026-11-28/a.ndjson", ndjson(events(2, 500)));
    const bad = await bq(
      "POST",
      `/projects/${p}/datasets/feed/tables`,
      externalTable("feed", "biglake_bad", [`gs://${BUCKET}/biglake/*.ndjson`], { connectionId: "not a connection" }),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^Invalid connection id: not a connection/);
    const made = await bq(
      "POST",
      `/projects/${p}/datasets/feed/tables`,
      externalTable("feed", "biglake", [`gs://${BUCKET}/biglake/*.ndjson`], { connectionId: `projects/${p}/locations/US/connections/files` }),
    );
    expect(made.status).toBe(200);
    expect((await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.biglake\``)).body.error.message).toBe(
      `Not found: Connection projects/${p}/locations/US/connections/files`,
    );
    const conn = await account("bq-conn-files");
    emu.bigquery.addConnection(`${p}.us.files`, conn.email);
    // The connection's account has no bucket access yet: refused naming it, whoever asks.
    const denied = await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.biglake\``);
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain(conn.email);
    const policy = (await admin.storage.buckets.getIamPolicy({ bucket: BUCKET })).data;
    await admin.storage.buckets.setIamPolicy({
      bucket: BUCKET,
      requestBody: { ...policy, bindings: [...(policy.bindings ?? []), { role: "roles/storage.objectViewer", members: [`serviceAccount:${conn.email}`] }] },
    });
    expect(values(await sql(bq, `SELECT COUNT(*) FROM \`${p}.feed.biglake\``))).toEqual([["2"]]);
  });
});

run("the engine's lifetime", () => {
  test("stop() ends the engine's process group", async () => {
    const own = await new GcpEmulator().start();
    emu = own;
    try {
      const caller = await bqAs(own.adminKeyFile);
      expect((await caller("POST", `/projects/${own.project}/datasets`, { datasetReference: { projectId: own.project, datasetId: "x" } })).status).toBe(200);
      const pid = own.bigquery.engine.pid!;
      expect(() => process.kill(pid, 0)).not.toThrow();
      await own.stop();
      expect(() => process.kill(-pid, 0)).toThrow();
    } finally {
      await own.stop();
    }
  });
});

test("without bqemulator installed, BigQuery calls answer 501 naming npm run setup", async () => {
  const saved = process.env.BQEMULATOR_VENV;
  process.env.BQEMULATOR_VENV = "/nonexistent/bqemulator-venv";
  const own = await new GcpEmulator().start();
  emu = own;
  try {
    const r = await (
      await bqAs(own.adminKeyFile)
    )("POST", `/projects/${own.project}/datasets`, { datasetReference: { projectId: own.project, datasetId: "x" } });
    expect([r.status, r.body.error.errors[0].reason, r.body.error.status]).toEqual([501, "notImplemented", "NOT_IMPLEMENTED"]);
    expect(r.body.error.message).toContain("npm run setup");
    expect(own.bigquery.engine.running).toBe(false);
  } finally {
    if (saved === undefined) delete process.env.BQEMULATOR_VENV;
    else process.env.BQEMULATOR_VENV = saved;
    await own.stop();
  }
});
