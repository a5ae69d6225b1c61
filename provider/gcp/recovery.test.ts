import { accountNotYetVisible, alreadyExists, etagConflict, iamNotYetVisible, keyGone, notFound, transient, withRetry } from "./recovery";

const http = (status: number, message = "x") => Object.assign(new Error(message), { response: { status, data: { error: { message } } } });
const network = (code: string) => Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code }) });

const RULES = { transient, notFound, alreadyExists, accountNotYetVisible, iamNotYetVisible, etagConflict, keyGone };
type Rule = keyof typeof RULES;

test.each<[string, unknown, Rule[]]>([
  ["429 rate limit", http(429), ["transient"]],
  ["503 backend error", http(503), ["transient"]],
  ["501 not implemented", http(501), []],
  ["a refused connection", network("ECONNREFUSED"), ["transient"]],
  ["a reset connection", network("ECONNRESET"), ["transient"]],
  ["404", http(404), ["notFound", "accountNotYetVisible", "keyGone"]],
  ["403", http(403), ["accountNotYetVisible", "keyGone"]],
  ["409 on a create", http(409), ["alreadyExists", "etagConflict"]],
  ["412 stale etag", http(412), ["etagConflict"]],
  ["400 service account not visible to setIamPolicy", http(400, "Service account w@p.iam.gserviceaccount.com does not exist."), ["iamNotYetVisible"]],
  ["400 anything else", http(400, "The member x is of an unknown type."), []],
  ["an error that is not Google's", new Error("boom"), []],
])("%s", (_what, error, holds) => {
  const held = (Object.keys(RULES) as Rule[]).filter((r) => RULES[r](error));
  expect(held.sort()).toEqual([...holds].sort());
});

test("withRetry retries what a rule names until it succeeds, and gives up at once on anything else", async () => {
  let calls = 0;
  await expect(withRetry(async () => (++calls < 3 ? Promise.reject(http(404)) : "ok"), { what: "read", retryIf: notFound, baseDelayMs: 1 })).resolves.toBe(
    "ok",
  );
  expect(calls).toBe(3);
  calls = 0;
  await expect(withRetry(async () => (++calls, Promise.reject(http(404))), { what: "read", baseDelayMs: 1 })).rejects.toMatchObject({
    response: { status: 404 },
  });
  expect(calls).toBe(1);
});

test("withRetry past its deadline says what was tried, how often, and the last error", async () => {
  const failure = await withRetry(() => Promise.reject(http(503, "backend error")), { what: "create bucket b", deadlineMs: 30, baseDelayMs: 5 }).catch(
    (e) => e,
  );
  expect(failure.message).toMatch(/^create bucket b: still failing after \d+ attempts: backend error$/);
  expect(failure.lastError.response.status).toBe(503);
});
