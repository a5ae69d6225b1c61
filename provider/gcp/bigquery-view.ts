// BigQueryView: a GoogleSQL view (useLegacySql false), e.g. the de-duplicating view over the
// external table (provider/cdc/bigquery.ts dedupViewQuery). Replace-only: project, datasetId,
// tableId; the query and description update in place.
//
// The provider stored in state is `require(".../provider/stored/bigquery-view.js")`
// (provider/operations-provider.ts): this file's path and its `bigQueryViewOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { defaultProject, gcpClients, gcpConfigFrom } from "./client";
import { BigQueryViewInputs, bigQueryViewInputs } from "./schemas";
import { bq, bqOrUndefined, createOrAdoptTable, deleteTable, tablePath } from "./bigquery-common";
import { identityOf } from "./ownership";
import { identityFields, ownerLabels } from "../ownership";
import { stackIdentity } from "../stream-identity";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, Operations, classifyDiff, defined, validate, withoutProvider, importRefusal, refuseImport, engineFacing } from "../shared";

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

export const bigQueryViewOperations: Operations = engineFacing({
  async check(config: ConfigLike | undefined, olds: any, news: any) {
    const v = validate(bigQueryViewInputs, { project: defaultProject(gcpConfigFrom(config)), ...news });
    if (!v.inputs) return { failures: v.failures };
    return { inputs: defined({ ...v.inputs, ...identityFields(olds, news) }) };
  },

  async diff(_config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    return classifyDiff(olds, { ...news, project: news.project ?? olds.project }, { replace: REPLACE, update: UPDATE });
  },

  async create(config: ConfigLike | undefined, i: BigQueryViewInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const inputs = { ...i, project: i.project ?? gcp.project };
    const { takenOverFrom } = await createOrAdoptTable(gcp, inputs.project, i.datasetId, i.tableId, i, viewBody(inputs), "view");
    return { id: `${inputs.project}.${i.datasetId}.${i.tableId}`, outs: outputs({ ...inputs, takenOverFrom }) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(importRefusal("BigQueryView", id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const t = await bqOrUndefined(gcp, tablePath(props.project, props.datasetId, props.tableId), `read view ${id}`);
    if (!t) return { id: "" };
    return { id, props: outputs({ ...props, description: t.description ?? "", query: t.view?.query ?? "" }) };
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, checked: any) {
    const news = { ...checked, project: checked.project ?? olds.project };
    const { updates } = classifyDiff(olds, news, { replace: REPLACE, update: UPDATE });
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
export class BigQueryView extends pulumi.dynamic.Resource {
  /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
  static get provider() {
    return operationsProvider(__filename, "bigQueryViewOperations", bigQueryViewOperations);
  }

  constructor(name: string, args: BigQueryViewArgs, opts?: pulumi.CustomResourceOptions) {
    // Refused before anything is declared (the stack identity below is a resource too).
    refuseImport("BigQueryView", name, opts);
    super(
      BigQueryView.provider,
      name,
      { owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`, ...args, deployment: args.deployment ?? stackIdentity().deployment, project: args.project, fullId: undefined, takenOverFrom: undefined },
      refuseImport("BigQueryView", name, opts),
      "gcp",
      "BigQueryView",
    );
  }
}
