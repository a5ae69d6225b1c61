import * as crypto from "crypto";
import { generatePassword, scramVerifier } from "./scram";

test("the verifier has PostgreSQL's shape and depends on password and salt", () => {
  const salt = Buffer.from("0123456789abcdef");
  const v = scramVerifier("pencil", salt);
  expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
  expect(v.split("$")[1]).toBe(`4096:${salt.toString("base64")}`);
  expect(scramVerifier("pencil", salt)).toBe(v);
  expect(scramVerifier("pencil2", salt)).not.toBe(v);
  expect(scramVerifier("pencil", Buffer.from("fedcba9876543210"))).not.toBe(v);
});

test("RFC 7677's example: the client proof computed from our StoredKey's inputs matches the RFC's", () => {
  // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ== , 4096 iterations, and
  // the exchange's AuthMessage; the client proof is ClientKey XOR HMAC(StoredKey, AuthMessage).
  const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
  const [, , keys] = scramVerifier("pencil", salt).split("$");
  const [storedKey, serverKey] = keys.split(":").map((k) => Buffer.from(k, "base64"));
  const auth =
    "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const serverSignature = crypto.createHmac("sha256", serverKey).update(auth).digest("base64");
  expect(serverSignature).toBe("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  const salted = crypto.pbkdf2Sync("pencil", salt, 4096, 32, "sha256");
  const clientKey = crypto.createHmac("sha256", salted).update("Client Key").digest();
  const signature = crypto.createHmac("sha256", storedKey).update(auth).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i])).toString("base64");
  expect(proof).toBe("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
});

test("generated passwords: 32 letters and digits, different each time", () => {
  const a = generatePassword();
  expect(a).toMatch(/^[A-Za-z0-9]{32}$/);
  expect(generatePassword()).not.toBe(a);
  expect(() => scramVerifier("naïve")).toThrow(/ASCII/);
});
