// What the Pub/Sub resources share: calls through the one client factory with its retry rules,
// and creating a topic or subscription or adopting one that carries this resource's label.
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { Gcp, callRest, getRestOrUndefined } from "./client";
import { createOrAdopt, deleteIfOwned, labelTag } from "./ownership";

/** One Pub/Sub call (client.ts callRest). */
export const ps = <T = any>(gcp: Gcp, method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE", path: string, what: string, body?: unknown) => callRest<T>(gcp.pubsub, method, path, what, body);
/** The same, undefined on 404. */
export const psOrUndefined = <T = any>(gcp: Gcp, path: string, what: string) => getRestOrUndefined<T>(gcp.pubsub, path, what);

/** The identity-bearing inputs of a topic or subscription. */
type Owned = { owner?: string; deployment?: string; instance?: string; takeOver?: string };

/**
 * Creates `name` (`projects/<p>/topics/<t>` or `…/subscriptions/<s>`) with `body`, or adopts one that
 * carries this resource's identity (ownership.ts createOrAdopt), brought to `body` with a patch of `mask`
 * (which re-tags it). Returns whom it was taken over from ("" for none).
 */
export async function createOrAdoptResource(gcp: Gcp, name: string, kind: "topic" | "subscription", i: Owned, body: Record<string, unknown>, mask: string[]): Promise<string> {
  const r = await createOrAdopt(`${kind} ${name}`, i, `Otherwise choose another name for the ${kind}.`, {
    create: () => ps(gcp, "PUT", `/${name}`, `create ${kind} ${name}`, body),
    read: () => ps(gcp, "GET", `/${name}`, `read ${kind} ${name}`),
    tag: labelTag,
    adopt: () => ps(gcp, "PATCH", `/${name}`, `update ${kind} ${name} (adopting it)`, { [kind]: body, updateMask: mask.join(",") }),
  });
  return r.takenOverFrom;
}

/** Deletes a topic or subscription this instance holds; already gone is fine, one another instance took over is kept. */
export async function deleteResource(gcp: Gcp, name: string, kind: string, i: Owned = {}): Promise<void> {
  await deleteIfOwned(`${kind} ${name}`, i, {
    read: () => psOrUndefined(gcp, `/${name}`, `read ${kind} ${name}`),
    tag: labelTag,
    del: async () => {
      try {
        await ps(gcp, "DELETE", `/${name}`, `delete ${kind} ${name}`);
      } catch (e) {
        if ((e as any).status !== 404) throw e;
      }
    },
  });
}
