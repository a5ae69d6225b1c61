// Where the stand-ins are on disk: this file runs as stand-ins/compiled.ts under ts-jest, or as
// dist/stand-ins/compiled.js from the build. Processes are spawned from the build either way.
import * as path from "path";

const here = __dirname;
const fromBuild = __filename.endsWith(".js");

/** The repository's root (where .cache/ and dist/ are). */
export const repoRoot = fromBuild ? path.join(here, "..", "..") : path.join(here, "..");

/** The compiled form of a stand-ins module, e.g. compiled("cockroach/main.js"). */
export function compiled(relative: string): string {
  return path.join(repoRoot, "dist", "stand-ins", relative);
}
