// Starts the CockroachDB twin in a child process (PGlite loads WebAssembly through dynamic
// import(), which jest's module sandbox cannot host) and returns its connection URL.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as readline from "readline";
import type { TwinOptions } from "./twin";
import { compiled } from "../compiled";

export interface RunningTwin {
  url: string;
  child: ChildProcess;
  /** What the twin wrote to stderr, for failure messages. */
  stderr: string[];
  stop(): Promise<void>;
}

export async function startCockroachTwin(opts: TwinOptions): Promise<RunningTwin> {
  const main = compiled("cockroach/main.js");
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` (npm test does) first`);
  const child = spawn(process.execPath, [main, JSON.stringify(opts)], {
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches only the parent (the demo with --keep
    // still needs the twin to destroy its stack); it stops on SIGTERM or when our stdin pipe closes.
    detached: true,
    env: { ...process.env, TWIN_STOP_ON_STDIN_CLOSE: "1" },
  });
  const stderr: string[] = [];
  child.stderr!.on("data", (d) => stderr.push(String(d)));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`cockroach twin exited (${code}): ${stderr.join("")}`)));
  });
  const { cockroachUrl } = JSON.parse(line);
  return {
    url: cockroachUrl,
    child,
    stderr,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
