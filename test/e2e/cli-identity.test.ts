// A stream's identity and its failures, through the real CLI as users act (issue #21, docs/identity.md):
// `up --replace` of the changefeed and a move of the stream under a new parent leave exactly one job,
// continuous with the old; a second backend deploying the same project and stack names is refused,
// naming the owner, while the first stream's job and key stay live; a handoff cut short by an outage
// prints the provider's own message; a stack destroyed after its first create was killed leaves no job;
// past the GC window up refuses and a chosen cursor continues with the gap recorded; a key deleted out of
// band shows on refresh and the next up heals the same stream.
import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import { Client } from "pg";
import { PulumiCli, CliResult } from "../harness/cli";
import { repoRoot, standInConfig } from "../harness/engine";
import { StandIns, startStandIns } from "../helpers/stand-ins";
import { ZitadelEvent, account, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";

jest.setTimeout(900_000);

const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { AuditStream } from "zitadel-audit-stream";
const cfg = new pulumi.Config("zitadel-audit-stream");
const test = new pulumi.Config("test");
class Group extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:index:Group", name, {}, {});
  }
}
const parent = test.getBoolean("moved") ? new Group("group") : undefined;
const payload = cfg.getObject<string[]>("payloadEventTypes");
const stream = new AuditStream("audit", {
  bucket: { forceDestroy: true },
  prefix: "events",
  partitionFormat: "flat",
  query: payload ? { payload: { eventTypes: payload } } : {},
  changefeedOptions: cfg.getObject<Record<string, string>>("changefeedOptions") ?? { initial_scan: "no" },
  timeoutSeconds: 30,
  takeOver: cfg.get("takeOver"),
}, { parent });
export const jobId = stream.jobId;
export const bucketName = stream.bucketName;
export const serviceAccountEmail = stream.serviceAccountEmail;
export const deployment = stream.identity.deployment;
`;

let standIns: StandIns;
const STACK = "prod";
let seq = 900_000;
const clis: PulumiCli[] = [];

beforeAll(async () => {
  standIns = await startStandIns({ checkpointMs: 300 });
});
afterAll(async () => {
  for (const c of clis) {
    for (const dir of fs.readdirSync(c.base).filter((d) => d.startsWith("project"))) {
      await c.run(path.join(c.base, dir), ["destroy", "--yes", "--skip-preview", "--stack", STACK], { allowFailure: true });
    }
    if (!process.env.KEEP_IDENTITY) fs.rmSync(c.base, { recursive: true, force: true });
  }
  await standIns?.stop();
});

/** A project folder with the program above (inside the repository, so the package resolves as in its own projects) and a stack on a backend of its own. */
async function project(
  label: string,
  name = "zitadel-audit-identity",
): Promise<{ cli: PulumiCli; dir: string; run: (args: string[], opts?: { allowFailure?: boolean }) => Promise<CliResult> }> {
  const base = fs.mkdtempSync(path.join(repoRoot, ".work", `identity-${label}-`));
  const cli = new PulumiCli(base);
  clis.push(cli);
  const dir = path.join(base, "project");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: ${name}\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n`);
  fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM);
  // Without a package.json of its own the language host would take the repository's (its "main" is the package).
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "zitadel-audit-identity", private: true, main: "index.ts" }));
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, target: "es2022", module: "commonjs", moduleResolution: "node", esModuleInterop: true, skipLibCheck: true },
      files: ["index.ts"],
    }),
  );
  await cli.run(dir, ["stack", "init", STACK]);
  await cli.configure(dir, STACK, standInConfig(standIns.emu, standIns.twin.url));
  return { cli, dir, run: (args, opts) => cli.run(dir, [...args, "--stack", STACK], opts) };
}

/** One statement on a connection of its own (an outage closes every open one). */
async function sql(q: string, p: unknown[] = []): Promise<any[]> {
  const c = new Client({ connectionString: standIns.twin.url });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return (await c.query(q, p)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}
const live = async (prefix: string) =>
  (await sql("SHOW CHANGEFEED JOBS"))
    .filter(
      (j) => /metrics_label = '([^']*)'/.exec(j.description)?.[1]?.startsWith(prefix) && ["running", "pending", "paused", "pause-requested"].includes(j.status),
    )
    .map((j) => String(j.job_id));
