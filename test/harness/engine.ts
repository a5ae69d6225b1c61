// Drives the real Pulumi engine (the CLI built by tools/pulumi-cli/install.sh) through the
// Automation API with an inline program: local file:// backend, passphrase secrets, no update
// checks and no plugin downloads (pulumi-dynamic.md §4.4).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace, PulumiCommand, Stack, PulumiFn } from "@pulumi/pulumi/automation";
import { cliPathDirs, findPulumiCli, repoRoot } from "../../tools/harness/pulumi-cli";

export { repoRoot, pinnedCliVersion, setupCliDir, findPulumiCli, cliPathDirs, standInConfig } from "../../tools/harness/pulumi-cli";

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
