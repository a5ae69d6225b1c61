// BigQueryTable: an external table over the changefeed's NDJSON files in Cloud Storage (a BigLake
// table when given a connection), with an explicit schema (provider/cdc/bigquery.ts derives it from the CDC query). Replace-only:
// project, datasetId, tableId; schema, source URIs and reading options update in place (an
// external table holds no data, so any schema change is a metadata change; the files stay).
//
// The provider stored in state is `require(".../provider/stored/bigquery-table.js")`
// (provider/operations-provider.ts): this file's path and its `bigQueryTableOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor, clientsWithProject } from "./client";
import { z } from "zod";
import { PROJECT_DEFAULT, ProjectArgs, datasetId, identitySchema, projectId, tableId, utf8Max } from "./fields";
import { bq, bqOrUndefined, createOrAdoptTable, deleteTable, tablePath } from "./bigquery-common";
import { identityOf } from "./ownership";
import { ownerLabels } from "../ownership";

import type { BigQueryField } from "../cdc/bigquery";
import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, DeepInput, TypedOperations, Outputs } from "../engine";
import { OWNED } from "../stream-identity";

/** What the deploying identity needs, by operation (permissions.ts assembles these). An external table over Cloud Storage also needs to read the bucket at create (BigQuery docs, "Create Cloud Storage external tables", required permissions); the emulator does not check those, so the least-privilege tests check the bigquery.* part both ways. */
export const BIGQUERY_TABLE_PERMISSIONS = collectionPermissions("bigquery.tables", {
  create: ["storage.buckets.get", "storage.objects.get", "storage.objects.list"],
});

export interface BigQueryTableArgs extends ProjectArgs {
  datasetId: pulumi.Input<string>;
  tableId: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  /** The columns (bigQuerySchema() gives the changefeed's). */
  schema: DeepInput<BigQueryField[]>;
  /** `gs://bucket/prefix/*.ndjson` (bigQuerySourceUris()). */
  sourceUris: pulumi.Input<pulumi.Input<string>[]>;
  /** "GZIP" for a feed with compression gzip. Default "NONE". */
  compression?: pulumi.Input<"NONE" | "GZIP">;
  /** Default true: CockroachDB may add `__crdb__` to each line. */
  ignoreUnknownValues?: pulumi.Input<boolean>;
  /** Default 0: one line that does not fit the schema fails the query, loudly. */
  maxBadRecords?: pulumi.Input<number>;
  /**
   * A BigQuery connection ("project.location.connection"): the table becomes a BigLake table whose
   * files are read as the connection's service account, so its readers need no access to the bucket
   * (give that account roles/storage.objectViewer on it instead).
   */
  connectionId?: pulumi.Input<string>;
}

export const bigQueryField = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,299}$/, "field names are letters, digits and underscores, starting with a letter or underscore"),
  type: z.enum(["STRING", "INT64", "BIGNUMERIC", "NUMERIC", "TIMESTAMP", "JSON", "BOOL", "FLOAT64", "DATE"], {
    error: "must be STRING, INT64, BIGNUMERIC, NUMERIC, TIMESTAMP, JSON, BOOL, FLOAT64 or DATE",
  }),
  mode: z.enum(["NULLABLE", "REQUIRED"]).default("NULLABLE"),
  description: z.string().max(1024).optional(),
});

export const bigQueryTableInputs = z.strictObject({
  project: projectId.optional(),
  datasetId,
  tableId,
  description: utf8Max(16384, "description").default(""),
  schema: z.array(bigQueryField).min(1, "an external table needs at least one field"),
  sourceUris: z
    .array(z.string().regex(/^gs:\/\/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]\/[^*]*\*?[^*]*$/, 'must be "gs://<bucket>/<path>" with at most one "*"'))
    .min(1, "give at least one source URI"),
  compression: z.enum(["NONE", "GZIP"]).default("NONE"),
  ignoreUnknownValues: z.boolean().default(true),
  maxBadRecords: z.number().int().min(0).default(0),
  /** A BigQuery connection: the table becomes a BigLake table, read as the connection's service account. */
  connectionId: z
    .string()
    .regex(
      /^(projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/locations\/[A-Za-z0-9-]+\/connections\/[A-Za-z0-9_-]+|[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9-]+\.[A-Za-z0-9_-]+)$/,
      'must be "project.location.connection" or "projects/<project>/locations/<location>/connections/<connection>"',
    )
    .optional(),
  ...identitySchema,
});
true satisfies ArgsInSchema<BigQueryTableArgs, typeof bigQueryTableInputs>;

