// The package as users install it, driven by the Pulumi CLI in their project folders: each example
// copied into a fresh folder outside the repository, the package installed by tarball, by directory,
// by `npm link`, in an npm workspace and in a pnpm workspace; then `pulumi preview`, `up`, events delivered,
// `preview --expect-no-changes`, `refresh`, `destroy`, through the real Node language host.
import { spawnSync } from "child_process";
import type { Client } from "pg";
import type { GcpEmulator } from "../../stand-ins";
import { ConsumerProject, InstallMode, PulumiCli, consumerProject, storedModules, summary } from "../harness/cli";
import { standInConfig } from "../harness/engine";
import type { Gcp } from "../../provider/gcp/client";
import { StandIns, startStandIns } from "../helpers/stand-ins";
import { account, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

jest.setTimeout(600_000);

let standIns: StandIns;
let emu: GcpEmulator;
let admin: Gcp;
let pg: Client;
let sharedCli: PulumiCli;
const projects: ConsumerProject[] = [];

beforeAll(async () => {
  standIns = await startStandIns();
  ({ emu, admin, pg } = standIns);
  sharedCli = new PulumiCli(fs.mkdtempSync(path.join(os.tmpdir(), "zas-cli-")));
  // examples/existing-bucket streams into a bucket made elsewhere.
  await admin.storage.buckets.insert({
    project: emu.project,
    requestBody: { name: "acme-security-archive", iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } },
  });
});
afterAll(async () => {
  for (const p of projects) p.dispose();
  await standIns?.stop();
  if (sharedCli) fs.rmSync(sharedCli.base, { recursive: true, force: true });
});

async function liveJobs(): Promise<string[]> {
  const r = await pg.query("SHOW CHANGEFEED JOBS");
  return r.rows.filter((x) => ["running", "pending", "paused", "pause-requested"].includes(x.status)).map((x) => String(x.job_id));
}

// example, install mode, resources `up` creates (with the stack), where its events land, the
// @pulumi/pulumi the project pins (the lower bound of the package's peer range for one of them), and
// for one of them the consumer's Node: the oldest the package claims (tools/consumer-node, `npm run setup`).
// Every row has all six values: test.each treats a test function with more parameters than its row
// as one taking jest's `done` callback, and then waits for it.
const CASES: [string, InstallMode, number, (s: any) => { bucket: string; prefix: string }, string | undefined, "oldest-node" | "project-node"][] = [
  ["guide-default", "tarball", 10, (s) => ({ bucket: bucketOf(s), prefix: "events/" }), "3.249.0", "oldest-node"],
  ["payload-allowlist", "directory", 10, (s) => ({ bucket: bucketOf(s), prefix: "events/" }), undefined, "project-node"],
  ["existing-bucket", "link", 9, () => ({ bucket: "acme-security-archive", prefix: "zitadel/events/" }), undefined, "project-node"],
  ["guide-default", "workspace", 10, (s) => ({ bucket: bucketOf(s), prefix: "events/" }), undefined, "project-node"],
  ["payload-allowlist", "pnpm-workspace", 10, (s) => ({ bucket: bucketOf(s), prefix: "events/" }), undefined, "project-node"],
];

function bucketOf(state: any): string {
  const b = state.deployment.resources.find((r: any) => r.type === "pulumi-nodejs:dynamic/gcp:Bucket");
  return b.outputs.name;
}

/**
 * A PulumiCli whose `node` is the consumer Node of tools/consumer-node, through a wrapper that notes each
 * start (the language host and the dynamic-provider launcher both run `node` from PATH).
 */
function onOldestNode(): { cli: PulumiCli; version: string; starts: () => string[] } {
  const real = path.join(__dirname, "..", "..", ".cache", "node-consumer", "bin", "node");
  if (!fs.existsSync(real)) throw new Error(`${real} is missing: run \`npm run setup\` (tools/consumer-node/install.sh)`);
  const version = spawnSync(real, ["--version"], { encoding: "utf8" }).stdout.trim();
  const c = new PulumiCli(fs.mkdtempSync(path.join(os.tmpdir(), "zas-cli-node-")));
  const wrapper = path.join(c.base, "node-bin");
  const log = path.join(c.base, "node-starts.log");
  fs.mkdirSync(wrapper);
  fs.writeFileSync(path.join(wrapper, "node"), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  c.env.PATH = `${wrapper}${path.delimiter}${c.env.PATH}`;
  return { cli: c, version, starts: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : []) };
}

