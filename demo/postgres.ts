// `npm run demo -- --source postgres`: ZITADEL v3/v4's pipeline on this machine. A throwaway
// PostgreSQL 15 on loopback holds ZITADEL's events2; the root project (Pulumi.yaml) is deployed with
// the real Pulumi CLI with `source: postgres` and the engine on Cloud Run (config `cloudRun`), which
// makes the replication role, the publication and the slot, the topic with the SIEM's, the Cloud
// Storage and the BigQuery subscriptions, the password's secret and the engine's Cloud Run service.
// The stand-in's Cloud Run runs the real Debezium Server as a local process with exactly the env the
// service declares (the password read from Secret Manager as the engine's account, PORT injected); the
// image is the local install, and the Pub/Sub address the stand-in gives the service's identity stands
// for the metadata server. Events of mixed types are written (payload-bearing ones, a transaction that
// commits late), the engine's instance is killed with -9 once mid-stream (Cloud Run starts a new one,
// without the old one's offsets), and the query changes once (`pulumi config set` + `pulumi up`: ALTER
// PUBLICATION in place). Every event is then counted in the SIEM's subscription, the Cloud Storage files
// and BigQuery, and the last line is one JSON object.
import * as crypto from "crypto";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Client } from "pg";
import { report } from "./report";
import { PulumiCli, repoRoot, summary } from "../tools/harness/pulumi-cli";
import { pullWithKeys, readDelivered } from "../tools/harness/delivered";
import { insertZitadelEvents, startZitadelDatabase } from "../tools/harness/postgres";
import { DEBEZIUM_VERSION, cloudRunEngineUp, debeziumImage } from "../tools/harness/debezium";
import { GcpEmulator, ZitadelEvent, eventKey, insertedKey, makeEvents } from "../stand-ins";
import { gcpClients } from "../provider/gcp/client";

const STACK = "demo-postgres";
const STEPS = 11;
let step = 0;
const say = (text: string) => console.log(`[${++step}/${STEPS}] ${text}`);
const info = (text: string) => console.log(`      ${text}`);
/** The CLI's resource lines, its diagnostics (warnings the user would see) and its summary, indented under the step. */
const show = (text: string) => {
  let diagnostics = false;
  for (const line of text.split("\n")) {
    if (/^Diagnostics:/.test(line)) diagnostics = true;
    else if (/^(Outputs|Resources):/.test(line)) diagnostics = false;
    if (diagnostics && line.trim()) info(line.trim());
    else if (/^\s+[+~-]{1,2}\s|Resources:|^\s+\d+ (created|updated|deleted|unchanged)|Duration:/.test(line)) info(line.trim());
  }
};

/** The event types the stream selects at first; the query change adds the last one. */
const FIRST_TYPES = ["user.human.added", "user.human.password.changed", "user.human.email.verified", "user.token.added", "instance.domain.added", "org.added"];
const ADDED_TYPE = "instance.domain.primary.set";
/** Never selected: its events must not arrive. */
const NEVER = "user.human.password.check.failed";

interface Pulled {
  event: Record<string, any>;
  orderingKey: string;
}

