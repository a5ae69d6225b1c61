// What `check` does for every resource: zod validation turned into Pulumi CheckFailures, with
// preview-time unknowns left for later, and the engine's own keys kept out of the inputs.
import { z } from "zod";
import { zodProblems } from "../validation";

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
