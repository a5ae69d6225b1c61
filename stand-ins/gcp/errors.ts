// Google's JSON error envelopes (gcp-apis.md §1.7 for Cloud Storage, §2.1/§5 for IAM).
// Cloud Storage: {error:{code,message,errors:[{domain:"global",reason,message}]}}.
// IAM adds `status` (the canonical code name) and `details` (ErrorInfo, ResourceInfo, PreconditionFailure).
// BigQuery: {error:{code,message,errors:[{message,domain:"global",reason}],status}}, with BigQuery's own
// reasons (https://cloud.google.com/bigquery/docs/error-messages) and, for a failed read of an external
// table, more than one entry in errors[].
// Pub/Sub: {error:{code,message,status}} (docs/pubsub-research.md §8), plus `details` where one is given.

export type Api = "storage" | "iam" | "bigquery" | "pubsub" | "resourcemanager" | "monitoring" | "secretmanager" | "run";

const STORAGE_REASON: Record<number, string> = {
  400: "invalid",
  401: "required",
  403: "forbidden",
  404: "notFound",
  409: "conflict",
  412: "conditionNotMet",
  429: "rateLimitExceeded",
  500: "internalError",
  503: "backendError",
};

/** BigQuery's error reasons by HTTP status (cloud.google.com/bigquery/docs/error-messages). */
const BIGQUERY_REASON: Record<number, string> = {
  400: "invalid",
  401: "required",
  403: "accessDenied",
  404: "notFound",
  409: "duplicate",
  412: "conditionNotMet",
  429: "rateLimitExceeded",
  500: "internalError",
  501: "notImplemented",
  503: "backendError",
};

const IAM_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ALREADY_EXISTS",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  503: "UNAVAILABLE",
};

export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly opts: {
      reason?: string;
      status?: string;
      details?: unknown[];
      headers?: Record<string, string>;
      /** BigQuery: the whole errors[] collection, when it has more than the one entry made from message and reason. */
      errors?: { message: string; reason: string; location?: string }[];
    } = {},
  ) {
    super(message);
  }

  body(api: Api): unknown {
    if (api === "storage") {
      const reason = this.opts.reason ?? STORAGE_REASON[this.code] ?? "unknown";
      const error: Record<string, unknown> = {
        code: this.code,
        message: this.message,
        errors: [{ domain: "global", reason, message: this.message }],
      };
      if (this.code === 401) {
        (error.errors as any[])[0] = { ...(error.errors as any[])[0], locationType: "header", location: "Authorization" };
      }
      return { error };
    }
    const status = this.opts.status ?? IAM_STATUS[this.code] ?? "UNKNOWN";
    if (api === "bigquery") {
      const reason = this.opts.reason ?? BIGQUERY_REASON[this.code] ?? "unknown";
      const errors = this.opts.errors
        ? this.opts.errors.map((e) => ({ message: e.message, domain: "global", reason: e.reason, ...(e.location ? { location: e.location } : {}) }))
        : [{ message: this.message, domain: "global", reason }];
      return { error: { code: this.code, message: this.message, errors, status } };
    }
    if (api === "pubsub" || api === "monitoring" || api === "secretmanager" || api === "run") {
      return { error: { code: this.code, message: this.message, status, ...(this.opts.details ? { details: this.opts.details } : {}) } };
    }
    const reason = this.opts.reason ?? (status === "ALREADY_EXISTS" ? "alreadyExists" : (STORAGE_REASON[this.code] ?? "unknown"));
    return {
      error: {
        code: this.code,
        message: this.message,
        errors: [{ message: this.message, domain: "global", reason }],
        status,
        ...(this.opts.details ? { details: this.opts.details } : {}),
      },
    };
  }
}

/** A protobuf Duration in JSON ("600s", "1.5s") → seconds, or the 400 Google's JSON parser answers for another shape. */
export function parseDuration(v: unknown, field: string): number {
  const m = typeof v === "string" ? /^(\d+)(\.\d{1,9})?s$/.exec(v) : null;
  if (!m) throw invalid(`Invalid value at '${field}' (type.googleapis.com/google.protobuf.Duration), Illegal duration format; duration must end with 's'`);
  return Number(m[1] + (m[2] ?? ""));
}

export const notFound = (message: string) => new ApiError(404, message);
export const invalid = (message: string) => new ApiError(400, message);
export const failedPrecondition = (message: string, details?: unknown[]) =>
  new ApiError(400, message, { status: "FAILED_PRECONDITION", reason: "failedPrecondition", details });

/** A denied permission, worded as each API words it (gcp-apis.md §5). */
export function permissionDenied(api: Api, principal: string, permission: string, what: string): ApiError {
  if (api === "storage") {
    return new ApiError(
      403,
      `${principal} does not have ${permission} access to ${what}. Permission '${permission}' denied on resource (or it may not exist).`,
    );
  }
  const details = [
    {
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: "IAM_PERMISSION_DENIED",
      domain: "iam.googleapis.com",
      metadata: { permission },
    },
  ];
  // Pub/Sub's message names no permission (research doc §7); whether it sends this ErrorInfo with the
  // permission is UNCONFIRMED — the emulator does, so a test can see which permission was missing.
  if (api === "pubsub") return new ApiError(403, "User not authorized to perform this action.", { details });
  return new ApiError(403, `Permission '${permission}' denied on resource (or it may not exist).`, { details });
}

/** CRC32C (Castagnoli), as Cloud Storage reports it: big-endian, base64. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(data: Buffer): string {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString("base64");
}
