// One `pulumi up` of one resource in a process of its own, so a fault test can kill -9 it at the
// exact statement it wants (the twin holds that statement's answer; see twin.hold_after):
//   node dist/test/harness/op-runner.js '<{"module","operations","config","news","prev"}>'
// Prints the new state as one JSON line when it finishes.
import * as path from "path";
import { Driver, State } from "./driver";

interface Request {
  /** Module under dist/provider, e.g. "cockroach/changefeed". */
  module: string;
  operations: string;
  config: Record<string, string>;
  news: Record<string, any>;
  prev?: State;
}

async function main(): Promise<void> {
  const req: Request = JSON.parse(process.argv[2]);
  const ops = require(path.join(__dirname, "..", "..", "provider", req.module))[req.operations];
  const r = await new Driver(ops, req.config).up(req.news, req.prev);
  process.stdout.write(JSON.stringify(r.state) + "\n");
}

main().catch((e) => {
  process.stderr.write(`${e?.message ?? e}\n`);
  process.exit(1);
});
