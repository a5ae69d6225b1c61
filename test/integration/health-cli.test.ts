// `zitadel-audit-stream health` against the twin: the verdict of the Changefeed's health output,
// read now, with an exit status for cron or CI.
import { spawnSync } from "child_process";
import * as net from "net";
import * as path from "path";
import { buildCreateChangefeedStatement, buildSinkUri } from "../../provider";
import { feedsInState, health, parseArgs } from "../../provider/cli";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { insertEvents, makeEvents, waitFor } from "../helpers/events";

jest.setTimeout(120_000);
let f: CdcFixture;
let id: string;
const lines: string[] = [];
const run = (...argv: string[]) => {
  lines.length = 0;
  return health(argv, (l) => lines.push(l));
};

beforeAll(async () => {
  // The twin asks for a password, as a secured cluster does (the PGPASSWORD test below depends on it).
  f = await cdcFixture({ password: "twin-secret pw" });
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  id = (
    await f.pg.query(buildCreateChangefeedStatement({ options: { initial_scan: "no", min_checkpoint_frequency: "200ms" } }), [
      buildSinkUri({ bucket: f.bucket, prefix: "health", credentials: f.keyBase64 }),
    ])
  ).rows[0].job_id;
  await waitFor("a checkpoint", async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [id])).rows[0].high_water_timestamp !== null);
});
afterAll(() => f?.stop());

test("a feed that checkpoints is healthy: exit 0, one line with its lag", async () => {
  expect(await run("--connection-string", f.twin.url, "--job-id", id)).toBe(0);
  expect(lines).toEqual([expect.stringMatching(new RegExp(`^changefeed job ${id}: healthy: the job is running, \\d+ s behind \\(lag \\d+ s\\)$`))]);
  expect(await run("--connection-string", f.twin.url, "--job-id", id, "--json")).toBe(0);
  expect(JSON.parse(lines[0])).toMatchObject({ jobId: id, state: "healthy", lagSeconds: expect.any(Number) });
});

test("a feed whose grant is gone is failing, naming the permission: exit 1; healthy again once granted", async () => {
  await f.revoke();
  await insertEvents(f.pg, makeEvents(3, 70_000));
  await waitFor("a retryable error", async () => /^retryable error/.test((await f.pg.query("SHOW CHANGEFEED JOB $1", [id])).rows[0].running_status ?? ""));
  expect(await run("--connection-string", f.twin.url, "--job-id", id)).toBe(1);
  expect(lines[0]).toMatch(new RegExp(`^changefeed job ${id}: failing: the sink refuses the feed's writer \\(HTTP 403, storage\\.objects\\.create missing\\)`));
  await f.grant();
  await waitFor("recovery", async () => (await run("--connection-string", f.twin.url, "--job-id", id)) === 0);
});

test("paused and unknown jobs are stopped (exit 1); a wrong argument or an unreachable cluster is exit 2", async () => {
  await f.pg.query("PAUSE JOB $1", [id]);
  await waitFor("paused", async () => (await f.pg.query("SHOW CHANGEFEED JOB $1", [id])).rows[0].status === "paused");
  expect(await run("--connection-string", f.twin.url, "--job-id", id, "--job-id", "123")).toBe(1);
  expect(lines).toEqual([expect.stringMatching(/: stopped: the job is paused/), expect.stringMatching(/^changefeed job 123: stopped: the job is gone/)]);
  expect(await run("--job-id", "abc")).toBe(2);
  expect(lines[0]).toMatch(/^--job-id: not a job id: abc\nusage:/);
  // A refused port is named as a network error, not as a SQLSTATE.
  expect(await run("--connection-string", "postgresql://root@127.0.0.1:1/defaultdb", "--job-id", id)).toBe(2);
  expect(lines[0]).toMatch(
    /^read the changefeed jobs at 127\.0\.0\.1:1\/defaultdb failed: cannot connect to CockroachDB at 127\.0\.0\.1:1\/defaultdb: network error: nothing accepts connections there \(connection refused\) \(ECONNREFUSED\)$/,
  );
  expect(lines[0]).not.toMatch(/SQLSTATE/);
  await f.pg.query("RESUME JOB $1", [id]);
});

