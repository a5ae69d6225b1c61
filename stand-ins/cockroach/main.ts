// Runs the CockroachDB twin as its own process: `node main.js '<TwinOptions as JSON>'`. Prints one
// JSON line {"cockroachUrl": …} when it listens; stops on SIGINT/SIGTERM or when stdin closes.
import { CockroachTwin, TwinOptions } from "./twin";

async function main(): Promise<void> {
  const opts: TwinOptions = JSON.parse(process.argv[2] ?? "{}");
  const twin = await new CockroachTwin(opts).start();
  process.stdout.write(JSON.stringify({ cockroachUrl: twin.url }) + "\n");
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await twin.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  if (process.env.TWIN_STOP_ON_STDIN_CLOSE) process.stdin.on("close", () => void stop()).resume();
}

main().catch((e) => {
  process.stderr.write(`cockroach twin: ${e?.stack ?? e}\n`);
  process.exit(1);
});
