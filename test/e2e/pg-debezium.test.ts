// The PostgreSQL source end to end: PostgreSQL 15 with ZITADEL's events2, the package's PgRole,
// PgPublication and PgSlot, the configuration cdc/debezium.ts renders given to the real Debezium
// Server through its environment, publishing over gRPC (what the server's Java client speaks) to
// Google's own Pub/Sub emulator (the reference) and to the stand-in (the topic and the writer's grant
// made by the package's PubSubTopic and PubSubIamMember, IAM enforced). It checks what an audit
// pipeline must: every selected event arrives, none of another type, no payload, each aggregate's
// events in order; a kill -9 of the engine and a restart without its offsets loses nothing; a query
// change applies from its place in the WAL.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { RunningPostgres, ZITADEL_EVENTS2_DDL, startPostgres } from "../../tools/harness/postgres";
import { GooglePubSub, startGooglePubSub } from "../../tools/harness/google-pubsub";
import { RunningDebezium, startDebezium } from "../../tools/harness/debezium";
import { GcpEmulator, freePort } from "../../stand-ins";
import { pubsubTopicOperations } from "../../provider/gcp/pubsub-topic";
import { pubsubIamMemberOperations } from "../../provider/gcp/pubsub-iam-member";
import { pgRoleOperations } from "../../provider/postgres/pg-role";
import { pgPublicationOperations } from "../../provider/postgres/pg-publication";
import { pgSlotOperations } from "../../provider/postgres/pg-slot";
import { debeziumEnvironment, debeziumProperties } from "../../provider/cdc/debezium";
import { engineFilterOf } from "../../provider/cdc/publication";
import { Driver, State, TEST_DEPLOYMENT } from "../harness/driver";

jest.setTimeout(300_000);

let pg: RunningPostgres;
let pubsub: GooglePubSub;
let emu: GcpEmulator;
let admin: Client;
let engine: RunningDebezium | undefined;
const made: [Driver, State][] = [];
const QUERY = { filter: { eventTypes: ["user.human.added", "user.human.changed", "user.token.added"] } };

const driver = (ops: any, owner: string) =>
  new Driver(ops, { "zitadel-audit-stream:postgresUrl": pg.url() }, () => ({
    owner: `proj/dev/${owner}`,
    deployment: TEST_DEPLOYMENT,
    namePrefix: owner.replace(/-/g, "_"),
  }));
/** A GCP resource driven against the stand-in; `deployment` for the resources whose objects carry one. */
const gcpDriver = (ops: any, owner: string, deployment: string | null = TEST_DEPLOYMENT) =>
  new Driver(ops, { "gcp:credentials": emu.adminKeyFile, "zitadel-audit-stream:gcpEndpoint": emu.endpoint, "gcp:project": emu.project }, () => ({
    owner: `proj/dev/${owner}`,
    ...(deployment ? { deployment } : {}),
  }));

type Received = { data: string; orderingKey: string };

/** Where the engine publishes, and how the test reads what arrived. */
interface Target {
  project: string;
  topic: string;
  address: string;
  /** What arrived since the last call. */
  take(): Promise<Received[]>;
}

/** Google's emulator: a topic and an ordered subscription, pulled over REST. */
async function googleTarget(): Promise<Target> {
  await pubsub.createTopic("zitadel-audit");
  await pubsub.createSubscription("siem", "zitadel-audit");
  return { project: pubsub.project, topic: "zitadel-audit", address: pubsub.host, take: () => pubsub.pull("siem") };
}

/**
 * The stand-in: the topic and the publisher grant made by the package's own resources, the engine
 * publishing as its service account (the stand-in's per-identity gRPC endpoint, as Cloud Run's
 * metadata server would give the account's token).
 */
