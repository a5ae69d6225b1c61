// `npm run demo`: the guide's whole pipeline on this machine, no cloud needed.
// Starts the stand-ins (GCP emulator, CockroachDB twin), then deploys this repository's root
// project (Pulumi.yaml → stack/index.ts) with the real Pulumi CLI, as a user would: `pulumi stack
// init`, `pulumi config set`, `pulumi up`. Writes realistic ZITADEL events (with PII in their
// payloads), waits until they land in the bucket, shows a file and a line, then allow-lists one
// event type's payload with `pulumi config set` + `pulumi up` (a changefeed handoff) while events
// keep coming, counts that nothing is missing, and runs `pulumi destroy`. `--keep` leaves it all
// running and prints how to use the stack with the CLI. The last line printed is one JSON object.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { report } from "./report";
import { PulumiCli, repoRoot, standInConfig, summary } from "../tools/harness/pulumi-cli";
import { account, pullMessages, readDelivered } from "../tools/harness/delivered";
import { ZitadelEvent, insertContinuously, insertEvents, makeEvents, startStandIns } from "../stand-ins";
import { gcpClients } from "../provider/gcp/client";
import { postgresDemo } from "./postgres";

const args = process.argv.slice(2);
const KEEP = args.includes("--keep");
const EVENTS = Number(args[args.indexOf("--events") + 1]) || 120;
/** `--sink pubsub`: the SIEM's route, a topic and a pull subscription, instead of the bucket. */
const SINK = args.includes("--sink") ? args[args.indexOf("--sink") + 1] : "gcs";
if (SINK !== "gcs" && SINK !== "pubsub") {
  console.error(`--sink must be gcs or pubsub, not ${SINK}`);
  process.exit(2);
}
/** `--source postgres`: ZITADEL v3/v4's pipeline (demo/postgres.ts) instead of CockroachDB's. */
const SOURCE = args.includes("--source") ? args[args.indexOf("--source") + 1] : "cockroach";
if (SOURCE !== "cockroach" && SOURCE !== "postgres") {
  console.error(`--source must be cockroach or postgres, not ${SOURCE}`);
  process.exit(2);
}
const STACK = "demo";
const STEPS = SINK === "gcs" ? 8 : 6;
let step = 0;
const say = (text: string) => console.log(`[${++step}/${STEPS}] ${text}`);
const info = (text: string) => console.log(`      ${text}`);
/** The CLI's resource lines and summary, indented under the step. */
const show = (text: string) => {
  for (const line of text.split("\n")) if (/^\s+[+~-]{1,2}\s|Resources:|^\s+\d+ (created|updated|deleted|unchanged)|Duration:/.test(line)) info(line.trim());
};

