// Shared validation helpers: zod schemas are the single source of each rule, and every
// failure names the field it is about, so `check` can turn them into Pulumi CheckFailures.
import { z } from "zod";

export interface FieldProblem {
  /** Dotted path of the offending field, e.g. "payload.eventTypes.3". */
  field: string;
  reason: string;
}

/** Thrown by the pure builders. `problems` lists every failing field, not only the first. */
export class ValidationError extends Error {
  readonly problems: FieldProblem[];
  constructor(what: string, problems: FieldProblem[]) {
    super(`${what}: ${problems.map((p) => (p.field ? `${p.field}: ${p.reason}` : p.reason)).join("; ")}`);
    this.name = "ValidationError";
    this.problems = problems;
  }
}

export function zodProblems(error: z.ZodError): FieldProblem[] {
  return flatten(error.issues, []);
}

/**
 * A union's own message ("must be x or y") hides why the alternative the caller meant failed.
 * When exactly one alternative failed below its root (the input had its shape), report that one.
 */
function flatten(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[]): FieldProblem[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === "invalid_union") {
      const shaped = issue.errors.filter((branch) => branch.some((i) => i.path.length > 0 || i.code === "unrecognized_keys"));
      if (shaped.length === 1) return flatten(shaped[0], path);
    }
    // Name each unknown key as the field, so a typo points at itself.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => ({ field: [...path, k].map(String).join("."), reason: `unknown option "${k}"` }));
    }
    // A bad record key says only "Invalid key in record"; its own issues say why.
    if (issue.code === "invalid_key" && issue.issues.length) {
      return flatten(
        issue.issues.map((i) => ({ ...i, path: [] })),
        path,
      );
    }
    return [{ field: path.map(String).join("."), reason: issue.message }];
  });
}

/** Parses `value` with `schema`, or throws a ValidationError naming each bad field. */
export function parseOrThrow<S extends z.ZodType>(what: string, schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(what, zodProblems(result.error));
  return result.data;
}

/** Printable ASCII only: refuses NUL, control characters, and look-alike unicode in identifiers and literals. */
export const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A Go `time.ParseDuration` string limited to ASCII units, e.g. "10s", "1m30s", "500ms". */
export const goDuration = z.string().regex(/^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/, 'must be a Go duration such as "10s", "1m30s" or "500ms"');

/** Seconds in a Go duration ("1h30m", "500ms"), as Go's time.ParseDuration reads it. */
export function goDurationSeconds(d: string): number {
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const m of d.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]];
  return total;
}

/**
 * Cloud Storage bucket names (shared/research gcp-apis.md §1.3):
 * 3-63 characters (up to 222 with dots, 63 per dot-separated part), lowercase letters, digits,
 * dashes, underscores and dots, starting and ending with a letter or digit; no "goog" prefix,
 * no "google" inside, not an IPv4 address.
 */
export const bucketName = z.string().superRefine((name, ctx) => {
  const fail = (message: string) => ctx.addIssue({ code: "custom", message });
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) {
    return fail("bucket names use lowercase letters, digits, '-', '_' and '.', and start and end with a letter or digit");
  }
  const max = name.includes(".") ? 222 : 63;
  if (name.length < 3 || name.length > max) return fail(`bucket names are 3 to ${max} characters long`);
  if (name.split(".").some((part) => part.length === 0 || part.length > 63)) {
    return fail("each dot-separated part of a bucket name is 1 to 63 characters long");
  }
  if (name.startsWith("goog")) return fail('bucket names cannot start with "goog"');
  if (/g[o0][o0]gle/.test(name)) return fail('bucket names cannot contain "google" or close misspellings');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return fail("bucket names cannot be IP addresses");
});
