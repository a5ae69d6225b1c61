// The CDC engine's own verdict, from Debezium Server's health endpoint (GET <engine>/q/health/live,
// docs/debezium-server.md §6): UP with 200; a failing check makes it DOWN. A port that does not answer is
// an engine that is not running — or one that hangs with its port closed after Pub/Sub failed (the JVM
// stays, §6), which only a restart ends. Pure: the health command fetches, this decides.
import type { HealthState } from "../cockroach/health";

export interface EngineVerdict {
  state: HealthState;
  reason: string;
}

/** The health path Debezium Server (Quarkus) answers on its HTTP port. */
export const ENGINE_HEALTH_PATH = "/q/health/live";

export function engineVerdict(url: string, answer: { status: number; body: unknown } | { error: string }): EngineVerdict {
  if ("error" in answer)
    return {
      state: "stopped",
      reason: `engine at ${url} does not answer (${answer.error}): it is not running, or it hangs with its port closed after a Pub/Sub failure; restart it (its liveness probe does)`,
    };
  const body = (answer.body ?? {}) as { status?: unknown; checks?: { name?: unknown; status?: unknown }[] };
  if (answer.status === 200 && body.status === "UP") return { state: "healthy", reason: `engine at ${url} is up` };
  const down = (Array.isArray(body.checks) ? body.checks : []).filter((c) => c?.status !== "UP").map((c) => String(c?.name ?? "?"));
  return {
    state: "failing",
    reason: `engine at ${url} reports ${String(body.status ?? `HTTP ${answer.status}`)}${down.length ? ` (${down.join(", ")})` : ""}: see its log, and restart it`,
  };
}
