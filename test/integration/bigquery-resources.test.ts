// The BigQuery resources against the emulator's BigQuery (queries on bqemulator), over files a
// changefeed of the CockroachDB twin wrote: create, no-op, in-place updates (readers, schema),
// adoption of our own lost create and refusal of somebody else's, the de-duplicating view, a line
// of the wrong type failing loudly, and delete keeping what others put in the dataset.
import { Driver, TEST_DEPLOYMENT, State } from "../harness/driver";
import { bucketIamMemberOperations, prefixCondition } from "../../provider/gcp/bucket-iam-member";
import { bigQueryDatasetOperations } from "../../provider/gcp/bigquery-dataset";
import { bigQueryTableOperations } from "../../provider/gcp/bigquery-table";
import { bigQueryViewOperations } from "../../provider/gcp/bigquery-view";
import { bigQuerySchema, bigQuerySourceUris, buildCreateChangefeedStatement, buildSinkUri, dedupViewQuery } from "../../provider";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { insertEvents, makeEvents, readDelivered, waitFor, account } from "../helpers/events";
import { bqemulatorInstalled } from "../../stand-ins";

jest.setTimeout(180_000);
const run = bqemulatorInstalled() ? describe : describe.skip;
if (!bqemulatorInstalled()) console.warn("bigquery-resources: skipped, bqemulator is not installed (npm run setup)");

let f: CdcFixture;
const config = () => ({ "gcp:credentials": f.emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint, "gcp:project": f.emu.project });
const query = async (sql: string) => {
  const r = (await f.admin.bigquery.request<any>("POST", `/projects/${f.emu.project}/queries`, { query: sql, useLegacySql: false })).data;
  return (r.rows ?? []).map((row: any) => row.f.map((c: any) => c.v));
};
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e) => e as any,
  );

