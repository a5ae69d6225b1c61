// What a Changefeed asks of Google Cloud about its sink: whether the writer may write (before a job is
// made or switched), whether something the job wrote after it started can be read back (proof of
// delivery), and, with exclusiveKeys, deleting the writer's other keys once the job runs on its own.
//
// Reached from state only through provider/cockroach/changefeed.ts (see provider/operations-provider.ts).
import { Gcp, callRest, clientsFor, gcpClients, gcpConfigFrom, gcpError } from "../gcp/client";
import { messageOf, notFound, statusOf, withRetry } from "../gcp/recovery";
import { encodeCredentials, isPubSubSink } from "../cdc/sink";
import { firstNameFrom } from "../cdc/files";
import type { ConfigLike } from "../engine/contract";
import * as crypto from "crypto";
import { Identity, describeTag, markerIn, ownerLabels } from "../ownership";
import { foreignAccountKeys, keyRefused, noDeployerCredentials } from "./messages";

/** The sink's key, parsed (undefined for implicit or impersonated credentials). */
export function sinkKey(sink: any): { client_email: string; private_key_id: string } | undefined {
  if (!sink?.credentials) return undefined;
  return JSON.parse(Buffer.from(encodeCredentials(sink.credentials), "base64").toString("utf8"));
}

/**
 * Proves, with the sink's own key, that it may create objects in the bucket or publish to the topic
 * (retrying while a new grant propagates), so that a missing grant fails `pulumi up` instead of a feed
 * that silently retries. Needs no permission itself. Skipped for implicit and impersonated credentials
 * (the read-back after the job starts proves those, see DeliveryProbe).
 */
export async function verifySinkAccess(config: ConfigLike | undefined, i: any): Promise<void> {
  const sink = i.sink;
  if (i.verifySinkAccess === false || !sink.credentials || sink.auth === "implicit" || sink.assumeRole) return;
  const key = Buffer.from(encodeCredentials(sink.credentials), "base64").toString("utf8");
  const gcp = await gcpClients({ credentials: key, endpoint: gcpConfigFrom(config).endpoint });
  const email = JSON.parse(key).client_email;
  // What the sink's writer must hold, asked with its own key (testIamPermissions needs no permission):
  // storage.objects.create on the bucket, or pubsub.topics.publish on the topic (pubsub-research.md §7).
  const pubsub = isPubSubSink(sink);
  const permission = pubsub ? "pubsub.topics.publish" : "storage.objects.create";
  const target = pubsub ? `projects/${sink.project}/topics/${sink.topic}` : `gs://${sink.bucket}`;
  const what = pubsub ? `check that ${email} may publish to ${target}` : `check that ${email} may create objects in ${target}`;
  const ask = async (): Promise<string[]> =>
    pubsub
      ? ((await gcp.pubsub.request<{ permissions?: string[] }>("POST", `/${target}:testIamPermissions`, { permissions: [permission] })).data.permissions ?? [])
      : ((await gcp.storage.buckets.testIamPermissions({ bucket: sink.bucket, permissions: [permission] })).data.permissions ?? []);
  const missing = Object.assign(new Error("not granted"), { notGranted: true });
  try {
    await withRetry(
      async () => {
        if (!(await ask()).includes(permission)) throw missing;
      },
      { what, retryIf: (e) => (e as any).notGranted === true, deadlineMs: i.timeoutSeconds * 1000, baseDelayMs: 500 },
    );
  } catch (e) {
    // Only an answer that says "not granted" is a missing grant; a storm or an outage says so.
    if ((e as any).notGranted || (e as any).lastError?.notGranted) {
      const grant = pubsub ? "roles/pubsub.publisher on the topic" : "the guide's custom role, or roles/storage.objectCreator";
      throw new Error(
        `${what}: it may not (testIamPermissions answered without ${permission}). Grant ${permission} on the ${pubsub ? "topic" : "bucket"} to serviceAccount:${email} (${grant}) and run \`pulumi up\` again; the changefeed was left as it was.`,
      );
    }
    if (notFound(e)) throw new Error(`${what}: the ${pubsub ? "topic" : "bucket"} does not exist`);
    if (statusOf(e) === 401 || /invalid_grant|account not found|disabled/i.test(messageOf(e))) {
      throw new Error(keyRefused(what, messageOf(e)));
    }
    throw new Error(`${what} failed (nothing was changed; run \`pulumi up\` again): ${messageOf(e)}`);
  }
}

/**
 * Something the job wrote after it started, read back from the sink: the proof that a feed delivers
 * (a checkpoint alone is not: the first can land before the first upload fails). `open` before the job
 * starts (or is switched), `seen` after its checkpoint, `close` at the end whatever happened.
 * - Cloud Storage: the objects under the sink's prefix named from the start time on (file names sort by
 *   time, cdc/files.ts) are listed before and after; an object that was not there before is new.
 * - Pub/Sub: a probe subscription on the topic (messages published after it exists reach it; labelled,
 *   expiring after a day of disuse, 10 minutes' retention, so a crash leaves nothing that lasts);
 *   one message pulled from it is proof. It is deleted by `close`.
 * Needs the deployer's storage.objects.list on the bucket, or pubsub.subscriptions.create/consume/delete
 * in the topic's project and pubsub.topics.attachSubscription on the topic (README "Permissions").
 */
export interface DeliveryProbe {
  open(): Promise<void>;
  seen(): Promise<boolean>;
  close(): Promise<void>;
  /** Where the probe looks, for messages. */
  readonly where: string;
}

