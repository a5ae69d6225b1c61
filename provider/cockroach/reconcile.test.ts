import { jobsToCancelBeside, markerOf } from "./reconcile";
import type { JobRow } from "./jobs";

const job = (id: string): JobRow => ({
  job_id: id,
  status: "running",
  running_status: null,
  high_water_timestamp: null,
  error: "",
  sink_uri: "",
  description: "",
});
const ids = (jobs: JobRow[]) => jobs.map((j) => j.job_id);
const lineage = [job("100"), job("200"), job("300")];

test.each<[string, string | undefined, boolean, string[]]>([
  ["the tracked job runs: every other job of the lineage is a leftover of this instance", "200", true, ["100", "300"]],
  ["the tracked job ended (a newer instance handed off from it): only older ones, never the newer one that runs", "200", false, ["100"]],
  ["no tracked job (a first create that failed before its id was known): all of them", undefined, false, ["100", "200", "300"]],
])("%s", (_what, tracked, live, expected) => {
  expect(ids(jobsToCancelBeside(lineage, tracked, live))).toEqual(expected);
});

test("the marker reads back from the job's description", () => {
  expect(
    markerOf({
      ...job("1"),
      description:
        "CREATE CHANGEFEED INTO 'gs://b?CREDENTIALS=redacted' WITH OPTIONS (initial_scan = 'no', metrics_label = 'zitadel-audit-stream.0123456789abcdef.0123456789') AS SELECT 1",
    }),
  ).toBe("zitadel-audit-stream.0123456789abcdef.0123456789");
  expect(markerOf(job("1"))).toBeUndefined();
});
