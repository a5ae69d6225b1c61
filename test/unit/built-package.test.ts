// The package as a consumer gets it: `main` from package.json, compiled JavaScript in dist/.
// `npm test` builds first; this fails if `main` points anywhere but the built entry.
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { makeKeyWithAwkwardBase64 } from "../helpers/keys";
import { findRepoRoot } from "../../tools/harness/root";

const root = findRepoRoot();

describe("the built package", () => {
  const pkg = require(root);

  test("main resolves to dist/provider/index.js", () => {
    expect(require.resolve(root)).toBe(path.join(root, "dist", "provider", "index.js"));
    expect(require(path.join(root, "package.json")).exports).toBeUndefined();
  });

  test("buildChangefeedQuery({}) is the guide's select list from eventstore.events2, without payload", () => {
    const sql: string = pkg.buildChangefeedQuery({});
    expect(sql).toBe("SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at FROM eventstore.events2");
    expect(sql).not.toMatch(/payload/);
  });

  test("the allow-list gives the guide's CASE form with the comma", () => {
    expect(pkg.buildChangefeedQuery({ payload: { eventTypes: ["instance.domain.added", "instance.domain.removed"] } })).toBe(
      "SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at, CASE WHEN event_type IN ('instance.domain.added', 'instance.domain.removed') THEN payload END AS payload FROM eventstore.events2",
    );
  });

  test("buildSinkUri with a flat partition decodes back to the exact key", () => {
    const key = makeKeyWithAwkwardBase64();
    const uri: string = pkg.buildSinkUri({ bucket: "gc-storage-zitadel-data", prefix: "events", partitionFormat: "flat", credentials: key.base64 });
    const params = new URLSearchParams(uri.slice(uri.indexOf("?") + 1));
    expect(params.get("partition_format")).toBe("flat");
    expect(Buffer.from(params.get("CREDENTIALS")!, "base64").toString("utf8")).toBe(key.json);
  });
});

describe("what npm publishes", () => {
  const manifest = require(path.join(root, "package.json"));
  const packed: string[] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" }))[0].files.map(
    (f: { path: string }) => f.path,
  );

  test("@pulumi/pulumi is a peer dependency with a range, so a consumer has one SDK copy", () => {
    expect(manifest.dependencies["@pulumi/pulumi"]).toBeUndefined();
    expect(manifest.peerDependencies["@pulumi/pulumi"]).toMatch(/^\^3\.\d+\.\d+$/);
    expect(manifest.devDependencies["@pulumi/pulumi"]).toBeDefined();
  });

  test("one Node requirement: engines, the README and the peer's own engines agree", () => {
    expect(manifest.engines.node).toBe(">=22");
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    expect(readme).toContain("Node.js >= 22");
  });

  test("LICENSE, the entry point and no compiled tests are in the tarball", () => {
    expect(packed).toContain("LICENSE");
    expect(packed).toContain("dist/provider/index.js");
    expect(packed.filter((f) => /\.test\./.test(f))).toEqual([]);
    expect(packed.filter((f) => f.startsWith("dist/") && !f.startsWith("dist/provider/"))).toEqual([]);
  });

  test("every source map points at sources the tarball ships", () => {
    const maps = packed.filter((f) => f.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(10);
    for (const m of maps) {
      const { sources } = JSON.parse(fs.readFileSync(path.join(root, m), "utf8"));
      for (const src of sources) expect(packed).toContain(path.posix.join(path.posix.dirname(m), src));
    }
  });
});