test.each(CASES)(
  "examples/%s installed by %s: preview, up, events delivered, no-op preview, refresh, destroy",
  async (example, mode, count, sinkOf, peer, node) => {
    const p = consumerProject(example, mode, { peer });
    projects.push(p);
    const oldest = node === "oldest-node" ? onOldestNode() : undefined;
    const cli = oldest?.cli ?? sharedCli;
    const stack = `${mode}`;
    await cli.run(p.dir, ["stack", "init", stack]);
    await cli.configure(p.dir, stack, standInConfig(emu, standIns.twin.url));

    const preview = await cli.run(p.dir, ["preview", "--stack", stack]);
    expect(summary(preview.stdout)).toEqual({ create: count });
    const up = await cli.run(p.dir, ["up", "--yes", "--skip-preview", "--stack", stack]);
    expect(summary(up.stdout)).toEqual({ created: count });

    // Whatever the install mode, state refers to the package by name, never by value or by path.
    const state = await cli.state(p.dir, stack);
    const modules = storedModules(state);
    expect(modules.length).toBe(count - 2); // all but the stack and the component
    for (const m of modules) expect(m).toMatch(/^zitadel-audit-stream\/dist\/provider\/stored\/[a-z-]+\.js$/);
    for (const r of state.deployment.resources.filter((x: any) => x.outputs?.__provider)) expect(r.outputs.__provider.length).toBeLessThanOrEqual(1024);

    const events = makeEvents(6, 1000 * (CASES.findIndex((c) => c[1] === mode) + 1));
    await insertEvents(pg, events);
    const { bucket, prefix } = sinkOf(state);
    await waitFor(`events in gs://${bucket}/${prefix}`, async () => account(events, (await readDelivered(admin, bucket, prefix)).lines).missing === 0, 60_000);

    await cli.run(p.dir, ["preview", "--expect-no-changes", "--stack", stack]);
    const refresh = await cli.run(p.dir, ["refresh", "--yes", "--skip-preview", "--stack", stack]);
    expect(summary(refresh.stdout)).toEqual({ unchanged: count });
    // The health command as a consumer runs it: the package's bin, job ids and cockroachUrl from the stack.
    const health = spawnSync("npx", ["--no-install", "zitadel-audit-stream", "health", "--stack", stack], { cwd: p.dir, env: cli.env, encoding: "utf8" });
    expect({ status: health.status, out: health.stdout + health.stderr }).toEqual({ status: 0, out: expect.stringMatching(/^changefeed job \d+: healthy: /) });
    const jobsBefore = await liveJobs();
    const destroy = await cli.run(p.dir, ["destroy", "--yes", "--skip-preview", "--stack", stack]);
    expect(summary(destroy.stdout)).toEqual({ deleted: count });
    // The stack's changefeed is gone; nobody else's was touched.
    const jobId = state.deployment.resources.find((r: any) => r.type === "pulumi-nodejs:dynamic/cockroach:Changefeed").outputs.jobId;
    expect(jobsBefore).toContain(jobId);
    expect(await liveJobs()).toEqual(jobsBefore.filter((j) => j !== jobId));
    if (oldest) {
      // The program, the dynamic-provider host and the health command ran on the consumer Node, a Node 22.
      expect(oldest.version).toMatch(/^v22\./);
      const starts = oldest.starts();
      expect(starts.some((args) => /@pulumi[\\/]pulumi[\\/]cmd[\\/]run\b/.test(args))).toBe(true); // the language host's program runner
      expect(starts.some((args) => /cmd[\\/]dynamic-provider\b/.test(args))).toBe(true); // the dynamic-provider host
      expect(starts.some((args) => /zitadel-audit-stream[\\/]dist[\\/]provider[\\/]cli\.js|\.bin[\\/]zitadel-audit-stream/.test(args))).toBe(true); // the health command
      fs.rmSync(oldest.cli.base, { recursive: true, force: true });
    }
  },
);
