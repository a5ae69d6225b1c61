// Physical names: derived once from the resource's identity and kept in state, the same in preview
// and up (so a create that failed half-way finds what it made), and default name prefixes derived
// from a resource's logical name (the latter runs in the program, in the resource constructors).
import * as crypto from "crypto";
import { UNKNOWN } from "./check";
import { sameValue } from "./diff";

/**
 * `prefix` + separator + 6 hex characters, the prefix cut so the whole fits `maxLength`. The
 * characters come from `seed` (the resource's identity and its name generation): the same in
 * preview and up, and the same when a create that failed half-way is run again, so that create
 * finds and adopts what the failed one made instead of leaving it behind. Without a seed (a
 * resource declared by an older program), random.
 */
export function generateName(prefix: string, separator: string, maxLength: number, seed?: string, hexLength = 6): string {
  const suffix = seed
    ? crypto.createHash("sha256").update(seed).digest("hex").slice(0, hexLength)
    : crypto
        .randomBytes(Math.ceil(hexLength / 2))
        .toString("hex")
        .slice(0, hexLength);
  return `${prefix.slice(0, maxLength - hexLength - separator.length)}${separator}${suffix}`;
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
  opts: NameOptions & { replaceKeys: string[] },
): { name: string; autoNamed: boolean; nameGeneration?: number } {
  const explicit = news[opts.nameKey];
  if (typeof explicit === "string" && explicit !== "") return { name: explicit, autoNamed: false };
  const had = olds.autoNamed === true && typeof olds[opts.nameKey] === "string";
  const keep = had && olds[opts.prefixKey] === news[opts.prefixKey] && opts.replaceKeys.every((k) => sameValue(olds[k], news[k]));
  const previous = typeof olds.nameGeneration === "number" ? olds.nameGeneration : 0;
  if (keep) return { name: olds[opts.nameKey], autoNamed: true, nameGeneration: previous };
  const generation = had ? previous + 1 : 0;
  const seed = typeof news.owner === "string" && news.owner ? nameSeed(news, generation, opts.seedKeys) : undefined;
  return {
    name: generateName(String(news[opts.prefixKey]), opts.separator, opts.maxLength, seed, opts.hexLength),
    autoNamed: true,
    nameGeneration: generation,
  };
}

/**
 * The name while some inputs are still unknown (preview): the explicit one, the one already in
 * state, or for a new resource the same derived name `up` will create.
 */
export function previewName(olds: Record<string, any>, news: Record<string, any>, opts: NameOptions): Record<string, unknown> {
  const explicit = news[opts.nameKey];
  if (explicit !== undefined) return { [opts.nameKey]: explicit };
  if (olds[opts.nameKey] !== undefined) return { [opts.nameKey]: olds[opts.nameKey], autoNamed: olds.autoNamed, nameGeneration: olds.nameGeneration };
  const prefix = news[opts.prefixKey];
  const keys = opts.seedKeys ?? ["project"];
  if ([prefix, news.owner, ...keys.map((k) => news[k])].some((x) => typeof x !== "string" || x === UNKNOWN)) return {};
  return {
    [opts.nameKey]: generateName(prefix, opts.separator, opts.maxLength, nameSeed(news, 0, opts.seedKeys), opts.hexLength),
    autoNamed: true,
    nameGeneration: 0,
  };
}

/** How a derived name is made. */
export interface NameOptions {
  nameKey: string;
  prefixKey: string;
  separator: string;
  maxLength: number;
  /**
   * Inputs besides the owner the name's hex is derived from. Default ["project"] (GCP names: bucket
   * names are global, and the objects carry their maker's label). A name that is an object's only
   * mark (a replication slot) adds the deployment, so no other deployment derives it.
   */
  seedKeys?: string[];
  /** Hex characters after the separator (default 6). */
  hexLength?: number;
}

/** The resource's identity, the seed keys' values (the GCP project by default), and the name generation. */
function nameSeed(news: Record<string, any>, generation: number, keys: string[] = ["project"]): string {
  const values = keys.map((k) => news[k] ?? "").join("|");
  return `${news.owner}|${values}#${generation}`;
}

/**
 * Lower-cases `name`, turns every run of characters outside the allowed set into `-` (or `_`),
 * trims it to `max`, and makes it start with a letter.
 */
export function prefixFrom(name: string, disallowed: RegExp, max: number, opts: { joiner?: string; lower?: boolean } = {}): string {
  const joiner = opts.joiner ?? "-";
  let p = (opts.lower === false ? name : name.toLowerCase()).replace(disallowed, joiner);
  p = p.replace(new RegExp(`\\${joiner}+`, "g"), joiner).replace(new RegExp(`^\\${joiner}|\\${joiner}$`, "g"), "");
  if (!/^[a-zA-Z]/.test(p)) p = `z${p}`;
  p = p.replace(/g[o0][o0]g[l1][e3]/g, "g-le").replace(/^goog/, "g-og");
  return p.slice(0, max).replace(new RegExp(`\\${joiner}+$`), "");
}
