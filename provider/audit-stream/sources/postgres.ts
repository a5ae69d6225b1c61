// AuditStream's PostgreSQL source (ZITADEL v3/v4): on ZITADEL's database a replication role, a
// publication per part of the query (two with a payload allow-list: cdc/publication.ts says why) and a
// slot per publication; in GCP the stream's topic and the engine's identity, which may only publish
// to it; and for each slot the configuration of the CDC engine, Debezium Server (cdc/debezium.ts),
// rendered as a secret output with a container spec. The destinations are subscriptions of the topic
// (destinations/subscriptions.ts): nothing here writes to them.
//
// Where the engine runs: runtime "external" renders it for the user's own cluster (docs/engine-runtime.md
// §2 names the image source); runtime "cloudRun" runs it as a Cloud Run service per slot
// (sources/postgres-cloud-run.ts), its account then keyless. Either way exactly one copy per slot runs:
// two would take turns on one slot.
import * as pulumi from "@pulumi/pulumi";
import { PgRole } from "../../postgres/pg-role";
import { PgPublication } from "../../postgres/pg-publication";
import { PgSlot } from "../../postgres/pg-slot";
import { PubSubTopic } from "../../gcp/pubsub-topic";
import { PubSubIamMember } from "../../gcp/pubsub-iam-member";
import type { SlotState } from "../../cdc/slot";
import { FeedHealth, HEALTH_RANK } from "../../cockroach/health";
import { engineFilterOf, planPublications } from "../../cdc/publication";
import { containerSpec, debeziumProperties, propertiesText } from "../../cdc/debezium";
import { POSTGRES_URL_CONFIG_KEY } from "../../postgres/sql";
import { AuditStreamPostgresArgs, StreamContext, plain } from "../args";
import { roleAndWriter } from "../writer";

/** One engine: the slot it reads, the publication, and its rendered configuration. */
export interface PostgresPart {
  part: "events" | "payload";
  publication: PgPublication;
  slot: PgSlot;
}

export interface PostgresSource {
  topic: PubSubTopic;
  /** The engine's account as a member ("serviceAccount:…"), granted publish on the topic. */
  engineMember: pulumi.Input<string>;
  /** Per slot, the engine's properties as rendered (the password among them: secret). */
  properties: pulumi.Output<{ part: "events" | "payload"; slot: string; props: Record<string, string> }[]>;
  role: PgRole;
  parts: PostgresPart[];
  /** The engine's service account (absent with credentials "implicit"). */
  engineAccountEmail: pulumi.Output<string | undefined>;
  /**
   * Per slot: Debezium Server's application.properties, its environment as a container spec (the
   * password from your secret `<name>-engine`, key "password"), and the health port. Secret: it holds
   * the role's password.
   */
  engines: pulumi.Output<EngineConfig[]>;
  /** The engine's Google key (JSON, base64) with credentials "key": mount it as GOOGLE_APPLICATION_CREDENTIALS. Secret. */
  engineKey: pulumi.Output<string | undefined>;
  health: pulumi.Output<FeedHealth>;
}

export interface EngineConfig {
  part: "events" | "payload";
  slot: string;
  publication: string;
  properties: string;
  container: Record<string, unknown>;
}

/** The health port of the n-th engine (each its own, so two can share a host). */
const HEALTH_PORT = 8080;