export async function deliveryProbe(config: ConfigLike | undefined, i: any, since: string, identity: Identity): Promise<DeliveryProbe> {
  const gcp = await clientsFor(config).catch((e) => {
    throw new Error(noDeployerCredentials((e as Error).message));
  });
  return isPubSubSink(i.sink) ? pubsubProbe(gcp, i.sink, identity) : gcsProbe(gcp, i.sink, since);
}

function gcsProbe(gcp: Gcp, sink: any, since: string): DeliveryProbe {
  const prefix = (sink.prefix ?? "").replace(/^\/+|\/+$/g, "");
  const startOffset = firstNameFrom(prefix, since, sink.partitionFormat ?? "daily");
  const where = `gs://${sink.bucket}/${prefix}`;
  const list = async (): Promise<Set<string>> => {
    const names = new Set<string>();
    let pageToken: string | undefined;
    do {
      const page = (
        await withRetry(
          () =>
            gcp.storage.objects.list({
              bucket: sink.bucket,
              prefix: prefix ? `${prefix}/` : undefined,
              startOffset,
              pageToken,
              fields: "items(name),nextPageToken",
            }),
          { what: `list ${where}` },
        ).catch((e) => {
          throw gcpError(e, `list the objects of ${where} (to read back what the changefeed wrote)`);
        })
      ).data;
      for (const o of page.items ?? []) names.add(o.name!);
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
    return names;
  };
  let before = new Set<string>();
  return {
    where,
    async open() {
      before = await list();
    },
    async seen() {
      return [...(await list())].some((n) => !before.has(n));
    },
    async close() {},
  };
}

function pubsubProbe(gcp: Gcp, sink: any, identity: Identity): DeliveryProbe {
  const topic = `projects/${sink.project}/topics/${sink.topic}`;
  const name = `projects/${sink.project}/subscriptions/zitadel-audit-probe-${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`;
  let made = false;
  return {
    where: topic,
    async open() {
      await callRest(gcp.pubsub, "PUT", `/${name}`, `create the probe subscription ${name} on ${topic} (to read back what the changefeed publishes)`, {
        topic,
        ackDeadlineSeconds: 10,
        messageRetentionDuration: "600s",
        expirationPolicy: { ttl: "86400s" },
        labels: ownerLabels(identity),
      });
      made = true;
    },
    async seen() {
      const r = await callRest<{ receivedMessages?: { ackId: string }[] }>(gcp.pubsub, "POST", `/${name}:pull`, `pull from the probe subscription ${name}`, {
        maxMessages: 10,
      });
      const ids = (r.receivedMessages ?? []).map((m) => m.ackId);
      if (ids.length) await callRest(gcp.pubsub, "POST", `/${name}:acknowledge`, `acknowledge on ${name}`, { ackIds: ids }).catch(() => undefined);
      return ids.length > 0;
    },
    async close() {
      if (!made) return;
      await callRest(gcp.pubsub, "DELETE", `/${name}`, `delete the probe subscription ${name}`).catch((e) => {
        if (!notFound(e)) console.log(`warning: ${messageOf(e)} (it expires by itself after a day unused)`);
      });
    },
  };
}

/**
 * With exclusiveKeys: deletes every user-managed key of the sink's service account except the one
 * the feed now runs on (its JSON names both), once the feed proved it delivers with that key — and only
 * when the account is this stream's (its description carries this deployment, or both are from before
 * identities): another deployment's account and its keys are never touched. Returns the keys it could
 * not delete (the next `up` tries again), or throws when the account is not this stream's.
 */
export async function pruneKeys(config: ConfigLike | undefined, i: any, identity: Identity, legacy: boolean): Promise<string[]> {
  const key = sinkKey(i.sink);
  if (!i.exclusiveKeys || !key) return [];
  const account = `projects/-/serviceAccounts/${key.client_email}`;
  const left: string[] = [];
  const gcp = await clientsFor(config);
  const sa = await withRetry(() => gcp.iam.projects.serviceAccounts.get({ name: account }), { what: `read ${key.client_email}` }).catch((e) => {
    throw gcpError(e, `read the writer account ${key.client_email} (before deleting its other keys)`);
  });
  const tag = markerIn(sa.data.description ?? undefined);
  // This stream's account carries its deployment; an unmarked one is this stream's only when the feed
  // itself is from before identities (its whole stream is).
  const sameStream = tag === undefined ? legacy : identity.deployment !== undefined && tag.startsWith(`${identity.deployment}-`);
  if (!sameStream) {
    throw new Error(foreignAccountKeys(key.client_email, describeTag(tag), identity.deployment ?? "from before identities"));
  }
  try {
    const listed = await withRetry(() => gcp.iam.projects.serviceAccounts.keys.list({ name: account, keyTypes: ["USER_MANAGED"] }), {
      what: `list the keys of ${key.client_email}`,
    });
    const others = (listed.data.keys ?? []).map((k) => k.name!).filter((n) => n.split("/").pop() !== key.private_key_id);
    for (const name of others) {
      await withRetry(() => gcp.iam.projects.serviceAccounts.keys.delete({ name }), { what: `delete unused key ${name}` }).catch((e) => {
        if (!notFound(e)) left.push(name);
      });
    }
  } catch (e) {
    left.push(`(all keys of ${key.client_email}: ${messageOf(e)})`);
  }
  return left;
}
