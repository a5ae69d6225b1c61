// AuditStream's BigQuery destination, over the Cloud Storage one's files: the dataset, the external
// table over the feed's data files (its schema follows the query, so a query change updates it in
// place), the de-duplicating view, and the readers' grants on the stream's prefix.
import * as pulumi from "@pulumi/pulumi";
import { BucketIamMember, prefixCondition } from "../../gcp/bucket-iam-member";
import { BigQueryDataset } from "../../gcp/bigquery-dataset";
import { BigQueryTable, bigQueryTableInputs } from "../../gcp/bigquery-table";
import { BigQueryView } from "../../gcp/bigquery-view";
import { datasetId as datasetIdSchema, datasetReader, tableId as tableIdSchema } from "../../gcp/fields";
import { BigQueryField, bigQuerySchema, bigQuerySourceUris, dedupViewQuery } from "../../cdc/bigquery";
import { loadSqlParser } from "../../cdc/query";
import { AuditStreamBigQueryArgs, BIGQUERY_OPTIONS, StreamContext, plain, unknownKeys } from "../args";

export interface BigQueryDestination {
  dataset: BigQueryDataset;
  table: BigQueryTable;
  view?: BigQueryView;
}

/** The dataset, table, view and readers' grants over the files in `bucketName`. */
export function bigQueryDestination(ctx: StreamContext, a: AuditStreamBigQueryArgs, bucketName: pulumi.Output<string>): BigQueryDestination {
  const { name, args, owned, parent } = ctx;
  const dataset = streamDataset(ctx, a, "ZITADEL audit events streamed by a CockroachDB changefeed (zitadel-audit-stream)");
  const schema: pulumi.Output<BigQueryField[]> = a.schema
    ? pulumi.output(a.schema)
    : pulumi.output(args.query as pulumi.Input<any>).apply(async (q: any) => {
        if (q?.query !== undefined) await loadSqlParser();
        return bigQuerySchema(q ?? {});
      });
  const compression = pulumi.output(args.changefeedOptions as pulumi.Input<any>).apply((o: any) => o?.compression as "gzip" | undefined);
  const table = new BigQueryTable(
    `${name}-table`,
    {
      project: args.project,
      datasetId: dataset.datasetId,
      tableId: a.tableName ?? "events",
      description: "The changefeed's NDJSON files, as written (at least once: a handoff or restart repeats some events; the view removes them)",
      schema,
      sourceUris: pulumi
        .all([bucketName, args.prefix, compression])
        .apply(([bucket, prefix, c]) => bigQuerySourceUris({ bucket, prefix: prefix ?? "events", compression: c })),
      compression: compression.apply((c) => (c === "gzip" ? "GZIP" : "NONE")),
      connectionId: a.connection?.id,
      ...owned,
    },
    parent,
  );
  const view = dedupView(ctx, a, dataset.datasetId, table.fullId, schema);
  // Whoever reads the files needs storage.objects.get and list: the readers, or with a connection
  // (BigLake) its service account alone — on the stream's prefix only (an IAM Condition), unless
  // readersScope "bucket" (a bucket without uniform bucket-level access takes no conditions).
  const condition =
    (a.readersScope ?? "prefix") === "prefix" ? pulumi.all([bucketName, args.prefix]).apply(([b, p]) => prefixCondition(b, p ?? "events")) : undefined;
  if (a.connection) {
    new BucketIamMember(
      `${name}-connection-reader`,
      { bucket: bucketName, role: "roles/storage.objectViewer", member: pulumi.interpolate`serviceAccount:${a.connection.serviceAccount}`, condition },
      parent,
    );
  } else {
    (a.readers ?? []).forEach(
      (member, i) => new BucketIamMember(`${name}-reader-${i}`, { bucket: bucketName, role: "roles/storage.objectViewer", member, condition }, parent),
    );
  }
  return { dataset, table, view };
}

/** The stream's dataset (bigQuery.datasetId, default "<name>_audit") with its readers, and its writers if any. */
export function streamDataset(ctx: StreamContext, a: AuditStreamBigQueryArgs, description: string, writers?: pulumi.Input<string>[]): BigQueryDataset {
  const { name, args, owned, parent } = ctx;
  return new BigQueryDataset(
    `${name}-dataset`,
    {
      datasetId: a.datasetId ?? `${name.replace(/[^A-Za-z0-9_]+/g, "_")}_audit`,
      location: a.location,
      project: args.project,
      readers: a.readers,
      ...(writers ? { writers } : {}),
      description,
      ...owned,
    },
    parent,
  );
}

