// `npm run twin` as a user runs it: one JSON line, usable endpoints, clean stop on a signal.
import { spawn } from "child_process";
import * as readline from "readline";
import { Client } from "pg";
import { gcpClients } from "../provider/gcp/client";
import { compiled } from "./compiled";

jest.setTimeout(60_000);

test("the twin prints its endpoints as one JSON line, serves them, and stops cleanly on SIGTERM", async () => {
  const script = compiled("run.js");
  const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const first = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", () => reject(new Error("twin exited before printing")));
  });
  const info = JSON.parse(first);
  expect(Object.keys(info).sort()).toEqual(["adminKeyFile", "cockroachUrl", "gcpEndpoint", "project", "pubsubGrpc"]);
  expect(info.pubsubGrpc).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(info.cockroachUrl).toMatch(/^postgresql:\/\/root@127\.0\.0\.1:\d+\/defaultdb\?sslmode=disable$/);
  const pg = new Client({ connectionString: info.cockroachUrl });
  await pg.connect();
  expect((await pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled")).rows).toEqual([{ "kv.rangefeed.enabled": false }]);
  await pg.end();
  expect(info.gcpEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const gcp = await gcpClients({ credentials: info.adminKeyFile, endpoint: info.gcpEndpoint });
  const created = await gcp.storage.buckets.insert({ project: info.project, requestBody: { name: "twin-smoke" } });
  expect(created.data.name).toBe("twin-smoke");
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
});
