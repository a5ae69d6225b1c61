// ZITADEL's guide sends the events "to Google Big Query": the stream, plus a dataset in the
// bucket's location, an external table over the changefeed's files (its schema follows the query),
// and a view without the at-least-once duplicates. Auditors get read access to both.
import { AuditStream, ChangefeedQueryOptions, exampleQueries, bigQuerySchema } from "zitadel-audit-stream";

const query: ChangefeedQueryOptions = {
  columns: ["instance_id", "aggregate_type", "aggregate_id", "owner", "event_type", "sequence", "created_at", "creator"],
  payload: { eventTypes: ["instance.domain.added"] },
};

const stream = new AuditStream("zitadel-audit", {
  bucket: { location: "EU" },
  partitionFormat: "daily",
  query,
  bigQuery: {
    datasetId: "zitadel_audit",
    location: "EU",
    readers: ["group:auditors@example.com"],
  },
});

export const jobId = stream.jobId;
export const table = stream.bigQueryTableId;
export const view = stream.bigQueryViewId;
export const countPerType = stream.bigQueryCommand;
/** GoogleSQL over the view: events per type per day, one user's history, logins, admin changes. */
export const queries = view.apply((v) => exampleQueries(`\`${v}\``, bigQuerySchema(query)));
