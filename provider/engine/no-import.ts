// Dynamic resources cannot be imported or read with `get`: both are refused with one sentence that
// says what to do instead. Each resource's file gives its own advice (`importInstead` in its
// defineResource spec), which is kept here by type, so that its operations (engineFacing) refuse a
// read without state with the same sentence.

/** A resource type's refusal of import and `get`, with what to do instead. */
export interface NoImport {
  readonly type: string;
  /**
   * Refuses `import` and `get` (opts.import / opts.id) in the program, with one sentence, before the
   * engine reaches the dynamic provider host (which fails there with "code must be a string",
   * pulumi-dynamic.md §1.3). Returns the options unchanged otherwise.
   */
  refuse<T extends { import?: unknown; id?: unknown } | undefined>(name: string, opts: T): T;
  /** The one sentence: no import, and what to do instead (`read` without state, what import calls, says it too). */
  refusal(name: string, how?: string): string;
}

export function noImport(type: string, instead: string): NoImport {
  const refusal = (name: string, how = "imported") => `${type} ${name} cannot be ${how}: dynamic resources have no import in Pulumi; ${instead}.`;
  return {
    type,
    refusal,
    refuse(name, opts) {
      const how = opts?.import !== undefined ? "imported" : opts?.id !== undefined ? "read with `get`" : undefined;
      if (how) throw new Error(refusal(name, how));
      return opts;
    },
  };
}

const byType = new Map<string, NoImport>();

/** Records a resource type's advice (defineResource, when the resource's module loads). */
export function adviseOnImport(type: string, instead: string): NoImport {
  const n = noImport(type, instead);
  byType.set(type, n);
  return n;
}

/**
 * The refusal of a type's import. The operations export and the class are in one module, so the
 * class (and its advice) is defined whenever its operations run; the general sentence is only a
 * fallback.
 */
export function importRefusal(type: string, name: string): string {
  return (byType.get(type) ?? noImport(type, "declare it in the program without `import`")).refusal(name);
}
