// Which instance of a grant holds its binding, recorded in a label of the resource granted on
// (provider/ownership.ts grantLabel): a bucket, a topic or a subscription. Best effort: a resource the
// deployer may not relabel (an existing bucket of someone else's) keeps no record, and its grant behaves
// as before (its delete removes the binding).
//
// Reached from state only through the modules under provider/stored/: its path may change.
import { Gcp } from "./client";
import { messageOf, notFound, withRetry } from "./recovery";
import { grantLabel, grantMayRevoke } from "../ownership";

export interface GrantTarget {
  /** The target's labels; undefined when it is gone. */
  labels(): Promise<Record<string, string> | undefined>;
  /** Sets (a value) or removes (null) labels, keeping the others. */
  setLabels(change: Record<string, string | null>): Promise<void>;
  readonly what: string;
}

export function bucketTarget(gcp: Gcp, bucket: string): GrantTarget {
  return {
    what: `bucket ${bucket}`,
    async labels() {
      try {
        return ((await withRetry(() => gcp.storage.buckets.get({ bucket, fields: "labels" }), { what: `read the labels of bucket ${bucket}` })).data.labels ??
          {}) as Record<string, string>;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
    // A PATCH of `labels` merges: a key set to null is removed (gcp-apis.md §7.1).
    async setLabels(change) {
      await withRetry(() => gcp.storage.buckets.patch({ bucket, requestBody: { labels: change as Record<string, string> } }), {
        what: `record the grant in the labels of bucket ${bucket}`,
      });
    },
  };
}

export function pubsubTarget(gcp: Gcp, resource: string): GrantTarget {
  const kind = resource.includes("/topics/") ? "topic" : "subscription";
  const read = async () => {
    try {
      return (await withRetry(() => gcp.pubsub.request<any>("GET", `/${resource}`), { what: `read ${resource}` })).data;
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  };
  return {
    what: resource,
    async labels() {
      return (await read())?.labels ?? (undefined as any);
    },
    // A PATCH of `labels` replaces the map: read, change, write.
    async setLabels(change) {
      const now = { ...((await read())?.labels ?? {}) };
      for (const [k, v] of Object.entries(change)) v === null ? delete now[k] : (now[k] = v);
      await withRetry(() => gcp.pubsub.request("PATCH", `/${resource}`, { [kind]: { labels: now }, updateMask: "labels" }), {
        what: `record the grant in the labels of ${resource}`,
      });
    },
  };
}

/** After a grant's create: this instance holds the binding. A target that cannot be relabelled keeps no record (said once). */
export async function recordGrant(target: GrantTarget, owner: string, role: string, member: string, instance: string): Promise<boolean> {
  try {
    await target.setLabels({ [grantLabel(owner, role, member)]: instance });
    return true;
  } catch (e) {
    console.log(
      `the grant of ${role} to ${member} is not recorded on ${target.what} (${messageOf(e)}): moving it under another parent without aliases would drop it`,
    );
    return false;
  }
}

/**
 * Before a grant's delete removes the binding: may it? Not when another instance of the grant (a
 * replacement, a parent move) recorded itself since. When it may, its record is removed after.
 */
export async function releaseGrant(
  target: GrantTarget,
  owner: string | undefined,
  role: string,
  member: string,
  instance: string | undefined,
  revoke: () => Promise<void>,
): Promise<void> {
  if (!owner || !instance) return revoke();
  const key = grantLabel(owner, role, member);
  const labels = await target.labels().catch(() => undefined);
  if (!grantMayRevoke(labels?.[key], instance)) {
    console.log(`the grant of ${role} to ${member} on ${target.what} is kept: a newer instance of it (${labels![key]}) holds it now`);
    return;
  }
  await revoke();
  if (labels?.[key] !== undefined) await target.setLabels({ [key]: null }).catch(() => undefined);
}
