// The house's walls, read from the import statements (type-only ones included): no import cycle in
// the product, and no import across a boundary. The product (provider/) is what users install: it
// imports neither the tests nor the stand-ins. The stand-ins stand in for Google and CockroachDB: they
// never import the product (only their own tests may use its client, as a real client would).
// The demo, the bench and the tools use the stand-ins through their public entry, never test/.
import * as path from "path";
import { importCycles, importsOf, repoRoot, tsFiles } from "../helpers/imports";

const under = (dir: string) => path.join(repoRoot, dir) + path.sep;
const rel = (f: string) => path.relative(repoRoot, f);

/** Every import from `from` (files under these folders) into `to` (files under those), as "a -> b". */
function crossings(from: string[], to: string[], allow: (file: string, target: string) => boolean = () => false): string[] {
  const files = from.flatMap((d) => tsFiles(path.join(repoRoot, d)));
  return files.flatMap((f) =>
    importsOf(f)
      .files.filter((t) => to.some((d) => t.startsWith(under(d))) && !allow(f, t))
      .map((t) => `${rel(f)} -> ${rel(t)}`),
  );
}

test("the product has no import cycle", () => {
  expect(importCycles(tsFiles(path.join(repoRoot, "provider")))).toEqual([]);
});

test("the stand-ins have no import cycle", () => {
  expect(importCycles(tsFiles(path.join(repoRoot, "stand-ins")))).toEqual([]);
});

test("the product imports neither the tests, the stand-ins, nor the demo, bench or tools", () => {
  expect(crossings(["provider"], ["test", "stand-ins", "demo", "bench", "tools"])).toEqual([]);
});

test("the stand-ins never import the product or the tests; only their own tests use the product's client", () => {
  const ownTestUsingClient = (f: string, t: string) => f.endsWith(".test.ts") && t.startsWith(under("provider/gcp"));
  expect(crossings(["stand-ins"], ["provider", "test", "demo", "bench", "tools"], ownTestUsingClient)).toEqual([]);
});

test("the demo, the bench and the tools never reach into test/; the stand-ins only through their entry", () => {
  expect(crossings(["demo", "bench", "tools"], ["test"])).toEqual([]);
  const entry = path.join(repoRoot, "stand-ins", "index.ts");
  expect(crossings(["demo", "bench", "tools"], ["stand-ins"], (_f, t) => t === entry)).toEqual([]);
});

test("the scanner sees imports: a file known to import another is found to", () => {
  const index = importsOf(path.join(repoRoot, "provider", "index.ts"));
  expect(index.files).toContain(path.join(repoRoot, "provider", "permissions.ts"));
  const component = importsOf(path.join(repoRoot, "provider", "audit-stream", "index.ts"));
  expect(component.packages).toContain("@pulumi/pulumi");
  // Type-only imports count: this one is `import type`.
  expect(component.files).toContain(path.join(repoRoot, "provider", "cockroach", "health.ts"));
});
