import { SlotRow, slotState } from "./slot";

const row = (r: Partial<SlotRow>): SlotRow => ({ active: true, walStatus: "reserved", retainedBytes: "0", confirmedFlushLsn: "0/0", ...r });

test.each([
  [{}, "streaming"],
  [{ walStatus: "extended" }, "streaming"],
  [{ active: false }, "idle"],
  [{ walStatus: "unreserved" }, "at-risk"],
  [{ active: false, walStatus: "unreserved" }, "at-risk"],
  [{ walStatus: "lost" }, "lost"],
  [{ active: false, walStatus: "lost" }, "lost"],
] as const)("slot %j is %s", (r, state) => {
  expect(slotState(row(r))).toBe(state);
});
