// The engine's runtime resources against the stand-ins: SecretManagerSecret (a value as versions, its
// readers granted on the secret alone, the version before the previous destroyed) and CloudRunService
// (a rollout waited for; a failed first revision deleted again with Cloud Run's reason; a failed update
// leaving the serving revision running; a create cut short adopted; another's service refused).
// The image is a small Node program registered with the stand-in's Cloud Run.
import { Driver, TEST_DEPLOYMENT } from "../harness/driver";
import { jsonLines, runHealth } from "../harness/cli";
import { startStandIns, StandIns } from "../helpers/stand-ins";
import { secretManagerSecretOperations } from "../../provider/gcp/secret-manager-secret";
import { cloudRunServiceOperations } from "../../provider/gcp/cloud-run-service";
import * as fs from "fs";
import { CLOUD_RUN_DEPLOYER_PERMISSIONS } from "../../provider/permissions";
import * as path from "path";

jest.setTimeout(120_000);
let s: StandIns;
let runtime: string;
const gcpConfig = () => ({ "gcp:credentials": s.emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": s.emu.endpoint, "gcp:project": s.emu.project });
const driver = (ops: any, owner: string, deployment = TEST_DEPLOYMENT) => new Driver(ops, gcpConfig(), () => ({ owner: `run-test/${owner}`, deployment }));
const IMAGE = "europe-west1-docker.pkg.dev/zitadel-audit/quay/test/app:1";
// Writes its env to /tmp/env.json (the instance's own /tmp) and answers /live on $PORT.
const APP = `require("fs").writeFileSync("/tmp/env.json".replace("/tmp", process.env.TMPDIR), JSON.stringify(process.env));
require("http").createServer((q, r) => { r.statusCode = q.url === "/live" ? 200 : 404; r.end(); }).listen(Number(process.env.PORT), "127.0.0.1");`;
const envOf = (name: string) => JSON.parse(fs.readFileSync(path.join(s.emu.cloudRun.instanceOf(name)!.dir, "tmp", "env.json"), "utf8"));

beforeAll(async () => {
  s = await startStandIns();
  s.emu.cloudRun.images.set(IMAGE, { command: process.execPath, args: ["-e", APP] });
  runtime = s.emu.iam.createAccount(s.emu.project, "engine-runtime", {}).email;
});
afterAll(() => s?.stop());

test("a secret's value is versioned and read only by its accessors; the version before the previous is destroyed", async () => {
  const d = driver(secretManagerSecretOperations, "secret");
  const inputs = (data: string, accessors = [`serviceAccount:${runtime}`]) => ({ secretId: "engine-password", data, accessors });
  let st = (await d.up(inputs("one"))).state;
  expect(st.outputs).toMatchObject({ version: "1", name: expect.stringMatching(/^projects\/\d+\/secrets\/engine-password$/) });
  expect(s.emu.secretmanager.accessAs(runtime, s.emu.project, "engine-password", "1")).toEqual({ data: Buffer.from("one") });
  st = (await d.up(inputs("two"), st)).state;
  st = (await d.up(inputs("three"), st)).state;
  expect(st.outputs.version).toBe("3");
  const states = s.emu.secretmanager.secrets.get(`${s.emu.project}/engine-password`)!.versions.map((v) => v.state);
  expect(states).toEqual(["DESTROYED", "ENABLED", "ENABLED"]);
  expect((await d.up(inputs("three"), st)).op).toBe("same");
  // Readers change in place; one removed reads no more.
  st = (await d.up(inputs("three", []), st)).state;
  expect(s.emu.secretmanager.accessAs(runtime, s.emu.project, "engine-password", "3")).toEqual({ error: expect.stringMatching(/denied/) });
  // Lost state (a crash after create): the next create adopts it; another deployment's is refused by name.
  const again = (await d.up(inputs("four"))).state;
  expect(again.outputs.version).toBe("4");
  await expect(driver(secretManagerSecretOperations, "secret", "0123456789abcdef").up(inputs("x"))).rejects.toThrow(/secret engine-password .*already exists/);
  await d.destroy(again);
  expect(s.emu.secretmanager.secrets.has(`${s.emu.project}/engine-password`)).toBe(false);
});

test("a service rolls out with its secret env; a first revision that fails is deleted again; a failed update keeps the serving revision", async () => {
  const secret = driver(secretManagerSecretOperations, "db-secret");
  let sec = (await secret.up({ secretId: "db-password", data: "hunter2" })).state;
  const d = driver(cloudRunServiceOperations, "engine");
  const inputs = (env: Record<string, string> = {}) => ({
    location: "europe-west1",
    name: "zas-engine",
    image: IMAGE,
    serviceAccount: runtime,
    env: { A: "1", ...env },
    secretEnv: { DB_PASSWORD: { secret: "db-password", version: sec.outputs.version } },
    startupProbe: { path: "/live", periodSeconds: 1, failureThreshold: 20 },
    livenessProbe: { path: "/live", periodSeconds: 2 },
  });
  const name = `projects/${s.emu.project}/locations/europe-west1/services/zas-engine`;

  // The runtime account may not read the secret: Cloud Run fails the revision, and the service is not left behind.
  await expect(d.up(inputs())).rejects.toThrow(
    /the revision did not become ready: Revision 'zas-engine-00001-\w+' is not ready and cannot serve traffic\. .*Permission denied on secret.* The service was deleted again/,
  );
  expect(s.emu.cloudRun.services.size).toBe(0);

  sec = (await secret.up({ secretId: "db-password", data: "hunter2", accessors: [`serviceAccount:${runtime}`] }, sec)).state;
  let st = (await d.up(inputs())).state;
  expect(st.outputs).toMatchObject({
    fullName: name,
    latestReadyRevision: expect.stringMatching(/^zas-engine-00001-/),
    uri: expect.stringMatching(/^https:\/\//),
  });
  expect(envOf(name)).toMatchObject({ A: "1", DB_PASSWORD: "hunter2" });
  expect((await d.up(inputs(), st)).op).toBe("same");

  const serving = s.emu.cloudRun.instanceOf(name)!;
  // A new revision the runtime cannot start (the secret's version gone): the update fails, the serving one stays.
  await expect(d.up({ ...inputs(), secretEnv: { DB_PASSWORD: { secret: "db-password", version: "9" } } }, st)).rejects.toThrow(
    /the new revision did not become ready: .* The previous revision \(zas-engine-00001-\w+\) keeps running\./,
  );
  expect(s.emu.cloudRun.instanceOf(name)).toBe(serving);
  expect(serving.exited).toBe(false);

  const updated = await d.up(inputs({ B: "2" }), st);
  expect(updated.op).toBe("update");
  st = updated.state;
  expect(st.outputs.latestReadyRevision).toMatch(/^zas-engine-00003-/);
  expect(envOf(name)).toMatchObject({ B: "2", DB_PASSWORD: "hunter2" });

  // Another deployment's service of that name is refused; a create cut short (state lost) is adopted.
  await expect(driver(cloudRunServiceOperations, "engine", "0123456789abcdef").up(inputs())).rejects.toThrow(/Cloud Run service zas-engine .*already exists/);
  const adopted = (await d.up(inputs({ C: "3" }))).state;
  expect(envOf(name)).toMatchObject({ C: "3" });
  await d.destroy(adopted);
  expect(s.emu.cloudRun.services.size).toBe(0);
  await secret.destroy(sec);
});

test("least privilege: a deployer holding exactly CLOUD_RUN_DEPLOYER_PERMISSIONS makes, changes and deletes both, and uses each", async () => {
  const sa = s.emu.iam.createAccount(s.emu.project, "run-deployer", {});
  s.emu.grantProject(sa.email, CLOUD_RUN_DEPLOYER_PERMISSIONS);
  const key = s.emu.iam.createKey(sa, "KEY_ALG_RSA_2048").keyFile;
  const config = { "gcp:credentials": key, "zitadel-audit-stream:gcpEndpoint": s.emu.endpoint, "gcp:project": s.emu.project };
  const as = (ops: any, owner: string) => new Driver(ops, config, () => ({ owner: `run-test/${owner}`, deployment: TEST_DEPLOYMENT }));
  const since = s.emu.checks.length;
  const secret = as(secretManagerSecretOperations, "lp-secret");
  let sec = (await secret.up({ secretId: "lp-password", data: "a", accessors: [`serviceAccount:${runtime}`] })).state;
  sec = (await secret.refresh(sec))!;
  sec = (await secret.up({ secretId: "lp-password", data: "b", accessors: [`serviceAccount:${runtime}`] }, sec)).state;
  sec = (await secret.up({ secretId: "lp-password", data: "c", accessors: [`serviceAccount:${runtime}`], labels: { team: "audit" } }, sec)).state;
  const svc = as(cloudRunServiceOperations, "lp-engine");
  const inputs = (env: Record<string, string>) => ({
    location: "europe-west1",
    name: "lp-engine",
    image: IMAGE,
    serviceAccount: runtime,
    env,
    secretEnv: { P: { secret: sec.outputs.name, version: sec.outputs.version } },
    startupProbe: { path: "/live", periodSeconds: 1, failureThreshold: 20 },
  });
  let st = (await svc.up(inputs({ A: "1" }))).state;
  st = (await svc.refresh(st))!;
  st = (await svc.up(inputs({ A: "2" }), st)).state;
  await svc.destroy(st);
  await secret.destroy(sec);
  const mine = s.emu.checks.slice(since).filter((c) => c.principal === sa.email);
  expect(mine.filter((c) => !c.ok)).toEqual([]);
  expect([...new Set(mine.map((c) => c.permission))].sort()).toEqual(CLOUD_RUN_DEPLOYER_PERMISSIONS);
});

test("health --service, through the built CLI: a ready service is healthy (exit 0); scaled to no instance stopped, a missing one failing (exit 1)", async () => {
  const d = driver(cloudRunServiceOperations, "health-engine");
  const inputs = (instances: number) => ({
    location: "europe-west1",
    name: "zas-health",
    image: IMAGE,
    serviceAccount: runtime,
    instances,
    startupProbe: { path: "/live", periodSeconds: 1, failureThreshold: 20 },
  });
  let st = (await d.up(inputs(1))).state;
  const name = st.outputs.fullName;
  const env = {
    ...process.env,
    GOOGLE_CREDENTIALS: s.emu.adminKeyFile,
    GOOGLE_CLOUD_PROJECT: s.emu.project,
    ZITADEL_AUDIT_STREAM_GCP_ENDPOINT: s.emu.endpoint,
  };
  let r = await runHealth(["--service", name], env);
  expect([r.status, r.stdout.trim()]).toEqual([
    0,
    expect.stringMatching(/^engine service .*zas-health: healthy: Cloud Run service .* revision zas-health-00001-\w+ is ready$/),
  ]);
  st = (await d.up(inputs(0), st)).state;
  const missing = `projects/${s.emu.project}/locations/europe-west1/services/zas-nothing`;
  r = await runHealth(["--service", name, "--service", missing, "--json"], env);
  expect(r.status).toBe(1);
  expect(jsonLines(r.stdout)).toEqual([
    { service: name, state: "stopped", reason: expect.stringMatching(/runs no instance/) },
    { service: missing, state: "failing", reason: expect.stringMatching(/does not exist/) },
  ]);
  await d.destroy(st);
});
