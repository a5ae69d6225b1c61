// Secrets never leave the provider in an error message: every message is scrubbed of the secret
// inputs (at any depth), the provider config's credentials, and anything that looks like a key or a
// URL password, in each of the encodings a message may carry them in.
import type { ConfigLike } from "./contract";

const SECRET_FIELDS = ["connectionString", "credentials", "privateKeyBase64", "privateKeyJson", "private_key"];
const SECRET_CONFIG = ["gcp:credentials", "zitadel-audit-stream:cockroachUrl"];

/** Secret strings among the arguments (at any depth) and in the provider config, with their encoded forms. */
export function secretsIn(config: ConfigLike | undefined, args: unknown[]): string[] {
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