test("the installed bin runs the same check and exits with its status", () => {
  const bin = path.join(__dirname, "..", "..", "dist", "provider", "cli.js");
  const r = spawnSync(process.execPath, [bin, "health", "--connection-string", f.twin.url, "--job-id", "123"], { encoding: "utf8" });
  expect(r.status).toBe(1);
  expect(r.stdout).toMatch(/^changefeed job 123: stopped: the job is gone/);
  expect(spawnSync(process.execPath, [bin, "frobnicate"], { encoding: "utf8" }).status).toBe(2);
});

test("a server that accepts and never answers: 'no answer' and exit 2 within the timeout (default 30 s)", async () => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((sock) => sockets.push(sock)); // accepts, reads nothing, answers nothing
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    const started = Date.now();
    expect(await run("--connection-string", `postgresql://root@127.0.0.1:${port}/defaultdb`, "--job-id", id, "--timeout-seconds", "3")).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines).toEqual([`no answer: CockroachDB at 127.0.0.1:${port}/defaultdb did not finish within 3s (--timeout-seconds)`]);
    // The installed bin with its defaults ends within 40 s (the connect bound is 10 s, the command's 30 s).
    const bin = path.join(__dirname, "..", "..", "dist", "provider", "cli.js");
    const t = Date.now();
    const r = spawnSync(process.execPath, [bin, "health", "--connection-string", `postgresql://root@127.0.0.1:${port}/defaultdb`, "--job-id", id], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect({ status: r.status, out: r.stdout }).toEqual({
      status: 2,
      out: expect.stringMatching(
        /^read the changefeed jobs at 127\.0\.0\.1:\d+\/defaultdb failed: cannot connect to CockroachDB at .*: no answer: the server did not complete the connection within 10s/,
      ),
    });
    expect(Date.now() - t).toBeLessThan(40_000);
  } finally {
    sockets.forEach((x) => x.destroy());
    silent.close();
  }
});

test("the password can come from PGPASSWORD instead of the command line", () => {
  const bin = path.join(__dirname, "..", "..", "dist", "provider", "cli.js");
  const u = new URL(f.twin.url);
  const password = decodeURIComponent(u.password);
  u.password = "";
  expect(password).toBe("twin-secret pw");
  const withEnv = spawnSync(process.execPath, [bin, "health", "--connection-string", u.toString(), "--job-id", id], {
    encoding: "utf8",
    env: { ...process.env, PGPASSWORD: password },
  });
  expect({ status: withEnv.status, out: withEnv.stdout }).toEqual({ status: 0, out: expect.stringMatching(/: healthy: /) });
  // The twin does check it: a wrong one is refused.
  const wrong = spawnSync(process.execPath, [bin, "health", "--connection-string", u.toString(), "--job-id", id], {
    encoding: "utf8",
    env: { ...process.env, PGPASSWORD: "wrong" },
  });
  expect({ status: wrong.status, out: wrong.stdout }).toEqual({ status: 2, out: expect.stringMatching(/password authentication failed for user root/) });
});

test("feeds from a stack's state: every Changefeed with its job, its own connection (a secret) and maxLagSeconds", () => {
  const secret = (v: unknown) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify(v) });
  const exported = {
    deployment: {
      resources: [
        { type: "pulumi:pulumi:Stack", outputs: { jobId: "9" } },
        {
          type: "pulumi-nodejs:dynamic/cockroach:Changefeed",
          outputs: { jobId: "1", maxLagSeconds: 600, connectionString: secret("postgresql://a@h:26257/d") },
        },
        { type: "pulumi-nodejs:dynamic/cockroach:Changefeed", outputs: { jobId: "2" } },
        { type: "pulumi-nodejs:dynamic/cockroach:Changefeed", delete: true, outputs: { jobId: "3" } },
        { type: "pulumi-nodejs:dynamic/gcp:Bucket", outputs: { name: "b" } },
      ],
    },
  };
  expect(feedsInState(exported)).toEqual([
    { jobId: "1", connectionString: "postgresql://a@h:26257/d", maxLagSeconds: 600 },
    { jobId: "2", connectionString: undefined, maxLagSeconds: undefined },
  ]);
  expect(parseArgs(["--stack", "prod"])).toMatchObject({ stack: "prod", jobIds: [], timeoutSeconds: 30 });
  expect(() => parseArgs([])).toThrow(/give --job-id, --slot, --engine, --subscription, --service or --stack/);
  expect(() => parseArgs(["--job-id", "1", "--timeout-seconds", "0"])).toThrow(/--timeout-seconds: a whole number of seconds/);
});
