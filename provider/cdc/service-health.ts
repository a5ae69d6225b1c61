// A Cloud Run engine service's verdict, from the service as the Admin API shows it
// (docs/cloud-run-runtime.md §2.2): its Ready condition failed → failing (the last rollout did not
// become ready; the serving revision, if any, keeps running, but something is wrong); scaled to 0
// instances → stopped (nothing reads the slot); a rollout under way → lagging; else healthy. Cloud
// Run's internal ingress keeps the engine's own endpoint out of reach from outside the project, so
// this is what a workstation or CI can check (with the slot's verdict, which says whether it reads).
// Pure: the health command reads.
import type { HealthState } from "../cockroach/health";

export interface ServiceVerdict {
  state: HealthState;
  reason: string;
}

/** `found` undefined: the service does not exist. */
export function serviceVerdict(
  name: string,
  found:
    | {
        terminalCondition?: { state?: string; message?: string };
        reconciling?: boolean;
        latestReadyRevision?: string;
        scaling?: { scalingMode?: string; manualInstanceCount?: number };
      }
    | undefined,
): ServiceVerdict {
  if (!found) return { state: "failing", reason: `Cloud Run service ${name} does not exist: no engine runs; \`pulumi up\` makes it again` };
  const revision =
    String(found.latestReadyRevision ?? "")
      .split("/")
      .pop() || "none";
  const t = found.terminalCondition ?? {};
  if (t.state === "CONDITION_FAILED")
    return {
      state: "failing",
      reason: `Cloud Run service ${name}: its last rollout failed (${t.message ?? "no message"}); serving revision: ${revision}`,
    };
  if (found.reconciling || t.state === "CONDITION_RECONCILING" || t.state === "CONDITION_PENDING")
    return { state: "lagging", reason: `Cloud Run service ${name}: a rollout is under way (serving revision: ${revision})` };
  if (found.scaling?.scalingMode === "MANUAL" && Number(found.scaling.manualInstanceCount ?? 0) === 0)
    return { state: "stopped", reason: `Cloud Run service ${name} runs no instance (manualInstanceCount 0): nothing reads the slot` };
  return { state: "healthy", reason: `Cloud Run service ${name}: revision ${revision} is ready` };
}