/** Where the engine connects: `engineDatabase`, else the management URL's host, port and database. */
export function engineDatabase(
  given: AuditStreamPostgresArgs["engineDatabase"],
  url: string | undefined,
): { host: string; port: number; dbname: string; sslmode?: "disable" | "require" | "verify-ca" | "verify-full" } {
  const u = url ? new URL(url) : undefined;
  const sslmode = (given?.sslmode ?? u?.searchParams.get("sslmode") ?? undefined) as any;
  return {
    host: given?.host ?? (u?.hostname || process.env.PGHOST || "localhost"),
    port: given?.port ?? Number(u?.port || process.env.PGPORT || 5432),
    dbname: given?.dbname ?? (decodeURIComponent(u?.pathname.replace(/^\//, "") ?? "") || process.env.PGDATABASE || "zitadel"),
    ...(sslmode ? { sslmode } : {}),
  };
}

/** A slot's verdict as the stream's health (the same four states as a changefeed's). */
export function slotHealth(slot: string, state: SlotState, retainedBytes: string): FeedHealth {
  const mb = Math.round(Number(retainedBytes || 0) / 1e6);
  switch (state) {
    case "streaming":
      return { state: "healthy", reason: `slot ${slot}: an engine is streaming it (${mb} MB of WAL retained)`, lagSeconds: null };
    case "idle":
      return {
        state: "stopped",
        reason: `slot ${slot}: no engine reads it, so nothing is delivered and WAL piles up (${mb} MB): start the engine (outputs engines)`,
        lagSeconds: null,
      };
    case "at-risk":
      return {
        state: "lagging",
        reason: `slot ${slot}: its WAL is beyond max_slot_wal_keep_size and may be removed at the next checkpoint (loss): let the engine catch up`,
        lagSeconds: null,
      };
    default:
      return {
        state: "failing",
        reason: `slot ${slot}: the server removed WAL it needed; events were lost. A new slot and a backfill are needed`,
        lagSeconds: null,
      };
  }
}

export function postgresSource(ctx: StreamContext, pg: AuditStreamPostgresArgs): PostgresSource {
  const { name, args, owned, parent } = ctx;
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^[^a-z]+/, "");
  const connectionString = pg.connectionString;
  const role = new PgRole(
    `${name}-engine-login`,
    { connectionString, namePrefix: `${base}_cdc`.slice(0, 40), passwordRotationTrigger: pg.passwordRotationTrigger, ...owned },
    parent,
  );
  // The number of publications depends on the query (a payload allow-list is a second one): plain values only (sourceProblems refuses an Output).
  const plans = planPublications((args.query ?? {}) as any);
  const parts = plans.map((plan): PostgresPart => {
    const suffix = plan.role === "events" ? "" : "-payload";
    const publication = new PgPublication(
      `${name}-publication${suffix}`,
      {
        connectionString,
        namePrefix: `${base}_${plan.role}`.slice(0, 40),
        query: args.query,
        part: plan.role,
        ...(pg.engineFilteringOnPg14 ? { engineFilteringOnPg14: true } : {}),
        ...owned,
      },
      parent,
    );
    const slot = new PgSlot(
      `${name}-slot${suffix}`,
      { connectionString, namePrefix: `${base}_${plan.role}`.slice(0, 36), ...(pg.engineFilteringOnPg14 ? { engineFilteringOnPg14: true } : {}), ...owned },
      { ...parent, dependsOn: [publication] },
    );
    return { part: plan.role, publication, slot };
  });

  const topicName = args.pubsub?.topicName ?? `${name}-events`;
  const topic = new PubSubTopic(`${name}-topic`, { name: topicName, project: args.project, ...owned }, parent);
  // The engine may publish to the topic and do nothing else.
  const writer = roleAndWriter(ctx, {
    names: { role: `${name}-engine-role`, account: `${name}-engine`, key: `${name}-engine-key` },
    roleSuffix: "engine",
    title: "ZITADEL audit stream engine",
    permission: "pubsub.topics.publish",
    why: "Publish only: what Debezium Server's Pub/Sub sink needs.",
    describe: "Debezium Server streaming ZITADEL's PostgreSQL events into Pub/Sub",
    keyless: pg.runtime === "cloudRun",
  });
  new PubSubIamMember(`${name}-engine-grant`, { resource: topic.fullName, role: writer.role.name, member: writer.member }, parent);

  const url = pulumi.output(connectionString ?? new pulumi.Config("zitadel-audit-stream").getSecret(POSTGRES_URL_CONFIG_KEY.split(":")[1]));
  const perPart = pulumi.all(parts.map((p) => pulumi.all([p.slot.name, p.publication.name, p.publication.columns, p.publication.filteredBy])));
  const properties = pulumi.all([url, role.name, role.password, topic.project, topic.name, perPart]).apply(([u, user, password, project, topicId, named]) =>
    parts.map((p, i) => {
      const [slot, publication, columns, filteredBy] = named[i];
      // On PostgreSQL 14 (asked for) the publication selects nothing: the engine keeps the plan's events and columns.
      const engineFilter = filteredBy === "engine" ? engineFilterOf((args.query ?? {}) as any, p.part) : undefined;
      const props = debeziumProperties({
        database: { ...engineDatabase(pg.engineDatabase, u), user, password },
        slot,
        publication,
        columns: engineFilter ? engineFilter.columns : columns,
        payload: p.part === "payload" || columns.includes("payload"),
        ...(engineFilter ? { engineFilter } : {}),
        pubsub: { project, topic: topicId },
        // The slot is the cursor: offsets may be lost with the container (cdc/debezium.ts header).
        offsetsFile: `/tmp/debezium-offsets-${slot}.dat`,
        httpPort: HEALTH_PORT + i,
      });
      return { part: p.part, slot, publication, props };
    }),
  );
  const engines = properties.apply((rendered) =>
    rendered.map(({ part, slot, publication, props }): EngineConfig => {
      return {
        part,
        slot,
        publication,
        properties: propertiesText(props),
        container: containerSpec(props, {
          passwordSecret: { name: `${name}-engine`, key: "password" },
          ...(writer.key ? { googleKeyVolume: `${name}-engine-key` } : {}),
        }),
      };
    }),
  );
  const health = pulumi
    .all(parts.map((p) => pulumi.all([p.slot.name, p.slot.health, p.slot.retainedBytes])))
    .apply((slots) => slots.map(([s, h, r]) => slotHealth(s, h, r)).reduce((a, b) => (HEALTH_RANK[b.state] > HEALTH_RANK[a.state] ? b : a)));
  return {
    topic,
    engineMember: writer.member,
    properties: pulumi.secret(properties.apply((r) => r.map(({ part, slot, props }) => ({ part, slot, props })))),
    role,
    parts,
    engineAccountEmail: writer.account ? writer.account.email : pulumi.output(undefined),
    engines: pulumi.secret(engines),
    engineKey: writer.key ? pulumi.secret(writer.key.privateKeyBase64) : pulumi.output(undefined),
    health,
  };
}

/** Arguments that only the CockroachDB source reads (refused with the PostgreSQL one). */
const COCKROACH_ONLY = ["connectionString", "changefeedOptions", "manageRangefeedSetting", "timeoutSeconds", "maxLagSeconds", "partitionFormat"] as const;

/** Problems in `source` and in arguments the chosen source cannot use, each named. */
export function sourceProblems(args: Record<string, unknown>): string[] {
  const sw = args.sourceSwitch as { from?: unknown } | undefined;
  const switchProblem =
    sw !== undefined && (typeof sw !== "object" || sw === null || !["cockroach", "postgres"].includes(sw.from as string) || Object.keys(sw).length !== 1)
      ? [`sourceSwitch: must be { from: "cockroach" } or { from: "postgres" } (the source being left), not ${JSON.stringify(sw)}`]
      : [];
  return [...switchProblem, ...sourceOptionProblems(args)];
}

function sourceOptionProblems(args: Record<string, unknown>): string[] {
  const s = args.source;
  if (s === undefined || s === "cockroach") return [];
  if (!s || typeof s !== "object" || Array.isArray(s) || Object.keys(s).join() !== "postgres")
    return [`source: must be "cockroach" or { postgres: { … } }, not ${JSON.stringify(s)}`];
  const problems: string[] = [];
  const pg = (s as { postgres: Record<string, unknown> }).postgres ?? {};
  const known = ["connectionString", "engineDatabase", "runtime", "cloudRun", "passwordRotationTrigger", "engineFilteringOnPg14"];
  for (const k of Object.keys(pg)) if (!known.includes(k)) problems.push(`source.postgres.${k}: not a PostgreSQL source option (known: ${known.join(", ")})`);
  if (pg.engineFilteringOnPg14 !== undefined && typeof pg.engineFilteringOnPg14 !== "boolean")
    problems.push(`source.postgres.engineFilteringOnPg14: true or false, not ${JSON.stringify(pg.engineFilteringOnPg14)}`);
  if (pg.runtime !== undefined && pg.runtime !== "external" && pg.runtime !== "cloudRun")
    problems.push(`source.postgres.runtime: must be "external" or "cloudRun", not ${JSON.stringify(pg.runtime)}`);
  for (const k of COCKROACH_ONLY) {
    if (args[k] !== undefined)
      problems.push(
        `${k}: CockroachDB's only; the PostgreSQL source ${k === "connectionString" ? "takes source.postgres.connectionString" : "has no such setting"}`,
      );
  }
  const q = args.query;
  if (q !== undefined && !plain(q)) problems.push("query: with the PostgreSQL source give it as plain values (how many publications there are depends on it)");
  else {
    try {
      planPublications((q ?? {}) as any);
    } catch (e) {
      problems.push(`query: ${(e as Error).message}`);
    }
  }
  const c = args.credentials;
  if (c !== undefined && c !== "key" && c !== "implicit")
    problems.push('credentials: with the PostgreSQL source "key" (default) or "implicit" (the runtime\'s own identity)');
  const b = args.bigQuery as Record<string, unknown> | undefined;
  if (b && typeof b === "object")
    for (const k of ["connection", "readersScope", "schema"])
      if (b[k] !== undefined)
        problems.push(`bigQuery.${k}: for the external table over the CockroachDB feed's files; the PostgreSQL source writes a native table`);
  return problems;
}
