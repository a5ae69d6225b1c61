// BigQueryView: a GoogleSQL view (useLegacySql false), e.g. the de-duplicating view over the
// external table (provider/cdc/bigquery.ts dedupViewQuery). Replace-only: project, datasetId,
// tableId; the query and description update in place.
//
// The provider stored in state is `require(".../provider/stored/bigquery-view.js")`
// (provider/operations-provider.ts): this file's path and its `bigQueryViewOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { gcpClients, gcpConfigFrom } from "./client";
import { z } from "zod";
import { projectId, utf8Max, datasetId, tableId, identitySchema, PROJECT_DEFAULT } from "./fields";
import { bq, bqOrUndefined, createOrAdoptTable, deleteTable, tablePath } from "./bigquery-common";
import { identityOf } from "./ownership";
import { ownerLabels } from "../ownership";
import { stackIdentity } from "../stream-identity";
import type { ArgsInSchema, ConfigLike, Operations } from "../engine/contract";
import { defined, withoutProvider } from "../engine/check";
import { engineFacing, defineResource } from "../engine/define";
import { noImport } from "../engine/no-import";
import type { Permissions } from "../engine/contract";
import { inputRules } from "../engine/rules";

const NO_IMPORT = noImport("BigQueryView", "declare it without `import`: a view this stack made carries its label and is adopted; one made elsewhere is refused by name");

/** What the deploying identity needs, by operation (permissions.ts assembles these). */
export const BIGQUERY_VIEW_PERMISSIONS: Permissions = {
  create: ["bigquery.tables.create"],
  "read (refresh)": ["bigquery.tables.get"],
  update: ["bigquery.tables.update"],
  delete: ["bigquery.tables.delete"],
};

export interface BigQueryViewArgs {
  datasetId: pulumi.Input<string>;
  tableId: pulumi.Input<string>;
  project?: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  /** GoogleSQL. */
  query: pulumi.Input<string>;
  /** The stream's identity (StreamIdentity.deployment), carried in a label. Default: the stack's. */
  deployment?: pulumi.Input<string>;
  /** Adopt an existing one of this name made by another deployment (the one the error names, or "legacy"): the recovery after a lost state. */
  takeOver?: pulumi.Input<string>;
}

export const bigQueryViewInputs = z.strictObject({
  project: projectId.optional(),
  datasetId,
  tableId,
  description: utf8Max(16384, "description").default(""),
  /** GoogleSQL (the view is created with useLegacySql false). */
  query: z.string().min(1).max(256 * 1024),
  ...identitySchema,
});
true satisfies ArgsInSchema<BigQueryViewArgs, typeof bigQueryViewInputs>;

export type BigQueryViewInputs = z.output<typeof bigQueryViewInputs> & { project: string };

const REPLACE = ["project", "datasetId", "tableId"];
const UPDATE = ["description", "query"];

function viewBody(i: BigQueryViewInputs & { project: string }) {
  return {
    tableReference: { projectId: i.project, datasetId: i.datasetId, tableId: i.tableId },
    description: i.description,
    labels: ownerLabels(identityOf(i)),
    // The REST API's default is legacy SQL (tables#ViewDefinition): say GoogleSQL explicitly.
    view: { query: i.query, useLegacySql: false },
  };
}

const RULES = inputRules({ schema: bigQueryViewInputs, ...PROJECT_DEFAULT, identity: true, replace: REPLACE, update: UPDATE });

export const bigQueryViewOperations: Operations = engineFacing({
  check: RULES.check,
  diff: RULES.diff,

  async create(config: ConfigLike | undefined, i: BigQueryViewInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const inputs = { ...i, project: i.project ?? gcp.project };
    const { takenOverFrom } = await createOrAdoptTable(gcp, inputs.project, i.datasetId, i.tableId, i, viewBody(inputs), "view");
    return { id: `${inputs.project}.${i.datasetId}.${i.tableId}`, outs: outputs({ ...inputs, takenOverFrom }) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(NO_IMPORT.refusal(id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const t = await bqOrUndefined(gcp, tablePath(props.project, props.datasetId, props.tableId), `read view ${id}`);
    if (!t) return { id: "" };
    return { id, props: outputs({ ...props, description: t.description ?? "", query: t.view?.query ?? "" }) };
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, checked: any) {
    const news = RULES.withSticky(olds, checked);
    const { updates } = RULES.changes(olds, news);
    if (updates.length === 0) return { outs: outputs(news) };
    const gcp = await gcpClients(gcpConfigFrom(config));
    await bq(gcp, "PUT", tablePath(news.project, news.datasetId, news.tableId), `update view ${id}`, viewBody({ ...news, owner: news.owner ?? olds.owner }));
    return { outs: outputs(news) };
  },

  async delete(config: ConfigLike | undefined, id: string, props: any) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    await deleteTable(gcp, props.project, props.datasetId, props.tableId, "view", props);
  },
});

function outputs(i: any) {
  const rest = withoutProvider(i);
  return defined({ ...rest, fullId: `${rest.project}.${rest.datasetId}.${rest.tableId}`, takenOverFrom: rest.takenOverFrom ?? "" });
}

export interface BigQueryView {
  readonly project: pulumi.Output<string>;
  readonly datasetId: pulumi.Output<string>;
  readonly tableId: pulumi.Output<string>;
  /** `project.dataset.view`, as GoogleSQL names it. */
  readonly fullId: pulumi.Output<string>;
  readonly query: pulumi.Output<string>;
}

/** A GoogleSQL view. */
export class BigQueryView extends defineResource<BigQueryViewArgs>("gcp", __filename, { bigQueryViewOperations }, NO_IMPORT, {
  owner: true,
  defaultDeployment: () => stackIdentity().deployment,
  outputs: ["project", "fullId", "takenOverFrom"],
}) {}
