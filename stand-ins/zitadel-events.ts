// Realistic ZITADEL events (event types from internal/repository, docs/cockroach-changefeeds.md §11.2)
// inserted into the twin the way ZITADEL does on CockroachDB (created_at and position from
// cluster_logical_timestamp()), and each event's identity: events2's primary key.
import { Client } from "pg";

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
  [
    "user",
    "user.human.added",
    (i) => ({ userName: `user${i}`, email: `user${i}@example.com`, firstName: "Ada", lastName: "Lovelace", phone: "+41 79 000 00 00" }),
  ],
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
    return {
      instanceId,
      aggregateType,
      aggregateId: `${aggregateType}-${i % 7}`,
      sequence: i + 1,
      eventType,
      owner: "262800396467339521",
      payload: payload(i),
    };
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
