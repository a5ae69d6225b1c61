// A resource's input rules, declared once: its schema, which fields replace and which update, the
// defaults known without I/O, and how its physical name is derived. `check` and `diff` follow from
// them, so a resource file writes only what is its own (a refusal in diff, a wait in create).
import { z } from "zod";
import type { ConfigLike } from "./contract";
import { defined, validate } from "./check";
import { DiffResult, classifyDiff } from "./diff";
import { NameOptions, physicalName, prefixFrom, previewName } from "./naming";
import { identityFields } from "../ownership";

/** How a generated name is made (engine/naming.ts physicalName). */
export interface NameRule extends NameOptions {
  /** Replace-only fields a change of which derives a new name (the generation grows). */
  replaceKeys: string[];
  /**
   * The default of `prefixKey` when the inputs give none: the resource's logical name (from its
   * `owner`, project/stack/name) made to fit the name's alphabet and length (engine/naming.ts prefixFrom).
   */
  prefix?: { disallowed: RegExp; max: number; joiner?: string; lower?: boolean };
}

/** The logical name in an owner (`<project>/<stack>/<name>`; the name itself may hold '/'). */
export function logicalName(owner: string): string {
  return owner.split("/").slice(2).join("/");
}

export interface InputRules<S extends z.ZodType> {
  schema: S;
  /** Fields a change of which replaces the resource. */
  replace: readonly string[];
  /** Fields a change of which updates it in place. */
  update: readonly string[];
  /** Whether a replacement deletes the old one first (a name that cannot exist twice). */
  deleteBeforeReplace?: (olds: Record<string, any>, news: Record<string, any>) => boolean;
  /** Defaults known without I/O, e.g. the project from config; the program's inputs override them. */
  defaults?: (config: ConfigLike | undefined) => Record<string, unknown>;
  /** Fields whose stored value stands while the inputs leave them out (the project Application Default Credentials gave). */
  sticky?: readonly string[];
  /** The stream identity's fields (owner, deployment, instance; provider/ownership.ts). */
  identity?: boolean;
  name?: NameRule;
  /** Derived inputs added last, once the inputs are complete (a title defaulting to the generated name). */
  finish?: (inputs: Record<string, any>) => Record<string, unknown>;
}

export interface Rules<S extends z.ZodType> extends InputRules<S> {
  check(config: ConfigLike | undefined, olds: any, news: any): Promise<{ inputs?: any; failures?: { property: string; reason: string }[] }>;
  diff(config: ConfigLike | undefined, id: string, olds: any, news: any): Promise<DiffResult>;
  /** The new inputs with the sticky fields kept from `olds`. */
  withSticky<T extends Record<string, any>>(olds: Record<string, any>, news: T): T;
  /** The diff and the fields that update in place. */
  changes(olds: Record<string, any>, news: Record<string, any>): DiffResult & { updates: string[] };
  /** For `update`: the new inputs with the sticky fields kept, and the fields that change in place. */
  updating<T extends Record<string, any>>(olds: Record<string, any>, checked: T): { news: T; updates: string[] };
  /** `check` and `diff` as a resource's operations: `engineFacing("Bucket", { ...RULES.handlers, async create() {…}, … })`. */
  readonly handlers: Pick<Rules<S>, "check" | "diff">;
}

export function inputRules<S extends z.ZodType>(r: InputRules<S>): Rules<S> {
  const withSticky = <T extends Record<string, any>>(olds: Record<string, any>, news: T): T => {
    const kept = Object.fromEntries((r.sticky ?? []).map((k) => [k, news[k] ?? olds[k]]));
    return { ...news, ...kept };
  };
  const changes = (olds: Record<string, any>, news: Record<string, any>) =>
    classifyDiff(olds, withSticky(olds, news), {
      replace: [...r.replace],
      update: [...r.update],
      deleteBeforeReplace: r.deleteBeforeReplace?.(olds, news) ?? false,
    });
  const rules: Omit<Rules<S>, "handlers" | "updating"> = {
    ...r,
    withSticky,
    changes,
    async check(config, olds, given) {
      const p = r.name?.prefix;
      const news =
        p && given?.[r.name!.prefixKey] === undefined && typeof given?.owner === "string" && given.owner.split("/").length > 2
          ? { ...given, [r.name!.prefixKey]: prefixFrom(logicalName(given.owner), p.disallowed, p.max, p) }
          : given;
      const v = validate(r.schema, { ...r.defaults?.(config), ...news });
      if (!v.inputs) return { failures: v.failures };
      const identity = r.identity ? identityFields(olds ?? {}, news) : {};
      const inputs = v.inputs as Record<string, any>;
      if (!r.name) return { inputs: defined({ ...inputs, ...identity, ...(v.complete ? r.finish?.(inputs) : {}) }) };
      if (!v.complete) return { inputs: defined({ ...inputs, ...identity, ...previewName(olds ?? {}, news, r.name) }) };
      const n = physicalName(olds ?? {}, inputs, r.name);
      const named = { ...inputs, ...identity, [r.name.nameKey]: n.name, autoNamed: n.autoNamed, nameGeneration: n.nameGeneration };
      return { inputs: defined({ ...named, ...r.finish?.(named) }) };
    },
    async diff(_config, _id, olds, news) {
      return changes(olds, news);
    },
  };
  const updating = <T extends Record<string, any>>(olds: Record<string, any>, checked: T) => {
    const news = withSticky(olds, checked);
    return { news, updates: changes(olds, news).updates };
  };
  return { ...rules, updating, handlers: { check: rules.check, diff: rules.diff } };
}
