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
