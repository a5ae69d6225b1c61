// Drives the real Pulumi engine (the CLI built by tools/pulumi-cli/install.sh) through the
// Automation API with an inline program: local file:// backend, passphrase secrets, no update
// checks and no plugin downloads (pulumi-dynamic.md §4.4).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { findRepoRoot } from "./root";
import { LocalWorkspace, PulumiCommand, Stack, PulumiFn } from "@pulumi/pulumi/automation";

export const repoRoot = findRepoRoot();

/** The CLI version our wrapper module builds, read from its go.mod. */
export function pinnedCliVersion(): string {
  const gomod = fs.readFileSync(path.join(repoRoot, "tools", "pulumi-cli", "go.mod"), "utf8");
  const m = /github\.com\/pulumi\/pulumi\/pkg\/v3 v(\d+\.\d+\.\d+)/.exec(gomod);
  if (!m) throw new Error("tools/pulumi-cli/go.mod names no pkg/v3 version");
  return m[1];
}

/** Where `npm run setup` (tools/pulumi-cli/install.sh) records the CLI it chose, and keeps the launcher when that CLI has none beside it. */
export const setupCliDir = path.join(process.env.SETUP_CACHE_DIR ?? path.join(repoRoot, ".cache"), "pulumi-cli");

/**
 * The CLI to run: $PULUMI_CLI when set and not empty, else the one `npm run setup` chose and recorded
 * (a pulumi on PATH, or the pinned version it built), else the pinned version's place under $PULUMI_HOME.
 */
export function findPulumiCli(): string {
  const candidates: string[] = [];
  if (process.env.PULUMI_CLI) candidates.push(process.env.PULUMI_CLI);
  const recorded = path.join(setupCliDir, "cli");
  if (fs.existsSync(recorded)) candidates.push(fs.readFileSync(recorded, "utf8").trim());
  const home = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
  candidates.push(path.join(home, "versions", pinnedCliVersion(), "bin", "pulumi"));
  for (const c of candidates) {
    try {
      execFileSync(c, ["version"], { env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" }, stdio: "pipe", timeout: 20_000 });
      return c;
    } catch {
      // not this one
    }
  }
  throw new Error(`No Pulumi CLI found (tried ${candidates.join(", ")}). Run: npm run setup (or npm run pulumi-cli)`);
}

/**
 * The folders the engine's processes need first on PATH: the CLI's own (its language host and
 * launcher), the launcher setup kept for a CLI that has none beside it, and node_modules/.bin
 * (the project's Node 24, which the launcher and the language host run as `node`).
 */
export function cliPathDirs(cli: string): string[] {
  const plugins = path.join(setupCliDir, "plugins");
  return [path.dirname(fs.realpathSync(cli)), ...(fs.existsSync(plugins) ? [plugins] : []), path.join(repoRoot, "node_modules", ".bin")];
}

let cliPromise: Promise<PulumiCommand> | undefined;
export function pulumiCommand(): Promise<PulumiCommand> {
  if (!cliPromise) {
    const bin = findPulumiCli();
    // PulumiCommand runs <root>/bin/pulumi; a CLI elsewhere (PULUMI_CLI=/opt/x/pulumi-3) gets a link
    // in that shape (the engine resolves it to find the plugins beside the real binary).
    let root = path.dirname(path.dirname(bin));
    if (path.join(root, "bin", "pulumi") !== bin) {
      root = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-root-"));
      fs.mkdirSync(path.join(root, "bin"));
      fs.symlinkSync(path.resolve(bin), path.join(root, "bin", "pulumi"));
    }
    cliPromise = PulumiCommand.get({ root, skipVersionCheck: false });
  }
  return cliPromise;
}

export interface TestStack {
  stack: Stack;
  /** Directory of the program; the dynamic-provider host runs here, so `require` resolves the repo's node_modules. */
  workDir: string;
  /** Everything the engine printed so far, for failure messages. */
  log: string[];
  dispose(): Promise<void>;
}

export interface StackOptions {
  project: string;
  program: PulumiFn;
  stackName?: string;
  config?: Record<string, { value: string; secret?: boolean }>;
  env?: Record<string, string>;
  /** Where the program directory goes (default <repo>/.work); a consumer layout's dir for package tests. */
  parentDir?: string;
}

/** A fresh stack with its own backend and PULUMI_HOME under <repo>/.work, removed by dispose(). */
export async function newTestStack(opts: StackOptions): Promise<TestStack> {
  const base = opts.parentDir ?? path.join(repoRoot, ".work");
  fs.mkdirSync(base, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(base, `${opts.project}-`));
  const backendDir = path.join(workDir, ".backend");
  const pulumiHome = path.join(workDir, ".pulumi-home");
  fs.mkdirSync(backendDir);
  fs.mkdirSync(pulumiHome);
  const cli = await pulumiCommand();
  const binDirs = cliPathDirs(cli.command);
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: opts.stackName ?? "test", projectName: opts.project, program: opts.program },
    {
      workDir,
      pulumiHome,
      pulumiCommand: cli,
      projectSettings: { name: opts.project, runtime: "nodejs", backend: { url: `file://${backendDir}` } },
      envVars: {
        PULUMI_CONFIG_PASSPHRASE: "test-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        // The launcher beside the CLI runs `node`: make it the project's Node 24.
        PATH: [...binDirs, process.env.PATH ?? ""].join(path.delimiter),
        ...(opts.env ?? {}),
      },
    },
  );
  if (opts.config) await stack.setAllConfig(opts.config);
  return {
    stack,
    workDir,
    log: [],
    async dispose() {
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** Stack config that points the providers at the stand-ins (the GCP emulator and the CockroachDB twin). */
export function standInConfig(
  gcp: { project: string; adminKeyFile: string; endpoint: string },
  cockroachUrl: string,
  extra: Record<string, string> = {},
): Record<string, { value: string; secret?: boolean }> {
  return {
    "gcp:project": { value: gcp.project },
    "gcp:credentials": { value: fs.readFileSync(gcp.adminKeyFile, "utf8"), secret: true },
    "zitadel-audit-stream:gcpEndpoint": { value: gcp.endpoint },
    "zitadel-audit-stream:cockroachUrl": { value: cockroachUrl, secret: true },
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`zitadel-audit-stream:${k}`, { value: v }])),
  };
}
