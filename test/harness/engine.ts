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

/** Finds the CLI the same way install.sh places it: $PULUMI_CLI, then $PULUMI_HOME/versions/<v>/bin/pulumi. */
export function findPulumiCli(): string {
  const candidates: string[] = [];
  if (process.env.PULUMI_CLI) candidates.push(process.env.PULUMI_CLI);
  const home = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
  candidates.push(path.join(home, "versions", pinnedCliVersion(), "bin", "pulumi"));
  for (const c of candidates) {
    try {
      execFileSync(c, ["version"], { env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" }, stdio: "pipe" });
      return c;
    } catch {
      // not this one
    }
  }
  throw new Error(`No Pulumi CLI found (tried ${candidates.join(", ")}). Run: npm run setup (or npm run pulumi-cli)`);
}

let cliPromise: Promise<PulumiCommand> | undefined;
export function pulumiCommand(): Promise<PulumiCommand> {
  if (!cliPromise) {
    const bin = findPulumiCli();
    cliPromise = PulumiCommand.get({ root: path.dirname(path.dirname(bin)), skipVersionCheck: false });
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
  const binDirs = [path.dirname(cli.command), path.join(repoRoot, "node_modules", ".bin")];
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
