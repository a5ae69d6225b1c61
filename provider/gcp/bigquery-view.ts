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
import { ownerLabel } from "./ownership";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, Operations, classifyDiff, defined, validate, withoutProvider, importRefusal, refuseImport, engineFacing } from "../shared";

export interface BigQueryViewArgs {
  datasetId: pulumi.Input<string>;
  tableId: pulumi.Input<string>;
  project?: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  /** GoogleSQL. */
  query: pulumi.Input<string>;
}

const REPLACE = ["project", "datasetId", "tableId"];
const UPDATE = ["description", "query"];

function viewBody(i: BigQueryViewInputs & { project: string }) {
  return {
    tableReference: { projectId: i.project, datasetId: i.datasetId, tableId: i.tableId },
    description: i.description,
    labels: ownerLabel(i.owner),
    // The REST API's default is legacy SQL (tables#ViewDefinition): say GoogleSQL explicitly.
    view: { query: i.query, useLegacySql: false },
  };
}

export const bigQueryViewOperations: Operations = engineFacing({
  async check(config: ConfigLike | undefined, _olds: any, news: any) {
    const v = validate(bigQueryViewInputs, { project: defaultProject(gcpConfigFrom(config)), ...news });
    if (!v.inputs) return { failures: v.failures };
    return { inputs: defined(v.inputs) };
  },

  async diff(_config: ConfigLike | undefined, _id: string, olds: any, news: any) {
    return classifyDiff(olds, { ...news, project: news.project ?? olds.project }, { replace: REPLACE, update: UPDATE });
  },

  async create(config: ConfigLike | undefined, i: BigQueryViewInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const inputs = { ...i, project: i.project ?? gcp.project };
    await createOrAdoptTable(gcp, inputs.project, i.datasetId, i.tableId, i.owner, viewBody(inputs), "view");
    return { id: `${inputs.project}.${i.datasetId}.${i.tableId}`, outs: outputs(inputs) };
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
    await deleteTable(gcp, props.project, props.datasetId, props.tableId, "view");
  },
});

function outputs(i: any) {
  const rest = withoutProvider(i);
  return defined({ ...rest, fullId: `${rest.project}.${rest.datasetId}.${rest.tableId}` });
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
    super(
      BigQueryView.provider,
      name,
      { owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`, ...args, project: args.project, fullId: undefined },
      refuseImport("BigQueryView", name, opts),
      "gcp",
      "BigQueryView",
    );
  }
}
