// Payload only for an allow-list of event types (the guide's second statement, with its comma),
// and only for one ZITADEL instance.
import { AuditStream } from "zitadel-audit-stream";

const stream = new AuditStream("zitadel-audit", {
  query: {
    payload: { eventTypes: ["instance.domain.added", "instance.domain.removed", "instance.domain.primary.set"] },
    filter: { instanceIds: ["262800396467273985"] },
  },
  changefeedOptions: { resolved: "60s" },
  keyRotationTrigger: "2026-11", // change to rotate the key without losing events
});

export const jobId = stream.jobId;
export const feedStatus = stream.feedStatus;
