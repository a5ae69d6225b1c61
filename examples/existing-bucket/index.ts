// Stream into a bucket that already exists (managed elsewhere); this stack adds only its grant.
import { AuditStream } from "zitadel-audit-stream";

const stream = new AuditStream("zitadel-audit", {
  existingBucket: "acme-security-archive",
  prefix: "zitadel/events",
  partitionFormat: "daily",
});

export const sink = stream.sinkUriRedacted;
export const jobId = stream.jobId;
