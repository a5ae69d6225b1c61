// Where the stand-ins' compiled JavaScript is: beside this file when it runs from dist/, else under the
// repository's dist/stand-ins/ (ts-jest runs the sources; processes are spawned from the build).
import * as path from "path";

const here = __dirname;
const inDist = here.split(path.sep).includes("dist");

/** The compiled form of a stand-ins module, e.g. compiled("cockroach/main.js"). */
export function compiled(relative: string): string {
  return inDist ? path.join(here, relative) : path.join(here, "..", "dist", "stand-ins", relative);
}