/** The de-duplicating view over `table` (bigQuery.viewName, default "events_dedup"; none for null), for either source's table. */
export function dedupView(
  ctx: StreamContext,
  a: AuditStreamBigQueryArgs,
  datasetId: pulumi.Input<string>,
  table: pulumi.Output<string>,
  schema: pulumi.Input<BigQueryField[]>,
): BigQueryView | undefined {
  const { name, args, owned, parent } = ctx;
  const viewName = a.viewName === undefined ? "events_dedup" : a.viewName;
  if (viewName === null) return undefined;
  return new BigQueryView(
    `${name}-view`,
    {
      project: args.project,
      datasetId,
      tableId: viewName,
      description: "One row per event: the table without the at-least-once duplicates",
      query: pulumi.all([table, schema]).apply(([id, s]) => dedupViewQuery(`\`${id}\``, s)),
      ...owned,
    },
    parent,
  );
}

/** Problems in the `bigQuery` argument (and the changefeed options it cannot read), each named. */
export function bigQueryProblems(bqa: unknown, options: Record<string, unknown> | undefined): string[] {
  if (bqa === undefined) return [];
  if (!bqa || typeof bqa !== "object" || Array.isArray(bqa)) return ['bigQuery: must be an object such as { datasetId: "zitadel_audit" }'];
  const a = bqa as Record<string, unknown>;
  if (a.readersScope !== undefined && a.readersScope !== "prefix" && a.readersScope !== "bucket")
    return [`bigQuery.readersScope: must be "prefix" or "bucket", not ${JSON.stringify(a.readersScope)}`];
  const problems = unknownKeys(a, BIGQUERY_OPTIONS, "bigQuery.", "a bigQuery option");
  const check = (key: string, schema: { safeParse(v: unknown): { success: boolean; error?: any } }) => {
    const v = a[key];
    if (v === undefined || v === null || !plain(v)) return;
    const r = schema.safeParse(v);
    if (!r.success) problems.push(`bigQuery.${key}: ${r.error.issues[0].message}`);
  };
  check("datasetId", datasetIdSchema);
  check("tableName", tableIdSchema);
  check("viewName", tableIdSchema);
  if (a.viewName !== undefined && a.viewName !== null && a.viewName === (a.tableName ?? "events"))
    problems.push("bigQuery.viewName: must differ from tableName");
  if (a.readers !== undefined && !Array.isArray(a.readers)) problems.push('bigQuery.readers: must be a list of members such as ["group:auditors@example.com"]');
  else
    (a.readers as unknown[] | undefined)?.forEach((m, i) => {
      if (plain(m) && !datasetReader.safeParse(m).success)
        problems.push(`bigQuery.readers.${i}: must be "user:…", "serviceAccount:…" or "group:…" followed by an email, not ${JSON.stringify(m)}`);
    });
  const c = a.connection as Record<string, unknown> | undefined;
  if (c !== undefined) {
    if (!c || typeof c !== "object" || typeof c.id !== "string" || c.serviceAccount === undefined)
      problems.push('bigQuery.connection: must be { id: "project.location.connection", serviceAccount: "…@gcp-sa-bigquery-condel.iam.gserviceaccount.com" }');
    else {
      const id = bigQueryTableInputs.shape.connectionId.safeParse(c.id);
      if (!id.success) problems.push(`bigQuery.connection.id: ${id.error.issues[0].message}`);
      if (plain(c.serviceAccount) && !/^[^@\s:]+@[^@\s:]+\.[a-z]{2,}$/.test(String(c.serviceAccount)))
        problems.push(`bigQuery.connection.serviceAccount: must be the connection's service account email, not ${JSON.stringify(c.serviceAccount)}`);
    }
  }
  // The table reads bare NDJSON lines: other formats or envelopes would not match its schema.
  if (options && plain(options)) {
    if (options.format !== undefined && options.format !== "json")
      problems.push(
        `changefeedOptions.format: the BigQuery table reads NDJSON; with bigQuery the format must be "json", not ${JSON.stringify(options.format)}`,
      );
    if (options.envelope === "wrapped")
      problems.push("changefeedOptions.envelope: with bigQuery the envelope must be \"bare\" (the table's columns are the row's columns)");
    if (options.compression === "zstd") problems.push('changefeedOptions.compression: BigQuery reads gzip, not zstd; use "gzip" or none with bigQuery');
  }
  return problems;
}
