import { engineVerdict } from "./engine-health";

const URL = "http://engine:8080";
test.each<[string, Parameters<typeof engineVerdict>[1], string, RegExp]>([
  ["UP", { status: 200, body: { status: "UP", checks: [{ name: "debezium", status: "UP" }] } }, "healthy", /^engine at http:\/\/engine:8080 is up$/],
  [
    "DOWN with a failing check",
    { status: 503, body: { status: "DOWN", checks: [{ name: "debezium", status: "DOWN" }] } },
    "failing",
    /reports DOWN \(debezium\): see its log/,
  ],
  ["an answer that is not Quarkus health", { status: 404, body: "Not Found" }, "failing", /reports HTTP 404/],
  ["refused", { error: "connection refused" }, "stopped", /does not answer \(connection refused\): it is not running, or it hangs/],
])("%s → %s", (_what, answer, state, reason) => {
  const v = engineVerdict(URL, answer);
  expect(v.state).toBe(state);
  expect(v.reason).toMatch(reason);
});
