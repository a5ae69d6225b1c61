// ZITADEL event types whose payload carries a credential, a hash of one, or a one-time code. Streaming
// their payload (query.payload "all", or an allow-list naming them) copies that into the sink, readable
// by everyone who may read the audit stream. From ZITADEL's event definitions:
// - user.human.added / user.human.registered (and v1's user.added / user.registered): `encodedHash`, the
//   password hash (internal/v2/user/human_registered.go: "New events only use EncodedHash");
// - user.human.password.changed (and v1's user.password.changed): `encodedHash` or the legacy `secret`
//   (internal/repository/user/human_password.go, HumanPasswordChangedType);
// - user.machine.secret.set / .updated: `hashedSecret`, a machine user's client secret hash;
// - *.code.added (password reset, initialisation, e-mail, phone, OTP SMS/e-mail, invite): encrypted codes;
// - user.human.mfa.otp.added / user.human.otp.added: the encrypted TOTP secret;
// - project.application.oidc.secret.changed / api.secret.changed: a client secret hash;
// - instance.smtp.config.password.changed, …sms…, idp …: encrypted provider credentials.
// A pattern, so that new types of these kinds are caught too.
const SECRET_BEARING = [
  /^user\.(human\.)?(added|registered)$/,
  /(^|\.)password(\.|$)/,
  /(^|\.)secret(\.|$)/,
  /(^|\.)otp(\.|$)/,
  /(^|\.)code\.added$/,
  /(^|\.)(token|key|pat)\.added$/,
  /\.(smtp|sms|twilio)\.config\./,
  /^instance\.idp\.|^org\.idp\./,
];

export function secretBearing(eventType: string): boolean {
  return SECRET_BEARING.some((p) => p.test(eventType));
}

/** The warning for a query's payload choice, or undefined when it streams no secret-bearing payload. */
export function payloadWarning(query: { payload?: unknown } | undefined): string | undefined {
  const p = query?.payload;
  if (p === "all") {
    return 'query.payload "all" streams every event\'s payload, including password hashes (user.human.added, user.human.password.changed), client secret hashes (user.machine.secret.set), encrypted OTP secrets and one-time codes: list the event types you need in payload.eventTypes instead';
  }
  const types =
    p && typeof p === "object" && Array.isArray((p as { eventTypes?: unknown }).eventTypes)
      ? ((p as { eventTypes: unknown[] }).eventTypes.filter((t) => typeof t === "string") as string[])
      : [];
  const bad = types.filter(secretBearing);
  if (bad.length === 0) return undefined;
  return `query.payload.eventTypes names ${bad.join(", ")}, whose payloads carry credentials, hashes of them or one-time codes (ZITADEL's event definitions): they would be readable by everyone who reads the stream. Leave them out unless that is intended`;
}
