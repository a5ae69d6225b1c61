// In Pulumi's dynamic provider host only: when the CLI that started the process is gone, the
// provider process stops (see exitWithOrphanedHost). Started by the provider's first operation
// (engine/define.ts engineFacing), never on import.
import * as fs from "fs";

/**
 * In Pulumi's dynamic provider host only: when the CLI that started this process is gone (kill -9
 * leaves the host running), stop within half a second, so that an operation nobody can record any
 * more does not go on beside the next `pulumi up` (which reconciles what it left). The host runs
 * under Pulumi's `pulumi-resource-pulumi-nodejs` shell shim (`sh` → `node`), so both our parent and,
 * where /proc shows it, the parent's parent are watched.
 */
export function exitWithOrphanedHost(argv1 = process.argv[1] ?? ""): boolean {
  if (!/dynamic-provider/.test(argv1)) return false;
  const parent = process.ppid;
  const grandparent = parentOf(parent);
  setInterval(() => {
    if (process.ppid !== parent || (grandparent !== undefined && parentOf(parent) !== grandparent)) process.exit(70);
  }, 500).unref();
  return true;
}

/** The parent pid of `pid` from /proc (Linux); undefined where there is no /proc or it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

let started = false;

/** Starts the watchdog once per process (a no-op outside the dynamic provider host). */
export function startWatchdog(): void {
  if (started) return;
  started = true;
  exitWithOrphanedHost();
}
