// The package as a consumer gets it: `main` from package.json, compiled JavaScript in dist/.
// `npm test` builds first; this fails if `main` points anywhere but the built entry.
import * as path from "path";
import { makeKeyWithAwkwardBase64 } from "../helpers/keys";
import { findRepoRoot } from "../harness/root";

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
