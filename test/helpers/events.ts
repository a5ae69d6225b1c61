// Realistic ZITADEL events (event types from internal/repository, cockroach-changefeeds.md §11.2) inserted the way
// ZITADEL does on CockroachDB (created_at and position from cluster_logical_timestamp()), and the
// bookkeeping that proves delivery: every inserted event found in the bucket at least once.
import { Client } from "pg";
import type { Gcp } from "../../provider/gcp/client";

export interface ZitadelEvent {
  instanceId: string;
  aggregateType: string;
  aggregateId: string;
  sequence: number;
  eventType: string;
  owner: string;
  payload: Record<string, unknown> | null;
}

const KINDS: [string, string, (i: number) => Record<string, unknown> | null][] = [
  ["user", "user.human.added", (i) => ({ userName: `user${i}`, email: `user${i}@example.com`, firstName: "Ada", lastName: "Lovelace", phone: "+41 79 000 00 00" })],
  ["user", "user.human.password.changed", () => ({ secret: { algorithm: "bcrypt", hash: "$2a$14$..." }, userAgentID: "ua-1" })],
  ["user", "user.human.email.verified", () => null],
  ["user", "user.token.added", (i) => ({ tokenId: `tok${i}`, scopes: ["openid"] })],
  ["instance", "instance.domain.added", (i) => ({ domain: `tenant${i}.example.com`, generated: false })],
  ["instance", "instance.domain.primary.set", (i) => ({ domain: `tenant${i}.example.com` })],
  ["org", "org.added", (i) => ({ name: `Org ${i}` })],
  ["user", "user.human.password.check.failed", () => ({ userAgentID: "ua-2" })],
];

/** `count` events spread over aggregates; sequences grow per aggregate, starting after `from`. */
export function makeEvents(count: number, from = 0, instanceId = "262800396467273985"): ZitadelEvent[] {
  return Array.from({ length: count }, (_, n) => {
    const i = from + n;
    const [aggregateType, eventType, payload] = KINDS[i % KINDS.length];
    return { instanceId, aggregateType, aggregateId: `${aggregateType}-${i % 7}`, sequence: i + 1, eventType, owner: "262800396467339521", payload: payload(i) };
  });
}

/** One INSERT per event, as ZITADEL's eventstore writes them on CockroachDB. */
export async function insertEvents(pg: Client, events: ZitadelEvent[]): Promise<void> {
  for (const e of events) {
    await pg.query(
      `INSERT INTO eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
       VALUES ($1, $2, $3, $4, $5, 1, hlc_to_timestamp(cluster_logical_timestamp()), $6, 'SYSTEM', $7, cluster_logical_timestamp(), 0)`,
      [e.instanceId, e.aggregateType, e.aggregateId, e.eventType, e.sequence, e.payload === null ? null : JSON.stringify(e.payload), e.owner],
    );
  }
}

/** The identity of an event: events2's primary key. */
export const eventKey = (e: { instance_id?: unknown; aggregate_type?: unknown; aggregate_id?: unknown; sequence?: unknown }) =>
  `${e.instance_id}/${e.aggregate_type}/${e.aggregate_id}/${e.sequence}`;
export const insertedKey = (e: ZitadelEvent) => `${e.instanceId}/${e.aggregateType}/${e.aggregateId}/${e.sequence}`;

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
  const out: Record<string, any>[] = [];
  for (;;) {
    const got: any[] = (await gcp.pubsub.request<any>("POST", `/${subscription}:pull`, { maxMessages: 1000, returnImmediately: true })).data.receivedMessages ?? [];
    if (!got.length) return out;
    out.push(...got.map((m) => JSON.parse(Buffer.from(m.message.data, "base64").toString("utf8"))));
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

/** Inserts one event every few milliseconds on its own connection until stopped; returns what it wrote. */
export function insertContinuously(url: string, from: number, everyMs = 15): { stop(): Promise<ZitadelEvent[]> } {
  const inserted: ZitadelEvent[] = [];
  let running = true;
  const pg = new Client({ connectionString: url });
  pg.on("error", () => undefined); // the loop below sees a dropped connection as a failed insert
  let failure: unknown;
  const done = (async () => {
    await pg.connect();
    for (let i = from; running; i++) {
      const [e] = makeEvents(1, i);
      await insertEvents(pg, [e]);
      inserted.push(e);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })()
    .catch((e) => (failure = e))
    .finally(() => pg.end().catch(() => undefined));
  return {
    async stop() {
      running = false;
      await done;
      if (failure) throw new Error(`inserting events failed after ${inserted.length}: ${(failure as Error).message}`);
      return inserted;
    },
  };
}
