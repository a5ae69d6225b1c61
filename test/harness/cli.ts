// The Pulumi CLI as a user runs it: `pulumi <command>` in a project folder (a Pulumi.yaml, a
// package.json, the package installed in node_modules), with the Node language host next to the
// CLI binary. A local file:// backend and a passphrase keep everything on this machine.
//
// Consumer folders live outside the repository (os.tmpdir()), so nothing resolves from the
// repository's node_modules by accident: each install mode gets exactly what npm gave it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFile, execFileSync } from "child_process";
import { repoRoot } from "../../tools/harness/pulumi-cli";

export { PASSPHRASE, CliResult, PulumiCli, summary } from "../../tools/harness/pulumi-cli";

/**
 * The module every dynamic resource's stored provider in a state export loads: the one it
 * `require`s, or for the fallback format (provider/operations-provider.ts) the one it names;
 * "<none>" or several joined by "," when it is not exactly one.
 */
export function storedModules(state: any): string[] {
  return (state.deployment.resources ?? [])
    .filter((r: any) => typeof r.outputs?.__provider === "string")
    .map((r: any) => {
      const text: string = r.outputs.__provider;
      const mods = [...text.matchAll(/\brequire\("([^"]+)"\)|\bmodule: "([^"]+)"/g)].map((m) => m[1] ?? m[2]);
      return mods.length ? mods.join(",") : "<none>";
    });
}

export type InstallMode = "tarball" | "directory" | "link" | "workspace" | "pnpm-workspace";

export interface ConsumerProject {
  mode: InstallMode;
  /** The Pulumi project folder (Pulumi.yaml, index.ts). */
  dir: string;
  dispose(): void;
}

let tarball: string | undefined;

/** `npm pack` of the built package, once per process. */
export function packedTarball(): string {
  if (tarball && fs.existsSync(tarball)) return tarball;
  if (!fs.existsSync(path.join(repoRoot, "dist", "provider", "index.js"))) throw new Error("dist/ is missing: run `npm run build` (npm test does) first");
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), "zas-pack-"));
  const out = npm(["pack", "--json", "--ignore-scripts", "--pack-destination", dest], repoRoot);
  tarball = path.join(dest, JSON.parse(out)[0].filename);
  return tarball;
}

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync("npm", [...args, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, PATH: [path.join(repoRoot, "node_modules", ".bin"), process.env.PATH ?? ""].join(path.delimiter), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * A copy of examples/<example> in a fresh folder outside the repository, with the package installed
 * the way `mode` says, as a user would:
 * - tarball: `npm install` of `npm pack`'s file;
 * - directory: `npm install /path/to/zitadel-audit-stream` (npm makes a symlink);
 * - link: `npm link` in the package, `npm link zitadel-audit-stream` in the project;
 * - workspace: an npm workspace holding the package (unpacked from the tarball) and the project;
 * - pnpm-workspace: the same with pnpm (its isolated node_modules: symlinks into .pnpm/).
 * `peer` overrides the project's @pulumi/pulumi version (the package's peer range is tested at its lower bound).
 */
export function consumerProject(example: string, mode: InstallMode, opts: { peer?: string } = {}): ConsumerProject {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `zas-${mode}-`));
  const inWorkspace = mode === "workspace" || mode === "pnpm-workspace";
  const dir = inWorkspace ? path.join(base, "app") : base;
  fs.mkdirSync(dir, { recursive: true });
  const src = path.join(repoRoot, "examples", example);
  for (const f of ["index.ts", "Pulumi.yaml", "tsconfig.json", "package.json"]) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  if (opts.peer) manifest.dependencies["@pulumi/pulumi"] = opts.peer;
  const write = () => fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(manifest, null, 2));
  switch (mode) {
    case "tarball":
      manifest.dependencies["zitadel-audit-stream"] = `file:${packedTarball()}`;
      write();
      npm(["install"], dir);
      break;
    case "directory":
      manifest.dependencies["zitadel-audit-stream"] = `file:${repoRoot}`;
      write();
      npm(["install"], dir);
      break;
    case "link": {
      delete manifest.dependencies["zitadel-audit-stream"];
      write();
      const prefix = path.join(base, ".npm-global");
      npm(["install"], dir);
      npm(["link"], repoRoot, { npm_config_prefix: prefix });
      npm(["link", "zitadel-audit-stream"], dir, { npm_config_prefix: prefix });
      break;
    }
    case "workspace":
    case "pnpm-workspace": {
      const pkgDir = path.join(base, "packages", "zitadel-audit-stream");
      fs.mkdirSync(pkgDir, { recursive: true });
      execFileSync("tar", ["-xzf", packedTarball(), "-C", pkgDir, "--strip-components=1"]);
      const version = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).version;
      manifest.dependencies["zitadel-audit-stream"] = mode === "workspace" ? version : "workspace:*";
      write();
      fs.writeFileSync(path.join(base, "package.json"), JSON.stringify({ name: "zas-workspace", private: true, workspaces: ["packages/*", "app"] }, null, 2));
      if (mode === "workspace") npm(["install"], base);
      else {
        fs.writeFileSync(path.join(base, "pnpm-workspace.yaml"), "packages:\n  - packages/*\n  - app\n");
        execFileSync(
          path.join(repoRoot, "node_modules", ".bin", "pnpm"),
          ["install", "--prefer-offline", "--reporter=silent", "--config.confirmModulesPurge=false"],
          {
            cwd: base,
            env: { ...process.env, PATH: [path.join(repoRoot, "node_modules", ".bin"), process.env.PATH ?? ""].join(path.delimiter) },
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
      }
      break;
    }
  }
  const installed = path.join(dir, "node_modules", "zitadel-audit-stream");
  const link = mode === "workspace" ? path.join(base, "node_modules", "zitadel-audit-stream") : installed;
  if (!fs.existsSync(link)) throw new Error(`${mode} install left no ${link}`);
  return { mode, dir, dispose: () => fs.rmSync(base, { recursive: true, force: true }) };
}

/**
 * The built `zitadel-audit-stream health` run as a child process, without blocking this one (a server the
 * test runs in-process must go on answering): its exit status and standard output.
 */
export function runHealth(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number; stdout: string }> {
  const bin = path.join(repoRoot, "dist", "provider", "cli.js");
  return new Promise((resolve) =>
    execFile(process.execPath, [bin, "health", ...argv], { encoding: "utf8", env }, (err, stdout) =>
      resolve({ status: err ? Number((err as { code?: number }).code) : 0, stdout: String(stdout) }),
    ),
  );
}

/** The health command's --json output: one object per line. */
export const jsonLines = (stdout: string): Record<string, unknown>[] =>
  stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
