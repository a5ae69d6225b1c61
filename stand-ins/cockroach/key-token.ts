// An access token for a service account key, got as Google's Go client gets one: a JWT-bearer
// assertion signed with the key, exchanged at the key's own token_uri (so a key the GCP emulator
// issued is honoured by the emulator). Kept until a minute before it expires.
import * as crypto from "crypto";

/**
 * The key a sink writes with: the one in its URI (AUTH=specified), or the nodes' own (AUTH=implicit,
 * the twin's stand-in for a node's default credentials). ASSUME_ROLE is not modelled.
 */
export function sinkKeyJson(sink: { auth: "specified" | "implicit"; credentials?: string; assumeRole?: string }, implicitKeyFile?: string): string {
  if (sink.assumeRole) throw new Error("ASSUME_ROLE is not implemented by the twin");
  if (sink.auth === "specified") return sink.credentials!;
  if (!implicitKeyFile) throw new Error("implicit credentials: no default credentials are configured on the nodes");
  return require("fs").readFileSync(implicitKeyFile, "utf8");
}

export class KeyToken {
  private token?: { value: string; expires: number };

  constructor(
    /** The key file's JSON text, read at each exchange (the sink's key may change on ALTER). */
    private readonly keyJson: () => string,
    private readonly scope: string,
  ) {}

  async get(): Promise<string> {
    if (this.token && this.token.expires > Date.now() + 60_000) return this.token.value;
    const key = JSON.parse(this.keyJson());
    const tokenUri = key.token_uri || "https://oauth2.googleapis.com/token";
    const now = Math.floor(Date.now() / 1000);
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const unsigned = `${enc({ alg: "RS256", typ: "JWT", kid: key.private_key_id })}.${enc({ iss: key.client_email, scope: this.scope, aud: tokenUri, iat: now, exp: now + 3600 })}`;
    const signature = crypto.sign("RSA-SHA256", Buffer.from(unsigned), key.private_key).toString("base64url");
    const res = await fetch(tokenUri, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: `${unsigned}.${signature}` }),
    });
    const body: any = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`oauth2: cannot fetch token: ${res.status} ${body.error ?? ""}: ${body.error_description ?? ""}`);
    this.token = { value: body.access_token, expires: Date.now() + Number(body.expires_in ?? 3600) * 1000 };
    return this.token.value;
  }
}
