// This repository's own root project (Pulumi.yaml → stack/index.ts, importing the sources) through
// the Pulumi CLI, and environment promotion: one project, stacks dev and prod with their own
// Pulumi.<stack>.yaml; a change made and verified in dev, then promoted to prod; each stack's
// resources independent. Also what `refresh` and `destroy` read from config.
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { Client } from "pg";
import type { GcpEmulator } from "../../stand-ins";
import { PulumiCli, storedModules, summary } from "../harness/cli";
import { repoRoot, standInConfig } from "../harness/engine";
import type { Gcp } from "../../provider/gcp/client";
import { StandIns, startStandIns } from "../helpers/stand-ins";
import { account, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";

jest.setTimeout(600_000);

let standIns: StandIns;
let emu: GcpEmulator;
let admin: Gcp;
let pg: Client;
let cli: PulumiCli;
const tag = crypto.randomBytes(3).toString("hex");
const DEV = `ci-dev-${tag}`;
const PROD = `ci-prod-${tag}`;
const outputs = async (stack: string) => JSON.parse((await cli.run(repoRoot, ["stack", "output", "--json", "--show-secrets", "--stack", stack])).stdout);

beforeAll(async () => {
  standIns = await startStandIns();
  ({ emu, admin, pg } = standIns);
  cli = new PulumiCli(fs.mkdtempSync(path.join(os.tmpdir(), "zas-root-")));
});
afterAll(async () => {
  for (const s of [DEV, PROD]) {
    await cli?.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", s], { allowFailure: true });
    fs.rmSync(path.join(repoRoot, `Pulumi.${s}.yaml`), { force: true });
  }
  await standIns?.stop();
  if (cli) fs.rmSync(cli.base, { recursive: true, force: true });
});

/** The config the stack's dynamic-provider resource stored at its last run of the program. */
async function storedEndpoint(stack: string): Promise<string | undefined> {
  const state = await cli.state(repoRoot, stack);
  return state.deployment.resources.find((r: any) => r.type === "pulumi:providers:pulumi-nodejs")?.inputs["zitadel-audit-stream:gcpEndpoint"];
}

/** Rewrites a stack's stored providers into what version 0.1.0 stored (test/fixtures/stored-providers-0.1.0.json). */
async function importAsVersion010(stack: string): Promise<void> {
  const v010: Record<string, string> = JSON.parse(fs.readFileSync(path.join(repoRoot, "test", "fixtures", "stored-providers-0.1.0.json"), "utf8"));
  const state = await cli.state(repoRoot, stack);
  // The seven resources 0.1.0 had get its provider format; the stream's identity (added since) keeps today's.
  let n = 0;
  for (const r of state.deployment.resources) {
    const text = v010[String(r.type).split(":").pop()!];
    if (!String(r.type).startsWith("pulumi-nodejs:dynamic/") || !text) continue;
    for (const props of [r.inputs, r.outputs]) if (props?.__provider) props.__provider = text;
    n++;
  }
  expect(n).toBe(7);
  const file = path.join(cli.base, `${stack}.json`);
  fs.writeFileSync(file, JSON.stringify(state));
  await cli.run(repoRoot, ["stack", "import", "--stack", stack, "--file", file]);
}

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function delivered(stack: string, events: ReturnType<typeof makeEvents>) {
  const { bucketName } = await outputs(stack);
  return waitFor(
    `${stack}: events in gs://${bucketName}/events/`,
    async () => {
      const lines = (await readDelivered(admin, bucketName, "events/")).lines;
      return account(events, lines).missing === 0 && lines;
    },
    60_000,
  );
}

test("root project: dev up, no-op preview, a change verified in dev and promoted to prod, stacks independent, destroy", async () => {
  for (const s of [DEV, PROD]) {
    await cli.run(repoRoot, ["stack", "init", s]);
    await cli.configure(repoRoot, s, standInConfig(emu, standIns.twin.url, { forceDestroy: "true" }));
    // Each stack's settings live in its own Pulumi.<stack>.yaml beside Pulumi.yaml.
    expect(fs.readFileSync(path.join(repoRoot, `Pulumi.${s}.yaml`), "utf8")).toMatch(/zitadel-audit-stream:cockroachUrl:\n\s+secure: /);
  }

  // dev first; the root program runs from source, its providers from dist/, named through the
  // package's own `file:.` link in node_modules as in a consumer's state.
  const up = await cli.run(repoRoot, ["up", "--yes", "--stack", DEV]);
  expect(summary(up.stdout)).toEqual({ created: 10 });
  for (const m of storedModules(await cli.state(repoRoot, DEV))) expect(m).toMatch(/^zitadel-audit-stream\/dist\/provider\/stored\/[a-z-]+\.js$/);
  await cli.run(repoRoot, ["preview", "--expect-no-changes", "--stack", DEV]);
  const before = makeEvents(5, 2000);
  await insertEvents(pg, before);
  expect((await delivered(DEV, before)).some((l) => "payload" in l)).toBe(false);

  await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", PROD]);
  const prod1 = await outputs(PROD);
  const dev1 = await outputs(DEV);
  expect(prod1.bucketName).not.toBe(dev1.bucketName);
  expect(prod1.jobId).not.toBe(dev1.jobId);

  // The change, in dev's config only: stream the payload of instance.domain.added.
  await cli.run(repoRoot, ["config", "set", "--stack", DEV, "zitadel-audit-stream:payloadEventTypes", '["instance.domain.added"]']);
  const devPreview = await cli.run(repoRoot, ["preview", "--stack", DEV, "--diff"]);
  expect(summary(devPreview.stdout)).toEqual({ update: 1, unchanged: 9 });
  await cli.run(repoRoot, ["preview", "--expect-no-changes", "--stack", PROD]);
  await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", DEV]);
  const dev2 = await outputs(DEV);
  expect(dev2.jobId).not.toBe(dev1.jobId); // a query change is a handoff to a new job
  const afterDev = makeEvents(8, 2100);
  await insertEvents(pg, afterDev);
  const devLines = await delivered(DEV, afterDev);
  expect(devLines.filter((l) => l.event_type === "instance.domain.added" && l.sequence > 2100).every((l) => l.payload?.domain)).toBe(true);
  // prod untouched: same job, no payload.
  expect((await outputs(PROD)).jobId).toBe(prod1.jobId);
  expect((await delivered(PROD, afterDev)).some((l) => "payload" in l)).toBe(false);

  // Promotion: the verified setting copied from dev's config to prod's, then prod's up.
  await cli.run(repoRoot, ["config", "cp", "--stack", DEV, "--dest", PROD, "zitadel-audit-stream:payloadEventTypes"]);
  expect(fs.readFileSync(path.join(repoRoot, `Pulumi.${PROD}.yaml`), "utf8")).toContain(
    "zitadel-audit-stream:payloadEventTypes: '[\"instance.domain.added\"]'",
  );
  await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", PROD]);
  const prod2 = await outputs(PROD);
  expect(prod2.jobId).not.toBe(prod1.jobId);
  const afterProd = makeEvents(8, 2200);
  await insertEvents(pg, afterProd);
  const prodLines = await delivered(PROD, [...before, ...afterDev, ...afterProd]);
  expect(prodLines.filter((l) => l.event_type === "instance.domain.added" && l.sequence > 2200).every((l) => l.payload?.domain)).toBe(true);
  await cli.run(repoRoot, ["preview", "--expect-no-changes", "--stack", DEV]);
  await cli.run(repoRoot, ["preview", "--expect-no-changes", "--stack", PROD]);

  // What refresh and destroy read: the provider config stored by the last `up`, not the config
  // file, unless --run-program. A dead endpoint in prod's file does not stop a refresh...
  const endpoint = emu.endpoint;
  const dead = `http://127.0.0.1:${await closedPort()}`;
  await cli.run(repoRoot, ["config", "set", "--stack", PROD, "zitadel-audit-stream:gcpEndpoint", dead]);
  expect(summary((await cli.run(repoRoot, ["refresh", "--yes", "--skip-preview", "--stack", PROD])).stdout)).toEqual({ unchanged: 10 });
  // ...while --run-program uses it, retries the refused connections, and fails naming the endpoint.
  const failed = await cli.run(repoRoot, ["refresh", "--yes", "--skip-preview", "--run-program", "--stack", PROD], { allowFailure: true });
  expect(failed.code).not.toBe(0);
  expect(failed.stdout + failed.stderr).toContain(`still failing after`);
  expect(failed.stdout + failed.stderr).toContain(`(ECONNREFUSED at ${dead})`);
  // Even failing, that run stored the file's config as the provider's: a plain refresh or destroy
  // would now use the dead endpoint too. Fixing the file and running with --run-program again
  // (or `pulumi up`) stores the good one.
  expect(await storedEndpoint(PROD)).toBe(dead);
  await cli.run(repoRoot, ["config", "set", "--stack", PROD, "zitadel-audit-stream:gcpEndpoint", endpoint]);
  expect(summary((await cli.run(repoRoot, ["refresh", "--yes", "--skip-preview", "--run-program", "--stack", PROD])).stdout)).toEqual({ unchanged: 10 });
  expect(await storedEndpoint(PROD)).toBe(endpoint);

  // A stack made by version 0.1.0 (its state holds the former provider format) still refreshes
  // and destroys: dev's state rewritten to that format and imported; destroying it (0.1.0's
  // provider objects running this version's operations) leaves prod running and delivering.
  await importAsVersion010(DEV);
  expect(summary((await cli.run(repoRoot, ["refresh", "--yes", "--skip-preview", "--stack", DEV])).stdout)).toEqual({ unchanged: 7 + 3 });
  const formats = storedModules(await cli.state(repoRoot, DEV));
  expect(formats.filter((m) => /^zitadel-audit-stream\/dist\/provider\/(gcp|cockroach)\/[a-z-]+\.js$/.test(m))).toHaveLength(7);
  expect(formats.filter((m) => !/^zitadel-audit-stream\/dist\/provider\/(gcp|cockroach)\//.test(m))).toEqual([
    "zitadel-audit-stream/dist/provider/stored/stream-identity.js",
  ]);
  const destroyDev = await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", DEV]);
  expect(summary(destroyDev.stdout)).toEqual({ deleted: 10 });
  expect(emu.storage.buckets.has(dev2.bucketName)).toBe(false); // forceDestroy: true
  const last = makeEvents(4, 2300);
  await insertEvents(pg, last);
  await delivered(PROD, last);
  const jobs = (await pg.query("SHOW CHANGEFEED JOBS")).rows.filter((j) => j.status === "running").map((j) => String(j.job_id));
  expect(jobs).toEqual([prod2.jobId]);
  // Upgrading a stack in 0.1.0's format: `up` updates the 7 resources in place (their provider code
  // changed); the feed keeps its job, and state then holds today's format.
  await importAsVersion010(PROD);
  expect(summary((await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", PROD])).stdout)).toEqual({ updated: 7, unchanged: 3 });
  expect((await outputs(PROD)).jobId).toBe(prod2.jobId);
  for (const m of storedModules(await cli.state(repoRoot, PROD))) expect(m).toMatch(/^zitadel-audit-stream\/dist\/provider\/stored\/[a-z-]+\.js$/);
  await cli.run(repoRoot, ["preview", "--expect-no-changes", "--stack", PROD]);
  expect(summary((await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", PROD])).stdout)).toEqual({ deleted: 10 });
  expect((await pg.query("SHOW CHANGEFEED JOBS")).rows.filter((j) => j.status === "running")).toEqual([]);
});
