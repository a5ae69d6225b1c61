// REST calls to the emulator as one of its accounts, for the stand-ins' own tests: a token from the
// emulator's /token by the JWT-bearer grant (what Google's libraries do with a key file), then fetch.
import * as crypto from "crypto";
import type { GcpEmulator } from "./emulator";

export interface RestClient {
  email: string;
  token: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** The same, throwing unless the answer is 200. */
  ok(method: string, path: string, body?: unknown): Promise<any>;
}

/** A token for a key file (JSON text) the emulator issued. */
export async function tokenFor(keyFile: string, scope = "https://www.googleapis.com/auth/cloud-platform"): Promise<string> {
  const key = JSON.parse(keyFile);
  const now = Math.floor(Date.now() / 1000);
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const unsigned = `${part({ alg: "RS256", typ: "JWT", kid: key.private_key_id })}.${part({ iss: key.client_email, scope, aud: key.token_uri, iat: now, exp: now + 3600 })}`;
  const signature = crypto.sign("RSA-SHA256", Buffer.from(unsigned), key.private_key).toString("base64url");
  const res = await fetch(key.token_uri, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: `${unsigned}.${signature}` }),
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as any).access_token;
}

/** A client calling as the key file's account. */
export async function restClient(emu: GcpEmulator, keyFile: string): Promise<RestClient> {
  const token = await tokenFor(keyFile);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(emu.endpoint + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    email: JSON.parse(keyFile).client_email,
    token,
    call,
    async ok(method, path, body) {
      const r = await call(method, path, body);
      if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
}

/** A new account of the emulator's project (no grants) and a client for it. */
export async function newAccountClient(emu: GcpEmulator, id: string): Promise<RestClient> {
  const sa = emu.iam.createAccount(emu.project, id, {});
  return restClient(emu, emu.iam.createKey(sa, "KEY_ALG_RSA_2048").keyFile);
}
