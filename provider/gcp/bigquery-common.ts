// What the BigQuery resources share: calls through the one client factory with its retry rules,
// and the label that proves a dataset or table was made by this stack's resource (so that a
// create cut short by a crash is adopted by the next run, and nobody else's object ever is).
//
// Reached from state only through the modules under provider/stored/: its path may change.
import * as crypto from "crypto";
import { Gcp, gcpError, statusOf, withRetry } from "./client";

/** The ownership label: key, and a value derived from the resource's project/stack/name. */
export const OWNER_LABEL = "zitadel-audit-stream";

export function ownerLabel(owner: string | undefined): Record<string, string> {
  return owner ? { [OWNER_LABEL]: crypto.createHash("sha256").update(owner).digest("hex").slice(0, 32) } : {};
}

/** Was this BigQuery object made by the resource `owner`? */
export function madeBy(found: { labels?: Record<string, string> } | undefined, owner: string | undefined): boolean {
  const mine = ownerLabel(owner)[OWNER_LABEL];
  return mine !== undefined && found?.labels?.[OWNER_LABEL] === mine;
}

/** One BigQuery call with the shared retries (429, 5xx, dropped connections); errors name what was attempted. */
export async function bq<T = any>(gcp: Gcp, method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE", path: string, what: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  try {
    return (await withRetry(() => gcp.bigquery.request<T>(method, path, body, headers), { what })).data;
  } catch (e) {
    throw Object.assign(gcpError(e, what), { status: statusOf(e), reason: (e as any)?.response?.data?.error?.errors?.[0]?.reason });
  }
}

/** The same, undefined on 404. */
export async function bqOrUndefined<T = any>(gcp: Gcp, path: string, what: string): Promise<T | undefined> {
  try {
    return await bq<T>(gcp, "GET", path, what);
  } catch (e) {
    if ((e as any).status === 404) return undefined;
    throw e;
  }
}

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