/** The account's user-managed keys, as IAM lists them. */
const userKeys = async (email: string) =>
  (await standIns.admin.iam.projects.serviceAccounts.keys.list({ name: `projects/-/serviceAccounts/${email}`, keyTypes: ["USER_MANAGED"] })).data.keys ?? [];
const outputs = async (p: { run: (a: string[]) => Promise<CliResult> }) => JSON.parse((await p.run(["stack", "output", "--json"])).stdout);
const insert = async (events: ZitadelEvent[], n: number) => {
  const batch = makeEvents(n, (seq += 100));
  const c = new Client({ connectionString: standIns.twin.url });
  await c.connect();
  await insertEvents(c, batch).finally(() => c.end());
  events.push(...batch);
};
async function allDelivered(bucket: string, events: ZitadelEvent[], what: string): Promise<void> {
  let last: ReturnType<typeof account> | undefined;
  await waitFor(
    `${what}: every event`,
    async () => {
      last = account(events, (await readDelivered(standIns.admin, bucket, "events/")).lines);
      return last.missing === 0;
    },
    60_000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
  console.log(`${what}: inserted=${last!.inserted} missing=0 duplicates=${last!.duplicates}`);
}

test("up --replace of the changefeed, then a move of the stream under a new parent: exactly one job runs after each, and nothing is missing", async () => {
  const p = await project("replace");
  const events: ZitadelEvent[] = [];
  await p.run(["up", "--yes", "--skip-preview"]);
  const first = await outputs(p);
  const lineage = `zitadel-audit-stream.${first.deployment}.`;
  expect(await live(lineage)).toEqual([first.jobId]);
  await insert(events, 5);

  const state = await p.cli.state(p.dir, STACK);
  const urn = state.deployment.resources.find((r: any) => String(r.type).endsWith(":Changefeed")).urn;
  const replaced = await p.run(["up", "--yes", "--skip-preview", "--replace", urn]);
  expect(replaced.stdout).toMatch(/1 replaced/);
  const second = await outputs(p);
  expect(second.jobId).not.toBe(first.jobId);
  expect(await live(lineage)).toEqual([second.jobId]);
  await insert(events, 5);
  await allDelivered(first.bucketName, events, "after up --replace");

  // The stream moves under a new parent, without aliases: every resource is created anew and the old
  // ones deleted; the identity (no parent) stays, so the new instances continue from the old ones.
  await p.run(["config", "set", "--stack", STACK, "test:moved", "true"]);
  await p.run(["up", "--yes", "--skip-preview"]);
  const third = await outputs(p);
  expect(third.deployment).toBe(first.deployment);
  expect(await live(lineage)).toEqual([third.jobId]);
  await insert(events, 5);
  await allDelivered(third.bucketName, events, "after the parent move");
  await p.run(["preview", "--expect-no-changes"]);

  await p.run(["destroy", "--yes", "--skip-preview"]);
  expect(await live(lineage)).toEqual([]);
});

test("a second backend with the same project and stack names is refused, naming the owner; the first stream's job and key stay live", async () => {
  const a = await project("first");
  await a.run(["up", "--yes", "--skip-preview"]);
  const first = await outputs(a);
  const keysBefore = await userKeys(first.serviceAccountEmail);
  expect(keysBefore).toHaveLength(1);

  const b = await project("second");
  const refused = await b.run(["up", "--yes", "--skip-preview"], { allowFailure: true });
  expect(refused.code).not.toBe(0);
  const out = refused.stdout + refused.stderr;
  expect(out).toMatch(
    new RegExp(
      `already exists: it was made by deployment ${first.deployment} .*It is left as it is\\. If it is yours .*set takeOver: \\\\?"${first.deployment}\\\\?"`,
    ),
  );
  expect(out).not.toMatch(/resource init failed/);

  // The first stream is untouched: its job runs, its key is the same, events still arrive.
  expect(await live(`zitadel-audit-stream.${first.deployment}.`)).toEqual([first.jobId]);
  const keysAfter = await userKeys(first.serviceAccountEmail);
  expect(keysAfter.map((k) => k.name)).toEqual(keysBefore.map((k) => k.name));
  const events: ZitadelEvent[] = [];
  await insert(events, 5);
  await allDelivered(first.bucketName, events, "the first stream after the second was refused");
  await a.run(["up", "--yes", "--skip-preview"]);
  expect((await outputs(a)).jobId).toBe(first.jobId);
  await b.run(["destroy", "--yes", "--skip-preview"]);
  await a.run(["destroy", "--yes", "--skip-preview"]);
});

test("a handoff cut short by an outage prints the provider's own message through the CLI, and exactly one job is left", async () => {
  const p = await project("outage");
  await p.run(["up", "--yes", "--skip-preview"]);
  const before = await outputs(p);
  // The query changes (a handoff); right after the new job's CREATE the cluster is away for 35 s,
  // longer than the provider's 30 s reconnect window.
  await p.run(["config", "set", "--stack", STACK, "zitadel-audit-stream:payloadEventTypes", '["instance.domain.added"]']);
  await sql("SET CLUSTER SETTING twin.down_after = 'CREATE CHANGEFEED:35000'");
  const r = await p.run(["up", "--yes", "--skip-preview"], { allowFailure: true });
  const out = r.stdout + r.stderr;
  expect(r.code).not.toBe(0);
  expect(out).not.toMatch(/error: resource init failed/);
  expect(out).toMatch(new RegExp(`The previous job ${before.jobId} (was resumed \\(read back: running\\)|stays paused)`));
  await waitFor("exactly one job", async () => (await live(`zitadel-audit-stream.${before.deployment}.`)).length === 1, 60_000);
  // The next up finishes the handoff: one job, the new query.
  await p.run(["up", "--yes", "--skip-preview"]);
  const after = await outputs(p);
  expect(await live(`zitadel-audit-stream.${before.deployment}.`)).toEqual([after.jobId]);
  await p.run(["destroy", "--yes", "--skip-preview"]);
});

test("a stack destroyed after its first create was killed right after CREATE CHANGEFEED leaves no job running", async () => {
  const p = await project("killed");
  const held = async () =>
    String((await sql("SHOW CLUSTER SETTING twin.held"))[0]["twin.held"])
      .split(",")
      .filter(Boolean).length;
  const before = await held();
  await sql("SET CLUSTER SETTING twin.hold_after = 'CREATE CHANGEFEED'");
  const child = spawn(p.cli.bin, ["--non-interactive", "up", "--yes", "--skip-preview", "--stack", STACK], {
    cwd: p.dir,
    env: p.cli.env,
    detached: true,
    stdio: "ignore",
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await waitFor("CREATE CHANGEFEED held", async () => (await held()) > before, 240_000, 50);
  process.kill(-child.pid!, "SIGKILL");
  await exited;
  await new Promise((r) => setTimeout(r, 1500));
  const state = await p.cli.state(p.dir, STACK);
  const deployment = state.deployment.resources.find((r: any) => String(r.type).endsWith(":StreamIdentity"))?.outputs?.deployment;
  expect(deployment).toMatch(/^[0-9a-f]{16}$/);
  expect(state.deployment.resources.some((r: any) => String(r.type).endsWith(":Changefeed"))).toBe(false);
  expect(await live(`zitadel-audit-stream.${deployment}.`)).toHaveLength(1);
  // What the CLI tells a user to do after a crash, then destroy.
  await p.run(["cancel", "--yes"], { allowFailure: true });
  await p.run(["refresh", "--yes", "--skip-preview", "--clear-pending-creates"], { allowFailure: true });
  await p.run(["destroy", "--yes", "--skip-preview"]);
  expect(await live(`zitadel-audit-stream.${deployment}.`)).toEqual([]);
});

test("past the GC window: up refuses and says how to continue; a chosen cursor continues with the gap recorded", async () => {
  // A project name of its own: the names it derives are not the other tests' (a leftover of theirs would be refused as another deployment's).
  const p = await project("gc", "zitadel-audit-gc");
  try {
    await p.run(["up", "--yes", "--skip-preview"]);
    const first = await outputs(p);
    await sql("ALTER TABLE eventstore.events2 CONFIGURE ZONE USING gc.ttlseconds = 2");
    try {
      // The job is lost (cancelled out of band) and stays away longer than the window.
      await sql(`CANCEL JOB ${first.jobId}`);
      await new Promise((r) => setTimeout(r, 3_000));
      const refused = await p.run(["up", "--yes", "--skip-preview"], { allowFailure: true });
      expect(refused.code).not.toBe(0);
      expect(refused.stdout + refused.stderr).toMatch(
        /older than CockroachDB's garbage-collection window .*Nothing was changed\..*set options\.cursor to a recent time/s,
      );
      expect(await live(`zitadel-audit-stream.${first.deployment}.`)).toEqual([]);
    } finally {
      // Back to a window the next up cannot outlive (a 2 s window would expire the chosen cursor before the job starts).
      await sql("ALTER TABLE eventstore.events2 CONFIGURE ZONE USING gc.ttlseconds = 14400");
    }
    const cursor = new Date().toISOString();
    await p.run(["config", "set", "--stack", STACK, "zitadel-audit-stream:changefeedOptions", JSON.stringify({ initial_scan: "no", cursor })]);
    await p.run(["up", "--yes", "--skip-preview"]);
    const after = await outputs(p);
    expect(await live(`zitadel-audit-stream.${first.deployment}.`)).toEqual([after.jobId]);
    const feed = (await p.cli.state(p.dir, STACK)).deployment.resources.find((r: any) => String(r.type).endsWith(":Changefeed"));
    expect(feed.outputs.gaps).toEqual([
      { from: expect.stringMatching(/^\d+\.\d+$/), to: cursor, at: expect.any(String), reason: expect.stringMatching(/cursor/) },
    ]);
    const events: ZitadelEvent[] = [];
    await insert(events, 5);
    await allDelivered(after.bucketName, events, "after the chosen cursor");
  } finally {
    await p.run(["destroy", "--yes", "--skip-preview"], { allowFailure: true });
  }
});

test("the writer's key deleted out of band: up fails saying to rotate or refresh; refresh shows the key gone; up then makes a new key and the same stream delivers everything", async () => {
  const p = await project("key", "zitadel-audit-key");
  try {
    await p.run(["up", "--yes", "--skip-preview"]);
    const first = await outputs(p);
    const keys = await userKeys(first.serviceAccountEmail);
    expect(keys).toHaveLength(1);
    await standIns.admin.iam.projects.serviceAccounts.keys.delete({ name: keys[0].name! });
    const events: ZitadelEvent[] = [];
    await insert(events, 3);
    await waitFor(
      "the feed refused",
      async () => /^retryable error/.test((await sql("SHOW CHANGEFEED JOB $1", [first.jobId]))[0].running_status ?? ""),
      60_000,
    );
    // Without a refresh, state still holds the key; diff reads the job, sees it retrying, and up says why and what to do.
    const refused = await p.run(["up", "--yes", "--skip-preview"], { allowFailure: true });
    const said = refused.stdout + refused.stderr;
    expect(refused.code).not.toBe(0);
    expect(said).toMatch(/(Rotate it|rotate the key) \(.*keyRotationTrigger.*`pulumi refresh` then `pulumi up`/);
    expect(said).not.toMatch(/resource init failed|run `pulumi up` again/);
    expect(await live(`zitadel-audit-stream.${first.deployment}.`)).toEqual([first.jobId]);
    await p.run(["refresh", "--yes", "--skip-preview"]);
    const refreshed = (await p.cli.state(p.dir, STACK)).deployment.resources;
    expect(refreshed.some((r: any) => String(r.type).endsWith(":ServiceAccountKey"))).toBe(false);
    const feed = refreshed.find((r: any) => String(r.type).endsWith(":Changefeed"));
    expect(feed.outputs.health.reason).toMatch(
      /does not accept the feed's credentials .*rotate the key \(keyRotationTrigger\).*`pulumi refresh` then `pulumi up`/,
    );
    const healed = await p.run(["up", "--yes", "--skip-preview"]);
    expect(healed.stdout).toMatch(/ServiceAccountKey audit-key created/);
    expect(healed.stdout).toMatch(/Changefeed audit-changefeed updated/);
    const after = await outputs(p);
    expect(await live(`zitadel-audit-stream.${first.deployment}.`)).toEqual([after.jobId]);
    await insert(events, 3);
    await allDelivered(first.bucketName, events, "with the new key");
  } finally {
    await p.run(["destroy", "--yes", "--skip-preview"], { allowFailure: true });
  }
});
