// `npm run check-docs`: every TypeScript block of README.md and every example compiles.
// - README blocks (```ts) are written to .work/readme-snippets/ as one module each and type-checked
//   strictly, with `zitadel-audit-stream` resolved to this repository's sources.
// - examples/* without their own dependencies to install are type-checked the same way; an example
//   whose package.json names other packages (with-pulumi-gcp: @pulumi/gcp) gets `npm ci` in its
//   folder, then `tsc -p` with its own tsconfig.json.
// Exits non-zero, naming the block or example and the compiler's message, when anything fails.
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { findRepoRoot } from "./harness/root";

const root = findRepoRoot();
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const work = path.join(root, ".work", "check-docs");
const OWN = new Set(["zitadel-audit-stream", "@pulumi/pulumi", "@types/node", "typescript"]);

function compilerOptions(): Record<string, unknown> {
  return {
    strict: true,
    target: "ES2022",
    module: "commonjs",
    moduleResolution: "node",
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    types: ["node"],
    baseUrl: root,
    paths: { "zitadel-audit-stream": ["provider/index.ts"] },
  };
}

/** The ```ts blocks of a markdown file, with the line each starts on. */
export function typescriptBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

function run(label: string, args: string[], cwd: string): boolean {
  try {
    execFileSync(process.execPath, [tsc, ...args], { cwd, stdio: "pipe", encoding: "utf8" });
    console.log(`check-docs: ${label}: ok`);
    return true;
  } catch (e) {
    const out = `${(e as { stdout?: string }).stdout ?? ""}${(e as { stderr?: string }).stderr ?? ""}`.trim();
    console.error(`check-docs: ${label}: does not compile\n${out}`);
    return false;
  }
}

function main(): void {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  let ok = true;

  const files: string[] = [];
  for (const { line, code } of typescriptBlocks(fs.readFileSync(path.join(root, "README.md"), "utf8"))) {
    const file = path.join(work, `README.md-line-${line}.ts`);
    // Each block is its own module, so names do not clash between blocks.
    fs.writeFileSync(file, /^\s*(import|export)\s/m.test(code) ? code : `${code}\nexport {};\n`);
    files.push(file);
  }
  if (files.length === 0) throw new Error("README.md has no ```ts block: the parser is broken");

  const shared: string[] = [];
  for (const name of fs.readdirSync(path.join(root, "examples")).sort()) {
    const dir = path.join(root, "examples", name);
    const manifest = path.join(dir, "package.json");
    if (!fs.existsSync(manifest)) {
      console.error(`check-docs: examples/${name} has no package.json: every example is a project folder`);
      ok = false;
      continue;
    }
    const m = JSON.parse(fs.readFileSync(manifest, "utf8"));
    const extra = Object.keys({ ...m.dependencies, ...m.devDependencies }).filter((d) => !OWN.has(d));
    if (extra.length === 0) {
      shared.push(path.join(dir, "index.ts"));
      continue;
    }
    console.log(`check-docs: examples/${name} needs ${extra.join(", ")}: npm ci there`);
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd: dir, stdio: "inherit" });
    ok = run(`examples/${name} (its own tsconfig.json)`, ["-p", "tsconfig.json"], dir) && ok;
  }

  const project = path.join(work, "tsconfig.json");
  fs.writeFileSync(project, JSON.stringify({ compilerOptions: compilerOptions(), files: [...files, ...shared] }, null, 2));
  ok = run(`${files.length} README blocks and ${shared.length} examples`, ["-p", project], work) && ok;
  if (!ok) process.exit(1);
}

if (require.main === module) main();
