// No secret in any message the package writes: each error path below is provoked with plain (not
// secret) inputs holding a CockroachDB password and a service account key, and the error and
// everything printed while it ran are searched for them.
import * as net from "net";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { changefeedOperations } from "../../provider/cockroach/changefeed";
import { clusterSettingOperations } from "../../provider/cockroach/cluster-setting";
import { bucketOperations } from "../../provider/gcp/bucket";
import { scrubSecrets } from "../../provider/engine/secrets";
import { insertEvents, makeEvents } from "../helpers/events";

jest.setTimeout(120_000);

const PASSWORD = "s3cr3t-Passw0rd-9f2c";
let f: CdcFixture;
let closed: number;
beforeAll(async () => {
  f = await cdcFixture();
  closed = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
});
afterAll(() => f?.stop());

/** Runs `fn`, expecting it to fail; returns the error message and everything logged meanwhile. */
async function provoke(fn: () => Promise<unknown>): Promise<string> {
  const logged: string[] = [];
  const spies = (["log", "warn", "error"] as const).map((m) =>
    jest.spyOn(console, m).mockImplementation((...a: unknown[]) => void logged.push(a.map(String).join(" "))),
  );
  try {
    await fn();
    throw new Error("expected a failure");
  } catch (e) {
    return [(e as Error).message, ...logged].join("\n");
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

function expectNoSecret(text: string) {
  const key = JSON.parse(Buffer.from(f.keyBase64, "base64").toString("utf8"));
  for (const secret of [PASSWORD, f.keyBase64, encodeURIComponent(f.keyBase64), key.private_key, key.private_key.split("\n")[1]]) {
    expect(text).not.toContain(secret);
  }
  expect(text).not.toMatch(/BEGIN PRIVATE KEY/);
}

const cfg = (extra: Record<string, string> = {}) => ({ get: (k: string) => ({ "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint, ...extra })[k] });
// Only the inputs these failure paths read (the typed contract wants every field check would fill).
const feed = (i: Record<string, unknown>): any => ({
  owner: "secrets/test/feed",
  marker: "zitadel-audit-stream.0123456789abcdef0123",
  select: "SELECT instance_id FROM eventstore.events2",
  query: {},
  options: { initial_scan: "no" },
  timeoutSeconds: 5,
  verifySinkAccess: true,
  exclusiveKeys: false,
  __provider: "p",
  ...i,
});

test("a connection string with a password, to a cluster that is not there", async () => {
  const url = `postgresql://audit:${PASSWORD}@127.0.0.1:${closed}/defaultdb`;
  const text = await provoke(() => changefeedOperations.create(cfg(), feed({ connectionString: url, sink: { bucket: f.bucket, credentials: f.keyBase64 } })));
  expect(text).toMatch(/cannot connect to CockroachDB at 127\.0\.0\.1:\d+\/defaultdb/);
  expectNoSecret(text);
});

test("the same URL in config, for a cluster setting", async () => {
  const url = `postgresql://audit:${PASSWORD}@127.0.0.1:${closed}/defaultdb`;
  const text = await provoke(() =>
    clusterSettingOperations.create(cfg({ "zitadel-audit-stream:cockroachUrl": url }), { name: "kv.rangefeed.enabled", value: "true", keepOnDelete: true }),
  );
  expectNoSecret(text);
});

test("a plain connection string that is not a postgres URL, at check", async () => {
  const r = await changefeedOperations.check(
    undefined,
    {},
    { owner: "o/s/n", connectionString: `mysql://root:${PASSWORD}@db:3306`, sink: { bucket: f.bucket, credentials: f.keyBase64 }, __provider: "p" },
  );
  expectNoSecret(JSON.stringify(r));
});

test("a key that may not write, in the access check", async () => {
  await f.admin.storage.buckets.insert({ project: f.emu.project, requestBody: { name: "secrets-no-grant" } });
  const text = await provoke(() =>
    changefeedOperations.create(
      cfg({ "zitadel-audit-stream:cockroachUrl": f.twin.url }),
      feed({ sink: { bucket: "secrets-no-grant", credentials: f.keyBase64 } }),
    ),
  );
  expect(text).toMatch(/may not/);
  expectNoSecret(text);
});

test("CockroachDB refusing the sink (a key that is not base64), with the URI in its statement", async () => {
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
  const text = await provoke(() =>
    changefeedOperations.create(
      cfg({ "zitadel-audit-stream:cockroachUrl": f.twin.url }),
      feed({ verifySinkAccess: false, sink: { bucket: f.bucket, credentials: f.keyBase64 + "%%" } }),
    ),
  );
  expectNoSecret(text);
});

test("a feed whose key cannot write: the job's own retrying error", async () => {
  // An event for the initial scan, so the job has something to write (and is refused).
  await insertEvents(f.pg, makeEvents(1, 880_000));
  const text = await provoke(() =>
    changefeedOperations.create(
      cfg({ "zitadel-audit-stream:cockroachUrl": f.twin.url, "gcp:credentials": f.emu.adminKeyFile, "gcp:project": f.emu.project }),
      feed({ verifySinkAccess: false, options: {}, sink: { bucket: "secrets-no-grant", credentials: f.keyBase64 } }),
    ),
  );
  expect(text).toMatch(/cannot write to its sink|did not checkpoint/);
  expectNoSecret(text);
});

test("GCP calls with credentials in config that are not a key, and with a key Google refuses", async () => {
  const notKey = `{"type":"authorized_user","client_secret":"${PASSWORD}"}`;
  expectNoSecret(
    await provoke(() =>
      bucketOperations.create(cfg({ "gcp:credentials": notKey, "gcp:project": f.emu.project }), { name: "secrets-bucket", project: f.emu.project } as any),
    ),
  );
  // The writer's key, which may not create buckets: Google's 403, with the key in config.
  const keyJson = Buffer.from(f.keyBase64, "base64").toString("utf8");
  const withKey = cfg({ "gcp:credentials": keyJson, "gcp:project": f.emu.project });
  const checked = (await bucketOperations.check(withKey, {}, { name: "secrets-bucket", project: f.emu.project, __provider: "p" })).inputs;
  const text = await provoke(() => bucketOperations.create(withKey, checked!));
  expect(text).toMatch(/HTTP 403.*lacks storage\.buckets\.create/);
  expectNoSecret(text);
});

test("scrubSecrets removes sink credentials, URL passwords and PEM keys even when not told the values", () => {
  const pem = "-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----";
  const text = `gs://b/p?AUTH=specified&CREDENTIALS=eyJ0eXBlIjoic2VydmljZV9hY2NvdW50In0%3D&x=1 postgresql://root:${PASSWORD}@h:26257/db ${pem}`;
  const out = scrubSecrets(text);
  expect(out).toBe("gs://b/p?AUTH=specified&CREDENTIALS=redacted&x=1 postgresql://root:redacted@h:26257/db [redacted private key]");
});
