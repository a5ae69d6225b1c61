// What every provider's check and diff share: zod validation turned into Pulumi CheckFailures,
// preview-time unknowns, names generated once and kept, and diff classification.
//
// The Operations call signature (config first, then the engine's arguments) is stable API: the
// OperationsProvider copied into users' state calls it (provider/operations-provider.ts).
import * as crypto from "crypto";
import { z } from "zod";
import { zodProblems } from "./validation";

/**
 * In Pulumi's dynamic provider host only: when the CLI that started this process is gone (kill -9
 * leaves the host running), stop within half a second, so that an operation nobody can record any
 * more does not go on beside the next `pulumi up` (which reconciles what it left). The host runs
 * under Pulumi's `pulumi-resource-pulumi-nodejs` shell shim (`sh` → `node`), so both our parent and,
 * where /proc shows it, the parent's parent are watched.
 */
export function exitWithOrphanedHost(argv1 = process.argv[1] ?? ""): boolean {
  if (!/dynamic-provider/.test(argv1)) return false;
  const parent = process.ppid;
  const grandparent = parentOf(parent);
  setInterval(() => {
    if (process.ppid !== parent || (grandparent !== undefined && parentOf(parent) !== grandparent)) process.exit(70);
  }, 500).unref();
  return true;
}

/** The parent pid of `pid` from /proc (Linux); undefined where there is no /proc or it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = require("fs").readFileSync(`/proc/${pid}/stat`, "utf8") as string;
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}
exitWithOrphanedHost();

/** The value the engine puts in place of an input that is not known yet (during preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function containsUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
  return false;
}

export interface Checked<T> {
  inputs?: T;
  failures?: { property: string; reason: string }[];
}

/**
 * Validates `news` (without the engine's `__provider`). Problems in fields that are still unknown
 * are not failures: the value is checked again when it is known. Returns parsed inputs, or the raw
 * ones while unknowns remain.
 */
export function validate<S extends z.ZodType>(schema: S, news: Record<string, unknown>): Checked<z.output<S>> & { complete: boolean } {
  const given = withoutProvider(news);
  const unknown = unknownPaths(given, "");
  const result = schema.safeParse(given);
  if (result.success) return { inputs: result.data, complete: true };
  // A problem is left for later only when it is about an unknown value, inside one, or about an
  // object holding one (its cross-field rules need every field): the rest of a sink whose key is
  // not known yet is still checked in preview.
  const about = (field: string) => unknown.some((u) => u === field || u.startsWith(`${field}.`) || field.startsWith(`${u}.`) || field === "");
  const failures = zodProblems(result.error)
    .filter((p) => !about(p.field))
    .map((p) => ({ property: p.field, reason: p.reason }));
  if (failures.length) return { failures, complete: false };
  return { inputs: given as z.output<S>, complete: false };
}

/** Dotted paths of every unknown value. */
function unknownPaths(v: unknown, at: string): string[] {
  if (v === UNKNOWN) return [at];
  if (Array.isArray(v)) return v.flatMap((x, i) => unknownPaths(x, at ? `${at}.${i}` : String(i)));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => unknownPaths(x, at ? `${at}.${k}` : k));
  return [];
}

/** The object without the engine's `__provider` key (the host adds it back to every result). */
export function withoutProvider(o: Record<string, any>): Record<string, any> {
  const { __provider, ...rest } = o;
  void __provider;
  return rest;
}

/**
 * `prefix` + separator + 6 hex characters, the prefix cut so the whole fits `maxLength`. The
 * characters come from `seed` (the resource's identity and its name generation): the same in
 * preview and up, and the same when a create that failed half-way is run again, so that create
 * finds and adopts what the failed one made instead of leaving it behind. Without a seed (a
 * resource declared by an older program), random.
 */
export function generateName(prefix: string, separator: string, maxLength: number, seed?: string): string {
  const suffix = seed ? crypto.createHash("sha256").update(seed).digest("hex").slice(0, 6) : crypto.randomBytes(3).toString("hex");
  return `${prefix.slice(0, maxLength - 7)}${separator}${suffix}`;
}

/**
 * The physical name for this run: the explicit name if the program gives one; else the name
 * generated earlier (kept in `olds`) while the prefix and every replace-only field stay the same;
 * else a name derived from `owner` (project/stack/resource name, set by the constructor) and a
 * generation that grows with each replacement, so the new resource can exist beside the old one
 * (create before delete). `autoNamed` tells create that a conflict on this name can only be our
 * own earlier, lost create, so adopting it is safe.
 */
