import { DEFAULT_MAX_LAG_SECONDS, explainSinkError, feedHealth } from "./health";
import type { JobRow } from "./jobs";

const NOW = "1795900000000000000.0000000000";
const secondsBefore = (s: number) => `${(BigInt(NOW.split(".")[0]) - BigInt(s) * 1_000_000_000n).toString()}.0000000002`;
const job = (j: Partial<JobRow> & { created?: unknown }): JobRow => ({
  job_id: "1795877897336001626",
  status: "running",
  running_status: null,
  high_water_timestamp: secondsBefore(5),
  error: "",
  sink_uri: "",
  description: "",
  ...j,
});

describe("feedHealth", () => {
  test("a running job checkpointing within maxLagSeconds is healthy, with its lag on the cluster's clock", () => {
    const h = feedHealth(job({ running_status: `running: resolved=${secondsBefore(5)}` }), NOW);
    expect(h).toEqual({ state: "healthy", reason: "the job is running, 5 s behind", lagSeconds: 5 });
  });

  test("a high-water older than maxLagSeconds is lagging, and says by how much", () => {
    const h = feedHealth(job({ high_water_timestamp: secondsBefore(400) }), NOW);
    expect(h.state).toBe("lagging");
    expect(h.lagSeconds).toBe(400);
    expect(h.reason).toMatch(/400 s behind .*maxLagSeconds 300/);
    expect(feedHealth(job({ high_water_timestamp: secondsBefore(400) }), NOW, 600).state).toBe("healthy");
    expect(DEFAULT_MAX_LAG_SECONDS).toBe(300);
  });

  test("a retryable sink error is failing, naming the missing permission — though the status still reads running", () => {
    const rs =
      "retryable error: writing gs://b/events/x.ndjson: googleapi: Error 403: cdc-writer@p.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist)., forbidden";
    const h = feedHealth(job({ running_status: rs, high_water_timestamp: secondsBefore(20) }), NOW);
    expect(h.state).toBe("failing");
    expect(h.reason).toMatch(/^the sink refuses the feed's writer \(HTTP 403, storage\.objects\.create missing\)/);
    expect(h.lagSeconds).toBe(20);
    expect(explainSinkError("retryable error: Error 404: The specified bucket does not exist., notFound")).toMatch(
      /^the sink's bucket or topic is gone \(HTTP 404\)/,
    );
    expect(explainSinkError('retryable error: oauth2: cannot fetch token: 400 Bad Request Response: {"error":"invalid_grant"}')).toMatch(
      /does not accept the feed's credentials/,
    );
    // A deleted service account is not a deleted bucket.
    expect(
      explainSinkError(
        'retryable error: oauth2: cannot fetch token: 400 Bad Request Response: {"error":"invalid_grant","error_description":"Invalid grant: account not found"}',
      ),
    ).toMatch(/^the sink does not accept the feed's credentials \(a deleted or disabled key or account\)/);
  });

  test("paused, failed, canceled and gone are stopped, each with what up does about it", () => {
    expect(feedHealth(job({ status: "paused" }), NOW)).toMatchObject({ state: "stopped", reason: expect.stringMatching(/^the job is paused.*resumes it/) });
    expect(feedHealth(job({ status: "failed", error: "cdc: boom" }), NOW)).toMatchObject({
      state: "stopped",
      reason: expect.stringMatching(/^the job is failed: cdc: boom: `pulumi up` restarts it/),
    });
    expect(feedHealth(job({ status: "canceled" }), NOW).state).toBe("stopped");
    expect(feedHealth(undefined, NOW)).toMatchObject({ state: "stopped", reason: expect.stringMatching(/^the job is gone/), lagSeconds: null });
  });

  test("before the first checkpoint: healthy while young, lagging once older than maxLagSeconds", () => {
    const nowMs = Number(BigInt(NOW.split(".")[0]) / 1_000_000n);
    expect(feedHealth(job({ high_water_timestamp: null, created: new Date(nowMs - 10_000) }), NOW)).toMatchObject({ state: "healthy", lagSeconds: null });
    expect(feedHealth(job({ high_water_timestamp: null, created: new Date(nowMs - 900_000) }), NOW)).toMatchObject({
      state: "lagging",
      reason: expect.stringMatching(/no checkpoint in the 900 s/),
    });
  });
});

describe("until when a feed that is not delivering can be resumed without a gap", () => {
  const hwSec = 1_795_800_000; // a high-water 100,000 s before NOW
  const hw = `${BigInt(hwSec) * 1_000_000_000n}.0000000000`;
  test("a paused feed protected for 4 days: resumeBefore is the high-water plus 4 days, and the reason says it", () => {
    const h = feedHealth(job({ status: "paused", high_water_timestamp: hw }), NOW, 300, {
      gcTtlSeconds: 14_400,
      protectSeconds: 4 * 86_400,
      protectSource: "changefeed.protect_timestamp.max_age 96:00:00",
    });
    expect(h.resumeBefore).toBe(new Date((hwSec + 4 * 86_400) * 1000).toISOString());
    expect(h.reason).toMatch(
      new RegExp(
        `resume it before ${h.resumeBefore!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(its protected timestamp expires after changefeed\\.protect_timestamp\\.max_age 96:00:00 without progress, and CockroachDB then cancels the job\\), or events after high-water ${hw} can no longer be read`,
      ),
    );
    expect(h.reason).not.toMatch(/nothing is lost|no event is lost/);
  });
  test("a failing feed with a TTL longer than its protection: the TTL decides", () => {
    const rs = "retryable error: googleapi: Error 403: denied, forbidden";
    const h = feedHealth(job({ running_status: rs, high_water_timestamp: hw }), NOW, 300, {
      gcTtlSeconds: 10 * 86_400,
      protectSeconds: 3600,
      protectSource: "gc_protect_expires_after 1h",
    });
    expect(h.state).toBe("failing");
    expect(h.resumeBefore).toBe(new Date((hwSec + 10 * 86_400) * 1000).toISOString());
    expect(h.reason).toMatch(/eventstore\.events2 keeps old versions for gc\.ttlseconds 864000/);
  });
  test("a protection that never expires (max_age 0) gives no deadline; a healthy feed none either", () => {
    expect(
      feedHealth(job({ status: "paused", high_water_timestamp: hw }), NOW, 300, { gcTtlSeconds: 14_400, protectSeconds: null, protectSource: "x" }),
    ).not.toHaveProperty("resumeBefore");
    expect(feedHealth(job({}), NOW, 300, { gcTtlSeconds: 14_400, protectSeconds: 3600, protectSource: "x" })).not.toHaveProperty("resumeBefore");
  });
});