async function standInTarget(): Promise<Target> {
  const topic = await gcpDriver(pubsubTopicOperations, "audit-topic").up({ name: "zitadel-audit" });
  const writer = emu.iam.createAccount(emu.project, "cdc-engine", { displayName: "the engine's runtime identity" });
  const member = `serviceAccount:${writer.email}`;
  await gcpDriver(pubsubIamMemberOperations, "audit-publisher", null).up({ resource: topic.state.id, role: "roles/pubsub.publisher", member });
  let seen = 0;
  return {
    project: emu.project,
    topic: "zitadel-audit",
    address: await emu.pubsubGrpc.endpointFor(writer.email),
    async take() {
      const all = emu.pubsub.published(topic.state.id);
      const fresh = all.slice(seen);
      seen = all.length;
      return fresh.map((m) => ({ data: m.data.toString("utf8"), orderingKey: m.orderingKey ?? "" }));
    },
  };
}

beforeAll(async () => {
  [pg, pubsub, emu] = await Promise.all([
    startPostgres({ max_slot_wal_keep_size: "1GB" }, { passwords: true }),
    startGooglePubSub(),
    new GcpEmulator().start(),
  ]);
  admin = new Client({ connectionString: pg.url() });
  await admin.connect();
  await admin.query(ZITADEL_EVENTS2_DDL);
});
afterAll(async () => {
  await engine?.kill("SIGKILL");
  for (const [d, s] of made.reverse()) await d.destroy(s).catch(() => undefined);
  await admin?.end();
  pubsub?.stop();
  await emu?.stop();
  pg?.stop();
});

let seq = 0;
/** Events of `n` aggregates, `per` each, with a payload that must never leave the database. */
async function insert(types: string[], aggregates: number, per: number): Promise<{ type: string; aggregate: string; sequence: number }[]> {
  const rows: { type: string; aggregate: string; sequence: number }[] = [];
  for (let s = 0; s < per; s++) {
    for (let a = 0; a < aggregates; a++) {
      const type = types[(s + a) % types.length];
      const row = { type, aggregate: `agg-${a}`, sequence: ++seq };
      await admin.query(
        `INSERT INTO eventstore.events2 VALUES ('inst-1', 'user', $1, $2, $3, 1, now(), '{"email":"pii@example.com"}', 'SYSTEM', 'org-1', EXTRACT(EPOCH FROM clock_timestamp()), 0)`,
        [row.aggregate, row.type, row.sequence],
      );
      rows.push(row);
    }
  }
  return rows;
}

async function pullUntil(target: Target, received: Received[], want: number, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (new Set(received.map((m) => m.data)).size < want) {
    if (Date.now() > deadline)
      throw new Error(`only ${new Set(received.map((m) => m.data)).size} of ${want} distinct events arrived:\n${engine?.log().slice(-3000)}`);
    received.push(...(await target.take()));
    await new Promise((r) => setTimeout(r, 200));
  }
  // A little longer: anything that should not come would come now.
  await new Promise((r) => setTimeout(r, 1500));
  received.push(...(await target.take()));
}

