import { QUIET_SECONDS, drainVerdict, switchVerdict } from "./source-switch";
import { decimalGreater } from "./cockroach/jobs";

test.each<[string, Parameters<typeof switchVerdict>, string]>([
  ["a stream made before sources existed stays on CockroachDB", [undefined, "cockroach", undefined], "same"],
  ["PostgreSQL stays PostgreSQL", ["postgres", "postgres", undefined], "same"],
  ["a left-over sourceSwitch changes nothing", ["postgres", "postgres", "cockroach"], "same"],
  ["CockroachDB → PostgreSQL without asking", [undefined, "postgres", undefined], "refused"],
  ["asked from the wrong source", ["cockroach", "postgres", "postgres"], "refused"],
  ["CockroachDB → PostgreSQL asked", ["cockroach", "postgres", "cockroach"], "switch"],
  ["an old stream → PostgreSQL asked", [undefined, "postgres", "cockroach"], "switch"],
  ["PostgreSQL → CockroachDB asked", ["postgres", "cockroach", "postgres"], "switch"],
])("%s: %s", (_what, args, kind) => {
  expect(switchVerdict(...args).kind).toBe(kind);
});

test("a refusal says when to switch and how to ask", () => {
  const v = switchVerdict(undefined, "postgres", undefined);
  expect(v.kind === "refused" && v.why).toMatch(
    /^source: this stream streams from CockroachDB; .*zitadel mirror.*sourceSwitch: \{ from: "cockroach" \}.*nothing was changed\.$/,
  );
});

const feed = (highWater: string | null, jobId = "1") => ({ jobId, status: "running", highWater });

// Every row has its four cells: jest takes a test function with more parameters than the row for a callback test.
test.each<[string, Parameters<typeof drainVerdict>, boolean, RegExp | null]>([
  ["no events at all", [[feed(null)], null, 0], true, null],
  [
    "every feed past the newest event, quiet",
    [[feed("1700000000000000000.0000000002"), feed("1700000000000000001.0", "2")], "1700000000000000000.0000000001", 120],
    true,
    null,
  ],
  ["a feed exactly at the newest event", [[feed("1700000000000000000.0000000001")], "1700000000000000000.0000000001", QUIET_SECONDS], true, null],
  ["still writing", [[feed("1700000000000000009.0")], "1700000000000000000.0", 5], false, /ZITADEL still writes to CockroachDB .*5 s old/],
  [
    "a feed behind",
    [[feed("1699999999999999999.0", "77")], "1700000000000000000.0", 300],
    false,
    /job 77 \(running, high-water 1699999999999999999\.0\) has not yet delivered/,
  ],
  ["a feed without a checkpoint", [[feed(null, "78")], "1700000000000000000.0", 300], false, /job 78 .*none yet/],
])("drain: %s", (_what, args, ok, why) => {
  const v = drainVerdict(...args);
  expect(v.ok).toBe(ok);
  if (!v.ok) expect(v.why).toMatch(why!);
});

test("HLC order (cockroach/jobs.ts decimalGreater, which the drain check uses) compares the logical part as a fraction", () => {
  expect(decimalGreater("5.0000000002", "5.0000000001")).toBe(true);
  expect(decimalGreater("5.0000000002", "5.1")).toBe(false);
  expect(decimalGreater("5", "4.9")).toBe(true);
});