async function waitForDelivery(label: string, check: () => Promise<{ delivered: number; total: number }>, timeoutMs = 90_000): Promise<void> {
  const t0 = Date.now();
  let last = "";
  for (;;) {
    const { delivered, total } = await check();
    const line = `${label}: ${delivered}/${total} events ${SINK === "gcs" ? "in the bucket" : "pulled from the subscription"}`;
    if (line !== last) info(line);
    last = line;
    if (delivered >= total) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${label}: only ${delivered}/${total} events arrived within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  say("starting the stand-ins: GCP emulator and CockroachDB twin (loopback only)");
  const standIns = await startStandIns();
  const { emu, twin, pg } = standIns;
  // What reached the destinations is read with the product's own client, as the emulator's admin.
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  info(`GCP emulator ${emu.endpoint}, project ${emu.project}; CockroachDB twin ${twin.url}`);

  // A fresh backend, and the stack's config file Pulumi.demo.yaml (git-ignored) from scratch.
  const base = path.join(repoRoot, ".work", "demo");
  fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(path.join(repoRoot, `Pulumi.${STACK}.yaml`), { force: true });
  const cli = new PulumiCli(base, { ownHome: false });
  const passphrase = crypto.randomBytes(12).toString("base64url");
  cli.env.PULUMI_CONFIG_PASSPHRASE = passphrase;
  const outputs = async () => JSON.parse((await cli.run(repoRoot, ["stack", "output", "--json", "--stack", STACK])).stdout);
  const cleanUp = async () => {
    await standIns.stop();
    fs.rmSync(path.join(repoRoot, `Pulumi.${STACK}.yaml`), { force: true });
    fs.rmSync(base, { recursive: true, force: true });
  };
  let failure: unknown;
  let result: Record<string, unknown> = {};
  try {
    say(`pulumi up of the root project (Pulumi.yaml): stack ${STACK}, config set with pulumi config set`);
    await cli.run(repoRoot, ["stack", "init", STACK]);
    const destination: Record<string, string> =
      SINK === "gcs"
        ? { forceDestroy: "true", bigQuery: JSON.stringify({ datasetId: "zitadel_audit_demo" }) }
        : {
            destinations: JSON.stringify(["pubsub"]),
            pubsub: JSON.stringify({ region: "us-east1", topicName: "zitadel-audit-events", subscriptionName: "zitadel-audit-siem" }),
          };
    await cli.configure(repoRoot, STACK, standInConfig(emu, twin.url, { changefeedOptions: JSON.stringify({ initial_scan: "no" }), ...destination }));
    show((await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", STACK])).stdout);
    const o = await outputs();
    result =
      SINK === "pubsub"
        ? await pubsubDemo(o, { cli, twinUrl: twin.url, admin, pg })
        : await gcsDemo(o, { cli, twinUrl: twin.url, admin, pg, project: emu.project });

    if (KEEP) {
      say("keeping everything running (--keep); Ctrl-C destroys the stack and stops the stand-ins");
      info(`GCP emulator ${emu.endpoint} (admin key ${emu.adminKeyFile}), CockroachDB ${twin.url}`);
      info(`the stack, for the Pulumi CLI in another terminal:`);
      info(`  cd ${repoRoot}`);
      info(`  export PATH="${path.dirname(cli.bin)}:${path.join(repoRoot, "node_modules", ".bin")}:$PATH"`);
      info(`  export PULUMI_BACKEND_URL=${cli.env.PULUMI_BACKEND_URL} PULUMI_CONFIG_PASSPHRASE=${passphrase}`);
      info(`  pulumi stack output --stack ${STACK}     # and pulumi refresh / up / destroy --stack ${STACK}`);
    } else {
      say("pulumi destroy");
      const d = await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", STACK]);
      info(`deleted ${summary(d.stdout).deleted ?? 0} resources; buckets left: ${emu.storage.buckets.size}, topics left: ${emu.pubsub.topics.size}`);
    }
  } catch (e) {
    failure = e;
    result = (e as any).result ?? result;
  }
  if (!KEEP || failure) {
    if (failure) await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", STACK], { allowFailure: true });
    await cleanUp();
  }
  report(started, failure, result);
  if (KEEP) {
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    console.log("destroying the stack and stopping the stand-ins");
    await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", STACK], { allowFailure: true });
    await cleanUp();
  }
}

/** The handoff step both runs share: a payload allow-list set with `pulumi config set` + `up` while events keep coming. */
async function handoff(o: any, env: { cli: PulumiCli; twinUrl: string }): Promise<{ during: ZitadelEvent[]; o2: any }> {
  say("pulumi config set zitadel-audit-stream:payloadEventTypes '[\"instance.domain.added\"]'; pulumi up — a changefeed handoff while events keep coming");
  await env.cli.run(repoRoot, ["config", "set", "--stack", STACK, "zitadel-audit-stream:payloadEventTypes", JSON.stringify(["instance.domain.added"])]);
  const writer = insertContinuously(env.twinUrl, EVENTS, 20);
  show((await env.cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", STACK])).stdout);
  await new Promise((r) => setTimeout(r, 500));
  const during = await writer.stop();
  const o2 = JSON.parse((await env.cli.run(repoRoot, ["stack", "output", "--json", "--stack", STACK])).stdout);
  info(`changefeed job ${o.jobId} → ${o2.jobId}; ${during.length} events written meanwhile`);
  return { during, o2 };
}

/**
 * The Cloud Storage run: events in the bucket, what landed, a handoff while events keep coming, every
 * event counted by key, and the distinct events counted again by BigQuery through the view.
 */
async function gcsDemo(o: any, env: { cli: PulumiCli; twinUrl: string; admin: any; pg: any; project: string }): Promise<Record<string, unknown>> {
  const bucket = o.bucketName as string;
  info(`bucket ${bucket}; writer ${o.serviceAccountEmail}; role ${o.roleName}`);
  info(`changefeed job ${o.jobId} (${o.feedStatus}) into ${o.sinkUriRedacted}`);

  say(`writing ${EVENTS} ZITADEL events (user.human.added with e-mail and phone, password changes, domains, …)`);
  const first = makeEvents(EVENTS);
  await insertEvents(env.pg, first);
  await waitForDelivery("delivery", async () => ({
    delivered: account(first, (await readDelivered(env.admin, bucket, "events/")).lines).delivered,
    total: first.length,
  }));

  say("what landed");
  const landed = await readDelivered(env.admin, bucket, "events/");
  for (const f of landed.files.slice(0, 3)) info(`gs://${bucket}/${f}`);
  if (landed.files.length > 3) info(`… ${landed.files.length} files in all`);
  const human = landed.lines.find((l) => l.event_type === "user.human.added") ?? landed.lines[0];
  info(`sample line: ${JSON.stringify(human)}`);
  info(`payload in any line: ${landed.lines.some((l) => "payload" in l)} (the guide's default keeps PII out)`);

  const { during, o2 } = await handoff(o, env);
  const all = [...first, ...during];
  await waitForDelivery("delivery", async () => ({
    delivered: account(all, (await readDelivered(env.admin, bucket, "events/")).lines).delivered,
    total: all.length,
  }));

  say("counting every event by its key");
  const final = await readDelivered(env.admin, bucket, "events/");
  const a = account(all, final.lines);
  const domain = final.lines.find((l) => l.event_type === "instance.domain.added" && l.payload);
  info(`inserted ${a.inserted}, delivered ${a.delivered}, missing ${a.missing}, duplicates ${a.duplicates} (at-least-once)`);
  if (domain) info(`allow-listed line: ${JSON.stringify(domain)}`);

  say(`BigQuery (GoogleSQL through jobs.query): distinct events through the de-duplicating view ${o2.bigQueryViewId}`);
  const query = async (sql: string) => {
    info(sql);
    const r = (await env.admin.bigquery.request("POST", `/projects/${env.project}/queries`, { query: sql, useLegacySql: false, timeoutMs: 60_000 })).data;
    return (r.rows ?? []).map((row: any) => row.f.map((c: any) => c.v));
  };
  const [[bigQueryRows]] = await query(`SELECT COUNT(*) AS events FROM \`${o2.bigQueryViewId}\``);
  const [[tableRows]] = await query(`SELECT COUNT(*) AS lines FROM \`${o2.bigQueryTableId}\``);
  info(
    `${bigQueryRows} events in the view; ${tableRows} lines in the table (the view drops the ${Number(tableRows) - Number(bigQueryRows)} at-least-once copies)`,
  );
  for (const [type, n] of await query(
    `SELECT event_type, COUNT(*) AS events FROM \`${o2.bigQueryViewId}\` GROUP BY event_type ORDER BY events DESC, event_type`,
  ))
    info(`  ${String(n).padStart(5)}  ${type}`);
  info(`the same from a shell: ${o2.bigQueryCommand}`);
  const result = {
    sink: "gcs",
    eventsInserted: a.inserted,
    eventsDelivered: a.delivered,
    bigQueryRows: Number(bigQueryRows),
    missing: a.missing,
    duplicates: a.duplicates,
    files: final.files.length,
    bucket,
    jobIds: [o.jobId, o2.jobId],
    stack: STACK,
  };
  if (Number(bigQueryRows) !== a.delivered)
    throw Object.assign(new Error(`BigQuery counted ${bigQueryRows} distinct events through the view, but the bucket holds ${a.delivered}`), { result });
  return result;
}

/**
 * The Pub/Sub run: events pulled from the SIEM's subscription (acknowledged, as a collector would),
 * through a handoff while events keep coming, counted by key.
 */
async function pubsubDemo(o: any, env: { cli: PulumiCli; twinUrl: string; admin: any; pg: any }): Promise<Record<string, unknown>> {
  info(`topic ${o.pubsubTopic}; subscription ${o.pubsubSubscription}; publisher ${o.serviceAccountEmail}`);
  info(`changefeed job ${o.jobId} (${o.feedStatus}) into ${o.sinkUriRedacted}`);
  const pulled: Record<string, any>[] = [];
  const pull = async () => pulled.push(...(await pullMessages(env.admin, o.pubsubSubscription)));
  const values = () => pulled.map((m) => m.Value).filter((v) => v && !v.__crdb__?.resolved);

  say(`writing ${EVENTS} ZITADEL events`);
  const first = makeEvents(EVENTS);
  await insertEvents(env.pg, first);
  await waitForDelivery("delivery", async () => ({ delivered: account(first, (await pull(), values())).delivered, total: first.length }));
  const human = pulled.find((m) => m.Value?.event_type === "user.human.added") ?? pulled[0];
  info(`sample message: ${JSON.stringify(human)}`);

  const { during, o2 } = await handoff(o, env);
  const all = [...first, ...during];
  await waitForDelivery("delivery", async () => ({ delivered: account(all, (await pull(), values())).delivered, total: all.length }));

  say("counting every event by its key");
  const a = account(all, values());
  info(`inserted ${a.inserted}, delivered ${a.delivered}, missing ${a.missing}, duplicates ${a.duplicates} (at-least-once); ${pulled.length} messages pulled`);
  return {
    sink: "pubsub",
    eventsInserted: a.inserted,
    eventsDelivered: a.delivered,
    missing: a.missing,
    duplicates: a.duplicates,
    messages: pulled.length,
    topic: o.pubsubTopic,
    subscription: o.pubsubSubscription,
    jobIds: [o.jobId, o2.jobId],
    stack: STACK,
  };
}

(SOURCE === "postgres" ? postgresDemo({ keep: KEEP, events: EVENTS }) : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
