// The emulator's Cloud Run v2 services over REST, with a small Node program as the image: rollouts end
// their long-running operation only when the revision is ready or failed (the failure's cited text, the
// service left behind), secrets are read as the runtime account, PORT is injected, the new revision
// replaces the old instance only once ready, and a dead or unresponsive instance is started again.
import * as fs from "fs";
import * as path from "path";
import { GcpEmulator } from "./emulator";
import { RestClient, newAccountClient, restClient } from "./rest-client";

jest.setTimeout(90_000);

let emu: GcpEmulator;
let admin: RestClient;
const L = () => `/v1/projects/${emu.project}`;
const R = () => `/v2/projects/${emu.project}/locations/europe-west1`;
const IMAGE = "europe-west1-docker.pkg.dev/zitadel-audit/quay/test/app:1";
const b64 = (s: string) => Buffer.from(s).toString("base64");

// The "image": writes its env to $OUT_FILE (under /tmp: the instance's own, read here as envOf reads it), serves /live on $PORT; HANG_AFTER_MS closes the port but keeps running.
const APP = `
const http = require("http"), fs = require("fs");
fs.writeFileSync(process.env.OUT_FILE, JSON.stringify({ pid: process.pid, env: process.env }));
const srv = http.createServer((q, s) => { s.statusCode = q.url === "/live" ? 200 : 404; s.end("ok"); }).listen(Number(process.env.PORT), "127.0.0.1");
if (process.env.HANG_AFTER_MS) setTimeout(() => srv.close(), Number(process.env.HANG_AFTER_MS));
setInterval(() => {}, 1000);
`;

/** What the instance wrote to its /tmp/env.json. */
const envOf = (i: { dir: string }) => JSON.parse(fs.readFileSync(path.join(i.dir, "tmp", "env.json"), "utf8"));

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** Polls the operation as the provider does (GET; :wait is taken too). */
async function settle(op: any): Promise<any> {
  while (!op.done) op = await admin.ok("POST", `/v2/${op.name}:wait`, { timeout: "5s" });
  return op;
}

function service(sa: string, outFile: string, extra: Record<string, unknown> = {}, env: unknown[] = []) {
  return {
    labels: { owner: "test" },
    scaling: { scalingMode: "MANUAL", manualInstanceCount: 1 },
    template: {
      serviceAccount: sa,
      containers: [
        {
          image: IMAGE,
          env: [{ name: "OUT_FILE", value: outFile }, ...env],
          ports: [{ containerPort: 8080 }],
          startupProbe: { httpGet: { path: "/live", port: 8080 }, periodSeconds: 1, failureThreshold: 20 },
          livenessProbe: { httpGet: { path: "/live", port: 8080 }, periodSeconds: 1, failureThreshold: 2 },
          ...extra,
        },
      ],
    },
  };
}

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  admin = await restClient(emu, fs.readFileSync(emu.adminKeyFile, "utf8"));
  emu.cloudRun.images.set(IMAGE, { command: process.execPath, args: ["-e", APP], identityEnv: (sa) => ({ IDENTITY: sa }) });
});
afterAll(() => emu?.stop());

