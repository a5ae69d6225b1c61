// The repository root, whether code runs from its sources (ts-jest) or from dist/.
import * as fs from "fs";
import * as path from "path";

export function findRepoRoot(from = __dirname): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}
