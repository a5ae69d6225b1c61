// Crashes through the real engine: `pulumi up` of the root project killed with SIGKILL — the CLI
// alone (its dynamic-provider process is orphaned and must stop by itself), or its whole process
// group — right after a statement of create, handoff and key rotation took effect (the twin holds
// the statement's answer, so the kill lands exactly there). After each, what a user does next
// (`pulumi cancel`, `pulumi refresh --clear-pending-creates`, then `pulumi up`) must leave exactly one live job
// carrying the stream's marker, no event inserted before the fault missing, no key of the writer
// that state does not know; and `pulumi destroy` must leave no job.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync, spawn } from "child_process";
import { PulumiCli } from "../harness/cli";
import { repoRoot, standInConfig } from "../harness/engine";
import { StandIns, startStandIns } from "../helpers/stand-ins";
import { ZitadelEvent, account, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";

jest.setTimeout(900_000);

let standIns: StandIns;
let cli: PulumiCli;
const STACK = `ci-fault-${crypto.randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  standIns = await startStandIns({ checkpointMs: 300 });
  cli = new PulumiCli(fs.mkdtempSync(path.join(os.tmpdir(), "zas-faults-")));
  await cli.run(repoRoot, ["stack", "init", STACK]);
  await cli.configure(repoRoot, STACK, standInConfig(standIns.emu, standIns.twin.url, { forceDestroy: "true" }));
});
afterAll(async () => {
  await cli?.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", STACK], { allowFailure: true });
  await cli?.run(repoRoot, ["stack", "rm", "--yes", "--force", STACK], { allowFailure: true });
  fs.rmSync(path.join(repoRoot, `Pulumi.${STACK}.yaml`), { force: true });
  await standIns?.stop();
  if (cli && !process.env.KEEP_FAULTS) fs.rmSync(cli.base, { recursive: true, force: true });
});

const sql = async (q: string, p: unknown[] = []) => (await standIns.pg.query(q, p)).rows;
const heldCount = async () =>
  String((await sql("SHOW CLUSTER SETTING twin.held"))[0]["twin.held"])
    .split(",")
    .filter(Boolean).length;

/** `pulumi up`, killed (-9) right after `statement` took effect: the CLI alone, or its whole process group. */
async function upKilledAfter(statement: string, target: "cli" | "group"): Promise<void> {
  const before = await heldCount();
  const providersBefore = new Set(providerProcesses());
  await sql(`SET CLUSTER SETTING twin.hold_after = '${statement}'`);
  const child = spawn(cli.bin, ["--non-interactive", "up", "--yes", "--skip-preview", "--stack", STACK], {
    cwd: repoRoot,
    env: cli.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout!.on("data", (d) => output.push(String(d)));
  child.stderr!.on("data", (d) => output.push(String(d)));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  try {
    await waitFor(`${statement} held`, async () => (await heldCount()) > before, 240_000, 50);
  } catch (e) {
    process.kill(-child.pid!, "SIGKILL");
    throw new Error(`${(e as Error).message}; pulumi said: ${output.join("")}`);
  }
  if (target === "cli") process.kill(child.pid!, "SIGKILL");
  else process.kill(-child.pid!, "SIGKILL");
  await exited;
  if (target === "cli") {
    // The provider process the dead CLI started stops by itself (provider/engine/watchdog.ts exitWithOrphanedHost).
    // (Pulumi starts plugins in process groups of their own, so they are found as new processes.)
    const started = () => providerProcesses().filter((p) => !providersBefore.has(p));
    await waitFor("the orphaned dynamic provider to exit", async () => started().length === 0, 5_000, 100).catch((e) => {
      throw new Error(`${(e as Error).message}: ${started().join("; ")}`);
    });
  }
}

/** Running dynamic-provider hosts, as "pid args". */
function providerProcesses(): string[] {
  return execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /cmd\/dynamic-provider/.test(l));
}

/**
 * What a user runs after a crash, as the CLI tells them: remove the dead update's lock (`pulumi
 * cancel`), clear the operations it never finished, then `up`.
 */
async function recover(): Promise<void> {
  // An orphaned provider process stops within a second (provider/engine/watchdog.ts exitWithOrphanedHost).
  await new Promise((r) => setTimeout(r, 1500));
  await cli.run(repoRoot, ["cancel", "--yes", "--stack", STACK], { allowFailure: true });
  const refresh = ["refresh", "--yes", "--skip-preview", "--clear-pending-creates", "--stack", STACK];
  const r = await cli.run(repoRoot, refresh, { allowFailure: true });
  if (r.code !== 0) {
    // A kill of the whole group can land while the file backend rewrites the checkpoint, leaving it
    // empty ("failed to load checkpoint: EOF"). The backend keeps the previous one beside it; a user
    // restores that, and the providers reconcile what the older state does not know.
    expect(r.stdout + r.stderr).toMatch(/failed to load checkpoint/);
    const dir = path.join(cli.backend, ".pulumi", "stacks", "zitadel-audit-stream");
    fs.copyFileSync(path.join(dir, `${STACK}.json.bak`), path.join(dir, `${STACK}.json`));
    console.log("checkpoint truncated by the kill: restored <stack>.json.bak");
    const again = await cli.run(repoRoot, refresh, { allowFailure: true });
    // The copy can be broken too (the kill landed while both were written): start the stack again.
    if (again.code !== 0) {
      await stateLost();
      return upTakingOver();
    }
  }
  await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", STACK]);
}

/**
 * `up` of a stack whose state was lost, as a user does it: the first `up` refuses the objects the lost
 * state held (they carry its deployment, not the new one) and names the takeOver value; setting it
 * takes them over; then it is removed again.
 */
async function upTakingOver(): Promise<void> {
  const refused = await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", STACK], { allowFailure: true });
  expect(refused.code).not.toBe(0);
  const value = /set takeOver: \\?"([0-9a-f]{16}|legacy)\\?"/.exec(refused.stdout + refused.stderr)?.[1];
  if (!value) throw new Error(`the refusal names no takeOver value:\n${refused.stdout}\n${refused.stderr}`);
  await cli.run(repoRoot, ["config", "set", "--stack", STACK, "zitadel-audit-stream:takeOver", value]);
  await cli.run(repoRoot, ["up", "--yes", "--skip-preview", "--stack", STACK]);
  await cli.run(repoRoot, ["config", "rm", "--stack", STACK, "zitadel-audit-stream:takeOver"]);
}

/**
 * The stack's state is gone (no usable checkpoint): `stack rm --force` keeping the config, `stack
 * init`. The next `up` is refused (the objects carry the lost deployment's identity) and, with the
 * takeOver it names, takes over what the old state knew: the names derived from the stack's names, the
 * feed's job (continued from), and the writer's old key deleted once the feed runs on a new one.
 */
async function stateLost(): Promise<void> {
  console.log("state lost: the stack is made again; the next up adopts what exists");
  await cli.run(repoRoot, ["stack", "rm", "--yes", "--force", "--preserve-config", STACK]);
  await cli.run(repoRoot, ["stack", "init", STACK]);
}

async function outputs(): Promise<Record<string, any>> {
  return JSON.parse((await cli.run(repoRoot, ["stack", "output", "--json", "--stack", STACK])).stdout);
}

async function liveJobs(marker: string) {
  return (await sql("SHOW CHANGEFEED JOBS")).filter(
    (j) => j.description.includes(`'${marker}'`) && ["running", "pending", "paused", "pause-requested"].includes(j.status),
  );
}

async function markerOf(): Promise<string> {
  const state = await cli.state(repoRoot, STACK);
  return state.deployment.resources.find((r: any) => String(r.type).endsWith("Changefeed"))?.outputs?.marker;
}

/** The Must-show after a recovery: one live job, nothing missing, no writer key unknown to state. */
async function verify(events: ZitadelEvent[], what: string): Promise<void> {
  const out = await outputs();
  expect(out.feedStatus).toBe("running");
  const marker = await markerOf();
  expect((await liveJobs(marker)).map((j) => String(j.job_id))).toEqual([String(out.jobId)]);
  let last: ReturnType<typeof account> | undefined;
  await waitFor(
    `${what}: all events`,
    async () => {
      last = account(events, (await readDelivered(standIns.admin, out.bucketName, "events/")).lines);
      return last.missing === 0;
    },
    60_000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
  console.log(`${what}: inserted=${last!.inserted} missing=${last!.missing} duplicates=${last!.duplicates}`);
  const state = await cli.state(repoRoot, STACK);
  const known = state.deployment.resources.filter((r: any) => String(r.type).endsWith("ServiceAccountKey")).map((r: any) => r.outputs?.name);
  const keys =
    (await standIns.admin.iam.projects.serviceAccounts.keys.list({ name: `projects/-/serviceAccounts/${out.serviceAccountEmail}`, keyTypes: ["USER_MANAGED"] }))
      .data.keys ?? [];
  for (const k of keys) expect(known).toContain(k.name);
}

test("kill -9 of the CLI or its process group at each step of create, handoff and rotation; the next up heals; destroy leaves nothing", async () => {
  const events: ZitadelEvent[] = [];
  let seq = 700_000;
  const insert = async (n: number) => {
    const batch = makeEvents(n, (seq += 100));
    await insertEvents(standIns.pg, batch);
    events.push(...batch);
  };

  /** After a kill: events before and after the recovery all delivered, one job, no unknown key. */
  const killedThenHealed = async (statement: string, target: "cli" | "group", what: string) => {
    await upKilledAfter(statement, target);
    await insert(5);
    await recover();
    await insert(5);
    await verify(events, what);
  };
  const configSet = (key: string, value: string) => cli.run(repoRoot, ["config", "set", "--stack", STACK, `zitadel-audit-stream:${key}`, value]);

  // create: killed right after CREATE CHANGEFEED (the whole process group)
  await killedThenHealed("CREATE CHANGEFEED", "group", "create, process group killed");

  // the state lost entirely (a backend deleted, a checkpoint beyond repair): up refuses, and with
  // the takeOver it names takes everything over
  await stateLost();
  await insert(5);
  await upTakingOver();
  await insert(5);
  await verify(events, "state lost, everything taken over");

  // handoff: killed after the new job's CREATE (the CLI alone; the provider process is orphaned)
  await configSet("payloadEventTypes", '["user.human.added"]');
  await insert(5);
  await killedThenHealed("CREATE CHANGEFEED", "cli", "handoff, CLI killed after CREATE");

  // handoff: killed after PAUSE of the old job
  await configSet("instanceIds", '["262800396467273985"]');
  await killedThenHealed("PAUSE JOB", "group", "handoff, group killed after PAUSE");

  // key rotation: killed after ALTER (the new key exists and is recorded; the feed is paused)
  await configSet("keyRotationTrigger", "2");
  await killedThenHealed("ALTER CHANGEFEED", "cli", "rotation, CLI killed after ALTER");

  const marker = await markerOf();
  await cli.run(repoRoot, ["destroy", "--yes", "--skip-preview", "--stack", STACK]);
  expect(await liveJobs(marker)).toEqual([]);
});