test("a rollout waits for the revision; a secret the runtime account cannot read fails it and leaves the service; granted, it runs with the secret, PORT and its identity", async () => {
  const runtime = await newAccountClient(emu, "engine-runtime");
  await admin.ok("POST", `${L()}/secrets?secretId=pw`, { replication: { automatic: {} } });
  await admin.ok("POST", `${L()}/secrets/pw:addVersion`, { payload: { data: b64("s3cret") } });
  const out = "/tmp/env.json";
  const secretEnv = [{ name: "DB_PASSWORD", valueSource: { secretKeyRef: { secret: "pw", version: "1" } } }];

  // Without actAs on the runtime account the call itself is refused.
  const caller = await newAccountClient(emu, "deployer");
  emu.grantProject(caller.email, ["run.services.create"]);
  const noActAs = await caller.call("POST", `${R()}/services?serviceId=eng`, service(runtime.email, out));
  expect([noActAs.status, noActAs.body.error.message]).toEqual([
    403,
    `Permission 'iam.serviceaccounts.actAs' denied on service account ${runtime.email} (or it may not exist).`,
  ]);
  expect((await admin.call("POST", `${R()}/services?serviceId=Bad_Id`, service(runtime.email, out))).status).toBe(400);

  const first = await admin.ok("POST", `${R()}/services?serviceId=eng`, service(runtime.email, out, {}, secretEnv));
  expect(first.done).toBe(false);
  const failed = await settle(first);
  expect(failed.error.code).toBe(13);
  expect(failed.error.message).toMatch(
    /^Revision 'eng-00001-\w+' is not ready and cannot serve traffic\. spec\.template\.spec\.containers\[0\]\.env\[1\]\.value_from\.secret_key_ref\.name: Permission denied on secret/,
  );
  const left = await admin.ok("GET", `${R()}/services/eng`);
  expect([left.terminalCondition.state, left.latestReadyRevision, emu.cloudRun.instanceOf(left.name)]).toEqual(["CONDITION_FAILED", undefined, undefined]);
  expect((await admin.call("POST", `${R()}/services?serviceId=eng`, service(runtime.email, out))).body.error.message).toBe("Resource 'eng' already exists.");

  const policy = await admin.ok("GET", `${L()}/secrets/pw:getIamPolicy`);
  await admin.ok("POST", `${L()}/secrets/pw:setIamPolicy`, {
    policy: { etag: policy.etag, bindings: [{ role: "roles/secretmanager.secretAccessor", members: [`serviceAccount:${runtime.email}`] }] },
  });
  const done = await settle(await admin.ok("PATCH", `${R()}/services/eng`, service(runtime.email, out, {}, secretEnv)));
  expect(done.error).toBeUndefined();
  expect(done.response.terminalCondition.state).toBe("CONDITION_SUCCEEDED");
  expect(done.response.latestReadyRevision).toMatch(/\/revisions\/eng-00002-/);
  expect(done.response.generation).toBe("2");
  const instance = emu.cloudRun.instanceOf(done.response.name)!;
  const seen = envOf(instance);
  expect(seen.pid).toBe(instance.pid);
  expect(seen.env).toMatchObject({
    DB_PASSWORD: "s3cret",
    PORT: String(instance.port),
    IDENTITY: runtime.email,
    K_SERVICE: "eng",
    OUT_FILE: path.join(instance.dir, "tmp", "env.json"),
  });

  // A new revision: the old instance runs until the new one is ready, then it is stopped.
  const old = instance;
  const op = await admin.ok("PATCH", `${R()}/services/eng`, service(runtime.email, out, {}, [...secretEnv, { name: "X", value: "2" }]));
  expect(old.exited).toBe(false);
  const third = await settle(op);
  expect(third.response.latestReadyRevision).toMatch(/eng-00003-/);
  await until("the old instance stopped", () => old.exited);
  expect(envOf(emu.cloudRun.instanceOf(third.response.name)!).env.X).toBe("2");

  const del = await settle(await admin.ok("DELETE", `${R()}/services/eng`));
  expect(del.error).toBeUndefined();
  expect((await admin.call("GET", `${R()}/services/eng`)).status).toBe(404);
  await until("the instance stopped with the service", () => emu.cloudRun.instanceOf(done.response.name) === undefined);
});

test("an instance killed with -9, or whose port stops answering its liveness probe, is started again", async () => {
  const runtime = await newAccountClient(emu, "engine-runtime-2");
  const out = "/tmp/env.json";
  const done = await settle(await admin.ok("POST", `${R()}/services?serviceId=crashy`, service(runtime.email, out)));
  const name = done.response.name;
  const first = emu.cloudRun.instanceOf(name)!;
  first.signal("SIGKILL");
  await until("a new instance", () => (emu.cloudRun.instanceOf(name)?.pid ?? first.pid) !== first.pid && !emu.cloudRun.instanceOf(name)!.exited);
  expect(emu.cloudRun.restartsOf(name)).toBe(1);

  // The port closes but the process lives on (Debezium Server's hang, docs/debezium-server.md §6): liveness ends it.
  const hung = await settle(await admin.ok("PATCH", `${R()}/services/crashy`, service(runtime.email, out, {}, [{ name: "HANG_AFTER_MS", value: "1500" }])));
  const second = emu.cloudRun.instanceOf(hung.response.name)!;
  await until("the hung instance replaced", () => second.exited && emu.cloudRun.instanceOf(name) !== second, 20_000);
  expect(emu.cloudRun.restartsOf(name)).toBeGreaterThanOrEqual(2);
  await settle(await admin.ok("DELETE", `${R()}/services/crashy`));
});

test("a container that never answers its startup probe fails the rollout with Cloud Run's words", async () => {
  const runtime = await newAccountClient(emu, "engine-runtime-3");
  const out = "/tmp/env.json";
  const op = await settle(
    await admin.ok(
      "POST",
      `${R()}/services?serviceId=never`,
      service(runtime.email, out, { startupProbe: { httpGet: { path: "/nope", port: 8080 }, periodSeconds: 1, failureThreshold: 2 } }),
    ),
  );
  expect(op.error.message).toMatch(/is not ready and cannot serve traffic\. The user-provided container failed the configured startup probe checks\.$/);
  expect(emu.cloudRun.instanceOf(op.metadata.name)).toBeUndefined();
  const unknown = await settle(
    await admin.ok("PATCH", `${R()}/services/never`, {
      ...service(runtime.email, out),
      template: { ...service(runtime.email, out).template, containers: [{ image: "quay.io/x/y:1" }] },
    }),
  );
  expect(unknown.error.message).toMatch(/Image 'quay\.io\/x\/y:1' not found\.$/);
});