export type BigQueryTableInputs = z.output<typeof bigQueryTableInputs> & { project: string };

/** What a BigQueryTable keeps in state. */
export type BigQueryTableState = BigQueryTableInputs & {
  /** `project.dataset.table`, as GoogleSQL names it. */ fullId: string;
  type: string;
  takenOverFrom: string;
};

const REPLACE = ["project", "datasetId", "tableId"];
const UPDATE = ["description", "schema", "sourceUris", "compression", "ignoreUnknownValues", "maxBadRecords", "connectionId"];
const RULES = inputRules({ schema: bigQueryTableInputs, ...PROJECT_DEFAULT, identity: true, replace: REPLACE, update: UPDATE });

/** BigQuery answers with the legacy type names (INTEGER for INT64, …) whatever the table was created with (tables#TableFieldSchema). */
const STANDARD_TYPE: Record<string, string> = { INTEGER: "INT64", FLOAT: "FLOAT64", BOOLEAN: "BOOL" };

function tableBody(i: BigQueryTableInputs & { project: string }) {
  return {
    tableReference: { projectId: i.project, datasetId: i.datasetId, tableId: i.tableId },
    description: i.description,
    labels: ownerLabels(identityOf(i)),
    schema: { fields: i.schema },
    externalDataConfiguration: {
      sourceUris: i.sourceUris,
      sourceFormat: "NEWLINE_DELIMITED_JSON",
      autodetect: false,
      compression: i.compression,
      ignoreUnknownValues: i.ignoreUnknownValues,
      maxBadRecords: i.maxBadRecords,
      ...(i.connectionId ? { connectionId: i.connectionId } : {}),
    },
  };
}

function outputs(i: any, t: any): BigQueryTableState {
  const rest = withoutProvider(i);
  return defined({
    ...rest,
    fullId: `${rest.project}.${rest.datasetId}.${rest.tableId}`,
    type: t?.type ?? rest.type ?? "EXTERNAL",
    takenOverFrom: rest.takenOverFrom ?? "",
  }) as BigQueryTableState;
}

export const bigQueryTableOperations: TypedOperations<BigQueryTableInputs, BigQueryTableState> = engineFacing("BigQueryTable", {
  ...RULES.handlers,

  async create(config, i) {
    const { gcp, inputs } = await clientsWithProject(config, i);
    const t = await createOrAdoptTable(gcp, inputs.project, i.datasetId, i.tableId, i, tableBody(inputs), "external table");
    return { id: `${inputs.project}.${i.datasetId}.${i.tableId}`, outs: outputs({ ...inputs, takenOverFrom: t.takenOverFrom }, t.made) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const t = await bqOrUndefined(gcp, tablePath(props.project, props.datasetId, props.tableId), `read external table ${id}`);
    if (!t) return { id: "" };
    const x = t.externalDataConfiguration ?? {};
    return {
      id,
      props: outputs(
        {
          ...props,
          description: t.description ?? "",
          schema: (t.schema?.fields ?? []).map((f: any) =>
            defined({ name: f.name, type: STANDARD_TYPE[f.type] ?? f.type, mode: f.mode ?? "NULLABLE", description: f.description }),
          ),
          sourceUris: x.sourceUris ?? [],
          compression: x.compression ?? "NONE",
          ignoreUnknownValues: x.ignoreUnknownValues ?? false,
          maxBadRecords: x.maxBadRecords ?? 0,
          connectionId: x.connectionId,
        },
        t,
      ),
    };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news, olds) };
    const body = tableBody({ ...news, owner: news.owner ?? olds.owner });
    const t = await bq(await clientsFor(config), "PUT", tablePath(news.project, news.datasetId, news.tableId), `update external table ${id}`, body);
    return { outs: outputs(news, t) };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    // The table only points at the files: they stay in the bucket.
    await deleteTable(gcp, props.project, props.datasetId, props.tableId, "external table", props);
  },
});

export interface BigQueryTable extends Outputs<Pick<BigQueryTableState, "project" | "datasetId" | "tableId" | "fullId" | "schema" | "sourceUris">> {}

/** A BigQuery external table over NDJSON files in Cloud Storage. */
export class BigQueryTable extends defineResource<BigQueryTableArgs>(__filename, {
  operations: { bigQueryTableOperations },
  ...OWNED,
  outputs: ["project", "fullId", "type", "takenOverFrom"],
  importInstead: "declare it without `import`: a table this stack made carries its label and is adopted; one made elsewhere is refused by name",
}) {}