export function physicalName(
  olds: Record<string, any>,
  news: Record<string, any>,
  opts: { nameKey: string; prefixKey: string; separator: string; maxLength: number; replaceKeys: string[] },
): { name: string; autoNamed: boolean; nameGeneration?: number } {
  const explicit = news[opts.nameKey];
  if (typeof explicit === "string" && explicit !== "") return { name: explicit, autoNamed: false };
  const had = olds.autoNamed === true && typeof olds[opts.nameKey] === "string";
  const keep = had && olds[opts.prefixKey] === news[opts.prefixKey] && opts.replaceKeys.every((k) => sameValue(olds[k], news[k]));
  const previous = typeof olds.nameGeneration === "number" ? olds.nameGeneration : 0;
  if (keep) return { name: olds[opts.nameKey], autoNamed: true, nameGeneration: previous };
  const generation = had ? previous + 1 : 0;
  const seed = typeof news.owner === "string" && news.owner ? nameSeed(news, generation) : undefined;
  return { name: generateName(String(news[opts.prefixKey]), opts.separator, opts.maxLength, seed), autoNamed: true, nameGeneration: generation };
}

/**
 * The name while some inputs are still unknown (preview): the explicit one, the one already in
 * state, or for a new resource the same derived name `up` will create.
 */
export function previewName(olds: Record<string, any>, news: Record<string, any>, opts: { nameKey: string; prefixKey: string; separator: string; maxLength: number }): Record<string, unknown> {
  const explicit = news[opts.nameKey];
  if (explicit !== undefined) return { [opts.nameKey]: explicit };
  if (olds[opts.nameKey] !== undefined) return { [opts.nameKey]: olds[opts.nameKey], autoNamed: olds.autoNamed, nameGeneration: olds.nameGeneration };
  const prefix = news[opts.prefixKey];
  if ([prefix, news.owner, news.project].some((x) => typeof x !== "string" || x === UNKNOWN)) return {};
  return { [opts.nameKey]: generateName(prefix, opts.separator, opts.maxLength, nameSeed(news, 0)), autoNamed: true, nameGeneration: 0 };
}

/** The resource's identity, its GCP project (bucket names are global), and the name generation. */
function nameSeed(news: Record<string, any>, generation: number): string {
  return `${news.owner}|${news.project ?? ""}#${generation}`;
}

