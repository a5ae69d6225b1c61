import { SlotRow, slotState, slotVerdict } from "./slot";

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

test.each([
  ["missing", undefined, "failing", /does not exist/],
  ["lost", row({ walStatus: "lost" }), "failing", /invalidated.*lost/],
  ["unreserved", row({ walStatus: "unreserved", retainedBytes: String(3 * 1048576) }), "lagging", /3 MB.*unreserved/],
  ["nobody reading", row({ active: false, retainedBytes: String(5 * 1048576) }), "stopped", /no engine reads.*5 MB/],
  ["read, far behind", row({ retainedBytes: String(2048 * 1048576) }), "lagging", /2048 MB of WAL \(more than 1024 MB\)/],
  ["read, close", row({ retainedBytes: "1000" }), "healthy", /is read, 0 MB/],
] as const)("slot verdict: %s", (_case, r, state, reason) => {
  const v = slotVerdict("s1", r);
  expect(v.state).toBe(state);
  expect(v.reason).toMatch(reason);
});

test("the lag bound is the caller's", () => {
  expect(slotVerdict("s1", row({ retainedBytes: String(200 * 1048576) }), 100).state).toBe("lagging");
  expect(slotVerdict("s1", row({ retainedBytes: String(200 * 1048576) }), 300).state).toBe("healthy");
});
