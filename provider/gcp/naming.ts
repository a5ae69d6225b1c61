// Default name prefixes derived from a resource's logical name. Runs in the program (resource
// constructors), never inside a provider.

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
