// What the BigQuery resources share: calls through the one client factory with its retry rules,
// and creating or adopting a table by its ownership label (provider/gcp/ownership.ts).
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { Gcp, restCalls } from "./client";
import { createOrAdopt, deleteIfOwned, labelTag } from "./ownership";
import { notFound } from "./recovery";

const BIGQUERY = restCalls((gcp) => gcp.bigquery);
/** One BigQuery call (client.ts callRest). */
export const bq = BIGQUERY.call;
/** The same, undefined on 404. */
export const bqOrUndefined = BIGQUERY.orUndefined;

export const datasetPath = (project: string, dataset: string) => `/projects/${encodeURIComponent(project)}/datasets/${encodeURIComponent(dataset)}`;
export const tablePath = (project: string, dataset: string, table: string) => `${datasetPath(project, dataset)}/tables/${encodeURIComponent(table)}`;

/** The identity-bearing inputs of a dataset, table or view. */
type Owned = { owner?: string; deployment?: string; instance?: string; takeOver?: string };

/** Creates a table or view, or adopts one that carries this resource's identity (ownership.ts createOrAdopt), brought to `body`. Returns whom it was taken over from. */
export async function createOrAdoptTable(
  gcp: Gcp,
  project: string,
  dataset: string,
  table: string,
  i: Owned,
  body: Record<string, unknown>,
  kind: string,
): Promise<{ made: any; takenOverFrom: string }> {
  const path = tablePath(project, dataset, table);
  const name = `${kind} ${project}.${dataset}.${table}`;
  return createOrAdopt(name, i, "Otherwise choose another name.", {
    create: () => bq(gcp, "POST", `${datasetPath(project, dataset)}/tables`, `create ${name}`, body),
    read: () => bq(gcp, "GET", path, `read ${name}`),
    tag: labelTag,
    adopt: () => bq(gcp, "PUT", path, `update ${name} (adopting it)`, body),
  });
}

/** Deletes a table or view this instance holds; already gone is fine, one another instance took over is kept. */
export async function deleteTable(gcp: Gcp, project: string, dataset: string, table: string, kind: string, i: Owned = {}): Promise<void> {
  const name = `${kind} ${project}.${dataset}.${table}`;
  await deleteIfOwned(name, i, {
    read: () => bqOrUndefined(gcp, tablePath(project, dataset, table), `read ${name}`),
    tag: labelTag,
    del: async () => {
      try {
        await bq(gcp, "DELETE", tablePath(project, dataset, table), `delete ${name}`);
      } catch (e) {
        if (!notFound(e)) throw e;
      }
    },
  });
}
