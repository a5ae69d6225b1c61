// The GCP emulator, driven by the real Google Node clients through the project's client factory.
import * as crypto from "crypto";
import * as fs from "fs";
import { GcpEmulator } from "./emulator";
import { crc32c } from "./errors";
import { Gcp, gcpClients } from "../../provider/gcp/client";
import { statusOf, withRetry } from "../../provider/gcp/recovery";

jest.setTimeout(60_000);

let emu: GcpEmulator;
let admin: Gcp;

beforeAll(async () => {
  emu = await new GcpEmulator().start();
  admin = await gcpClients({ credentials: emu.adminKeyFile, endpoint: emu.endpoint });
});
afterAll(() => emu.stop());

const errStatus = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return statusOf(e);
  }
  return 200;
};

test("the owner key on disk is a real service account key whose token_uri is the emulator", () => {
  const key = JSON.parse(fs.readFileSync(emu.adminKeyFile, "utf8"));
  expect(key.type).toBe("service_account");
  expect(key.private_key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  expect(key.token_uri).toBe(`${emu.endpoint}/token`);
  expect((fs.statSync(emu.adminKeyFile).mode & 0o777).toString(8)).toBe("600");
});

test("calls without a token get 401 in Google's error shape", async () => {
  const res = await fetch(`${emu.endpoint}/storage/v1/b/x`);
  expect(res.status).toBe(401);
  const body = (await res.json()) as any;
  expect(body.error.code).toBe(401);
  expect(body.error.errors[0].reason).toBe("required");
});

test("a bad assertion is refused at /token", async () => {
  const res = await fetch(`${emu.endpoint}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: "a.b.c" }),
  });
  expect(res.status).toBe(400);
  expect(((await res.json()) as any).error).toBe("invalid_grant");
});

test("an issued key gets a token and may write only after the bucket grant exists (403, then 200)", async () => {
  const p = emu.project;
  await admin.storage.buckets.insert({
    project: p,
    requestBody: { name: "audit-grant-test", iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } },
  });
  const sa = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${p}`, requestBody: { accountId: "cdc-writer" } })).data;
  const key = (await admin.iam.projects.serviceAccounts.keys.create({ name: sa.name!, requestBody: {} })).data;
  const keyJson = Buffer.from(key.privateKeyData!, "base64").toString("utf8");
  expect(JSON.parse(keyJson).client_email).toBe(sa.email);

  const writer = await gcpClients({ credentials: keyJson, endpoint: emu.endpoint });
  const write = () =>
    writer.storage.objects.insert(
      { bucket: "audit-grant-test", name: "probe.ndjson", media: { mimeType: "application/x-ndjson", body: '{"a":1}\n' } },
      writer.uploadOptions,
    );
  expect(await errStatus(write())).toBe(403);
  expect(emu.calls.some((c) => c.path === "/token" && c.status === 200)).toBe(true);

  await admin.iam.projects.roles.create({
    parent: `projects/${p}`,
    requestBody: { roleId: "cdcWriter", role: { title: "CDC writer", includedPermissions: ["storage.objects.create"] } },
  });
  const policy = (await admin.storage.buckets.getIamPolicy({ bucket: "audit-grant-test" })).data;
  policy.bindings = [...(policy.bindings ?? []), { role: `projects/${p}/roles/cdcWriter`, members: [`serviceAccount:${sa.email}`] }];
  await admin.storage.buckets.setIamPolicy({ bucket: "audit-grant-test", requestBody: policy });

  const written = await write();
  expect(written.status).toBe(200);
  expect(written.data.crc32c).toBe(crc32c(Buffer.from('{"a":1}\n')));
  expect(written.data.md5Hash).toBe(require("crypto").createHash("md5").update('{"a":1}\n').digest("base64"));
  // Overwriting needs storage.objects.delete too, which the role lacks.
  expect(await errStatus(write())).toBe(403);
  // Reading is not granted either.
  expect(await errStatus(writer.storage.objects.list({ bucket: "audit-grant-test" }))).toBe(403);
  const listed = await admin.storage.objects.list({ bucket: "audit-grant-test" });
  expect(listed.data.items?.map((o) => o.name)).toEqual(["probe.ndjson"]);
  const body = await admin.storage.objects.get({ bucket: "audit-grant-test", object: "probe.ndjson", alt: "media" }, { responseType: "text" });
  expect(body.data).toBe('{"a":1}\n');
});

