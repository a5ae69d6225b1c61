// The external table's source URIs against the files a changefeed really writes: for every
// partitionFormat (and gzip), the one wildcard selects every data file and no RESOLVED file.
import { buildCreateChangefeedStatement, buildSinkUri, bigQuerySourceUris, sourceUriMatches } from "../../provider";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { insertEvents, makeEvents, waitFor } from "../helpers/events";

jest.setTimeout(120_000);
let f: CdcFixture;
beforeAll(async () => {
  f = await cdcFixture();
  await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
});
afterAll(() => f?.stop());

const CASES: { partitionFormat: "flat" | "daily" | "hourly"; compression?: "gzip" }[] = [
  { partitionFormat: "flat" },
  { partitionFormat: "daily" },
  { partitionFormat: "hourly" },
  { partitionFormat: "daily", compression: "gzip" },
];

test.each(CASES.map((c) => ({ ...c, name: `partitionFormat ${c.partitionFormat}${c.compression ? ` with compression ${c.compression}` : ""}` })))(
  "$name: the source URI matches every data file and no RESOLVED file",
  async ({ partitionFormat, compression }) => {
    const prefix = `uris-${partitionFormat}-${compression ?? "none"}`;
    const statement = buildCreateChangefeedStatement({
      options: { resolved: "200ms", min_checkpoint_frequency: "200ms", ...(compression ? { compression } : {}) },
    });
    const id: string = (await f.pg.query(statement, [buildSinkUri({ bucket: f.bucket, prefix, partitionFormat, credentials: f.keyBase64 })])).rows[0].job_id;
    await insertEvents(f.pg, makeEvents(6, 100 * (CASES.findIndex((c) => c.partitionFormat === partitionFormat && c.compression === compression) + 1)));
    // A bucket of the same prefix's neighbour: must not be read.
    await f.admin.storage.objects.insert({ bucket: f.bucket, name: `${prefix}-other/stray.ndjson`, media: { body: "{}\n" } }, {});
    const objects = await waitFor("data files and RESOLVED files", async () => {
      const items = ((await f.admin.storage.objects.list({ bucket: f.bucket, prefix })).data.items ?? []).map((o) => o.name!);
      return (
        items.filter((n) => n.endsWith(".RESOLVED")).length >= 2 &&
        items.filter((n) => !n.endsWith(".RESOLVED") && n.startsWith(`${prefix}/`)).length >= 1 &&
        items
      );
    });
    await f.pg.query("CANCEL JOB $1", [id]);
    const [uri] = bigQuerySourceUris({ bucket: f.bucket, prefix, compression });
    const resolved = objects.filter((n) => n.endsWith(".RESOLVED"));
    const data = objects.filter((n) => n.startsWith(`${prefix}/`) && !n.endsWith(".RESOLVED"));
    if (partitionFormat !== "flat") expect(data.every((n) => n.split("/").length === (partitionFormat === "daily" ? 3 : 4))).toBe(true);
    expect(data.every((n) => n.endsWith(compression ? ".ndjson.gz" : ".ndjson"))).toBe(true);
    expect(data.filter((n) => sourceUriMatches(uri, f.bucket, n))).toEqual(data);
    expect(resolved.filter((n) => sourceUriMatches(uri, f.bucket, n))).toEqual([]);
    expect(sourceUriMatches(uri, f.bucket, `${prefix}-other/stray.ndjson`)).toBe(false);
  },
);
