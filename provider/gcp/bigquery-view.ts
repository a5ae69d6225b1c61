// BigQueryView: a GoogleSQL view (useLegacySql false), e.g. the de-duplicating view over the
// external table (provider/cdc/bigquery.ts dedupViewQuery). Replace-only: project, datasetId,
// tableId; the query and description update in place.
//
// The provider stored in state is `require(".../provider/stored/bigquery-view.js")`
// (provider/operations-provider.ts): this file's path and its `bigQueryViewOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor, clientsWithProject } from "./client";
import { z } from "zod";
import { PROJECT_DEFAULT, ProjectArgs, datasetId, identitySchema, projectId, tableId, utf8Max } from "./fields";
import { bq, bqOrUndefined, createOrAdoptTable, deleteTable, tablePath } from "./bigquery-common";
import { identityOf } from "./ownership";
import { ownerLabels } from "../ownership";

import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs } from "../engine";
import { OWNED } from "../stream-identity";

export interface BigQueryViewArgs extends ProjectArgs {
  datasetId: pulumi.Input<string>;
  tableId: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  /** GoogleSQL. */
  query: pulumi.Input<string>;
}

export const bigQueryViewInputs = z.strictObject({
  project: projectId.optional(),
  datasetId,
  tableId,
  description: utf8Max(16384, "description").default(""),
  /** GoogleSQL (the view is created with useLegacySql false). */
  query: z
    .string()
    .min(1)
    .max(256 * 1024),
  ...identitySchema,
});
true satisfies ArgsInSchema<BigQueryViewArgs, typeof bigQueryViewInputs>;

export type BigQueryViewInputs = z.output<typeof bigQueryViewInputs> & { project: string };

/** What a BigQueryView keeps in state. */
export type BigQueryViewState = BigQueryViewInputs & { /** `project.dataset.view`, as GoogleSQL names it. */ fullId: string; takenOverFrom: string };

const REPLACE = ["project", "datasetId", "tableId"];
const UPDATE = ["description", "query"];
const RULES = inputRules({ schema: bigQueryViewInputs, ...PROJECT_DEFAULT, identity: true, replace: REPLACE, update: UPDATE });

function viewBody(i: BigQueryViewInputs & { project: string }) {
  return {
    tableReference: { projectId: i.project, datasetId: i.datasetId, tableId: i.tableId },
    description: i.description,
    labels: ownerLabels(identityOf(i)),
    // The REST API's default is legacy SQL (tables#ViewDefinition): say GoogleSQL explicitly.
    view: { query: i.query, useLegacySql: false },
  };
}

function outputs(i: any): BigQueryViewState {
  const rest = withoutProvider(i);
  return defined({ ...rest, fullId: `${rest.project}.${rest.datasetId}.${rest.tableId}`, takenOverFrom: rest.takenOverFrom ?? "" }) as BigQueryViewState;
}

export const BIGQUERY_VIEW_PERMISSIONS = collectionPermissions("bigquery.tables");

export const bigQueryViewOperations: TypedOperations<BigQueryViewInputs, BigQueryViewState> = engineFacing("BigQueryView", {
  ...RULES.handlers,

  async create(config, i) {
    const { gcp, inputs } = await clientsWithProject(config, i);
    const { takenOverFrom } = await createOrAdoptTable(gcp, inputs.project, i.datasetId, i.tableId, i, viewBody(inputs), "view");
    return { id: `${inputs.project}.${i.datasetId}.${i.tableId}`, outs: outputs({ ...inputs, takenOverFrom }) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const t = await bqOrUndefined(gcp, tablePath(props.project, props.datasetId, props.tableId), `read view ${id}`);
    if (!t) return { id: "" };
    return { id, props: outputs({ ...props, description: t.description ?? "", query: t.view?.query ?? "" }) };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news) };
    const gcp = await clientsFor(config);
    await bq(gcp, "PUT", tablePath(news.project, news.datasetId, news.tableId), `update view ${id}`, viewBody({ ...news, owner: news.owner ?? olds.owner }));
    return { outs: outputs(news) };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    await deleteTable(gcp, props.project, props.datasetId, props.tableId, "view", props);
  },
});

export interface BigQueryView extends Outputs<Pick<BigQueryViewState, "project" | "datasetId" | "tableId" | "fullId" | "query">> {}

/** A GoogleSQL view. */
export class BigQueryView extends defineResource<BigQueryViewArgs>(__filename, {
  operations: { bigQueryViewOperations },
  ...OWNED,
  outputs: ["project", "fullId", "takenOverFrom"],
  importInstead: "declare it without `import`: a view this stack made carries its label and is adopted; one made elsewhere is refused by name",
}) {}
