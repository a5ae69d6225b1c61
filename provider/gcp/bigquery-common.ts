// What the BigQuery resources share: calls through the one client factory with its retry rules,
// and creating or adopting a table by its ownership label (provider/gcp/ownership.ts).
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { Gcp, callRest, getRestOrUndefined } from "./client";
import { OWNER_LABEL, madeBy } from "./ownership";

export { OWNER_LABEL, madeBy, ownerLabel } from "./ownership";

/** One BigQuery call (client.ts callRest). */
export const bq = <T = any>(gcp: Gcp, method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE", path: string, what: string, body?: unknown, headers?: Record<string, string>) => callRest<T>(gcp.bigquery, method, path, what, body, headers);
/** The same, undefined on 404. */
export const bqOrUndefined = <T = any>(gcp: Gcp, path: string, what: string) => getRestOrUndefined<T>(gcp.bigquery, path, what);

export const datasetPath = (project: string, dataset: string) => `/projects/${encodeURIComponent(project)}/datasets/${encodeURIComponent(dataset)}`;
export const tablePath = (project: string, dataset: string, table: string) => `${datasetPath(project, dataset)}/tables/${encodeURIComponent(table)}`;

/**
 * Creates a table or view, or adopts one of the same id that carries this resource's label (an
 * earlier create of ours whose answer was lost), bringing it to `body`. Anything else of that id
 * is somebody else's and is left alone, with an error that says so.
 */
export async function createOrAdoptTable(gcp: Gcp, project: string, dataset: string, table: string, owner: string | undefined, body: Record<string, unknown>, kind: string): Promise<any> {
  const path = tablePath(project, dataset, table);
  const what = `create ${kind} ${project}.${dataset}.${table}`;
  try {
    return await bq(gcp, "POST", `${datasetPath(project, dataset)}/tables`, what, body);
  } catch (e) {
    if ((e as any).status !== 409) throw e;
  }
  const found = await bq(gcp, "GET", path, `read ${kind} ${project}.${dataset}.${table}`);
  if (!madeBy(found, owner)) {
    throw new Error(`${kind} ${project}.${dataset}.${table} already exists and this stack did not create it (no ${OWNER_LABEL} label of this resource). Choose another name, or delete that table.`);
  }
  return bq(gcp, "PUT", path, `update ${kind} ${project}.${dataset}.${table} (adopting this resource's earlier create)`, body);
}

/** Deletes a table or view; already gone is fine. */
export async function deleteTable(gcp: Gcp, project: string, dataset: string, table: string, kind: string): Promise<void> {
  try {
    await bq(gcp, "DELETE", tablePath(project, dataset, table), `delete ${kind} ${project}.${dataset}.${table}`);
  } catch (e) {
    if ((e as any).status !== 404) throw e;
  }
}
