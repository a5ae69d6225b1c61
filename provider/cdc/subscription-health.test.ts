import { subscriptionVerdict } from "./subscription-health";

const N = "projects/p/subscriptions/s";
test.each<[string, Parameters<typeof subscriptionVerdict>[1], string, RegExp]>([
  ["a pull subscription", { topic: "projects/p/topics/t" }, "healthy", /^subscription .* exists and is attached$/],
  [
    "a Cloud Storage subscription writing",
    { topic: "projects/p/topics/t", cloudStorageConfig: { state: "ACTIVE" } },
    "healthy",
    /^Cloud Storage subscription .* is writing$/,
  ],
  [
    "a BigQuery subscription without its grant",
    { topic: "projects/p/topics/t", bigqueryConfig: { state: "PERMISSION_DENIED" }, messageRetentionDuration: "604800s" },
    "failing",
    /^BigQuery subscription .* is PERMISSION_DENIED: it writes nothing and its messages wait, kept for 604800s: .*grant it again/,
  ],
  ["a Cloud Storage subscription whose bucket is gone", { cloudStorageConfig: { state: "NOT_FOUND" } }, "failing", /is NOT_FOUND: .*pulumi refresh/],
  ["detached from a deleted topic", { topic: "_deleted-topic_" }, "failing", /its topic was deleted/],
  ["missing", undefined, "failing", /does not exist/],
])("%s → %s", (_what, found, state, reason) => {
  const v = subscriptionVerdict(N, found);
  expect(v.state).toBe(state);
  expect(v.reason).toMatch(reason);
});

test("the backlog: within the bound healthy with its figures; beyond it lagging, naming the reader", () => {
  const pull = { topic: "projects/p/topics/t", messageRetentionDuration: "604800s" };
  expect(subscriptionVerdict(N, pull, { messages: 3, oldestAgeSeconds: 12 }, 600)).toEqual({
    state: "healthy",
    reason: `subscription ${N} exists and is attached; 3 messages wait, the oldest for 12 s`,
  });
  expect(subscriptionVerdict(N, pull, { messages: 1, oldestAgeSeconds: 900 }, 600)).toEqual({
    state: "lagging",
    reason: `subscription ${N}: 1 message waits, the oldest for 900 s (over 600 s): its reader (the SIEM's collector) is behind or stopped; unread messages are dropped after 604800s`,
  });
  // A stopped export stays failing whatever its backlog.
  expect(subscriptionVerdict(N, { bigqueryConfig: { state: "NOT_FOUND" } }, { messages: 0, oldestAgeSeconds: 0 }).state).toBe("failing");
});
