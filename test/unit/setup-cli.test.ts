// `npm run setup`'s CLI step (tools/pulumi-cli/install.sh) with stub CLIs: which one it takes, what it
// says when it cannot take one, and that it never starts a Go build it cannot finish. Every run gets
// an empty HOME, its own cache folder and a PATH of stubs plus the few system tools the script uses,
// so the user's real ~/.pulumi, Go and any installed pulumi stay out of it.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { repoRoot } from "../harness/engine";

const script = path.join(repoRoot, "tools", "pulumi-cli", "install.sh");
const TOOLS = [
  "bash",
  "sh",
  "sed",
  "head",
  "grep",
  "dirname",
  "readlink",
  "timeout",
  "mkdir",
  "rm",
  "install",
  "mv",
  "cp",
  "chmod",
  "mktemp",
  "date",
  "cat",
  "env",
];
let base: string;

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), "setup-cli-"));
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

function script_(file: string, body: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** A folder with a stub `pulumi` printing `version` (and a language host beside it unless `host: false`). */
function stubCli(dir: string, version: string, opts: { host?: boolean } = {}): string {
  const bin = script_(path.join(base, dir, "pulumi"), `echo v${version}`);
  if (opts.host !== false) script_(path.join(base, dir, "pulumi-language-nodejs"), `echo ${version}`);
  return bin;
}

/** Runs install.sh; `pathDirs` come first on PATH, then a folder of system tools and a `go` that only records being called. */
function setup(pathDirs: string[], env: Record<string, string> = {}) {
  const tools = path.join(base, "system");
  fs.mkdirSync(tools, { recursive: true });
  for (const t of TOOLS) {
    const real = spawnSync("bash", ["-c", `type -P ${t}`], { encoding: "utf8" }).stdout.trim();
    if (real && !fs.existsSync(path.join(tools, t))) fs.symlinkSync(real, path.join(tools, t));
  }
  const goCalled = path.join(base, "go-called");
  script_(path.join(base, "go-stub", "go"), `echo "$@" >> ${goCalled}; exit 1`);
  const home = path.join(base, "home");
  fs.mkdirSync(home, { recursive: true });
  const cache = path.join(base, "cache");
  const started = Date.now();
  const r = spawnSync(path.join(tools, "bash"), [script], {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      HOME: home,
      PATH: [...pathDirs, path.join(base, "go-stub"), tools].join(":"),
      SETUP_CACHE_DIR: cache,
      PULUMI_LANGUAGE_NODEJS_SRC: path.join(base, "no-source"),
      ...env,
    },
  });
  const recorded = path.join(cache, "pulumi-cli", "cli");
  return {
    code: r.status,
    out: `${r.stdout}${r.stderr}`,
    ms: Date.now() - started,
    goCalled: fs.existsSync(goCalled),
    recorded: fs.existsSync(recorded) ? fs.readFileSync(recorded, "utf8").trim() : undefined,
    launcherKept: fs.existsSync(path.join(cache, "pulumi-cli", "plugins", "pulumi-resource-pulumi-nodejs")),
  };
}

test("a supported pulumi on PATH with its language host is used: one line names it, nothing is built", () => {
  const cli = stubCli("bin-ok", "3.259.0");
  const r = setup([path.dirname(cli)]);
  expect(r.code).toBe(0);
  expect(r.out).toContain(`using ${cli} (v3.259.0, found on PATH)`);
  expect(r.out).not.toMatch(/build/i);
  expect(r.goCalled).toBe(false);
  expect(r.recorded).toBe(cli);
  // Its folder is not written; the launcher it lacks is kept in the cache, which the harness puts on PATH.
  expect(fs.readdirSync(path.dirname(cli)).sort()).toEqual(["pulumi", "pulumi-language-nodejs"]);
  expect(r.launcherKept).toBe(true);
});

test("a pulumi on PATH reached through a symlink is recorded by its real path", () => {
  const cli = stubCli("cellar/3.260.0/bin", "3.260.0");
  fs.mkdirSync(path.join(base, "links"));
  fs.symlinkSync(cli, path.join(base, "links", "pulumi"));
  const r = setup([path.join(base, "links")]);
  expect(r.code).toBe(0);
  expect(r.recorded).toBe(cli);
});