export async function postgresDemo(opts: { keep: boolean; events: number }): Promise<void> {
  const started = Date.now();
  const EVENTS = opts.events;
  say("starting PostgreSQL 15 with ZITADEL's eventstore.events2 (a throwaway cluster on loopback) and the GCP emulator");
  const [db, emu] = await Promise.all([startZitadelDatabase({ max_slot_wal_keep_size: "1GB" }, { passwords: true }), new GcpEmulator().start()]);
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  info(`PostgreSQL ${db.pg.version} on 127.0.0.1:${db.pg.port}; GCP emulator ${emu.endpoint}, project ${emu.project}`);

  const base = path.join(repoRoot, ".work", "demo-postgres");
  fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(path.join(repoRoot, `Pulumi.${STACK}.yaml`), { force: true });
  const cli = new PulumiCli(base, { ownHome: false });
  cli.env.PULUMI_CONFIG_PASSPHRASE = crypto.randomBytes(12).toString("base64url");
  const up = async () => show((await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", STACK])).stdout);
  const outputs = async () => JSON.parse((await cli.run(repoRoot, ["stack", "output", "--json", "--show-secrets", "--stack", STACK])).stdout);
  const REGION = "europe-west1";
  // Cloud Run pulls quay.io's image through an Artifact Registry remote repository (docs/engine-runtime.md §2).
  const image = `${REGION}-docker.pkg.dev/${emu.project}/quay/debezium/server:${DEBEZIUM_VERSION}`;
  emu.cloudRun.images.set(
    image,
    debeziumImage(async (sa) => ({ DEBEZIUM_SINK_PUBSUB_ADDRESS: await emu.pubsubGrpc.endpointFor(sa) })),
  );
  let service = "";
  let failure: unknown;
  let result: Record<string, unknown> = {};
  try {
    say(`pulumi up of the root project with source postgres and the engine on Cloud Run: stack ${STACK}, config set with pulumi config set`);
    await cli.run(repoRoot, ["stack", "init", STACK]);
    await cli.configure(repoRoot, STACK, {
      "gcp:project": { value: emu.project },
      "gcp:credentials": { value: fs.readFileSync(emu.adminKeyFile, "utf8"), secret: true },
      "zitadel-audit-stream:gcpEndpoint": { value: emu.endpoint },
      "zitadel-audit-stream:source": { value: "postgres" },
      "zitadel-audit-stream:postgresUrl": { value: db.pg.url(), secret: true },
      "zitadel-audit-stream:cloudRun": { value: JSON.stringify({ region: REGION, image }) },
      "zitadel-audit-stream:eventTypes": { value: JSON.stringify(FIRST_TYPES) },
      "zitadel-audit-stream:destinations": { value: JSON.stringify(["gcs", "pubsub"]) },
      "zitadel-audit-stream:pubsub": { value: JSON.stringify({ subscriptionName: "zitadel-audit-siem" }) },
      "zitadel-audit-stream:bigQuery": { value: JSON.stringify({ datasetId: "zitadel_audit_pg" }) },
      "zitadel-audit-stream:forceDestroy": { value: "true" },
    });
    await up();
    const o = await outputs();
    info(`slot ${o.slotNames.join(", ")}; topic ${o.pubsubTopic}; engine identity ${o.serviceAccountEmail} (no key)`);
    info(`subscriptions: ${o.pubsubSubscription} (SIEM, ordered), ${o.gcsSubscription} (Cloud Storage), ${o.bigQuerySubscription} (BigQuery)`);

    say("the engine: Debezium Server on the stand-in's Cloud Run, as the service declares it (output engineServices)");
    service = o.engineServices[0];
    let engine = await cloudRunEngineUp(emu, service, 120_000);
    info(`${service}: revision ${engine.revision}, instance pid ${engine.pid}, listening on PORT ${engine.port}`);

    say(`writing ${EVENTS} ZITADEL events (payload-bearing: e-mails, phone numbers, password hashes), one transaction committing late`);
    const all: ZitadelEvent[] = [];
    let next = 0;
    const batch = (n: number, instanceId?: string) => {
      const e = makeEvents(n, next, instanceId);
      next += n;
      all.push(...e);
      return e;
    };
    // The late transaction writes to aggregates of its own instance: ZITADEL never commits an aggregate's
    // later event before an earlier one (its sequence is checked on push), so concurrent writers touch others.
    const lateTx = insertZitadelEvents(db.admin, batch(4, "262800396467273999"), 3000);
    // A second session on ZITADEL's database, for the writes that run beside the late transaction.
    const writer = new Client({ connectionString: db.pg.url() });
    await writer.connect();
    await insertZitadelEvents(writer, batch(EVENTS));
    await lateTx;

    say("kill -9 of the engine's instance mid-stream; Cloud Run starts a new one (a fresh container: no offsets)");
    const during = insertZitadelEvents(writer, batch(Math.ceil(EVENTS / 2)));
    await new Promise((r) => setTimeout(r, 150));
    const killedAt = Date.now();
    engine.signal("SIGKILL");
    await during;
    engine = await cloudRunEngineUp(emu, service, 120_000, engine);
    info(
      `a new instance (pid ${engine.pid}) is up ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill; restarts ${emu.cloudRun.restartsOf(service)}`,
    );

    say(`the query changes: pulumi config set eventTypes (+ ${ADDED_TYPE}); pulumi up (ALTER PUBLICATION in place, gap-free)`);
    const changedAt = all.length;
    await cli.run(repoRoot, ["config", "set", "--stack", STACK, "zitadel-audit-stream:eventTypes", JSON.stringify([...FIRST_TYPES, ADDED_TYPE])]);
    await up();
    await insertZitadelEvents(writer, batch(EVENTS));
    await writer.end();

    // What must arrive: the selected types, the added one only once the publication had it.
    const selected = all.filter((e, i) => FIRST_TYPES.includes(e.eventType) || (e.eventType === ADDED_TYPE && i >= changedAt));
    const expected = new Set(selected.map(insertedKey));
    info(`${all.length} events written, ${expected.size} of them selected (${NEVER} never; ${ADDED_TYPE} after the change)`);

    say("the SIEM's subscription: every selected event, none other, each aggregate in order");
    const pulled: Pulled[] = [];
    const pull = async () => {
      for (const m of await pullWithKeys(admin, o.pubsubSubscription)) pulled.push({ event: m.data, orderingKey: m.orderingKey });
    };
    await waitUntil(
      "the SIEM's subscription",
      async () => (await pull(), new Set(pulled.map((p) => eventKey(p.event))).size >= expected.size),
      180_000,
      () => `${new Set(pulled.map((p) => eventKey(p.event))).size}/${expected.size} events pulled\n${emu.cloudRun.instanceOf(service)?.log().slice(-2000)}`,
    );
    await new Promise((r) => setTimeout(r, 2000));
    await pull();
    const siemKeys = new Set(pulled.map((p) => eventKey(p.event)));
    const unexpected = [...siemKeys].filter((k) => !expected.has(k));
    const payloadLeaked = pulled.filter((p) => "payload" in p.event || /@example\.com|\$2a\$/.test(JSON.stringify(p.event))).length;
    let outOfOrder = 0;
    const lastSeq = new Map<string, number>();
    const seen = new Set<string>();
    for (const p of pulled) {
      const k = eventKey(p.event);
      if (seen.has(k)) continue; // a redelivery after the restart repeats older ones
      seen.add(k);
      const agg = `${p.event.instance_id}/${p.event.aggregate_type}/${p.event.aggregate_id}`;
      if ((lastSeq.get(agg) ?? 0) > p.event.sequence) outOfOrder++;
      lastSeq.set(agg, p.event.sequence);
    }
    info(
      `${pulled.length} messages, ${siemKeys.size} distinct events; unexpected ${unexpected.length}; payload in ${payloadLeaked}; out of order ${outOfOrder}`,
    );
    info(`sample: ${JSON.stringify(pulled.find((p) => p.event.event_type === "user.human.added")?.event)}`);

    say("Cloud Storage: the subscription's NDJSON files (one closes a minute after it opens)");
    let gcsLines: Record<string, any>[] = [];
    let gcsFiles: string[] = [];
    await waitUntil(
      "the Cloud Storage files",
      async () => {
        const d = await readDelivered(admin, o.bucketName, "events/");
        [gcsLines, gcsFiles] = [d.lines, d.files];
        return [...expected].every((k) => gcsLines.some((l) => eventKey(l) === k));
      },
      180_000,
      () => `${new Set(gcsLines.map(eventKey)).size}/${expected.size} events in ${gcsFiles.length} files`,
      2000,
    );
    const gcsKeys = new Set(gcsLines.map(eventKey));
    const gcsLeaked = gcsLines.filter((l) => "payload" in l || /@example\.com|\$2a\$/.test(JSON.stringify(l))).length;
    info(`${gcsFiles.length} files, e.g. gs://${o.bucketName}/${gcsFiles[0]}; ${gcsLines.length} lines, ${gcsKeys.size} distinct events`);

    say(`BigQuery: the subscription's table ${o.bigQueryTableId}, counted through the de-duplicating view`);
    const query = async (sql: string) =>
      (
        (await admin.bigquery.request<any>("POST", `/projects/${emu.project}/queries`, { query: sql, useLegacySql: false, timeoutMs: 60_000 })).data.rows ?? []
      ).map((r: any) => r.f.map((c: any) => c.v));
    let bigQueryRows = 0;
    await waitUntil(
      "BigQuery",
      async () => ((bigQueryRows = Number((await query(`SELECT COUNT(*) FROM \`${o.bigQueryViewId}\``))[0][0])), bigQueryRows >= expected.size),
      120_000,
      () => `${bigQueryRows}/${expected.size} rows`,
      1000,
    );
    const [[tableRows]] = await query(`SELECT COUNT(*) FROM \`${o.bigQueryTableId}\``);
    info(`${bigQueryRows} events in the view, ${tableRows} rows in the table`);
    for (const [type, n] of await query(
      `SELECT event_type, COUNT(*) AS events FROM \`${o.bigQueryViewId}\` GROUP BY event_type ORDER BY events DESC, event_type`,
    ))
      info(`  ${String(n).padStart(5)}  ${type}`);

    say("npx zitadel-audit-stream health --stack: the slot, the subscriptions' state and backlog, and the engine's own health endpoint");
    const health = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(
        process.execPath,
        [
          path.join(repoRoot, "dist", "provider", "cli.js"),
          "health",
          "--stack",
          STACK,
          "--engine",
          `http://127.0.0.1:${emu.cloudRun.instanceOf(service)?.port}`,
        ],
        { cwd: repoRoot, env: cli.env, encoding: "utf8" },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      ),
    );
    for (const line of health.out.trim().split("\n")) info(line);
    info(`exit status ${health.code}`);

    const missing = [...expected].filter((k) => !siemKeys.has(k)).length;
    result = {
      source: "postgres",
      eventsWritten: all.length,
      eventsInserted: expected.size,
      eventsDelivered: [...siemKeys].filter((k) => expected.has(k)).length,
      gcsRows: gcsKeys.size,
      bigQueryRows,
      missing,
      unexpected: unexpected.length,
      payloadLeaked: payloadLeaked + gcsLeaked,
      duplicates: pulled.length - siemKeys.size,
      outOfOrderWithinAggregate: outOfOrder,
      gcsFiles: gcsFiles.length,
      bigQueryTableRows: Number(tableRows),
      healthExit: health.code,
      stack: STACK,
    };
    const wrong = [
      missing && `${missing} events missing`,
      unexpected.length && `${unexpected.length} events that were not selected arrived`,
      (payloadLeaked || gcsLeaked) && "payload left the database",
      outOfOrder && `${outOfOrder} events out of order within their aggregate`,
      gcsKeys.size !== siemKeys.size && `Cloud Storage holds ${gcsKeys.size} distinct events, the SIEM got ${siemKeys.size}`,
      bigQueryRows !== siemKeys.size && `BigQuery counts ${bigQueryRows} distinct events, the SIEM got ${siemKeys.size}`,
      health.code !== 0 && `the health command exited ${health.code}`,
    ].filter(Boolean);
    if (wrong.length) throw Object.assign(new Error(wrong.join("; ")), { result });

    if (opts.keep) {
      say("keeping everything running (--keep): Ctrl-C destroys the stack (the engine's service with it) and stops PostgreSQL and the emulator");
      console.log(JSON.stringify({ ok: true, seconds: Math.round((Date.now() - started) / 100) / 10, ...result }));
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    }
    say("pulumi destroy (the engine's service goes first: a slot is dropped only once nothing reads it)");
    const d = await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", STACK]);
    const slots = (await db.admin.query("SELECT count(*)::int AS n FROM pg_replication_slots")).rows[0].n;
    info(
      `deleted ${summary(d.stdout).deleted ?? 0} resources; slots left ${slots}, topics left ${emu.pubsub.topics.size}, Cloud Run services left ${emu.cloudRun.services.size}, secrets left ${emu.secretmanager.secrets.size}`,
    );
  } catch (e) {
    failure = e;
    result = (e as any).result ?? result;
  }
  if (failure) await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", STACK], { allowFailure: true });
  await cli.run(repoRoot, ["stack", "rm", "--yes", "--force", "--stack", STACK], { allowFailure: true });
  fs.rmSync(path.join(repoRoot, `Pulumi.${STACK}.yaml`), { force: true });
  fs.rmSync(base, { recursive: true, force: true });
  await emu.stop();
  await db.stop();
  report(started, failure, result);
}

async function waitUntil(what: string, done: () => Promise<boolean>, timeoutMs: number, progress: () => string, everyMs = 500): Promise<void> {
  const t0 = Date.now();
  let last = "";
  while (!(await done())) {
    const line = progress();
    if (line.split("\n")[0] !== last) info(`${what}: ${line.split("\n")[0]}`);
    last = line.split("\n")[0];
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not complete within ${timeoutMs / 1000}s: ${progress()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