test.each([
  ["Google's Pub/Sub emulator", googleTarget, "g"],
  ["the stand-in, as the engine's service account", standInTarget, "s"],
])(
  "PgRole, PgPublication and PgSlot feed the real Debezium Server into %s: nothing lost across kill -9 and a query change, no payload, each aggregate in order",
  async (_name, makeTarget, tag) => {
    const target = await makeTarget();
    const roleDriver = driver(pgRoleOperations, `audit-login-${tag}`);
    const role = await roleDriver.up({});
    made.push([roleDriver, role.state]);
    const pubDriver = driver(pgPublicationOperations, `audit-pub-${tag}`);
    const pub = await pubDriver.up({ query: QUERY });
    const pubAt = made.push([pubDriver, pub.state]) - 1;
    const slotDriver = driver(pgSlotOperations, `audit-slot-${tag}`);
    const slot = await slotDriver.up({});
    made.push([slotDriver, slot.state]);

    const offsets = fs.mkdtempSync(path.join(os.tmpdir(), "zas-offsets-"));
    const env = async (offsetsDir: string) =>
      debeziumEnvironment(
        debeziumProperties({
          database: { host: "127.0.0.1", port: pg.port, dbname: "postgres", user: role.state.id, password: role.state.outputs.password },
          slot: slot.state.id,
          publication: pub.state.id,
          columns: pub.state.outputs.columns,
          payload: false,
          pubsub: { project: target.project, topic: target.topic, address: target.address },
          offsetsFile: path.join(offsetsDir, "offsets.dat"),
          httpPort: await freePort(),
        }),
      );

    engine = startDebezium(await env(offsets));
    await engine.ready();
    const received: Received[] = [];
    const first = await insert(["user.human.added", "user.human.changed", "org.added"], 5, 6);
    const expected1 = first.filter((r) => r.type !== "org.added");
    await pullUntil(target, received, expected1.length);

    // Killed mid-stream; events written while it is down; restarted without its offsets (a new container).
    const during = insert(["user.human.added"], 5, 20);
    await new Promise((r) => setTimeout(r, 150));
    await engine.kill("SIGKILL");
    const second = await during;
    engine = startDebezium(await env(fs.mkdtempSync(path.join(os.tmpdir(), "zas-offsets-"))));
    await engine.ready();

    // The query changes while it streams: user.token.added leaves, and applies from here on.
    const tokensBefore = await insert(["user.token.added"], 2, 1);
    const changed = await pubDriver.up({ query: { filter: { eventTypes: ["user.human.added", "user.human.changed"] } } }, pub.state);
    expect(changed.op).toBe("update");
    made.splice(pubAt, 1, [pubDriver, changed.state]);
    const tokensAfter = await insert(["user.token.added", "user.human.changed"], 2, 2);

    const expected = [...expected1, ...second, ...tokensBefore, ...tokensAfter.filter((r) => r.type !== "user.token.added")];
    await pullUntil(target, received, expected.length);

    const events = received.map((m) => ({ ...JSON.parse(m.data), orderingKey: m.orderingKey }));
    const distinct = new Map(events.map((e) => [`${e.aggregate_id}/${e.sequence}`, e]));
    expect([...distinct.keys()].sort()).toEqual(expected.map((r) => `${r.aggregate}/${r.sequence}`).sort());
    expect(events.filter((e) => "payload" in e || JSON.stringify(e).includes("pii@example.com"))).toEqual([]);
    expect(events.every((e) => e.orderingKey === JSON.stringify({ instance_id: "inst-1", aggregate_type: "user", aggregate_id: e.aggregate_id }))).toBe(true);
    // Per aggregate, first arrivals are in sequence order (a redelivery after the restart may repeat older ones).
    for (const agg of new Set(events.map((e) => e.aggregate_id))) {
      const firsts: number[] = [];
      const seen = new Set<number>();
      for (const e of events.filter((x) => x.aggregate_id === agg))
        if (!seen.has(e.sequence)) {
          seen.add(e.sequence);
          firsts.push(e.sequence);
        }
      expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    }
    console.log(
      `pg-debezium: ${expected.length} events expected, ${distinct.size} distinct delivered, ${events.length - distinct.size} duplicates after kill -9`,
    );

    // The slot's health reads the consumer.
    const refreshed = await slotDriver.refresh(slot.state);
    expect(refreshed?.outputs).toMatchObject({ active: true, health: "streaming" });
    await engine.kill();
    engine = undefined;
  },
);