test("a key's X509_PEM_FILE public data is a certificate for the account, signed by the key; RAW_PUBLIC_KEY is its DER public key", async () => {
  const sa = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${emu.project}`, requestBody: { accountId: "cert-check" } })).data;
  const created = (await admin.iam.projects.serviceAccounts.keys.create({ name: sa.name!, requestBody: {} })).data;
  const x509 = (await admin.iam.projects.serviceAccounts.keys.get({ name: created.name!, publicKeyType: "TYPE_X509_PEM_FILE" })).data;
  const cert = new crypto.X509Certificate(Buffer.from(x509.publicKeyData!, "base64"));
  const privateKey = JSON.parse(Buffer.from(created.privateKeyData!, "base64").toString()).private_key;
  expect([cert.subject, cert.issuer]).toEqual([`CN=${sa.email}`, `CN=${sa.email}`]);
  expect(cert.checkPrivateKey(crypto.createPrivateKey(privateKey))).toBe(true);
  expect(cert.verify(cert.publicKey)).toBe(true);
  expect(new Date(cert.validTo).getUTCFullYear()).toBe(9999);
  const raw = (await admin.iam.projects.serviceAccounts.keys.get({ name: created.name!, publicKeyType: "TYPE_RAW_PUBLIC_KEY" })).data;
  expect(crypto.createPublicKey({ key: Buffer.from(raw.publicKeyData!, "base64"), format: "der", type: "spki" }).equals(cert.publicKey)).toBe(true);
});

test("crc32c is CRC-32C big-endian base64 (RFC 3720 test vector: 32 zero bytes → 8A9136AA)", async () => {
  expect(Buffer.from(crc32c(Buffer.alloc(32)), "base64").toString("hex")).toBe("8a9136aa");
});

test("multipart and resumable uploads both store the bytes", async () => {
  await admin.storage.buckets.insert({ project: emu.project, requestBody: { name: "audit-upload-test" } });
  await admin.storage.objects.insert(
    { bucket: "audit-upload-test", requestBody: { name: "dir/multi part.txt", contentType: "text/plain" }, media: { mimeType: "text/plain", body: "hello" } },
    admin.uploadOptions,
  );
  const token = (await (admin.storage.context._options.auth as any).getAccessToken()).token;
  const init = await fetch(`${emu.endpoint}/upload/storage/v1/b/audit-upload-test/o?uploadType=resumable`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "resumable.bin" }),
  });
  expect(init.status).toBe(200);
  const session = init.headers.get("location")!;
  const first = await fetch(session, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-range": "bytes 0-2/*" }, body: "abc" });
  expect(first.status).toBe(308);
  const done = await fetch(session, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-range": "bytes 3-5/6" }, body: "def" });
  expect(done.status).toBe(200);
  const names = (await admin.storage.objects.list({ bucket: "audit-upload-test" })).data.items!.map((o) => `${o.name}:${o.size}`);
  expect(names).toEqual(["dir/multi part.txt:5", "resumable.bin:6"]);
});

test("bucket rules: global names (409), non-empty delete (409), bad name (400), stale policy etag (412)", async () => {
  expect(await errStatus(admin.storage.buckets.insert({ project: emu.project, requestBody: { name: "audit-upload-test" } }))).toBe(409);
  expect(await errStatus(admin.storage.buckets.delete({ bucket: "audit-upload-test" }))).toBe(409);
  expect(await errStatus(admin.storage.buckets.insert({ project: emu.project, requestBody: { name: "Bad_Name" } }))).toBe(400);
  const policy = (await admin.storage.buckets.getIamPolicy({ bucket: "audit-upload-test" })).data;
  await admin.storage.buckets.setIamPolicy({ bucket: "audit-upload-test", requestBody: policy });
  expect(await errStatus(admin.storage.buckets.setIamPolicy({ bucket: "audit-upload-test", requestBody: policy }))).toBe(412);
});

test("custom roles are soft-deleted: the id cannot be re-created, undelete restores it", async () => {
  const parent = `projects/${emu.project}`;
  await admin.iam.projects.roles.create({ parent, requestBody: { roleId: "softDel", role: { title: "t", includedPermissions: ["storage.objects.create"] } } });
  await admin.iam.projects.roles.delete({ name: `${parent}/roles/softDel` });
  const again = admin.iam.projects.roles.create({
    parent,
    requestBody: { roleId: "softDel", role: { title: "t", includedPermissions: ["storage.objects.create"] } },
  });
  await expect(again).rejects.toThrow(/marked for deletion/);
  expect((await admin.iam.projects.roles.get({ name: `${parent}/roles/softDel` })).data.deleted).toBe(true);
  await admin.iam.projects.roles.undelete({ name: `${parent}/roles/softDel`, requestBody: {} });
  expect((await admin.iam.projects.roles.get({ name: `${parent}/roles/softDel` })).data.deleted).toBeUndefined();
});

test("a new service account is invisible until the propagation delay passes", async () => {
  emu.knobs.serviceAccountPropagationMs = 1500;
  try {
    const sa = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${emu.project}`, requestBody: { accountId: "slow-account" } })).data;
    expect(await errStatus(admin.iam.projects.serviceAccounts.get({ name: sa.name! }))).toBe(404);
    const policy = (await admin.storage.buckets.getIamPolicy({ bucket: "audit-grant-test" })).data;
    policy.bindings!.push({ role: "roles/storage.objectViewer", members: [`serviceAccount:${sa.email}`] });
    await expect(admin.storage.buckets.setIamPolicy({ bucket: "audit-grant-test", requestBody: policy })).rejects.toThrow(/does not exist/);
    const t0 = Date.now();
    await withRetry(() => admin.iam.projects.serviceAccounts.get({ name: sa.name! }), { what: "get", retryIf: (e) => statusOf(e) === 404, baseDelayMs: 100 });
    expect(Date.now() - t0).toBeGreaterThan(500);
  } finally {
    emu.knobs.serviceAccountPropagationMs = 0;
  }
});

