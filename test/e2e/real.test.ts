// The pipeline against a real CockroachDB cluster and a real Google Cloud project, through the real
// engine. Skipped unless these are set (nothing here can reach either service):
//   ZAS_REAL_COCKROACH_URL  postgresql://… of a SCRATCH database: the test creates eventstore.events2
//                           there if missing and writes test events into it. Never point it at ZITADEL's.
//   ZAS_REAL_GCP_PROJECT    the project for the bucket, service account and role
//   GOOGLE_CREDENTIALS or Application Default Credentials: an identity that may create them
// The bucket is created with forceDestroy and removed at the end; so are the BigQuery dataset
// (zas_e2e_<time>), its external table and view, and the Pub/Sub topics and subscriptions. The
// BigQuery, Pub/Sub and Resource Manager APIs must be enabled in the project; the cluster publishes
// through the regional endpoint of ZAS_REAL_PUBSUB_REGION (default us-east1).
import { Client } from "pg";
import { newTestStack, TestStack } from "../harness/engine";
import { Consumer, consumerLayout } from "../harness/consumer";
import { gcpClients, Gcp } from "../../provider/gcp/client";
import { account, insertEvents, makeEvents, pullMessages, readDelivered, waitFor } from "../helpers/events";

const url = process.env.ZAS_REAL_COCKROACH_URL;
const project = process.env.ZAS_REAL_GCP_PROJECT;
const real = url && project ? describe : describe.skip;

jest.setTimeout(900_000);

