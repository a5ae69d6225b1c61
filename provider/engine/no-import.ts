// Dynamic resources cannot be imported or read with `get`: both are refused with one sentence that
// says what to do instead. Each resource's file gives its own advice (its `noImport`).

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
