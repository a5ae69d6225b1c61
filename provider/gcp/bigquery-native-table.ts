// BigQueryNativeTable: a table that holds the events themselves, written by a Pub/Sub BigQuery
// subscription (docs/pubsub-exports.md §4). Unlike the external table it holds data no other copy
// may have, so nothing it does may drop rows quietly:
// - project, datasetId and tableId are replace-only, and a replacement of a table with rows is refused
//   (the new table would start empty while the old one's rows go with it);
// - a schema change is made in place when it only adds NULLABLE columns (BigQuery's own rule for an
//   in-place change); anything else is refused, naming the column (schemaChange, tested beside);
// - delete keeps a table with rows (destroy stops and says so) unless deleteWithRows.
//
// The provider stored in state is `require(".../provider/stored/bigquery-native-table.js")`
// (provider/operations-provider.ts): this file's path and its `bigQueryNativeTableOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor, clientsWithProject } from "./client";
import { z } from "zod";
import { PROJECT_DEFAULT, ProjectArgs, datasetId, identitySchema, projectId, tableId, utf8Max } from "./fields";
import { bq, bqOrUndefined, createOrAdoptTable, deleteTable, tablePath } from "./bigquery-common";
import { bigQueryField } from "./bigquery-table";
import { identityOf } from "./ownership";
import { ownerLabels } from "../ownership";

import type { BigQueryField } from "../cdc/bigquery";
import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, DeepInput, TypedOperations, Outputs } from "../engine";
import { OWNED } from "../stream-identity";

export const BIGQUERY_NATIVE_TABLE_PERMISSIONS = collectionPermissions("bigquery.tables", {});

export interface BigQueryNativeTableArgs extends ProjectArgs {
  datasetId: pulumi.Input<string>;
  tableId: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  /** The columns; later changes may only add NULLABLE columns. */
  schema: DeepInput<BigQueryField[]>;
  /** Default false: destroying (or replacing) a table with rows is refused. */
  deleteWithRows?: pulumi.Input<boolean>;
}

export const bigQueryNativeTableInputs = z.strictObject({
  project: projectId.optional(),
  datasetId,
  tableId,
  description: utf8Max(16384, "description").default(""),
  schema: z.array(bigQueryField).min(1, "a table needs at least one field"),
  deleteWithRows: z.boolean().default(false),
  ...identitySchema,
});
true satisfies ArgsInSchema<BigQueryNativeTableArgs, typeof bigQueryNativeTableInputs>;

export type BigQueryNativeTableInputs = z.output<typeof bigQueryNativeTableInputs> & { project: string };

export type BigQueryNativeTableState = BigQueryNativeTableInputs & {
  /** `project.dataset.table`, as GoogleSQL and a BigQuery subscription name it. */ fullId: string;
  /** Rows as of the last up or refresh (numRows plus the streaming buffer's estimate). */ rows: number;
  takenOverFrom: string;
};

type Field = z.output<typeof bigQueryField>;

/**
 * What a schema change needs: nothing, an in-place update that appends NULLABLE columns, or a refusal
 * naming the first column that would change, vanish or arrive REQUIRED (BigQuery changes a schema in
 * place only by adding NULLABLE columns or relaxing REQUIRED ones; removing or retyping needs the data
 * rewritten, which this resource does not do to an audit table).
 */
export function schemaChange(olds: Field[], news: Field[]): { kind: "none" } | { kind: "add"; added: string[] } | { kind: "refused"; why: string } {
  const byName = new Map(news.map((f) => [f.name.toLowerCase(), f]));
  for (const o of olds) {
    const n = byName.get(o.name.toLowerCase());
    if (!n) return { kind: "refused", why: `column ${o.name} would be removed` };
    if (n.type !== o.type) return { kind: "refused", why: `column ${o.name} would change type from ${o.type} to ${n.type}` };
    if (n.mode === "REQUIRED" && o.mode !== "REQUIRED") return { kind: "refused", why: `column ${o.name} would become REQUIRED` };
  }
  const known = new Set(olds.map((f) => f.name.toLowerCase()));
  const added = news.filter((f) => !known.has(f.name.toLowerCase()));
  const bad = added.find((f) => f.mode === "REQUIRED");
  if (bad) return { kind: "refused", why: `new column ${bad.name} is REQUIRED (rows already written have no value for it)` };
  const relaxed = olds.some((o) => o.mode === "REQUIRED" && byName.get(o.name.toLowerCase())!.mode !== "REQUIRED");
  const described = olds.some((o) => (byName.get(o.name.toLowerCase())!.description ?? "") !== (o.description ?? ""));
  return added.length || relaxed || described ? { kind: "add", added: added.map((f) => f.name) } : { kind: "none" };
}

