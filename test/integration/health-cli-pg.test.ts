// `zitadel-audit-stream health` for the PostgreSQL source, run as the built CLI against a real
// PostgreSQL 15: each slot's verdict (cdc/slot.ts) and the exit status cron or CI reads.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as path from "path";
import { postgresBin, startZitadelDatabase } from "../../tools/harness/postgres";
import { slotsInState } from "../../provider/cli";
import { jsonLines, runHealth } from "../harness/cli";

jest.setTimeout(120_000);

let db: Awaited<ReturnType<typeof startZitadelDatabase>>;
const bin = path.join(__dirname, "../../dist/provider/cli.js");
const cli = (...argv: string[]) => spawnSync(process.execPath, [bin, "health", ...argv], { encoding: "utf8", env: { ...process.env, PGHOST: "", PGPORT: "" } });

beforeAll(async () => {
  db = await startZitadelDatabase();
  await db.admin.query("CREATE PUBLICATION zas_health FOR TABLE eventstore.events2");
  await db.admin.query("SELECT pg_create_logical_replication_slot('zas_health', 'pgoutput')");
});
afterAll(() => db?.stop());

test("a slot no engine reads is stopped (exit 1); read, it is healthy (exit 0); a missing one is failing; --json gives the same", async () => {
  const url = db.pg.url();
  let r = cli("--postgres-url", url, "--slot", "zas_health");
  expect([r.status, r.stdout.trim()]).toEqual([
    1,
    expect.stringMatching(/^replication slot zas_health: stopped: no engine reads slot zas_health: \d+ MB of WAL kept for it and growing; start the engine$/),
  ]);

  const reader: ChildProcess = spawn(
    path.join(postgresBin().bin, "pg_recvlogical"),
    ["-d", url, "--slot", "zas_health", "--start", "-f", "-", "-o", "proto_version=1", "-o", "publication_names=zas_health"],
    { stdio: "ignore" },
  );
  try {
    for (let i = 0; i < 100 && !(await db.admin.query("SELECT active FROM pg_replication_slots WHERE slot_name = 'zas_health'")).rows[0].active; i++)
      await new Promise((res) => setTimeout(res, 100));
    r = cli("--postgres-url", url, "--slot", "zas_health", "--slot", "gone_slot");
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(/^replication slot zas_health: healthy: slot zas_health is read, \d+ MB of WAL retained$/),
      expect.stringMatching(/^replication slot gone_slot: failing: slot gone_slot does not exist/),
    ]);
    r = cli("--postgres-url", url, "--slot", "zas_health", "--json");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ slot: "zas_health", state: "healthy", reason: expect.any(String) });
  } finally {
    reader.kill("SIGKILL");
  }
});

test("bad arguments and an unreachable server are exit 2", () => {
  let r = cli("--slot", "Bad-Name");
  expect([r.status, r.stdout]).toEqual([2, expect.stringMatching(/^--slot: not a slot name: Bad-Name\nusage:/)]);
  r = cli("--postgres-url", "postgresql://postgres@127.0.0.1:1/postgres", "--slot", "zas_health");
  expect(r.status).toBe(2);
  expect(r.stdout).toMatch(
    /^read the replication slots at 127\.0\.0\.1:1\/postgres failed: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/postgres: network error: nothing accepts connections there/,
  );
});

test("--stack finds every PgSlot in the state with its own connection", () => {
  const exported = {
    deployment: {
      resources: [
        {
          type: "pulumi-nodejs:dynamic/postgres:PgSlot",
          outputs: {
            name: "audit_slot_0123456789ab",
            connectionString: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: '"postgresql://a@h:5432/z"' },
          },
        },
        { type: "pulumi-nodejs:dynamic/postgres:PgSlot", outputs: { name: "other_slot" } },
        { type: "pulumi-nodejs:dynamic/postgres:PgSlot", outputs: { name: "deleted" }, delete: true },
        { type: "pulumi-nodejs:dynamic/postgres:PgPublication", outputs: { name: "pub" } },
      ],
    },
  };
  expect(slotsInState(exported)).toEqual([
    { slot: "audit_slot_0123456789ab", connectionString: "postgresql://a@h:5432/z" },
    { slot: "other_slot", connectionString: undefined },
  ]);
});

test("--engine: Debezium Server's health endpoint UP is healthy (exit 0); DOWN is failing and a closed port stopped (exit 1)", async () => {
  const { createServer } = await import("http");
  const { freePort } = await import("../../stand-ins");
  let answer = { status: 200, body: { status: "UP", checks: [{ name: "debezium", status: "UP" }] } };
  const server = createServer((req, res) => {
    // The path Quarkus serves the liveness check on (docs/debezium-server.md §6).
    if (req.url !== "/q/health/live") return void res.writeHead(404).end();
    res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const engine = `http://127.0.0.1:${(server.address() as any).port}`;
  const closed = `http://127.0.0.1:${await freePort()}`;
  // Not spawnSync: the server above answers from this process's event loop.
  const run = (...argv: string[]) => runHealth(argv);
  try {
    let r = await run("--engine", engine);
    expect([r.status, r.stdout.trim()]).toEqual([0, `engine ${engine}: healthy: engine at ${engine} is up`]);
    answer = { status: 503, body: { status: "DOWN", checks: [{ name: "debezium", status: "DOWN" }] } };
    r = await run("--engine", engine, "--engine", closed, "--json");
    expect(r.status).toBe(1);
    expect(jsonLines(r.stdout)).toEqual([
      { engine, state: "failing", reason: expect.stringMatching(/reports DOWN \(debezium\)/) },
      { engine: closed, state: "stopped", reason: expect.stringMatching(/does not answer \(connection refused\)/) },
    ]);
    r = await run("--engine", "10.0.0.7:8080");
    expect([r.status, r.stdout.split("\n")[0]]).toEqual([2, "--engine: not an engine's base URL such as http://10.0.0.7:8080: 10.0.0.7:8080"]);
  } finally {
    server.close();
  }
});
