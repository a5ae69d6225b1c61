// Creating, adopting and deleting a GCP object by the identity it carries (provider/ownership.ts has the
// rules and docs/identity.md the cases): a create cut short by a crash, a replacement or a parent move
// of the same resource is adopted (and re-tagged); another deployment's object is refused, unless
// `takeOver` names it; an object another instance took over since is not deleted.
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { Identity, OWNER_LABEL, adoptDecision, mayDelete, tagOf } from "../ownership";
import { alreadyExists } from "./recovery";

export { OWNER_LABEL };

/** The identity a resource's checked inputs carry. */
export const identityOf = (i: { owner?: string; deployment?: string; instance?: string }): Identity => ({
  owner: String(i.owner ?? ""),
  deployment: i.deployment,
  instance: i.instance,
});

/** A label-bearing object's tag. */
export const labelTag = (found: { labels?: Record<string, string> } | undefined): string | undefined => found?.labels?.[OWNER_LABEL];

/**
 * Creates something, or, when its name is taken (409), adopts it when its tag says so (this resource's
 * lineage, or what `takeOver` names): `adopt` brings it to the inputs and re-tags it. Anything else of
 * that name is left alone, with an error that says whose it is and what to do (`instead`).
 */
export async function createOrAdopt<T>(
  what: string,
  i: { owner?: string; deployment?: string; instance?: string; takeOver?: string },
  instead: string,
  ops: { create(): Promise<T>; read(): Promise<any>; tag(found: any): string | undefined; adopt(found: any): Promise<T> },
): Promise<{ made: T; takenOverFrom: string }> {
  try {
    return { made: await ops.create(), takenOverFrom: "" };
  } catch (e) {
    if (!alreadyExists(e)) throw e;
  }
  const found = await ops.read();
  const d = adoptDecision(ops.tag(found), identityOf(i), i.takeOver);
  if (!d.adopt) throw new Error(`${what} already exists: ${d.why}. ${instead}`);
  return { made: await ops.adopt(found), takenOverFrom: d.takenOverFrom };
}

/**
 * Deletes what this instance holds, unless another instance or deployment took it over since (its tag
 * says so): then it is dropped from this stack only, with a line saying why. `read` gives undefined when it is gone.
 */
export async function deleteIfOwned(
  what: string,
  i: { owner?: string; deployment?: string; instance?: string },
  ops: { read(): Promise<any>; tag(found: any): string | undefined; del(): Promise<void> },
): Promise<void> {
  if (tagOf(identityOf(i)) !== undefined) {
    const found = await ops.read();
    if (found === undefined) return;
    const d = mayDelete(ops.tag(found), identityOf(i));
    if (!d.delete) {
      console.log(`${what} is not deleted: ${d.why}`);
      return;
    }
  }
  await ops.del();
}
