// A password as PostgreSQL stores it: a SCRAM-SHA-256 verifier (RFC 5802 section 3, RFC 7677), computed here so
// that CREATE/ALTER ROLE … PASSWORD carries only the verifier. The server accepts a password given in
// this form as already encrypted (PostgreSQL docs, CREATE ROLE: "If the presented password string is
// already in MD5-encrypted or SCRAM-encrypted format, then it is stored as-is"), so the plain password
// never reaches the server's statement log or pg_stat_activity.
import * as crypto from "crypto";

/** PostgreSQL's default iteration count (scram_iterations, 4096). */
const ITERATIONS = 4096;

/**
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. The password must be ASCII (the
 * generated ones are): SASLprep leaves ASCII unchanged, so no normalisation is needed.
 */
export function scramVerifier(password: string, salt: Buffer = crypto.randomBytes(16)): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error("scramVerifier: only printable ASCII passwords are hashed here");
  const salted = crypto.pbkdf2Sync(password, salt, ITERATIONS, 32, "sha256");
  const hmac = (key: Buffer, text: string) => crypto.createHmac("sha256", key).update(text).digest();
  const storedKey = crypto.createHash("sha256").update(hmac(salted, "Client Key")).digest();
  const serverKey = hmac(salted, "Server Key");
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** A password of 32 letters and digits (about 190 bits), safe in a URL and a properties file. */
export function generatePassword(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.randomBytes(64);
  let out = "";
  // Rejection sampling keeps every character equally likely (248 = 4 × 62).
  for (const b of bytes) if (b < 248 && out.length < 32) out += alphabet[b % 62];
  return out.length === 32 ? out : generatePassword();
}
