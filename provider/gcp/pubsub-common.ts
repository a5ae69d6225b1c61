// What the Pub/Sub resources share: calls through the one client factory with its retry rules,
// and creating a topic or subscription or adopting one that carries this resource's label.
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { ConfigSource, Gcp, clientsWithProject, restCalls } from "./client";
import { OWNER_LABEL, createOrAdopt, deleteIfOwned, labelTag } from "./ownership";
import { isOwnLabel, userLabels } from "../ownership";
import { notFound } from "./recovery";

const PUBSUB = restCalls((gcp) => gcp.pubsub);
/** One Pub/Sub call (client.ts callRest). */
export const ps = PUBSUB.call;
/** The same, undefined on 404. */
export const psOrUndefined = PUBSUB.orUndefined;

/**
 * PATCH of a topic or subscription. A patch of `labels` replaces the whole map, so the grant records
 * other resources keep there (grant-registry.ts) are read and carried over.
 */
export async function patchResource(
  gcp: Gcp,
  name: string,
  kind: "topic" | "subscription",
  body: Record<string, any>,
  mask: string[],
  what: string,
): Promise<any> {
  let labels = body.labels;
  if (mask.includes("labels")) {
    const now = (await psOrUndefined(gcp, `/${name}`, `read ${kind} ${name}`))?.labels ?? {};
    labels = { ...Object.fromEntries(Object.entries(now).filter(([k]) => isOwnLabel(k) && k !== OWNER_LABEL)), ...body.labels };
  }
  return ps(gcp, "PATCH", `/${name}`, what, { [kind]: { ...body, labels }, updateMask: mask.join(",") });
}

/** A topic or subscription as it reads now, with the user's labels apart from ours; undefined when it is gone. */
export async function readResource(
  gcp: Gcp,
  name: string,
  kind: "topic" | "subscription",
): Promise<{ found: any; labels: Record<string, string> } | undefined> {
  const found = await psOrUndefined(gcp, `/${name}`, `read ${kind} ${name}`);
  return found ? { found, labels: userLabels(found.labels) } : undefined;
}

/** The identity-bearing inputs of a topic or subscription. */
type Owned = { owner?: string; deployment?: string; instance?: string; takeOver?: string };

/**
 * Creates `name` (`projects/<p>/topics/<t>` or `…/subscriptions/<s>`) with `body`, or adopts one that
 * carries this resource's identity (ownership.ts createOrAdopt), brought to `body` with a patch of `mask`
 * (which re-tags it). Returns whom it was taken over from ("" for none).
 */
export async function createOrAdoptResource(
  gcp: Gcp,
  name: string,
  kind: "topic" | "subscription",
  i: Owned,
  body: Record<string, unknown>,
  mask: string[],
): Promise<string> {
  const r = await createOrAdopt(`${kind} ${name}`, i, `Otherwise choose another name for the ${kind}.`, {
    create: () => ps(gcp, "PUT", `/${name}`, `create ${kind} ${name}`, body),
    read: () => ps(gcp, "GET", `/${name}`, `read ${kind} ${name}`),
    tag: labelTag,
    adopt: () => patchResource(gcp, name, kind, body, mask, `update ${kind} ${name} (adopting it)`),
  });
  return r.takenOverFrom;
}

/**
 * Creates (or adopts, see createOrAdoptResource) the topic or subscription `i.name` in the inputs'
 * project, or the clients' own: its full name, the inputs with the project, whom it was taken over from.
 */
export async function createInProject<I extends Owned & { name: string; project?: string }>(
  config: ConfigSource | undefined,
  i: I,
  kind: "topic" | "subscription",
  body: (inputs: I & { project: string }) => Record<string, unknown>,
  mask: string[],
): Promise<{ id: string; inputs: I & { project: string }; takenOverFrom: string }> {
  const { gcp, inputs } = await clientsWithProject(config, i);
  const id = `projects/${inputs.project}/${kind}s/${i.name}`;
  return { id, inputs, takenOverFrom: await createOrAdoptResource(gcp, id, kind, i, body(inputs), mask) };
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
        if (!notFound(e)) throw e;
      }
    },
  });
}