test("a pulumi on PATH that is too old stops set-up naming its version, the range and both ways out, before any build", () => {
  const cli = stubCli("bin-old", "3.100.0");
  const r = setup([path.dirname(cli)]);
  expect(r.code).not.toBe(0);
  expect(r.out).toContain(`the pulumi on PATH (${cli}) cannot be used: its version v3.100.0 is outside the supported range (>= 3.249.0, < 4.0.0)`);
  expect(r.out).toContain("https://www.pulumi.com/docs/install/");
  expect(r.out).toContain("set PULUMI_CLI= (empty) to build the pinned");
  expect(r.goCalled).toBe(false);
  expect(r.recorded).toBeUndefined();
});

test("a next major version is outside the range too", () => {
  const cli = stubCli("bin-next", "4.0.1");
  const r = setup([path.dirname(cli)]);
  expect(r.code).not.toBe(0);
  expect(r.out).toContain("its version v4.0.1 is outside the supported range");
});

test("a pulumi without its Node language host beside it is refused with that reason", () => {
  const cli = stubCli("bin-nohost", "3.259.0", { host: false });
  const r = setup([path.dirname(cli)]);
  expect(r.code).not.toBe(0);
  expect(r.out).toContain(`has no working Node language host beside it (${path.dirname(cli)}/pulumi-language-nodejs)`);
  expect(r.goCalled).toBe(false);
});

test("PULUMI_CLI comes before PATH; a PULUMI_CLI that does not run is refused, not replaced by a build", () => {
  const onPath = stubCli("bin-path", "3.259.0");
  const chosen = stubCli("bin-chosen", "3.262.1");
  expect(setup([path.dirname(onPath)], { PULUMI_CLI: chosen }).out).toContain(`using ${chosen} (v3.262.1, from PULUMI_CLI)`);
  const r = setup([path.dirname(onPath)], { PULUMI_CLI: path.join(base, "nowhere", "pulumi") });
  expect(r.code).not.toBe(0);
  expect(r.out).toContain("it does not run");
  expect(r.goCalled).toBe(false);
});

test("with no pulumi anywhere and no language-host source, set-up stops within seconds with both ways out, before Go is called", () => {
  const r = setup([]);
  expect(r.code).not.toBe(0);
  expect(r.ms).toBeLessThan(10_000);
  expect(r.out).toContain("no Pulumi CLI was found");
  expect(r.out).toContain(`its source is not at ${path.join(base, "no-source")}`);
  expect(r.out).toContain("install Pulumi the ordinary way (https://www.pulumi.com/docs/install/");
  expect(r.out).toContain("PULUMI_LANGUAGE_NODEJS_SRC");
  expect(r.goCalled).toBe(false);
  expect(r.recorded).toBeUndefined();
});

test("PULUMI_CLI set but empty skips the pulumi on PATH and goes for the pinned build (here: stops, as its source is missing)", () => {
  const cli = stubCli("bin-ok", "3.259.0");
  const r = setup([path.dirname(cli)], { PULUMI_CLI: "" });
  expect(r.code).not.toBe(0);
  expect(r.out).toContain("PULUMI_CLI is set but empty");
  expect(r.goCalled).toBe(false);
});

test("the pinned version built earlier under PULUMI_HOME is used without building again", () => {
  const version = /pkg\/v3 v(\d+\.\d+\.\d+)/.exec(fs.readFileSync(path.join(repoRoot, "tools", "pulumi-cli", "go.mod"), "utf8"))![1];
  const home = path.join(base, "pulumi-home");
  const cli = stubCli(path.relative(base, path.join(home, "versions", version, "bin")), version);
  const r = setup([], { PULUMI_HOME: home });
  expect(r.code).toBe(0);
  expect(r.out).toContain(`using ${cli} (v${version}, built here earlier)`);
  expect(r.goCalled).toBe(false);
  // A CLI built here gets the launcher beside it (its folder is ours).
  expect(fs.existsSync(path.join(path.dirname(cli), "pulumi-resource-pulumi-nodejs"))).toBe(true);
  expect(r.launcherKept).toBe(false);
});
