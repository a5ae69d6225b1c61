// The real Debezium Server as a local process (tools/debezium/install.sh puts it in .cache/debezium),
// configured only through the environment, as a container or service declares it
// (provider/cdc/debezium.ts debeziumEnvironment).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ChildProcess, spawn } from "child_process";
import { findRepoRoot } from "./root";
import type { GcpEmulator, Instance, LocalImage } from "../../stand-ins";

export const DEBEZIUM_VERSION = "3.6.1.Final";

export interface RunningDebezium {
  pid: number;
  /** GET /q/health/live: "UP", "DOWN", or "unreachable". */
  health(): Promise<string>;
  /** Waits until the health endpoint says UP. */
  ready(ms?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  log(): string;
}

/** Where install.sh put the server, and the Java it found. */
export function debeziumHome(): { home: string; javaHome: string } {
  const home = process.env.DEBEZIUM_HOME ?? path.join(findRepoRoot(), ".cache", "debezium", `debezium-server-${DEBEZIUM_VERSION}`);
  const marker = path.join(home, "java-home");
  if (!fs.existsSync(marker)) throw new Error(`Debezium Server is not installed at ${home}: run \`npm run setup\` (tools/debezium/install.sh)`);
  return { home, javaHome: fs.readFileSync(marker, "utf8").trim() };
}

/**
 * What the image's own environment would set: the Java it runs, its flags (on Java 25 the add-opens
 * silences a shutdown error, docs/debezium-server.md §2) and plain log lines.
 */
function imageEnv(javaHome: string, heapMb = 256): Record<string, string> {
  return { JAVA_HOME: javaHome, JAVA_OPTS: `--add-opens=java.base/java.lang=ALL-UNNAMED -Xmx${heapMb}m`, QUARKUS_LOG_CONSOLE_JSON: "false" };
}

/**
 * Debezium Server as the stand-in's Cloud Run runs an image (stand-ins/gcp/cloudrun.ts LocalImage):
 * run.sh in the install folder with the image's environment; `identityEnv` stands for the metadata
 * server (the Pub/Sub address that authenticates as the service's account).
 */
export function debeziumImage(identityEnv: (serviceAccountEmail: string) => Promise<Record<string, string>>): LocalImage {
  const { home, javaHome } = debeziumHome();
  return { command: "./run.sh", cwd: home, env: imageEnv(javaHome), identityEnv };
}

/** Starts the server with `env` (DEBEZIUM_* and QUARKUS_* variables) and nothing else configuring it. */
export function startDebezium(env: Record<string, string>, opts: { heapMb?: number } = {}): RunningDebezium {
  const { home, javaHome } = debeziumHome();
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "zas-dbz-")), "debezium.log");
  const out = fs.openSync(logFile, "w");
  // run.sh uses paths relative to the install folder (docs/debezium-server.md §2).
  const proc: ChildProcess = spawn("./run.sh", [], {
    cwd: home,
    stdio: ["ignore", out, out],
    detached: true,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? os.tmpdir(),
      ...imageEnv(javaHome, opts.heapMb),
      ...env,
    },
  });
  const port = env.QUARKUS_HTTP_PORT ?? "8080";
  const health = async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/q/health/live`, { signal: AbortSignal.timeout(2000) });
      return ((await r.json()) as { status?: string }).status ?? "DOWN";
    } catch {
      return "unreachable";
    }
  };
  return {
    pid: proc.pid!,
    health,
    async ready(ms = 60_000) {
      const deadline = Date.now() + ms;
      while ((await health()) !== "UP") {
        if (proc.exitCode !== null) throw new Error(`Debezium Server exited (rc ${proc.exitCode}) before it was ready:\n${tail(logFile)}`);
        if (Date.now() > deadline) throw new Error(`Debezium Server not ready within ${ms / 1000}s:\n${tail(logFile)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once("exit", r));
      try {
        process.kill(-proc.pid!, signal);
      } catch {
        return;
      }
      // A stuck shutdown (docs/debezium-server.md §6) is ended with SIGKILL after 20 s.
      const timer = setTimeout(() => {
        try {
          process.kill(-proc.pid!, "SIGKILL");
        } catch {
          /* gone */
        }
      }, 20_000);
      await gone;
      clearTimeout(timer);
    },
    log: () => fs.readFileSync(logFile, "utf8"),
  };
}

function tail(file: string, lines = 30): string {
  return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
}

/**
 * The engine's instance on the stand-in's Cloud Run once its health endpoint answers; with `not`, a
 * different instance than that one (the one Cloud Run started after it).
 */
export async function cloudRunEngineUp(emu: GcpEmulator, service: string, ms: number, not?: Instance): Promise<Instance> {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = emu.cloudRun.instanceOf(service);
    const up =
      i &&
      i.pid !== not?.pid &&
      !i.exited &&
      (await fetch(`http://127.0.0.1:${i.port}/q/health/live`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      ));
    if (up) return i;
    if (Date.now() > deadline) throw new Error(`the engine of ${service} is not up within ${ms / 1000}s${i ? `:\n${i.log().slice(-2000)}` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