real("against a real CockroachDB and Google Cloud", () => {
  let consumer: Consumer;
  let t: TestStack;
  let pg: Client;
  let gcp: Gcp;

  beforeAll(async () => {
    pg = new Client({ connectionString: url });
    await pg.connect();
    await pg.query("CREATE SCHEMA IF NOT EXISTS eventstore");
    await pg.query(`CREATE TABLE IF NOT EXISTS eventstore.events2 (
      instance_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, event_type TEXT NOT NULL,
      "sequence" BIGINT NOT NULL, revision SMALLINT NOT NULL, created_at TIMESTAMPTZ NOT NULL, payload JSONB,
      creator TEXT NOT NULL, "owner" TEXT NOT NULL, "position" DECIMAL NOT NULL, in_tx_order INTEGER NOT NULL,
      PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence"))`);
    gcp = await gcpClients({ project });
    consumer = consumerLayout("real");
    const { AuditStream } = consumer.pkg;
    t = await newTestStack({
      project: "zitadel-audit-real",
      parentDir: consumer.dir,
      program: async () => {
        const s = new AuditStream("zas-e2e", {
          project,
          bucket: { forceDestroy: true },
          changefeedOptions: { initial_scan: "no" },
          timeoutSeconds: 300,
          // The payload allow-list makes the table's payload a JSON column: this checks that a
          // (non-BigLake) external table accepts JSON, which no BigQuery page states.
          query: {
            columns: ["instance_id", "aggregate_type", "aggregate_id", "owner", "event_type", "sequence", "created_at", "position"],
            payload: { eventTypes: ["user.human.added"] },
          },
          bigQuery: { datasetId: `zas_e2e_${Date.now()}` },
          destinations: ["gcs", "pubsub"],
          pubsub: { region: process.env.ZAS_REAL_PUBSUB_REGION ?? "us-east1", maxDeliveryAttempts: 5 },
        });
        return {
          bucket: s.bucketName,
          jobId: s.jobId,
          view: s.bigQueryViewId,
          table: s.bigQueryTableId,
          subscription: s.pubsubSubscription,
          deadLetter: s.pubsubDeadLetterSubscription,
          topic: s.pubsubTopic,
        };
      },
      config: { "gcp:project": { value: project! }, "zitadel-audit-stream:cockroachUrl": { value: url!, secret: true } },
    });
  });

  afterAll(async () => {
    await t?.stack.destroy().catch((e) => console.error(`destroy failed; clean up by hand: ${e}`));
    await t?.dispose();
    consumer?.dispose();
    await pg?.end();
  });

  test("up, events delivered to the bucket, BigQuery and Pub/Sub, missing = 0; dead-lettering works", async () => {
    const up = await t.stack.up({ onOutput: (s) => process.stdout.write(s) });
    const bucket = up.outputs.bucket.value;
    const events = makeEvents(20, Date.now() % 1_000_000);
    await insertEvents(pg, events);
    const a = await waitFor(
      "delivery",
      async () => {
        const acc = account(events, (await readDelivered(gcp, bucket, "events/")).lines);
        return acc.missing === 0 && acc;
      },
      600_000,
      5000,
    );
    console.log(`real: inserted=${a.inserted} delivered=${a.delivered} missing=${a.missing} duplicates=${a.duplicates}`);
    expect(a.missing).toBe(0);

    // The same counts from real BigQuery, through the de-duplicating view; INT8 and DECIMAL exact.
    const q = async (sql: string) =>
      ((await gcp.bigquery.request<any>("POST", `/projects/${project}/queries`, { query: sql, useLegacySql: false, timeoutMs: 120_000 })).data.rows ?? []).map(
        (r: any) => r.f.map((c: any) => c.v),
      );
    const view = up.outputs.view.value;
    const ids = events.map((e) => `'${e.aggregateId}'`).join(", ");
    const [[distinct]] = await q(
      `SELECT COUNT(*) FROM \`${view}\` WHERE sequence BETWEEN ${events[0].sequence} AND ${events[events.length - 1].sequence} AND aggregate_id IN (${ids})`,
    );
    expect(Number(distinct)).toBe(events.length);
    const perType = await q(`SELECT event_type, COUNT(*) FROM \`${view}\` GROUP BY event_type`);
    console.log(`real BigQuery: ${distinct} distinct events; per type ${JSON.stringify(perType)}`);
    const [[position, sequence]] = await q(`SELECT CAST(position AS STRING), CAST(sequence AS STRING) FROM \`${up.outputs.table.value}\` LIMIT 1`);
    const row = (await pg.query(`SELECT "position"::STRING AS p FROM eventstore.events2 WHERE "sequence" = $1 LIMIT 1`, [sequence])).rows[0];
    expect(position).toBe(row.p.replace(/0+$/, "").replace(/\.$/, ""));

    // The same events from the SIEM's subscription (CockroachDB's own gcpubsub:// sink).
    const subscription = up.outputs.subscription.value;
    const pulled: Record<string, any>[] = [];
    const p = await waitFor(
      "delivery to Pub/Sub",
      async () => {
        pulled.push(...(await pullMessages(gcp, subscription)).map((m) => m.Value));
        const acc = account(events, pulled);
        return acc.missing === 0 && acc;
      },
      600_000,
      5000,
    );
    console.log(`real Pub/Sub: delivered=${p.delivered} missing=${p.missing} duplicates=${p.duplicates}`);

    // Dead-lettering as AuditStream wires it (the service agent's grants, a subscription on the
    // dead-letter topic): a message nacked maxDeliveryAttempts times arrives there.
    await gcp.pubsub.request("POST", `/${up.outputs.topic.value}:publish`, { messages: [{ data: Buffer.from("zas-e2e poison").toString("base64") }] });
    await waitFor(
      "the poison message dead-lettered",
      async () => {
        const got: any[] = (await gcp.pubsub.request<any>("POST", `/${subscription}:pull`, { maxMessages: 10 })).data.receivedMessages ?? [];
        if (got.length) await gcp.pubsub.request("POST", `/${subscription}:modifyAckDeadline`, { ackIds: got.map((m) => m.ackId), ackDeadlineSeconds: 0 });
        const dead: any[] = (await gcp.pubsub.request<any>("POST", `/${up.outputs.deadLetter.value}:pull`, { maxMessages: 10 })).data.receivedMessages ?? [];
        return dead.some((m) => Buffer.from(m.message.data, "base64").toString() === "zas-e2e poison");
      },
      600_000,
      2000,
    );
  });
});
