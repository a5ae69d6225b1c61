import { serviceVerdict } from "./service-health";

const N = "projects/p/locations/europe-west1/services/zitadel-audit-engine";
const R = `${N}/revisions/zitadel-audit-engine-00002-abc`;
const manual = (n: number) => ({ scalingMode: "MANUAL", manualInstanceCount: n });

test.each([
  ["missing", undefined, "failing", /does not exist: no engine runs/],
  [
    "ready",
    { terminalCondition: { state: "CONDITION_SUCCEEDED" }, latestReadyRevision: R, scaling: manual(1) },
    "healthy",
    /revision zitadel-audit-engine-00002-abc is ready/,
  ],
  [
    "last rollout failed, an older revision serving",
    { terminalCondition: { state: "CONDITION_FAILED", message: "Image 'x' not found." }, latestReadyRevision: R, scaling: manual(1) },
    "failing",
    /last rollout failed \(Image 'x' not found\.\); serving revision: zitadel-audit-engine-00002-abc/,
  ],
  [
    "rolling out",
    { reconciling: true, terminalCondition: { state: "CONDITION_RECONCILING" }, scaling: manual(1) },
    "lagging",
    /rollout is under way \(serving revision: none\)/,
  ],
  ["scaled to zero", { terminalCondition: { state: "CONDITION_SUCCEEDED" }, latestReadyRevision: R, scaling: manual(0) }, "stopped", /runs no instance/],
] as const)("serviceVerdict: %s", (_, found, state, reason) => {
  const v = serviceVerdict(N, found as any);
  expect(v.state).toBe(state);
  expect(v.reason).toMatch(reason);
});
