// `zitadel-audit-stream health` against the twin: the verdict of the Changefeed's health output,
// read now, with an exit status for cron or CI.
import { spawnSync } from "child_process";
import * as path from "path";
import { buildCreateChangefeedStatement, buildSinkUri } from "../../provider";
import { health, jobIdsIn, parseArgs } from "../../provider/cli";
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
  f = await cdcFixture();
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  id = (await f.pg.query(buildCreateChangefeedStatement({ options: { initial_scan: "no", min_checkpoint_frequency: "200ms" } }), [buildSinkUri({ bucket: f.bucket, prefix: "health", credentials: f.keyBase64 })])).rows[0].job_id;
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
  expect(await run("--connection-string", "postgresql://root@127.0.0.1:1/defaultdb", "--job-id", id)).toBe(2);
  expect(lines[0]).toMatch(/^read the changefeed jobs failed/);
  await f.pg.query("RESUME JOB $1", [id]);
});

test("the installed bin runs the same check and exits with its status", () => {
  const bin = path.join(__dirname, "..", "..", "dist", "provider", "cli.js");
  const r = spawnSync(process.execPath, [bin, "health", "--connection-string", f.twin.url, "--job-id", "123"], { encoding: "utf8" });
  expect(r.status).toBe(1);
  expect(r.stdout).toMatch(/^changefeed job 123: stopped: the job is gone/);
  expect(spawnSync(process.execPath, [bin, "frobnicate"], { encoding: "utf8" }).status).toBe(2);
});

test("job ids from a stack's outputs: every jobId or …JobId, at any depth", () => {
  expect(jobIdsIn({ jobId: "1", bucketName: "b", streams: { auditJobId: "2", other: { jobId: "x" } }, jobIds: ["3"] })).toEqual(["1", "2"]);
  expect(parseArgs(["--stack", "prod"])).toMatchObject({ stack: "prod", jobIds: [] });
  expect(() => parseArgs([])).toThrow(/give --job-id or --stack/);
});
