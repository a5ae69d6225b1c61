// The guide's pipeline with its defaults: new bucket, writer account, a role holding only
// storage.objects.create, the grant, a key, rangefeeds on, and a changefeed of the guide's columns
// (no payload: it may hold PII) into gs://<bucket>/events with flat partitions.
import { AuditStream } from "zitadel-audit-stream";

const stream = new AuditStream("zitadel-audit", {
  bucket: { location: "EU", retentionPeriodSeconds: 365 * 86_400 },
});

export const bucket = stream.bucketName;
export const jobId = stream.jobId;
export const sink = stream.sinkUriRedacted;
/** healthy | lagging | failing | stopped, and why (as of the last up or refresh); `npx zitadel-audit-stream health --stack <stack>` reads it now. */
export const health = stream.health;
