// The package laid out as a consumer gets it: <dir>/node_modules/zitadel-audit-stream with
// package.json and dist/provider (the `files` it publishes). Programs run from <dir>, so the
// dynamic-provider host resolves serialized `require("zitadel-audit-stream/dist/…")` paths the way
// it would in a user's project (pulumi-dynamic.md §2.4). Its dependencies resolve from the repo's
// node_modules further up, as a hoisted install would.
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "./engine";

export type Package = typeof import("../../provider");

export interface Consumer {
  /** The consumer project directory; put Pulumi work dirs inside it. */
  dir: string;
  pkg: Package;
  dispose(): void;
}

export function consumerLayout(label: string): Consumer {
  const dist = path.join(repoRoot, "dist", "provider", "index.js");
  if (!fs.existsSync(dist)) throw new Error("dist/ is missing: run `npm run build` (npm test does) first");
  const base = path.join(repoRoot, ".work");
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, `consumer-${label}-`));
  const pkgDir = path.join(dir, "node_modules", "zitadel-audit-stream");
  fs.mkdirSync(pkgDir, { recursive: true });
  fs.copyFileSync(path.join(repoRoot, "package.json"), path.join(pkgDir, "package.json"));
  fs.cpSync(path.join(repoRoot, "dist", "provider"), path.join(pkgDir, "dist", "provider"), {
    recursive: true,
    filter: (src) => !/\.test\.(js|d\.ts|js\.map)$/.test(src),
  });
  const pkg: Package = require(pkgDir);
  return { dir, pkg, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
