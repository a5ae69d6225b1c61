// Switching a stream from CockroachDB to PostgreSQL, as the stream's identity decides it (its diff, at
// preview and up): refused unless asked for; asked for, refused while ZITADEL still writes to CockroachDB
// or a feed has not delivered every event; let through once the feed caught up and CockroachDB is quiet.
// Against the CockroachDB twin, with a real Changefeed of the same deployment.
import * as crypto from "crypto";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { insertEvents, makeEvents, readDelivered, account, waitFor } from "../helpers/events";
import { Driver, State } from "../harness/driver";
import { streamIdentityOperations } from "../../provider/stream-identity";
import { changefeedOperations } from "../../provider/cockroach/changefeed";
import { switchTimings } from "../../provider/source-switch";

jest.setTimeout(180_000);
let f: CdcFixture;
const config = () => ({
  "zitadel-audit-stream:cockroachUrl": f.twin.url,
  "zitadel-audit-stream:gcpEndpoint": f.emu.endpoint,
  "gcp:credentials": f.emu.adminKeyFile,
  "gcp:project": f.emu.project,
});

beforeAll(async () => {
  f = await cdcFixture();
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
});
afterAll(() => {
  switchTimings.quietSeconds = 60;
  return f?.stop();
});

test("CockroachDB → PostgreSQL: refused unless asked, then until the feed delivered everything and CockroachDB is quiet", async () => {
  const ids = new Driver(streamIdentityOperations, config());
  let identity: State = (await ids.up({ connectionString: f.twin.url, sweepJobs: true })).state;
  const deployment = identity.outputs.deployment as string;
  const feeds = new Driver(changefeedOperations, config(), () => ({ owner: `switch/${crypto.randomUUID()}`, deployment }));
  const feed = (
    await feeds.up({
      sink: { bucket: f.bucket, prefix: "switch", partitionFormat: "flat", credentials: f.keyBase64 },
      options: { initial_scan: "no", resolved: "1s" },
      timeoutSeconds: 30,
    })
  ).state;
  const events = makeEvents(12, 50_000);
  await insertEvents(f.pg, events);

  const toPostgres = (extra: Record<string, unknown> = {}) => ids.up({ sweepJobs: false, source: "postgres", ...extra }, identity);
  await expect(toPostgres()).rejects.toThrow(/^source: this stream streams from CockroachDB; .*sourceSwitch: \{ from: "cockroach" \}.*nothing was changed\.$/);
  await expect(toPostgres({ switchFrom: "postgres" })).rejects.toThrow(/^source: this stream streams from CockroachDB/);
  // Asked for, but ZITADEL (here: the test) wrote a moment ago.
  await expect(toPostgres({ switchFrom: "cockroach" })).rejects.toThrow(/^sourceSwitch: ZITADEL still writes to CockroachDB \(its newest event is \d+ s old/);

  // Quiet, and once the feed's high-water passed the newest event, the switch goes through.
  switchTimings.quietSeconds = 2;
  await waitFor("every event in the bucket", async () => account(events, (await readDelivered(f.admin, f.bucket, "switch/")).lines).missing === 0, 60_000);
  let last: unknown;
  const switched = await waitFor(
    "the switch to be let through",
    async () => {
      try {
        return await toPostgres({ switchFrom: "cockroach" });
      } catch (e) {
        last = e;
        expect((e as Error).message).toMatch(/^sourceSwitch: (ZITADEL still writes|changefeed job \d+ \(running, high-water [\d.]+\) has not yet delivered)/);
        return undefined;
      }
    },
    60_000,
    1000,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${(last as Error)?.message}`);
  });
  expect(switched.op).toBe("update");
  identity = switched.state;
  expect(identity.outputs).toMatchObject({ deployment, source: "postgres" });
  // Left in config afterwards, sourceSwitch changes nothing; going back needs asking again.
  expect((await ids.up({ sweepJobs: false, source: "postgres", switchFrom: "cockroach" }, identity)).op).toBe("same");
  await expect(ids.up({ connectionString: f.twin.url, sweepJobs: true }, identity)).rejects.toThrow(/^source: this stream streams from PostgreSQL/);
  await feeds.destroy(feed);
});
