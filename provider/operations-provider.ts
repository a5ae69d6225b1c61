// The provider object Pulumi serializes into state for every resource, and how it finds this
// package's code again in the provider process, whatever way the package was installed.
//
// Pulumi stores a dynamic resource's provider as the text of a function (pulumi-dynamic.md §2.1).
// What it captures decides what state holds: a module object whose `require.cache` path runs
// through node_modules becomes a `require("<pkg>/<path>")` (createClosure.ts captureModuleAsync,
// pulumi-dynamic.md §2.2), but any other module is copied by value with everything it reaches — which fails outright
// for zod (`package.json export path … not found`) and would freeze old code into state.
//
// So the provider a resource hands to Pulumi is, where it can be, a *module object*: the exports of
// provider/stored/<resource>.js, whose own properties are the provider methods (engineProvider).
// State then holds ~300 bytes, `require("zitadel-audit-stream/dist/provider/stored/<resource>.js")`,
// resolved in the provider process from its cwd, the program directory (pulumi-dynamic.md §2.1, §3.2), so `refresh`
// and `destroy` of a stack run the installed version's code. The serializer finds a module by
// scanning `require.cache` for its exports and names it by that path:
//   - installed as a copy (npm tarball or registry, pnpm's store): the module's own path runs
//     through node_modules, and the real module is used;
//   - installed as a symlink (`npm install ../dir`, `npm link`, workspaces, and this repository's
//     own projects, which depend on the package as `file:.`): Node caches modules by real path, so
//     the module is registered once more under the path the program's node_modules gives it. The
//     alias is never used by Node's own loader (it caches by real path), and its exports are the
//     same provider, built from the same operations.
// Where neither is possible (no node_modules entry for the package above the program, or a loader
// whose require.cache cannot be written, like jest's), the provider falls back to the earlier
// format: a plain object of ~3 KB holding a module specifier and forwarding methods, which is also
// what stacks made by version 0.1.0 hold. Every module and export either format names is stable API
// (test/integration/serialization.test.ts pins them).
import * as fs from "fs";
import Module from "module";
import * as path from "path";
import type { ConfigLike, Operations } from "./engine/contract";

export const PACKAGE_NAME = "zitadel-audit-stream";

/**
 * The fallback provider object (see the header), and what version 0.1.0 stored for every resource:
 * its module specifier, the module's operations export name, and methods that forward the
 * engine's calls to those operations.
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

/**
 * The methods the dynamic-provider host calls, forwarding to `ops` with the stack config that
 * `configure` received. provider/stored/<resource>.ts exports one of these for each resource type.
 */
export function engineProvider(ops: Operations) {
  let config: ConfigLike | undefined;
  return {
    async configure(req: { config: ConfigLike }) {
      config = req.config;
    },
    check: (olds: any, news: any) => ops.check(config, olds, news),
    diff: (id: string, olds: any, news: any) => ops.diff(config, id, olds, news),
    create: (inputs: any) => ops.create(config, inputs),
    read: (id: string, props?: any) => ops.read(config, id, props),
    update: (id: string, olds: any, news: any) => ops.update(config, id, olds, news),
    delete: (id: string, props: any) => ops.delete(config, id, props),
  };
}

export type StoredProvider = ReturnType<typeof engineProvider> | OperationsProvider;

const providers = new Map<string, StoredProvider>();

/**
 * The one provider object for a resource module (one object, so Pulumi serializes it once per
 * module). `moduleFile` is the resource module's `__filename`, `operations` the name of its
 * operations export and `ops` that export.
 */
export function operationsProvider(moduleFile: string, operations: string, ops: Operations): StoredProvider {
  const key = `${moduleFile}#${operations}`;
  let p = providers.get(key);
  if (!p) {
    p = referencedProvider(moduleFile, ops) ?? makeOperationsProvider(storedModuleSpecifier(moduleFile), operations);
    providers.set(key, p);
  }
  return p;
}

/**
 * The exports of provider/stored/<resource>.js as a module the serializer names by a node_modules
 * path (see the header), or undefined when there is none.
 */
export function referencedProvider(moduleFile: string, ops: Operations, programDir = process.cwd()): StoredProvider | undefined {
  const root = packageRoot(fs.realpathSync(moduleFile));
  compiledFile(moduleFile, root); // a stale build is refused here as for the fallback
  const stored = path.join(root, "dist", "provider", "stored", path.basename(moduleFile).replace(/\.(ts|js)$/, ".js"));
  if (!fs.existsSync(stored)) return undefined;
  const rel = path.relative(root, fs.realpathSync(stored));
  const installed = installedRoot(programDir, root);
  const key = installed ? path.join(installed, rel) : toPosix(stored).includes(`/node_modules/${PACKAGE_NAME}/`) ? stored : undefined;
  if (!key) return undefined;
  const cache = require.cache;
  if (fs.realpathSync(key) === key) {
    const exports = require(key);
    return cache[key]?.exports === exports ? exports : undefined;
  }
  let alias = cache[key];
  if (!alias) {
    alias = new Module(key);
    alias.filename = key;
    alias.loaded = true;
    alias.exports = engineProvider(ops);
    cache[key] = alias;
  }
  return cache[key] === alias ? alias.exports : undefined;
}

/** `<dir>/node_modules/zitadel-audit-stream` for the nearest `dir` at or above `programDir`, if it is this package at `root`. */
function installedRoot(programDir: string, root: string): string | undefined {
  let dir = path.resolve(programDir);
  for (;;) {
    const candidate = path.join(dir, "node_modules", PACKAGE_NAME);
    if (fs.existsSync(candidate)) return fs.realpathSync(candidate) === root ? candidate : undefined;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
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
