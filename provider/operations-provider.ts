// The provider object Pulumi serializes into state for every resource, and how it finds this
// package's code again in the provider process, whatever way the package was installed.
//
// Pulumi stores a dynamic resource's provider as the text of a function (pulumi-dynamic.md §2.1).
// What it captures decides what state holds: a module object under node_modules becomes a
// `require("<pkg>/<path>")`, but any other module is copied by value with everything it reaches
// (§2.2) — which fails outright for zod (`package.json export path … not found`) and would freeze
// old code into state. A package installed as a symlink (`npm install ../dir`, `npm link`, npm and
// pnpm workspaces) or this repository's own root project are such "other" modules, since Node
// loads them from their real path outside node_modules.
//
// So the stored provider captures no module at all: it holds a module *specifier string* and the
// name of the module's operations export, and calls `require(specifier)` when a method runs.
// `require` is never captured by the serializer (§2.2) and, in the serialized text, resolves from
// the provider process's cwd, the program directory (§2.1, §3.2). The specifier is chosen here, in
// the program process, and checked to resolve from the program directory to this very file:
//   - "zitadel-audit-stream/dist/provider/…js" for every install mode (tarball, directory, link,
//     workspace), so `destroy`/`refresh` of old stacks run the installed version's code;
//   - a relative path to dist/ for a program inside a checkout of this repository (its root
//     project imports the TypeScript sources; the provider process runs their build).
// Each resource module's path and operations export name are therefore stable API
// (test/integration/serialization.test.ts pins them).
import * as fs from "fs";
import * as path from "path";
import type { ConfigLike, Operations } from "./shared";

export const PACKAGE_NAME = "zitadel-audit-stream";

/**
 * The provider object state stores for a resource module: its specifier, the module's operations
 * export name, and methods that forward the engine's calls to those operations.
 */
export type OperationsProvider = ReturnType<typeof makeOperationsProvider>;

/**
 * Serialized by value into state, so its methods reach nothing but `this`, `require` and globals,
 * and it is a plain object rather than a class: the serializer then writes no constructor and no
 * prototype, which keeps each stored copy near 3 KB. The Operations call signature (config first,
 * then the engine's arguments) is stable API.
 */
export function makeOperationsProvider(module: string, operations: string) {
  return {
    module,
    operations,
    config: undefined as ConfigLike | undefined,
    async configure(req: { config: ConfigLike }) {
      this.config = req.config;
    },
    check(olds: any, news: any) {
      return this.ops().check(this.config, olds, news);
    },
    diff(id: string, olds: any, news: any) {
      return this.ops().diff(this.config, id, olds, news);
    },
    create(inputs: any) {
      return this.ops().create(this.config, inputs);
    },
    read(id: string, props?: any) {
      return this.ops().read(this.config, id, props);
    },
    update(id: string, olds: any, news: any) {
      return this.ops().update(this.config, id, olds, news);
    },
    delete(id: string, props: any) {
      return this.ops().delete(this.config, id, props);
    },
    ops(): Operations {
      try {
        const ops = require(this.module)[this.operations];
        if (!ops) throw new Error(`it has no export ${this.operations}`);
        return ops;
      } catch (e) {
        throw new Error(
          `zitadel-audit-stream: cannot load "${this.module}" from ${process.cwd()}: ${(e as Error).message.split("\n")[0]}. ` +
            `Run pulumi in the project folder, with the package installed there (the version that made this stack, or newer).`,
        );
      }
    },
  };
}

const providers = new Map<string, OperationsProvider>();

/**
 * The one provider object for a resource module (one object, so Pulumi serializes it once per
 * module). `moduleFile` is the resource module's `__filename`.
 */
export function operationsProvider(moduleFile: string, operations: string): OperationsProvider {
  const key = `${moduleFile}#${operations}`;
  let p = providers.get(key);
  if (!p) {
    p = makeOperationsProvider(storedModuleSpecifier(moduleFile), operations);
    providers.set(key, p);
  }
  return p;
}

/**
 * The `require` specifier the provider process, running in `programDir`, loads `moduleFile` by.
 * Throws with what to do when there is none.
 */
export function storedModuleSpecifier(moduleFile: string, programDir = process.cwd()): string {
  const root = packageRoot(fs.realpathSync(moduleFile));
  const js = compiledFile(moduleFile, root);
  const target = fs.realpathSync(js);
  const bare = `${PACKAGE_NAME}/${toPosix(path.relative(root, target))}`;
  if (resolvesTo(bare, programDir, target)) return bare;
  // A copy installed under node_modules (an inline Automation API program may run elsewhere than
  // the provider process; the serializer would have emitted this same reference).
  if (toPosix(js).includes(`/node_modules/${PACKAGE_NAME}/`)) return bare;
  // A program inside a checkout of this package: its own root project.
  const dir = fs.realpathSync(programDir);
  if (isInside(dir, root)) {
    const rel = toPosix(path.relative(dir, target));
    return rel.startsWith("../") ? rel : `./${rel}`;
  }
  throw new Error(
    `${PACKAGE_NAME}: Pulumi's provider process runs in ${dir} and could not load this package from there ` +
      `("${bare}" does not resolve to ${target}). Install ${PACKAGE_NAME} into that project ` +
      `(npm install of the tarball or the package folder, npm link, or a workspace) and run pulumi from the project folder.`,
  );
}

/** The JavaScript the provider process runs for `file`: itself, or for a .ts source its build in dist/. */
function compiledFile(file: string, root: string): string {
  if (!file.endsWith(".ts")) return file;
  const js = path.join(root, "dist", path.relative(root, fs.realpathSync(file))).replace(/\.ts$/, ".js");
  const stale = !fs.existsSync(js) || fs.statSync(js).mtimeMs + 1000 < fs.statSync(file).mtimeMs;
  if (stale) {
    throw new Error(
      `${PACKAGE_NAME}: the program imports the TypeScript sources, and Pulumi's provider process runs their build, ` +
        `${path.relative(process.cwd(), js) || js}, which is ${fs.existsSync(js) ? "older than the source" : "missing"}: run \`npm run build\` in ${root}`,
    );
  }
  return js;
}

function packageRoot(file: string): string {
  let dir = path.dirname(file);
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      try {
        if (JSON.parse(fs.readFileSync(manifest, "utf8")).name === PACKAGE_NAME) return dir;
      } catch {
        // not ours
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`${PACKAGE_NAME}: no package.json named ${PACKAGE_NAME} above ${file}`);
    dir = up;
  }
}

function resolvesTo(specifier: string, fromDir: string, target: string): boolean {
  try {
    return fs.realpathSync(require.resolve(specifier, { paths: [fromDir] })) === target;
  } catch {
    return false;
  }
}

function isInside(dir: string, root: string): boolean {
  const rel = path.relative(root, dir);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}
