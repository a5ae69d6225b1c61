// The Pulumi CLI as a user runs it, for the demo, the bench and the tests: which CLI (the one
// `npm run setup` chose), the environment its commands run in (a local file:// backend, a passphrase,
// the Node language host beside the CLI), and the stack config that points the providers at the
// stand-ins.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFile, execFileSync } from "child_process";
import { findRepoRoot } from "./root";

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

/** Resource-change counts from the CLI's summary ("+ 9 created", "9 unchanged", …). */
export function summary(out: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const block = out.slice(out.lastIndexOf("Resources:"));
  for (const m of block.matchAll(
    /^\s+(?:[+~-]+|\+-)?\s*(\d+) (to create|created|to update|updated|to delete|deleted|to replace|replaced|unchanged|errored)/gm,
  )) {
    counts[m[2].replace(/^to /, "")] = Number(m[1]);
  }
  return counts;
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