const REPLACE = ["project", "datasetId", "tableId"];
const UPDATE = ["description", "schema", "deleteWithRows"];
const RULES = inputRules({ schema: bigQueryNativeTableInputs, ...PROJECT_DEFAULT, identity: true, replace: REPLACE, update: UPDATE });

/** BigQuery answers with the legacy type names (tables#TableFieldSchema). */
const STANDARD_TYPE: Record<string, string> = { INTEGER: "INT64", FLOAT: "FLOAT64", BOOLEAN: "BOOL" };

function tableBody(i: BigQueryNativeTableInputs) {
  return {
    tableReference: { projectId: i.project, datasetId: i.datasetId, tableId: i.tableId },
    description: i.description,
    labels: ownerLabels(identityOf(i)),
    schema: { fields: i.schema },
  };
}

const rowsOf = (t: any): number => Number(t?.numRows ?? 0) + Number(t?.streamingBuffer?.estimatedRows ?? 0);

function outputs(i: any, t?: any): BigQueryNativeTableState {
  const rest = withoutProvider(i);
  return defined({
    ...rest,
    fullId: `${rest.project}.${rest.datasetId}.${rest.tableId}`,
    rows: t ? rowsOf(t) : (rest.rows ?? 0),
    takenOverFrom: rest.takenOverFrom ?? "",
  }) as BigQueryNativeTableState;
}

const withRows = (id: string, rows: number, doing: string) =>
  `table ${id} holds ${rows} rows of audit events, so it is kept and ${doing} stops here. To keep the table and drop it from the stack, set the resource option retainOnDelete: true and \`pulumi up\`; to delete it with its rows, set deleteWithRows: true and \`pulumi up\` first; or copy the rows elsewhere.`;

export const bigQueryNativeTableOperations: TypedOperations<BigQueryNativeTableInputs, BigQueryNativeTableState> = engineFacing("BigQueryNativeTable", {
  ...RULES.handlers,

  async create(config, i) {
    const { gcp, inputs } = await clientsWithProject(config, i);
    const t = await createOrAdoptTable(gcp, inputs.project, i.datasetId, i.tableId, i, tableBody(inputs), "table");
    return { id: `${inputs.project}.${i.datasetId}.${i.tableId}`, outs: outputs({ ...inputs, takenOverFrom: t.takenOverFrom }, t.made) };
  },

  async read(config, id, props) {
    const t = await bqOrUndefined(await clientsFor(config), tablePath(props.project, props.datasetId, props.tableId), `read table ${id}`);
    if (!t) return { id: "" };
    const schema = (t.schema?.fields ?? []).map((f: any) =>
      defined({ name: f.name, type: STANDARD_TYPE[f.type] ?? f.type, mode: f.mode ?? "NULLABLE", description: f.description }),
    );
    return { id, props: outputs({ ...props, description: t.description ?? "", schema }, t) };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news, undefined) };
    const change = schemaChange(olds.schema, news.schema);
    if (change.kind === "refused")
      throw new Error(
        `table ${id}: ${change.why}. A table written by a BigQuery subscription changes in place only by new NULLABLE columns; keep the column as it was, or make a new table (another tableId) and copy the rows.`,
      );
    const gcp = await clientsFor(config);
    const patch = defined({ description: news.description, schema: change.kind === "add" ? { fields: news.schema } : undefined });
    const t = updates.some((u) => u !== "deleteWithRows")
      ? await bq(gcp, "PATCH", tablePath(news.project, news.datasetId, news.tableId), `update table ${id}`, patch)
      : undefined;
    return { outs: outputs(news, t) };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    if (!props.deleteWithRows) {
      const t = await bqOrUndefined(gcp, tablePath(props.project, props.datasetId, props.tableId), `read table ${id}`);
      if (t && rowsOf(t) > 0) throw new Error(withRows(id, rowsOf(t), "the destroy or replacement"));
    }
    await deleteTable(gcp, props.project, props.datasetId, props.tableId, "table", props);
  },
});

export interface BigQueryNativeTable extends Outputs<Pick<BigQueryNativeTableState, "project" | "datasetId" | "tableId" | "fullId" | "schema" | "rows">> {}

/** A BigQuery table holding the events, written by a Pub/Sub BigQuery subscription. */
export class BigQueryNativeTable extends defineResource<BigQueryNativeTableArgs>(__filename, {
  operations: { bigQueryNativeTableOperations },
  ...OWNED,
  outputs: ["project", "fullId", "rows", "takenOverFrom"],
  importInstead: "declare it without `import`: a table this stack made carries its label and is adopted; one made elsewhere is refused by name",
}) {}
