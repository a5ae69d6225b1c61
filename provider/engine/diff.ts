// What `diff` does for every resource: structural comparison of stored outputs with new inputs on
// declared keys only, so outputs that report status never cause a diff.

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

export interface DiffResult {
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
): DiffResult & { updates: string[] } {
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
