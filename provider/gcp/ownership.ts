// The label that proves a BigQuery dataset or table, or a Pub/Sub topic or subscription, was made
// by this stack's resource: a create cut short by a crash is adopted by the next run, and nobody
// else's object ever is.
//
// Reached from state only through the modules under provider/stored/: its path may change.
import * as crypto from "crypto";

/** The ownership label: key, and a value derived from the resource's project/stack/name. */
export const OWNER_LABEL = "zitadel-audit-stream";

export function ownerLabel(owner: string | undefined): Record<string, string> {
  return owner ? { [OWNER_LABEL]: crypto.createHash("sha256").update(owner).digest("hex").slice(0, 32) } : {};
}

/** Was this object (it carries labels) made by the resource `owner`? */
export function madeBy(found: { labels?: Record<string, string> } | undefined, owner: string | undefined): boolean {
  const mine = ownerLabel(owner)[OWNER_LABEL];
  return mine !== undefined && found?.labels?.[OWNER_LABEL] === mine;
}


/**
 * Creates something, or, when its name is taken (409), adopts it if it carries this resource's label:
 * an earlier create of ours whose answer was lost (a crash, a dropped connection). Anything else of
 * that name is somebody else's and is left alone, with an error that says so and `instead`.
 */
export async function createOrAdopt<T>(what: string, owner: string | undefined, instead: string, ops: { create(): Promise<T>; read(): Promise<any>; adopt(found: any): Promise<T> }): Promise<T> {
  try {
    return await ops.create();
  } catch (e) {
    if ((e as any).status !== 409) throw e;
  }
  const found = await ops.read();
  if (!madeBy(found, owner)) throw new Error(`${what} already exists and this stack did not create it (no ${OWNER_LABEL} label of this resource). ${instead}`);
  return ops.adopt(found);
}
