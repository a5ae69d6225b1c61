// What reached the destinations, read with the product's own Google client, and the bookkeeping that
// proves delivery: every inserted event found at least once, and how many arrived more than once.
// Used by the demo, the bench and the tests.
import type { Gcp } from "../../provider/gcp/client";
import { ZitadelEvent, eventKey, insertedKey } from "../../stand-ins";

export interface Delivered {
  files: string[];
  lines: Record<string, any>[];
}

/** Every NDJSON line under `prefix` in the bucket (RESOLVED files excluded). */
export async function readDelivered(gcp: Gcp, bucket: string, prefix = ""): Promise<Delivered> {
  const files: string[] = [];
  const lines: Record<string, any>[] = [];
  let pageToken: string | undefined;
  do {
    const page = (await gcp.storage.objects.list({ bucket, prefix, pageToken })).data;
    for (const o of page.items ?? []) {
      if (o.name!.endsWith(".RESOLVED")) continue;
      files.push(o.name!);
      const body = await gcp.storage.objects.get({ bucket, object: o.name!, alt: "media" }, { responseType: "text" });
      for (const line of String(body.data).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
    }
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken);
  return { files, lines };
}

/**
 * Every message a Pub/Sub subscription holds now, pulled and acknowledged as a SIEM's collector
 * would, each message's data decoded from JSON (`{"Key","Value","Topic"}` for a changefeed's rows).
 */
export async function pullMessages(gcp: Gcp, subscription: string): Promise<Record<string, any>[]> {
  return (await pullWithKeys(gcp, subscription)).map((m) => m.data);
}

/** The same, with each message's ordering key ("" for none). */
export async function pullWithKeys(gcp: Gcp, subscription: string): Promise<{ data: Record<string, any>; orderingKey: string }[]> {
  const out: { data: Record<string, any>; orderingKey: string }[] = [];
  for (;;) {
    const got: any[] =
      (await gcp.pubsub.request<any>("POST", `/${subscription}:pull`, { maxMessages: 1000, returnImmediately: true })).data.receivedMessages ?? [];
    if (!got.length) return out;
    out.push(...got.map((m) => ({ data: JSON.parse(Buffer.from(m.message.data, "base64").toString("utf8")), orderingKey: m.message.orderingKey ?? "" })));
    await gcp.pubsub.request("POST", `/${subscription}:acknowledge`, { ackIds: got.map((m) => m.ackId) });
  }
}

export interface Accounting {
  inserted: number;
  delivered: number;
  missing: number;
  duplicates: number;
  missingKeys: string[];
}

/** Counts by event key: which inserted events never arrived, and how many arrived more than once. */
export function account(inserted: ZitadelEvent[], lines: Record<string, any>[]): Accounting {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(eventKey(l), (counts.get(eventKey(l)) ?? 0) + 1);
  const missingKeys = inserted.map(insertedKey).filter((k) => !counts.has(k));
  const duplicates = [...counts.values()].reduce((n, c) => n + (c - 1), 0);
  const delivered = inserted.filter((e) => counts.has(insertedKey(e))).length;
  return { inserted: inserted.length, delivered, missing: missingKeys.length, duplicates, missingKeys: missingKeys.slice(0, 10) };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
