// `npm run demo`: the guide's whole pipeline on this machine, no cloud needed.
// Starts the stand-ins (GCP emulator, CockroachDB twin), provisions the pipeline through the real
// Pulumi engine from the package as a user installs it, writes realistic ZITADEL events (with PII
// in their payloads), waits until they land in the bucket, shows a file and a line, then
// allow-lists one event type's payload (a changefeed handoff) while events keep coming, counts that
// nothing is missing, and destroys it all. `--keep` leaves everything running instead.
// The last line printed is one JSON object with the figures.
import { Client } from "pg";
import { GcpEmulator } from "../test/twin/gcp/emulator";
import { startCockroachTwin } from "../test/twin/cockroach/spawn";
import { consumerLayout } from "../test/harness/consumer";
import { newTestStack, standInConfig } from "../test/harness/engine";
import { account, insertContinuously, insertEvents, makeEvents, readDelivered } from "../test/helpers/events";
import { gcpClients } from "../provider/gcp/client";
import { auditStreamProgram } from "../stack/program";

const args = process.argv.slice(2);
const KEEP = args.includes("--keep");
const EVENTS = Number(args[args.indexOf("--events") + 1]) || 120;
const STEPS = 7;
let step = 0;
const say = (text: string) => console.log(`[${++step}/${STEPS}] ${text}`);
const info = (text: string) => console.log(`      ${text}`);

async function waitForDelivery(label: string, check: () => Promise<{ delivered: number; total: number }>, timeoutMs = 90_000): Promise<void> {
  const t0 = Date.now();
  let last = "";
  for (;;) {
    const { delivered, total } = await check();
    const line = `${label}: ${delivered}/${total} events in the bucket`;
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
  const emu = await new GcpEmulator().start();
  const twin = await startCockroachTwin({ storageEndpoint: emu.endpoint, implicitKeyFile: emu.adminKeyFile });
  info(`GCP emulator ${emu.endpoint}, project ${emu.project}; CockroachDB twin ${twin.url}`);
  const consumer = consumerLayout("demo");
  const stack = await newTestStack({
    project: "zitadel-audit-demo",
    stackName: "demo",
    parentDir: consumer.dir,
    program: auditStreamProgram(consumer.pkg),
    config: standInConfig(emu, twin.url, { forceDestroy: "true", changefeedOptions: JSON.stringify({ initial_scan: "no" }) }),
  });
  const pg = new Client({ connectionString: twin.url });
  await pg.connect();
  const admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
  let failure: unknown;
  let result: Record<string, unknown> = {};
  try {
    say("pulumi up (real engine): bucket, service account, custom role, grant, key, kv.rangefeed.enabled, changefeed");
    const up = await stack.stack.up({ onOutput: (line) => /^\s+[+~-]|Resources:|Duration:/.test(line) && process.stdout.write(`      ${line.trimStart()}`) });
    const o = up.outputs;
    const bucket = o.bucketName.value as string;
    info(`bucket ${bucket}; writer ${o.serviceAccountEmail.value}; role ${o.roleName.value}`);
    info(`changefeed job ${o.jobId.value} (${o.feedStatus.value}) into ${o.sinkUriRedacted.value}`);

    say(`writing ${EVENTS} ZITADEL events (user.human.added with e-mail and phone, password changes, domains, …)`);
    const first = makeEvents(EVENTS);
    await insertEvents(pg, first);
    await waitForDelivery("delivery", async () => ({ delivered: account(first, (await readDelivered(admin, bucket, "events/")).lines).delivered, total: first.length }));

    say("what landed");
    const landed = await readDelivered(admin, bucket, "events/");
    for (const f of landed.files.slice(0, 3)) info(`gs://${bucket}/${f}`);
    if (landed.files.length > 3) info(`… ${landed.files.length} files in all`);
    const human = landed.lines.find((l) => l.event_type === "user.human.added") ?? landed.lines[0];
    info(`sample line: ${JSON.stringify(human)}`);
    info(`payload in any line: ${landed.lines.some((l) => "payload" in l)} (the guide's default keeps PII out)`);

    say("allow-listing the payload of instance.domain.added: a changefeed handoff while events keep coming");
    await stack.stack.setConfig("zitadel-audit-stream:payloadEventTypes", { value: JSON.stringify(["instance.domain.added"]) });
    const writer = insertContinuously(twin.url, EVENTS, 20);
    const handoff = await stack.stack.up({ onOutput: (line) => /^\s+[+~-]|Resources:/.test(line) && process.stdout.write(`      ${line.trimStart()}`) });
    await new Promise((r) => setTimeout(r, 500));
    const during = await writer.stop();
    info(`changefeed job ${o.jobId.value} → ${handoff.outputs.jobId.value}; ${during.length} events written meanwhile`);
    const all = [...first, ...during];
    await waitForDelivery("delivery", async () => ({ delivered: account(all, (await readDelivered(admin, bucket, "events/")).lines).delivered, total: all.length }));

    say("counting every event by its key");
    const final = await readDelivered(admin, bucket, "events/");
    const a = account(all, final.lines);
    const domain = final.lines.find((l) => l.event_type === "instance.domain.added" && l.payload);
    info(`inserted ${a.inserted}, delivered ${a.delivered}, missing ${a.missing}, duplicates ${a.duplicates} (at-least-once)`);
    if (domain) info(`allow-listed line: ${JSON.stringify(domain)}`);
    result = {
      eventsInserted: a.inserted,
      eventsDelivered: a.delivered,
      missing: a.missing,
      duplicates: a.duplicates,
      files: final.files.length,
      bucket,
      jobIds: [o.jobId.value, handoff.outputs.jobId.value],
    };

    if (KEEP) {
      say("keeping everything running (--keep); Ctrl-C stops the stand-ins");
      info(`GCP emulator ${emu.endpoint} (admin key ${emu.adminKeyFile}), CockroachDB ${twin.url}, Pulumi work dir ${stack.workDir}`);
    } else {
      say("pulumi destroy");
      const d = await stack.stack.destroy();
      info(`deleted ${d.summary.resourceChanges?.delete ?? 0} resources; buckets left: ${[...emu.storage.buckets.keys()].length}`);
    }
  } catch (e) {
    failure = e;
  } finally {
    await pg.end().catch(() => undefined);
    if (!KEEP || failure) {
      await stack.dispose();
      consumer.dispose();
      await twin.stop();
      await emu.stop();
    }
  }
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  if (failure) {
    console.error(`demo failed: ${(failure as Error).message}`);
    console.log(JSON.stringify({ ok: false, error: (failure as Error).message, seconds, ...result }));
    process.exit(1);
  }
  console.log(JSON.stringify({ ok: true, seconds, ...result }));
  if (KEEP) {
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    console.log("stopping the stand-ins");
    await stack.dispose();
    consumer.dispose();
    await twin.stop();
    await emu.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
