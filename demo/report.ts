// The demo's last line, for either source: one JSON object, `ok` and how long it took with the run's
// figures; a failure is said on stderr as well and ends the process with status 1.
export function report(started: number, failure: unknown, result: Record<string, unknown>): void {
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  if (failure) {
    console.error(`demo failed: ${(failure as Error).message}`);
    console.log(JSON.stringify({ ok: false, error: (failure as Error).message.split("\n")[0], seconds, ...result }));
    process.exit(1);
  }
  console.log(JSON.stringify({ ok: true, seconds, ...result }));
}
