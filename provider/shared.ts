// What every provider's check and diff share: zod validation turned into Pulumi CheckFailures,
// preview-time unknowns, names generated once and kept, and diff classification.
//
// The Operations call signature (config first, then the engine's arguments) is stable API: the
// OperationsProvider copied into users' state calls it (provider/operations-provider.ts).
import * as crypto from "crypto";
import { z } from "zod";
import { zodProblems } from "./validation";

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
  const unknownKeys = new Set(Object.keys(given).filter((k) => containsUnknown(given[k])));
  const result = schema.safeParse(given);
  if (result.success) return { inputs: result.data, complete: true };
  const failures = zodProblems(result.error)
    .filter((p) => !unknownKeys.has(p.field.split(".")[0]))
    .map((p) => ({ property: p.field, reason: p.reason }));
  if (failures.length) return { failures, complete: false };
  return { inputs: given as z.output<S>, complete: false };
}

/** The object without the engine's `__provider` key (the host adds it back to every result). */
export function withoutProvider(o: Record<string, any>): Record<string, any> {
  const { __provider, ...rest } = o;
  void __provider;
  return rest;
}

/** `prefix` + separator + 6 random hex characters, the prefix cut so the whole fits `maxLength`. */
export function generateName(prefix: string, separator: string, maxLength: number): string {
  return `${prefix.slice(0, maxLength - 7)}${separator}${crypto.randomBytes(3).toString("hex")}`;
}

/**
 * The physical name for this run: the explicit name if the program gives one; else the name
 * generated earlier (kept in `olds`) while the prefix and every replace-only field stay the same;
 * else a new one. A new name on replacement lets the new resource exist beside the old one
 * (create before delete). `autoNamed` tells create that a conflict on this name can only be our
 * own earlier, lost create, so adopting it is safe.
 */
export function physicalName(
  olds: Record<string, any>,
  news: Record<string, any>,
  opts: { nameKey: string; prefixKey: string; separator: string; maxLength: number; replaceKeys: string[] },
): { name: string; autoNamed: boolean } {
  const explicit = news[opts.nameKey];
  if (typeof explicit === "string" && explicit !== "") return { name: explicit, autoNamed: false };
  const keep =
    olds.autoNamed === true &&
    typeof olds[opts.nameKey] === "string" &&
    olds[opts.prefixKey] === news[opts.prefixKey] &&
    opts.replaceKeys.every((k) => sameValue(olds[k], news[k]));
  return { name: keep ? olds[opts.nameKey] : generateName(String(news[opts.prefixKey]), opts.separator, opts.maxLength), autoNamed: true };
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
