import { buildSinkUri, encodeCredentials, redactSinkUri } from "./sink";

const keyJson = JSON.stringify({ type: "service_account", client_email: "w@p.iam.gserviceaccount.com", private_key: "k" });

describe("buildSinkUri", () => {
  test("implicit auth needs no key; no prefix gives a bare bucket", () => {
    expect(buildSinkUri({ bucket: "audit-bucket", auth: "implicit" })).toBe("gs://audit-bucket?AUTH=implicit");
  });

  test("an impersonation chain is one URL-encoded, comma-separated value", () => {
    const uri = buildSinkUri({
      bucket: "audit-bucket",
      auth: "implicit",
      assumeRole: ["hop@p.iam.gserviceaccount.com", "writer@p.iam.gserviceaccount.com"],
    });
    expect(uri).toBe("gs://audit-bucket?AUTH=implicit&ASSUME_ROLE=hop%40p.iam.gserviceaccount.com%2Cwriter%40p.iam.gserviceaccount.com");
    expect(new URLSearchParams(uri.split("?")[1]).get("ASSUME_ROLE")).toBe("hop@p.iam.gserviceaccount.com,writer@p.iam.gserviceaccount.com");
  });

  test("key JSON and its base64 give the same URI; prefix slashes are trimmed", () => {
    const fromJson = buildSinkUri({ bucket: "b-1", prefix: "/zitadel/events/", credentials: keyJson, fileSize: "16MB", partitionFormat: "hourly" });
    const fromB64 = buildSinkUri({
      bucket: "b-1",
      prefix: "zitadel/events",
      credentials: Buffer.from(keyJson).toString("base64"),
      fileSize: "16MB",
      partitionFormat: "hourly",
    });
    expect(fromJson).toBe(fromB64);
    expect(fromJson.startsWith("gs://b-1/zitadel/events?partition_format=hourly&file_size=16MB&AUTH=specified&CREDENTIALS=")).toBe(true);
  });

  test("base64 wrapped over lines (as `base64` prints it) is accepted and unwrapped", () => {
    const wrapped = Buffer.from(keyJson)
      .toString("base64")
      .replace(/(.{20})/g, "$1\n");
    expect(encodeCredentials(wrapped)).toBe(Buffer.from(keyJson).toString("base64"));
  });
});

describe("redactSinkUri", () => {
  test("sorts by key like Go's url.Values.Encode and re-escapes values", () => {
    expect(redactSinkUri("gs://b/p?partition_format=flat&CREDENTIALS=abc%2B&ASSUME_ROLE=a%40p.iam.gserviceaccount.com%2Cb&AUTH=specified")).toBe(
      "gs://b/p?ASSUME_ROLE=a%40p.iam.gserviceaccount.com%2Cb&AUTH=specified&CREDENTIALS=redacted&partition_format=flat",
    );
  });

  test("redacts BEARER_TOKEN and a URL password", () => {
    expect(redactSinkUri("webhook-https://user:secret@host:8443/x?BEARER_TOKEN=t")).toBe("webhook-https://user:redacted@host:8443/x?BEARER_TOKEN=redacted");
  });

  test("a URI without a query is returned as is", () => {
    expect(redactSinkUri("gs://b/p")).toBe("gs://b/p");
  });

  test("a malformed escape is refused, not passed through", () => {
    expect(() => redactSinkUri("gs://b?CREDENTIALS=%zz")).toThrow(/malformed/);
  });
});

describe("Pub/Sub destinations (gcpubsub://)", () => {
  test("the project is the host; region, topic_name, AUTH and the key's base64 URL-encoded follow", () => {
    const uri = buildSinkUri({ project: "zitadel-audit", topic: "zitadel-events", region: "us-east1", credentials: keyJson });
    const b64 = Buffer.from(keyJson).toString("base64");
    expect(uri).toBe(`gcpubsub://zitadel-audit?region=us-east1&topic_name=zitadel-events&AUTH=specified&CREDENTIALS=${encodeURIComponent(b64)}`);
    expect(new URLSearchParams(uri.split("?")[1]).get("CREDENTIALS")).toBe(b64);
    expect(redactSinkUri(uri)).toBe("gcpubsub://zitadel-audit?AUTH=specified&CREDENTIALS=redacted&region=us-east1&topic_name=zitadel-events");
  });

  test("implicit credentials and an impersonation chain; no region (for WITH unordered)", () => {
    expect(buildSinkUri({ project: "zitadel-audit", topic: "t-events", auth: "implicit", assumeRole: ["writer@p.iam.gserviceaccount.com"] })).toBe(
      "gcpubsub://zitadel-audit?topic_name=t-events&AUTH=implicit&ASSUME_ROLE=writer%40p.iam.gserviceaccount.com",
    );
  });

  test("each field is checked by the Pub/Sub rules, and bucket fields are refused there", () => {
    expect(() => buildSinkUri({ project: "zitadel-audit", topic: "goog-events", credentials: keyJson })).toThrow(/topic: must not start with "goog"/);
    expect(() => buildSinkUri({ project: "zitadel-audit", topic: "events", region: "US", credentials: keyJson })).toThrow(
      /region: must be a Google Cloud region/,
    );
    expect(() => buildSinkUri({ project: "zitadel-audit", topic: "events" } as any)).toThrow(/credentials: give the service account key/);
    expect(() => buildSinkUri({ project: "zitadel-audit", topic: "events", prefix: "x", credentials: keyJson } as any)).toThrow(/prefix/);
  });
});
