// What the BigQuery resources share: calls through the one client factory with its retry rules,
// and creating or adopting a table by its ownership label (provider/gcp/ownership.ts).
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { Gcp, callRest, getRestOrUndefined } from "./client";
import { createOrAdopt } from "./ownership";

/** One BigQuery call (client.ts callRest). */
export const bq = <T = any>(gcp: Gcp, method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE", path: string, what: string, body?: unknown, headers?: Record<string, string>) => callRest<T>(gcp.bigquery, method, path, what, body, headers);
/** The same, undefined on 404. */
export const bqOrUndefined = <T = any>(gcp: Gcp, path: string, what: string) => getRestOrUndefined<T>(gcp.bigquery, path, what);

export const datasetPath = (project: string, dataset: string) => `/projects/${encodeURIComponent(project)}/datasets/${encodeURIComponent(dataset)}`;
export const tablePath = (project: string, dataset: string, table: string) => `${datasetPath(project, dataset)}/tables/${encodeURIComponent(table)}`;

/** Creates a table or view, or adopts ours of the same id (ownership.ts createOrAdopt), brought to `body`. */
export function createOrAdoptTable(gcp: Gcp, project: string, dataset: string, table: string, owner: string | undefined, body: Record<string, unknown>, kind: string): Promise<any> {
  const path = tablePath(project, dataset, table);
  const name = `${kind} ${project}.${dataset}.${table}`;
  return createOrAdopt(name, owner, "Choose another name, or delete that table.", {
    create: () => bq(gcp, "POST", `${datasetPath(project, dataset)}/tables`, `create ${name}`, body),
    read: () => bq(gcp, "GET", path, `read ${name}`),
    adopt: () => bq(gcp, "PUT", path, `update ${name} (adopting this resource's earlier create)`, body),
  });
}

/** Deletes a table or view; already gone is fine. */
export async function deleteTable(gcp: Gcp, project: string, dataset: string, table: string, kind: string): Promise<void> {
  try {
    await bq(gcp, "DELETE", tablePath(project, dataset, table), `delete ${kind} ${project}.${dataset}.${table}`);
  } catch (e) {
    if ((e as any).status !== 404) throw e;
  }
}
