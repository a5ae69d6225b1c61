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
import { cliPathDirs, findPulumiCli, repoRoot } from "./engine";

export const PASSPHRASE = "zitadel-audit-stream-tests";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A backend, a PULUMI_HOME and the environment every command of a test uses. */
export class PulumiCli {
  readonly bin = findPulumiCli();
  readonly backend: string;
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;

  /** `ownHome: false` keeps the user's PULUMI_HOME (the demo, whose stack a user goes on using). */
  constructor(
    readonly base: string,
    opts: { ownHome?: boolean } = {},
  ) {
    this.backend = path.join(base, "backend");
    this.home = opts.ownHome === false ? (process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi")) : path.join(base, "pulumi-home");
    fs.mkdirSync(this.backend, { recursive: true });
    fs.mkdirSync(this.home, { recursive: true });
    this.env = {
      ...process.env,
      PULUMI_BACKEND_URL: `file://${this.backend}`,
      PULUMI_HOME: this.home,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      // The language host and the dynamic-provider launcher sit next to the CLI; `node` is the
      // project's Node 24 (consumers run on theirs).
      PATH: [...cliPathDirs(this.bin), process.env.PATH ?? ""].join(path.delimiter),
    };
  }

  /** Runs `pulumi ...args` in `cwd`; throws with the whole output unless it exits 0 (or `allowFailure`). */
  run(cwd: string, args: string[], opts: { allowFailure?: boolean; onOutput?: (text: string) => void } = {}): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(this.bin, ["--non-interactive", ...args], { cwd, env: this.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === "number" ? (err as any).code : 1) : 0;
        const r = { code, stdout: String(stdout), stderr: String(stderr) };
        if (code !== 0 && !opts.allowFailure) reject(new Error(`pulumi ${args.join(" ")} (in ${cwd}) exited ${code}\n${r.stdout}\n${r.stderr}`));
        else resolve(r);
      });
      if (opts.onOutput) child.stdout?.on("data", (d) => opts.onOutput!(String(d)));
      child.stdin?.end();
    });
  }

  /** `pulumi stack export` of a stack, parsed. */
  async state(cwd: string, stack: string): Promise<any> {
    return JSON.parse((await this.run(cwd, ["stack", "export", "--stack", stack])).stdout);
  }

  /** `pulumi config set` of every key, secrets with --secret (values as arguments: these are test values). */
  async configure(cwd: string, stack: string, config: Record<string, { value: string; secret?: boolean }>): Promise<void> {
    for (const [k, v] of Object.entries(config)) {
      await this.run(cwd, ["config", "set", "--stack", stack, ...(v.secret ? ["--secret"] : []), k, "--", v.value]);
    }
  }
}

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

/** Resource-change counts from the CLI's summary ("+ 9 created", "9 unchanged", …). */
export function summary(out: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const block = out.slice(out.lastIndexOf("Resources:"));
  for (const m of block.matchAll(/^\s+(?:[+~-]+|\+-)?\s*(\d+) (to create|created|to update|updated|to delete|deleted|to replace|replaced|unchanged|errored)/gm)) {
    counts[m[2].replace(/^to /, "")] = Number(m[1]);
  }
  return counts;
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
        execFileSync(path.join(repoRoot, "node_modules", ".bin", "pnpm"), ["install", "--prefer-offline", "--reporter=silent", "--config.confirmModulesPurge=false"], {
          cwd: base,
          env: { ...process.env, PATH: [path.join(repoRoot, "node_modules", ".bin"), process.env.PATH ?? ""].join(path.delimiter) },
          stdio: ["ignore", "pipe", "pipe"],
        });
      }
      break;
    }
  }
  const installed = path.join(dir, "node_modules", "zitadel-audit-stream");
  const link = mode === "workspace" ? path.join(base, "node_modules", "zitadel-audit-stream") : installed;
  if (!fs.existsSync(link)) throw new Error(`${mode} install left no ${link}`);
  return { mode, dir, dispose: () => fs.rmSync(base, { recursive: true, force: true }) };
}
