// Service-account key files shaped like the ones Google issues (type, project_id, private_key_id,
// private_key as PKCS#8 PEM, client_email, client_id, token_uri, ...), with real RSA keys.
import * as crypto from "crypto";

export interface KeyFileOptions {
  project?: string;
  accountId?: string;
  tokenUri?: string;
  bits?: number;
}

export function makeServiceAccountKeyFile(opts: KeyFileOptions = {}): string {
  const project = opts.project ?? "zitadel-audit";
  const accountId = opts.accountId ?? "audit-writer";
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: opts.bits ?? 2048 });
  const email = `${accountId}@${project}.iam.gserviceaccount.com`;
  return JSON.stringify(
    {
      type: "service_account",
      project_id: project,
      private_key_id: crypto.randomBytes(20).toString("hex"),
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      client_email: email,
      client_id: String(BigInt("0x" + crypto.randomBytes(8).toString("hex"))),
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: opts.tokenUri ?? "https://oauth2.googleapis.com/token",
      auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
      universe_domain: "googleapis.com",
    },
    null,
    2,
  );
}

/**
 * A key file whose base64 holds '+', '/' and '=' — the characters that break an un-encoded sink URI.
 * Base64 of ASCII text yields '+' or '/' only from a byte whose low six bits are all ones but the last
 * ('>' , '~') or all ones ('?'), standing third in a 3-byte group; ordinary key JSON seldom has one.
 * So the key gets one extra field placing '>' and '?' there, and is padded so the base64 ends in '='.
 */
export function makeKeyWithAwkwardBase64(opts: KeyFileOptions = {}): { json: string; base64: string } {
  const base = makeServiceAccountKeyFile(opts);
  let json = base.slice(0, base.lastIndexOf("}")).trimEnd() + ',\n  "note": "';
  const placeAtThird = (ch: string) => {
    while (json.length % 3 !== 2) json += "-";
    json += ch;
  };
  placeAtThird(">");
  placeAtThird("?");
  json += '"\n}';
  while (json.length % 3 === 0) json += "\n";
  const base64 = Buffer.from(json).toString("base64");
  if (!(base64.includes("+") && base64.includes("/") && base64.endsWith("="))) {
    throw new Error("key base64 lacks one of + / =");
  }
  return { json, base64 };
}