test("PostgreSQL 14's way, asked for with engineFilteringOnPg14: the publication selects nothing and the real Debezium Server keeps only the selected events and columns (Groovy Filter), payload only in the allow-listed part", async () => {
  // A publication as PgPublication makes it on PostgreSQL 14 (no column list, no row filter: 14 has neither),
  // here on 15 — what is tested is the engine's filtering, which is the same whatever the server.
  const topic = await gcpDriver(pubsubTopicOperations, "pg14-topic").up({ name: "zitadel-audit-pg14" });
  const writer = emu.iam.createAccount(emu.project, "cdc-engine-pg14", {});
  await gcpDriver(pubsubIamMemberOperations, "pg14-publisher", null).up({
    resource: topic.state.id,
    role: "roles/pubsub.publisher",
    member: `serviceAccount:${writer.email}`,
  });
  await admin.query("CREATE PUBLICATION pg14_events FOR TABLE eventstore.events2 WITH (publish = 'insert')");
  await admin.query("CREATE PUBLICATION pg14_payload FOR TABLE eventstore.events2 WITH (publish = 'insert')");
  await admin.query("SELECT pg_create_logical_replication_slot('pg14_events', 'pgoutput'), pg_create_logical_replication_slot('pg14_payload', 'pgoutput')");
  const roleDriver = driver(pgRoleOperations, "pg14-login");
  const role = await roleDriver.up({});
  made.push([roleDriver, role.state]);
  const query = { filter: { eventTypes: ["user.human.added", "user.human.changed", "org.added"] }, payload: { eventTypes: ["org.added"] } };
  const engines: RunningDebezium[] = [];
  try {
    for (const part of ["events", "payload"] as const) {
      const f = engineFilterOf(query, part);
      const props = debeziumProperties({
        database: { host: "127.0.0.1", port: pg.port, dbname: "postgres", user: role.state.id, password: role.state.outputs.password },
        slot: `pg14_${part}`,
        publication: `pg14_${part}`,
        columns: f.columns,
        payload: part === "payload",
        pubsub: { project: emu.project, topic: "zitadel-audit-pg14", address: await emu.pubsubGrpc.endpointFor(writer.email) },
        offsetsFile: path.join(fs.mkdtempSync(path.join(os.tmpdir(), "zas-offsets-")), "offsets.dat"),
        httpPort: await freePort(),
        engineFilter: f,
      });
      const env = debeziumEnvironment(props);
      expect(env.ENABLE_DEBEZIUM_SCRIPTING).toBe("true");
      const e = startDebezium(env);
      engines.push(e);
      await e.ready();
    }
    const rows = await insert(["user.human.added", "user.human.changed", "org.added", "user.token.added", "user.human.password.changed"], 4, 5);
    const want = rows.filter((r) => ["user.human.added", "user.human.changed", "org.added"].includes(r.type));
    const deadline = Date.now() + 90_000;
    let got: any[] = [];
    while (new Set(got.map((e) => `${e.aggregate_id}/${e.sequence}`)).size < want.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      got = emu.pubsub.published(topic.state.id).map((m) => JSON.parse(m.data.toString("utf8")));
    }
    await new Promise((r) => setTimeout(r, 2000));
    got = emu.pubsub.published(topic.state.id).map((m) => JSON.parse(m.data.toString("utf8")));
    const keys = (xs: { aggregate_id?: string; aggregate?: string; sequence: number }[]) =>
      [...new Set(xs.map((x) => `${x.aggregate_id ?? x.aggregate}/${x.sequence}`))].sort();
    expect(keys(got)).toEqual(keys(want));
    // Payload only with the allow-listed type, and the columns the plan names, nothing else.
    for (const e of got) {
      if (e.event_type === "org.added") expect(e.payload).toEqual(expect.stringContaining("pii@example.com"));
      else expect("payload" in e || JSON.stringify(e).includes("pii@example.com")).toBe(false);
      expect(
        Object.keys(e)
          .filter((k) => !k.startsWith("__"))
          .sort(),
      ).toEqual(engineFilterOf(query, e.event_type === "org.added" ? "payload" : "events").columns.sort());
    }
    console.log(`pg14-mode: ${want.length} of ${rows.length} events selected, ${got.length} published (${keys(got).length} distinct)`);
  } finally {
    for (const e of engines) await e.kill();
    await admin.query("SELECT pg_drop_replication_slot('pg14_events'), pg_drop_replication_slot('pg14_payload')").catch(() => undefined);
    await admin.query("DROP PUBLICATION IF EXISTS pg14_events, pg14_payload");
  }
});