test("injected 503s with Retry-After are retried by withRetry, and the call log shows each try", async () => {
  emu.knobs.faults.push({ method: "GET", path: /^\/storage\/v1\/b\/audit-grant-test$/, status: 503, times: 2, retryAfterSeconds: 0 });
  const before = emu.calls.length;
  const got = await withRetry(() => admin.storage.buckets.get({ bucket: "audit-grant-test" }), { what: "get bucket", baseDelayMs: 50 });
  expect(got.data.name).toBe("audit-grant-test");
  const tries = emu.calls.slice(before).filter((c) => c.path === "/storage/v1/b/audit-grant-test");
  expect(tries.map((c) => c.status)).toEqual([503, 503, 200]);
});

test("a project exists only when declared: the owner key gets 403 in an unknown one; in one it owns it works and other accounts get 403", async () => {
  const other = "another-project";
  expect(await errStatus(admin.storage.buckets.insert({ project: "nobody-declared-this", requestBody: { name: "audit-undeclared" } }))).toBe(403);
  expect(await errStatus(admin.iam.projects.serviceAccounts.create({ name: "projects/nobody-declared-this", requestBody: { accountId: "nope-writer" } }))).toBe(
    403,
  );
  emu.addProject(other);
  const created = await admin.storage.buckets.insert({ project: other, requestBody: { name: "audit-other-project" } });
  expect(created.data.name).toBe("audit-other-project");
  const sa = (await admin.iam.projects.serviceAccounts.create({ name: `projects/${other}`, requestBody: { accountId: "other-writer" } })).data;
  expect(sa.email).toBe(`other-writer@${other}.iam.gserviceaccount.com`);
  const key = (await admin.iam.projects.serviceAccounts.keys.create({ name: sa.name!, requestBody: {} })).data;
  const outsider = await gcpClients({ credentials: Buffer.from(key.privateKeyData!, "base64").toString("utf8"), endpoint: emu.endpoint });
  const denied = await errStatus(outsider.iam.projects.serviceAccounts.create({ name: `projects/${other}`, requestBody: { accountId: "sneaky-account" } }));
  expect(denied).toBe(403);
});