/** Structural equality that ignores key order and treats undefined and missing alike. */
export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (v === undefined || v === null) return "null";
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object") {
    return `{${Object.keys(v as object)
      .filter((k) => (v as any)[k] !== undefined && (v as any)[k] !== null)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as any)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

export interface DiffResultLike {
  changes: boolean;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/**
 * Compares stored outputs with new inputs on the given keys only, so outputs that merely report
 * status never cause a diff. A changed provider text alone is an update (no API call) so stored
 * state picks up current code for later deletes (pulumi-dynamic.md §2.6).
 */
export function classifyDiff(
  olds: Record<string, any>,
  news: Record<string, any>,
  spec: { replace: string[]; update: string[]; deleteBeforeReplace?: boolean },
): DiffResultLike & { updates: string[] } {
  const replaces = spec.replace.filter((k) => !sameValue(olds[k], news[k]));
  const updates = spec.update.filter((k) => !sameValue(olds[k], news[k]));
  const codeChanged = olds.__provider !== undefined && news.__provider !== undefined && olds.__provider !== news.__provider;
  return {
    changes: replaces.length > 0 || updates.length > 0 || codeChanged,
    replaces,
    updates,
    deleteBeforeReplace: replaces.length > 0 && (spec.deleteBeforeReplace ?? false),
  };
}

/** Drops undefined values (the engine cannot carry them) from a flat or nested object. */
export function defined<T>(v: T): T {
  if (Array.isArray(v)) return v.map(defined) as T;
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v as object)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, defined(x)]),
    ) as T;
  }
  return v;
}

/** The provider config as `configure` receives it (namespaced keys, secrets unwrapped). */
export interface ConfigLike {
  get(key: string): string | undefined;
}

/** What a resource module exports for its provider: the real work, given the provider config. */
export interface Operations {
  check(config: ConfigLike | undefined, olds: any, news: any): Promise<any>;
  diff(config: ConfigLike | undefined, id: string, olds: any, news: any): Promise<any>;
  create(config: ConfigLike | undefined, inputs: any): Promise<any>;
  read(config: ConfigLike | undefined, id: string, props?: any): Promise<any>;
  update(config: ConfigLike | undefined, id: string, olds: any, news: any): Promise<any>;
  delete(config: ConfigLike | undefined, id: string, props: any): Promise<void>;
}

type Scalar = string | number | boolean | null | undefined;

/**
 * `T` as users write it in a program: every field, element and the whole value may be a
 * `pulumi.Input` (an Output of another resource, a promise, or a plain value), at every depth —
 * e.g. `sink: { bucket: bucket.name, credentials: key.privateKeyBase64 }`. The engine resolves the
 * nested values before `check` sees them.
 */
export type DeepInput<T> = [T] extends [Scalar]
  ? import("@pulumi/pulumi").Input<T>
  : T extends ReadonlyArray<infer U>
    ? import("@pulumi/pulumi").Input<ReadonlyArray<DeepInput<U>>>
    : import("@pulumi/pulumi").Input<{ [K in keyof T]: DeepInput<T[K]> }>;

/** What to do instead of importing, per resource type (dynamic resources cannot be imported or read with `get`). */
const INSTEAD: Record<string, string> = {
  Bucket: "declare it without `import`: a Bucket this stack made is adopted by its derived name; to stream into a bucket made elsewhere, use AuditStream's `existingBucket` (or give the Changefeed its name)",
  ServiceAccount: "declare it without `import`; an account this stack made is adopted by its derived id, and an account made elsewhere can be used by its email directly (ServiceAccountKey's serviceAccountEmail)",
  CustomRole: "declare it without `import`; a role this stack made is adopted by its derived id; a role made elsewhere can be granted by its name (BucketIamMember's role)",
  BucketIamMember: "declare it without `import`: adding a member that is already bound is a no-op, so declaring it adopts it",
  ServiceAccountKey: "declare a new ServiceAccountKey: Google returns a key's private part only when it is created; delete the old key yourself once nothing uses it",
  ClusterSetting: "declare it without `import`: it reads the setting and changes it only when needed",
  BigQueryDataset: "declare it without `import`: a dataset this stack made carries its label and is adopted; one made elsewhere is refused by name (choose another datasetId)",
  BigQueryTable: "declare it without `import`: a table this stack made carries its label and is adopted; one made elsewhere is refused by name",
  BigQueryView: "declare it without `import`: a view this stack made carries its label and is adopted; one made elsewhere is refused by name",
  PubSubTopic: "declare it without `import`: a topic this stack made carries its label and is adopted; to publish to a topic made elsewhere, give the Changefeed its name",
  PubSubSubscription: "declare it without `import`: a subscription this stack made carries its label and is adopted; one made elsewhere is refused by name",
  PubSubIamMember: "declare it without `import`: adding a member that is already bound is a no-op, so declaring it adopts it",
  Changefeed: "declare it without `import`: a job this stack's resource of the same name made is found by its marker and continued; one made by another deployment of the same names is taken over with `takeOver`; a job made by hand cannot be adopted (cancel it once the declared one runs)",
  StreamIdentity: "declare it without `import`: it only holds the identity the stream's objects carry; after a lost state, set `takeOver` on the stream to the deployment its errors name",
};

/**
 * Refuses `import` and `get` (opts.import / opts.id) in the program, with one sentence, before the
 * engine reaches the dynamic provider host (which fails there with "code must be a string",
 * pulumi-dynamic.md §1.3). Returns the options unchanged otherwise.
 */
export function refuseImport<T extends { import?: unknown; id?: unknown } | undefined>(type: string, name: string, opts: T): T {
  const how = (opts as any)?.import !== undefined ? "imported" : (opts as any)?.id !== undefined ? "read with `get`" : undefined;
  if (how) throw new Error(importRefusal(type, name, how));
  return opts;
}

/** The one sentence: no import, and what to do instead. */
export function importRefusal(type: string, name: string, how = "imported"): string {
  return `${type} ${name} cannot be ${how}: dynamic resources have no import in Pulumi; ${INSTEAD[type] ?? "declare it in the program instead"}.`;
}

/**
 * Check failures as the CLI prints them: it shows `property <p> value {<v>}` looking `p` up as a
 * top-level key only (pkg/resource/deploy/step_generator.go issueCheckFailures), so a nested path
 * printed `value {<nil>}`, and a secret-bearing input could print its value. Top-level, non-secret
 * properties keep their name (the CLI shows the value the user gave); the rest name their path in
 * the reason, with no value printed.
 */
export function forEngine<T extends { failures?: { property: string; reason: string }[] }>(r: T, secretKeys: string[] = []): T {
  if (!r?.failures) return r;
  return {
    ...r,
    failures: r.failures.map((f) =>
      f.property && !f.property.includes(".") && !secretKeys.includes(f.property) ? f : { property: "", reason: f.property ? `${f.property}: ${f.reason}` : f.reason },
    ),
  };
}

/**
 * The operations as the engine should see them: `check`'s failures rendered for the CLI (see
 * forEngine), and every error message scrubbed of secrets (see scrubSecrets) — the connection
 * string, the sink's key, private keys, and the config's credentials — whatever the input's secrecy.
 */
export function engineFacing(ops: Operations, secretKeys: string[] = []): Operations {
  const guard =
    <A extends unknown[], R>(fn: (config: ConfigLike | undefined, ...args: A) => Promise<R>) =>
    async (config: ConfigLike | undefined, ...args: A): Promise<R> => {
      try {
        return await fn(config, ...args);
      } catch (e) {
        if (e instanceof Error) {
          e.message = scrubSecrets(e.message, secretsIn(config, args));
          // A failure that records state (the host's ErrorResourceInitFailed: `id` and `properties`)
          // reaches the user only through `reasons`: without them the CLI prints "resource init
          // failed" and nothing of the message (cmd/dynamic-provider/index.js grpcResponseFromError).
          if ((e as { id?: unknown }).id) (e as { reasons?: string[] }).reasons = [e.message];
        }
        throw e;
      }
    };
  return {
    check: guard(async (config, olds, news) => forEngine(await ops.check(config, olds, news), secretKeys)),
    diff: guard(ops.diff),
    create: guard(ops.create),
    read: guard(ops.read),
    update: guard(ops.update),
    delete: guard(ops.delete),
  };
}

const SECRET_FIELDS = ["connectionString", "credentials", "privateKeyBase64", "privateKeyJson", "private_key"];
const SECRET_CONFIG = ["gcp:credentials", "zitadel-audit-stream:cockroachUrl"];

/** Secret strings among the arguments (at any depth) and in the provider config, with their encoded forms. */
function secretsIn(config: ConfigLike | undefined, args: unknown[]): string[] {
  const found: string[] = [];
  const visit = (v: unknown, key: string, depth: number) => {
    if (depth > 6 || v === null || v === undefined) return;
    if (typeof v === "string") {
      if (SECRET_FIELDS.includes(key) && v.length >= 8) found.push(v);
      return;
    }
    if (typeof v === "object") for (const [k, x] of Object.entries(v as object)) visit(x, k, depth + 1);
  };
  args.forEach((a) => visit(a, "", 0));
  for (const k of SECRET_CONFIG) {
    const v = config?.get(k);
    if (v && v.length >= 8) found.push(v);
  }
  const all = new Set<string>();
  for (const f of found) {
    all.add(f);
    all.add(encodeURIComponent(f));
    if (/^[A-Za-z0-9+/=]+$/.test(f) && f.length % 4 === 0) all.add(Buffer.from(f, "base64").toString("utf8"));
    else all.add(Buffer.from(f, "utf8").toString("base64"));
    try {
      const u = new URL(f);
      if (u.password) all.add(decodeURIComponent(u.password));
    } catch {
      // not a URL
    }
  }
  return [...all].filter((x) => x.length >= 8).sort((a, b) => b.length - a.length);
}

/**
 * The text without secrets: the given values (longest first), any sink URI's CREDENTIALS or
 * BEARER_TOKEN, a URL's password, and PEM private keys.
 */
export function scrubSecrets(text: string, secrets: string[] = []): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("[redacted]");
  return out
    .replace(/((?:CREDENTIALS|BEARER_TOKEN)=)[^&\s'"]+/g, "$1redacted")
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:@/\s]+:)[^@\s]+@/gi, "$1redacted@")
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, "[redacted private key]");
}