run("BigQuery resources over a changefeed's files", () => {
  const prefix = "bq";
  const events = makeEvents(12, 500);
  let ds: Driver, tb: Driver, vw: Driver;
  let dataset: State, table: State, view: State;
  beforeAll(async () => {
    f = await cdcFixture();
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
    const id = (
      await f.pg.query(buildCreateChangefeedStatement({ query: { payload: { eventTypes: ["user.human.added"] } }, options: { initial_scan: "no" } }), [
        buildSinkUri({ bucket: f.bucket, prefix, credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    await insertEvents(f.pg, events);
    await waitFor("delivery", async () => account(events, (await readDelivered(f.admin, f.bucket, `${prefix}/`)).lines).missing === 0);
    await f.pg.query("CANCEL JOB $1", [id]);
    [ds, tb, vw] = [bigQueryDatasetOperations, bigQueryTableOperations, bigQueryViewOperations].map(
      (o) => new Driver(o, config(), () => ({ deployment: TEST_DEPLOYMENT })),
    );
  });
  afterAll(() => f?.stop());

  const tableInputs = (schema = bigQuerySchema()) => ({
    owner: "p/s/table",
    datasetId: "audit",
    tableId: "events",
    schema,
    sourceUris: bigQuerySourceUris({ bucket: f.bucket, prefix }),
  });

  test("dataset: created with BigQuery's default access plus the readers; same inputs are no change", async () => {
    const r = await ds.up({ owner: "p/s/dataset", datasetId: "audit", location: "EU", readers: ["group:auditors@example.com"] });
    dataset = r.state;
    expect(r.op).toBe("create");
    const got = (await f.admin.bigquery.request<any>("GET", `/projects/${f.emu.project}/datasets/audit`)).data;
    expect(got.location).toBe("EU");
    expect(got.access).toEqual(
      expect.arrayContaining([
        { role: "READER", groupByEmail: "auditors@example.com" },
        expect.objectContaining({ role: "OWNER", specialGroup: "projectOwners" }),
      ]),
    );
    expect((await ds.up({ owner: "p/s/dataset", datasetId: "audit", location: "EU", readers: ["group:auditors@example.com"] }, dataset)).op).toBe("same");
  });

  test("dataset: readers change in place; entries somebody else added stay", async () => {
    const path = `/projects/${f.emu.project}/datasets/audit`;
    const now = (await f.admin.bigquery.request<any>("GET", path)).data;
    await f.admin.bigquery.request("PATCH", path, { access: [...now.access, { role: "WRITER", userByEmail: "etl@example.com" }] });
    const r = await ds.up({ owner: "p/s/dataset", datasetId: "audit", location: "EU", readers: ["user:soc@example.com"] }, dataset);
    expect(r.op).toBe("update");
    dataset = r.state;
    const access = (await f.admin.bigquery.request<any>("GET", path)).data.access;
    expect(access).toEqual(
      expect.arrayContaining([
        { role: "READER", userByEmail: "soc@example.com" },
        { role: "WRITER", userByEmail: "etl@example.com" },
      ]),
    );
    expect(access).not.toContainEqual({ role: "READER", groupByEmail: "auditors@example.com" });
  });

  test("table and view: every delivered event once through the view, even when a file arrives twice", async () => {
    table = (await tb.up(tableInputs())).state;
    view = (
      await vw.up({ owner: "p/s/view", datasetId: "audit", tableId: "events_dedup", query: dedupViewQuery(`\`${table.outputs.fullId}\``, bigQuerySchema()) })
    ).state;
    expect(table.outputs.fullId).toBe(`${f.emu.project}.audit.events`);
    // At-least-once: a handoff re-delivers rows in a new file. Copy one file under another name.
    const { files } = await readDelivered(f.admin, f.bucket, `${prefix}/`);
    const body = (await f.admin.storage.objects.get({ bucket: f.bucket, object: files[0], alt: "media" }, { responseType: "text" })).data as string;
    await f.admin.storage.objects.insert({ bucket: f.bucket, name: files[0].replace(/\.ndjson$/, "-again.ndjson"), media: { body } });
    const copies = body.trim().split("\n").length;
    const [[lines]] = await query(`SELECT COUNT(*) FROM \`${table.outputs.fullId}\``);
    const [[distinct]] = await query(`SELECT COUNT(*) FROM \`${view.outputs.fullId}\``);
    expect(Number(lines)).toBe(events.length + copies);
    expect(Number(distinct)).toBe(events.length);
    // Refresh reads back what was made (BigQuery names INT64 INTEGER in tables.get): no change.
    const [t2, v2, d2] = [await tb.refresh(table), await vw.refresh(view), await ds.refresh(dataset)];
    expect((await tb.up(tableInputs(), t2!)).op).toBe("same");
    expect(
      (
        await vw.up(
          { owner: "p/s/view", datasetId: "audit", tableId: "events_dedup", query: dedupViewQuery(`\`${table.outputs.fullId}\``, bigQuerySchema()) },
          v2!,
        )
      ).op,
    ).toBe("same");
    expect((await ds.up({ owner: "p/s/dataset", datasetId: "audit", location: "EU", readers: ["user:soc@example.com"] }, d2!)).op).toBe("same");
    const seqs = (await query(`SELECT sequence FROM \`${view.outputs.fullId}\` ORDER BY sequence`)).map((r: string[]) => Number(r[0]));
    expect(seqs).toEqual(events.map((e) => e.sequence).sort((a, b) => a - b));
  });

  test("table: a query change (payload added) updates the schema in place; payload is queryable JSON", async () => {
    const schema = bigQuerySchema({ payload: { eventTypes: ["user.human.added"] } });
    const r = await tb.up(tableInputs(schema), table);
    expect(r.op).toBe("update");
    table = r.state;
    const [[withPayload]] = await query(`SELECT COUNT(*) FROM \`${table.outputs.fullId}\` WHERE payload IS NOT NULL`);
    expect(Number(withPayload)).toBeGreaterThan(0);
  });

  test("a line of the wrong type fails the query loudly, naming the file and the column", async () => {
    const name = `${prefix}/zz-bad.ndjson`;
    await f.admin.storage.objects.insert({
      bucket: f.bucket,
      name,
      media: { body: '{"aggregate_id": "x", "aggregate_type": "user", "instance_id": "i", "sequence": "abc"}\n' },
    });
    const e = await failure(query(`SELECT COUNT(*) FROM \`${table.outputs.fullId}\``));
    expect(e.response?.status ?? e.status).toBe(400);
    expect(String(e.response?.data?.error?.message ?? e.message)).toMatch(/zz-bad\.ndjson/);
    expect(JSON.stringify(e.response?.data?.error ?? {})).toMatch(/sequence/);
    await f.admin.storage.objects.delete({ bucket: f.bucket, object: name });
  });

  test("readers query through the view with READER on the dataset and read access to the bucket; a BigLake table (connectionId) needs none of the bucket", async () => {
    const p = f.emu.project;
    const reader = (await f.admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "soc-reader" } })).data;
    const connection = (await f.admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "bq-connection" } })).data;
    f.emu.grantProject(reader.email!, ["bigquery.jobs.create"]);
    dataset = (await ds.up({ owner: "p/s/dataset", datasetId: "audit", location: "EU", readers: [`serviceAccount:${reader.email}`] }, dataset)).state;
    const key = Buffer.from(
      (await f.admin.iam.projects.serviceAccounts.keys.create({ name: reader.name!, requestBody: {} })).data.privateKeyData!,
      "base64",
    ).toString("utf8");
    const { gcpClients } = await import("../../provider/gcp/client");
    const asReader = await gcpClients({ credentials: key, endpoint: f.emu.endpoint });
    const count = async (id: string) =>
      (await asReader.bigquery.request<any>("POST", `/projects/${p}/queries`, { query: `SELECT COUNT(*) FROM \`${id}\``, useLegacySql: false })).data.rows[0]
        .f[0].v;
    // Without the bucket: refused, naming the permission.
    const e = await failure(count(view.outputs.fullId));
    expect(JSON.stringify(e.response?.data ?? e.message)).toMatch(/storage\.objects\.list/);
    // BigLake: the connection's account reads the files.
    f.emu.bigquery.addConnection(`${p}.eu.audit-files`, connection.email!);
    const policy = (await f.admin.storage.buckets.getIamPolicy({ bucket: f.bucket })).data;
    await f.admin.storage.buckets.setIamPolicy({
      bucket: f.bucket,
      requestBody: {
        ...policy,
        bindings: [...(policy.bindings ?? []), { role: "roles/storage.objectViewer", members: [`serviceAccount:${connection.email}`] }],
      },
    });
    const biglake = (await tb.up({ ...tableInputs(), owner: "p/s/biglake", tableId: "events_biglake", connectionId: `${p}.eu.audit-files` })).state;
    expect(Number(await count(biglake.outputs.fullId))).toBeGreaterThan(0);
    expect(
      (await tb.up({ ...tableInputs(), owner: "p/s/biglake", tableId: "events_biglake", connectionId: `${p}.eu.audit-files` }, (await tb.refresh(biglake))!))
        .op,
    ).toBe("same");
    await tb.destroy(biglake);
    // The ordinary table once the reader may read the stream's files: AuditStream grants roles/storage.objectViewer
    // on the stream's prefix only (an IAM Condition), and the query reads them all; the rest of the bucket stays closed.
    const grant = new Driver(bucketIamMemberOperations, config());
    const g = (
      await grant.up({
        owner: "p/s/reader",
        bucket: f.bucket,
        role: "roles/storage.objectViewer",
        member: `serviceAccount:${reader.email}`,
        condition: prefixCondition(f.bucket, prefix),
      })
    ).state;
    expect(Number(await count(view.outputs.fullId))).toBe(events.length);
    await f.admin.storage.objects.insert({ bucket: f.bucket, name: "elsewhere/private.txt", media: { body: "not the stream's" } });
    expect((await failure(asReader.storage.objects.get({ bucket: f.bucket, object: "elsewhere/private.txt" }))).status ?? 403).toBe(403);
    expect((await failure(asReader.storage.objects.list({ bucket: f.bucket }))).status ?? 403).toBe(403);
    expect(
      (
        await grant.up(
          {
            owner: "p/s/reader",
            bucket: f.bucket,
            role: "roles/storage.objectViewer",
            member: `serviceAccount:${reader.email}`,
            condition: prefixCondition(f.bucket, prefix),
          },
          (await grant.refresh(g))!,
        )
      ).op,
    ).toBe("same");
  });

  test("create adopts a table of the same id only when it carries this resource's label", async () => {
    // A create whose answer was lost: state has nothing, the table exists with our label.
    const again = await tb.up(tableInputs());
    expect(again.op).toBe("create");
    // Another resource of this stack naming the same table, and the same resource in another deployment: refused.
    const e = await failure(tb.up({ ...tableInputs(), owner: "p/s/someone-else" }));
    expect(String(e.message)).toMatch(/already exists: it belongs to another resource of this stack .*It is left as it is\./);
    const elsewhere = new Driver(bigQueryTableOperations, config(), () => ({ deployment: "0e4e000000000002" }));
    const o = await failure(elsewhere.up(tableInputs()));
    expect(String(o.message)).toMatch(
      new RegExp(
        `already exists: it was made by deployment ${TEST_DEPLOYMENT} .*not by this stack's deployment 0e4e000000000002\\. It is left as it is\\..* set takeOver: "${TEST_DEPLOYMENT}"`,
      ),
    );
  });

  test("delete: view and table go, the files stay; a dataset holding somebody else's table is kept", async () => {
    await f.admin.bigquery.request("POST", `/projects/${f.emu.project}/datasets/audit/tables`, {
      tableReference: { projectId: f.emu.project, datasetId: "audit", tableId: "theirs" },
      schema: { fields: [{ name: "x", type: "STRING" }] },
    });
    await vw.destroy(view);
    await tb.destroy(table);
    await tb.destroy(table);
    expect((await readDelivered(f.admin, f.bucket, `${prefix}/`)).files.length).toBeGreaterThan(0);
    await ds.destroy(dataset);
    const kept = (await f.admin.bigquery.request<any>("GET", `/projects/${f.emu.project}/datasets/audit/tables/theirs`)).data;
    expect(kept.id).toBe(`${f.emu.project}:audit.theirs`);
  });
});