describe("the Storage paths and headers Google's Go and Python clients use (conformance: stand-ins/conformance)", () => {
  const bucket = "paths-bucket";
  let auth: Record<string, string>;
  const base = () => emu.endpoint;
  const put = async (name: string, data: Buffer, meta: Record<string, unknown> = {}) => {
    const boundary = "b0undary";
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\ncontent-type: application/json\r\n\r\n${JSON.stringify({ name, ...meta })}\r\n--${boundary}\r\ncontent-type: text/plain\r\n\r\n`,
      ),
      data,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await fetch(`${base()}/upload/storage/v1/b/${bucket}/o?uploadType=multipart`, {
      method: "POST",
      headers: { ...auth, "content-type": `multipart/related; boundary=${boundary}` },
      body,
    });
    expect(res.status).toBe(200);
  };
  const big = Buffer.from(Array.from({ length: 3000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(""));

  beforeAll(async () => {
    await admin.storage.buckets.insert({ project: emu.project, requestBody: { name: bucket } });
    auth = { authorization: `Bearer ${(await (admin.storage.context._options.auth as any).getAccessToken()).token}` };
    await put("cf/2026-11-28/a.ndjson", big);
    await put("cf/2026-11-29/b.ndjson", Buffer.from("b"));
    await put("cf/top.ndjson", Buffer.from("top"));
    const zipped = (await import("zlib")).gzipSync(Buffer.from("hello, gzip"));
    await put("cf/z.txt.gz", zipped, { contentEncoding: "gzip" });
  });

  test("reads by the XML path and the download path, whole with Content-Length and by Range (206, Content-Range; 416 past the end)", async () => {
    for (const url of [`${base()}/${bucket}/cf%2F2026-11-28%2Fa.ndjson`, `${base()}/download/storage/v1/b/${bucket}/o/cf%2F2026-11-28%2Fa.ndjson?alt=media`]) {
      const whole = await fetch(url, { headers: auth });
      expect([whole.status, whole.headers.get("content-length")]).toEqual([200, "3000"]);
      expect(Buffer.from(await whole.arrayBuffer()).equals(big)).toBe(true);
      const mid = await fetch(url, { headers: { ...auth, range: "bytes=10-29" } });
      expect([mid.status, mid.headers.get("content-range"), await mid.text()]).toEqual([206, "bytes 10-29/3000", big.subarray(10, 30).toString()]);
      const tail = await fetch(url, { headers: { ...auth, range: "bytes=2990-" } });
      expect([tail.status, tail.headers.get("content-range"), (await tail.text()).length]).toEqual([206, "bytes 2990-2999/3000", 10]);
      expect((await fetch(url, { headers: { ...auth, range: "bytes=5000-" } })).status).toBe(416);
    }
    expect((await fetch(`${base()}/${bucket}/cf%2Fmissing`, { headers: auth })).status).toBe(404);
  });

  test("list with a delimiter rolls names up into prefixes; fields= trims the response", async () => {
    const res = (await (
      await fetch(`${base()}/storage/v1/b/${bucket}/o?prefix=cf%2F&delimiter=%2F&fields=items(name),prefixes`, { headers: auth })
    ).json()) as any;
    expect(res).toEqual({ items: [{ name: "cf/top.ndjson" }, { name: "cf/z.txt.gz" }], prefixes: ["cf/2026-11-28/", "cf/2026-11-29/"] });
    expect(await (await fetch(`${base()}/storage/v1/b/${bucket}/managedFolders`, { headers: auth })).json()).toEqual({ kind: "storage#managedFolders" });
  });

  test("gzip-encoded objects keep their encoding: sent compressed when accepted, else decompressed (transcoding)", async () => {
    const meta = (await admin.storage.objects.get({ bucket, object: "cf/z.txt.gz" })).data;
    expect(meta.contentEncoding).toBe("gzip");
    const url = `${base()}/${bucket}/cf%2Fz.txt.gz`;
    // Node's fetch accepts gzip and decodes it itself; the raw bytes show what the server sent.
    const plain = await new Promise<{ headers: any; body: string }>((resolve) => {
      const u = new URL(url);
      require("http").get({ host: u.hostname, port: u.port, path: u.pathname, headers: auth }, (res: any) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
    });
    expect([plain.body, plain.headers["content-encoding"], plain.headers["x-goog-stored-content-encoding"]]).toEqual(["hello, gzip", undefined, "gzip"]);
    const zipped = await fetch(url, { headers: { ...auth, "accept-encoding": "gzip" } });
    expect([zipped.headers.get("content-encoding"), await zipped.text()]).toEqual(["gzip", "hello, gzip"]);
  });

  test("a multipart body with bare LF line breaks, as gsutil's and gcloud's Python email generator writes it, is stored", async () => {
    const body = `--==b==\ncontent-type: application/json\n\n{"name": "lf.txt"}\n--==b==\ncontent-type: text/plain\n\nline one\nline two\n\n--==b==--\n`;
    // apitools quotes the boundary with ' (Python's %r).
    const res = await fetch(`${base()}/upload/storage/v1/b/${bucket}/o?uploadType=multipart`, {
      method: "POST",
      headers: { ...auth, "content-type": "multipart/related; boundary='==b=='" },
      body,
    });
    expect(res.status).toBe(200);
    expect(await (await fetch(`${base()}/${bucket}/lf.txt`, { headers: auth })).text()).toBe("line one\nline two\n");
  });

  test("a resumable chunk sent with X-GUploader-No-308 is answered 200 + X-Http-Status-Code-Override: 308", async () => {
    const init = await fetch(`${base()}/upload/storage/v1/b/${bucket}/o?uploadType=resumable`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name: "resumable.bin" }),
    });
    const session = init.headers.get("location")!;
    const first = await fetch(session, { method: "PUT", headers: { ...auth, "content-range": "bytes 0-4/*", "x-guploader-no-308": "yes" }, body: "01234" });
    expect([first.status, first.headers.get("x-http-status-code-override"), first.headers.get("range")]).toEqual([200, "308", "bytes=0-4"]);
    const last = await fetch(session, { method: "PUT", headers: { ...auth, "content-range": "bytes 5-9/10", "x-guploader-no-308": "yes" }, body: "56789" });
    expect([last.status, ((await last.json()) as any).size]).toEqual([200, "10"]);
  });
});
