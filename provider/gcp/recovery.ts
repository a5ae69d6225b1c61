// Recovery rules: which failures of a Google call are worth another try, for how long, and which
// mean "gone". Named once here (terraform-provider-google keeps its own in
// transport/error_retry_predicates.go); every call site uses these names instead of comparing
// statuses itself. Each rule says why it holds and where that is documented (docs/gcp-apis.md).
//
// Reached from state only through the modules under provider/stored/: its path may change.

/**
 * How long (deadlineMs; tests shorten it, nothing serializes it) a just-created service account (or key) may stay invisible to IAM: reads of it, keys for
 * it and grants to it are retried this long. Google documents IAM changes as eventually consistent,
 * "Typically 2 minutes, potentially 7 minutes or longer"; terraform-provider-google polls a new account
 * and a new key the same way (gcp-apis.md §2.2, §2.3). 180 s covers the typical case with room; a
 * create that outlasts it is recorded in state and the next `up` waits again.
 */
export const iamPropagation = { deadlineMs: 180_000 };

/** HTTP status of a Google API error (gaxios), or undefined for network errors. */
export function statusOf(e: unknown): number | undefined {
  const err = e as any;
  const s = err?.status ?? err?.response?.status ?? (typeof err?.code === "number" ? err.code : undefined);
  return typeof s === "number" ? s : undefined;
}

/** Google's message for an API error; for a network error, what failed, where, and why. */
export function messageOf(e: unknown): string {
  const err = e as any;
  const message = String(err?.response?.data?.error?.message ?? err?.message ?? e);
  const cause = networkCause(e) ?? (message === "fetch failed" ? deepestCause(e) : undefined);
  if (!cause) return message;
  let where = "";
  try {
    where = ` at ${new URL(String(err?.config?.url ?? err?.cause?.config?.url)).origin}`;
  } catch {
    // no URL on this error
  }
  return `${message} (${cause}${where})`;
}

const TRANSIENT_NETWORK = /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT|socket hang up|other side closed/;

/**
 * The network failure behind an error, if it is one. Node's fetch (which gaxios 7 uses) throws
 * "fetch failed" and keeps the reason, e.g. `ECONNREFUSED`, in `cause` (undici's documented error
 * shape), possibly nested: the chain is searched a few levels deep.
 */
export function networkCause(e: unknown): string | undefined {
  let c: any = e;
  for (let depth = 0; c && depth < 6; depth++, c = c.cause) {
    for (const text of [c.code, c.message]) {
      const m = typeof text === "string" ? TRANSIENT_NETWORK.exec(text) : null;
      if (m) return m[0];
    }
  }
  return undefined;
}

function deepestCause(e: unknown): string | undefined {
  let c: any = (e as any)?.cause;
  let last: string | undefined;
  for (let depth = 0; c && depth < 6; depth++, c = c.cause) if (typeof c.message === "string") last = c.message;
  return last;
}

/**
 * transient: 429, any 5xx but 501, or a dropped or refused connection. Always worth another try, with
 * exponential back-off and jitter. Google's own clients retry 429, 5xx and dropped connections
 * (gaxios, @google-cloud/storage), and so does terraform-provider-google for every request
 * (gcp-apis.md §1.8, §2.2).
 */
export function transient(e: unknown): boolean {
  const s = statusOf(e);
  // 501 Not Implemented is an answer, not a hiccup: asking again gets the same.
  if (s === 429 || (s !== undefined && s >= 500 && s !== 501)) return true;
  return s === undefined && networkCause(e) !== undefined;
}

/** notFound: 404. On a read it means gone (refresh drops the resource); on a delete, already done. */
export function notFound(e: unknown): boolean {
  return statusOf(e) === 404;
}

/**
 * alreadyExists: 409 on a create. The name is taken: by this instance (a create whose answer was lost,
 * a replacement, a parent move) or by someone else. Never retried: the object is read and its tag
 * decides whether it is adopted (ownership.ts createOrAdopt; gcp-apis.md §7.2).
 */
export function alreadyExists(e: unknown): boolean {
  return statusOf(e) === 409;
}

/**
 * accountNotYetVisible: 404 or 403 from a read of, or a key request for, a service account made
 * moments ago. IAM is eventually consistent after a create; Terraform retries these for a while
 * (gcp-apis.md §2.2). Retried for iamPropagation.deadlineMs, not longer: after that a 403 is a refusal.
 */
export function accountNotYetVisible(e: unknown): boolean {
  return statusOf(e) === 404 || statusOf(e) === 403;
}

/**
 * iamNotYetVisible: 400 "Service account … does not exist" from setIamPolicy when a grant names an
 * account made moments ago (gcp-apis.md §1.5, §2.2). Retried for iamPropagation.deadlineMs.
 */
export function iamNotYetVisible(e: unknown): boolean {
  return statusOf(e) === 400 && /Service account .* does not exist/.test(messageOf(e));
}

/**
 * etagConflict: 412 (the etag of a read-modify-write is stale) or 409 (a concurrent change). Another
 * writer changed the policy between our read and write: read again and reapply (gcp-apis.md §1.5).
 */
export function etagConflict(e: unknown): boolean {
  return statusOf(e) === 412 || statusOf(e) === 409;
}

/**
 * keyGone: a key read answering 404, or 403 for a key of a deleted account (IAM answers so;
 * Terraform treats it as gone, gcp-apis.md §2.3).
 */
export function keyGone(e: unknown): boolean {
  return statusOf(e) === 404 || statusOf(e) === 403;
}

export interface RetryOptions {
  /** What is being done, for messages: "create bucket audit-logs". */
  what: string;
  /** Extra conditions worth retrying: one of the rules above. */
  retryIf?: (e: unknown) => boolean;
  /** Give up after this long (default 60 s). */
  deadlineMs?: number;
  /** First back-off delay (default 500 ms), doubling to at most 10 s, with full jitter. */
  baseDelayMs?: number;
}

/** Runs `fn` until it succeeds, an error no rule retries occurs, or the deadline passes. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const deadline = Date.now() + (opts.deadlineMs ?? 60_000);
  const base = opts.baseDelayMs ?? 500;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const retryable = transient(e) || (opts.retryIf?.(e) ?? false);
      if (!retryable || Date.now() >= deadline) {
        if (retryable) throw Object.assign(new Error(`${opts.what}: still failing after ${attempt + 1} attempts: ${messageOf(e)}`), { lastError: e });
        throw e;
      }
      // A Retry-After header wins over the back-off (Google sends one with some 429/503 answers).
      const retryAfter = Number((e as any)?.response?.headers?.get?.("retry-after") ?? (e as any)?.response?.headers?.["retry-after"]);
      const backoff = Math.random() * Math.min(10_000, base * 2 ** attempt);
      const delay = Math.min(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : backoff, Math.max(0, deadline - Date.now()));
      if (attempt === 3) console.log(`${opts.what}: retrying (${messageOf(e)})`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Runs `fn` with the shared retries; undefined when what it reads does not exist. */
export async function unlessNotFound<T>(fn: () => Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await withRetry(fn, { what });
  } catch (e) {
    if (notFound(e)) return undefined;
    throw e;
  }
}
