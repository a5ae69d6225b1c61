import { UpdateFacts, planUpdate } from "./plan";

const running = { status: "running", retrying: false };
const none: UpdateFacts = {
  tracked: running,
  untracked: 0,
  queryChanged: false,
  cursorChosen: false,
  sinkChanged: false,
  optionsChanged: false,
  alterDropsQuery: false,
};

test.each<[string, Partial<UpdateFacts>, object]>([
  ["nothing changed, the job runs", {}, { kind: "none", cancelUntracked: false }],
  ["the query changed", { queryChanged: true }, { kind: "handoff", from: "tracked", cursor: "high-water" }],
  ["a cursor was chosen (GC-window recovery, backfill)", { cursorChosen: true }, { kind: "handoff", from: "tracked", cursor: "chosen" }],
  ["the sink changed", { sinkChanged: true }, { kind: "alter" }],
  ["an option changed", { optionsChanged: true }, { kind: "alter" }],
  [
    "the sink changed where ALTER drops the query (#113491)",
    { sinkChanged: true, alterDropsQuery: true },
    { kind: "handoff", from: "tracked", cursor: "high-water" },
  ],
  ["the query and the sink changed", { queryChanged: true, sinkChanged: true }, { kind: "handoff", from: "tracked" }],
  ["the job is paused", { tracked: { status: "paused", retrying: false } }, { kind: "resume" }],
  ["its pause is being requested", { tracked: { status: "pause-requested", retrying: false } }, { kind: "resume" }],
  [
    "a paused job whose sink changed is altered (and resumed by the alter)",
    { tracked: { status: "paused", retrying: false }, sinkChanged: true },
    { kind: "alter" },
  ],
  ["it runs but retries a sink error", { tracked: { status: "running", retrying: true } }, { kind: "recheck" }],
  ["it retries and the sink changed: the alter may fix it", { tracked: { status: "running", retrying: true }, sinkChanged: true }, { kind: "alter" }],
  ["a live job beside unrecorded ones", { untracked: 2 }, { kind: "none", cancelUntracked: true }],
  [
    "the tracked job failed, an unrecorded one runs",
    { tracked: { status: "failed", retrying: false }, untracked: 1 },
    { kind: "handoff", from: "untracked", cursor: "high-water", cancelUntracked: false },
  ],
  [
    "the tracked job is gone, an unrecorded one runs, a cursor was chosen",
    { tracked: undefined, untracked: 1, cursorChosen: true },
    { kind: "handoff", from: "untracked", cursor: "chosen" },
  ],
  ["the tracked job was canceled, none of the lineage runs", { tracked: { status: "canceled", retrying: false } }, { kind: "restart", cursor: "high-water" }],
  ["the tracked job is gone (GC'd job record, restored cluster)", { tracked: undefined }, { kind: "restart", cursor: "high-water" }],
  ["gone, and a newer cursor was chosen after the GC window passed", { tracked: undefined, cursorChosen: true }, { kind: "restart", cursor: "chosen" }],
])("%s", (_what, facts, expected) => {
  expect(planUpdate({ ...none, ...facts })).toMatchObject(expected);
});
