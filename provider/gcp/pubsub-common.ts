// What the Pub/Sub resources share: calls through the one client factory with its retry rules,
// and creating a topic or subscription or adopting one that carries this resource's label.
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { Gcp, callRest, getRestOrUndefined } from "./client";
import { createOrAdopt } from "./ownership";

/** One Pub/Sub call (client.ts callRest). */
export const ps = <T = any>(gcp: Gcp, method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE", path: string, what: string, body?: unknown) => callRest<T>(gcp.pubsub, method, path, what, body);
/** The same, undefined on 404. */
export const psOrUndefined = <T = any>(gcp: Gcp, path: string, what: string) => getRestOrUndefined<T>(gcp.pubsub, path, what);

/**
 * Creates `name` (`projects/<p>/topics/<t>` or `…/subscriptions/<s>`) with `body`, or adopts ours of
 * that name (ownership.ts createOrAdopt), brought to `body` with a patch of `mask`.
 */
export function createOrAdoptResource(gcp: Gcp, name: string, kind: "topic" | "subscription", owner: string | undefined, body: Record<string, unknown>, mask: string[]): Promise<any> {
  return createOrAdopt(`${kind} ${name}`, owner, `Choose another name, or delete that ${kind}.`, {
    create: () => ps(gcp, "PUT", `/${name}`, `create ${kind} ${name}`, body),
    read: () => ps(gcp, "GET", `/${name}`, `read ${kind} ${name}`),
    adopt: () => ps(gcp, "PATCH", `/${name}`, `update ${kind} ${name} (adopting this resource's earlier create)`, { [kind]: body, updateMask: mask.join(",") }),
  });
}

/** Deletes a topic or subscription; already gone is fine. */
export async function deleteResource(gcp: Gcp, name: string, kind: string): Promise<void> {
  try {
    await ps(gcp, "DELETE", `/${name}`, `delete ${kind} ${name}`);
  } catch (e) {
    if ((e as any).status !== 404) throw e;
  }
}
