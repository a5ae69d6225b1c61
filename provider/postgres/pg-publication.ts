// PgPublication: a publication on eventstore.events2 (PostgreSQL 15+), what decides which events and
// which columns leave the database: insert-only, the row filter and column list planned from the same
// `query` options a Changefeed takes (provider/cdc/publication.ts: no `payload` unless allowed; an
// allow-list is a second publication, `part: "payload"`, for its own slot).
//
// Its identity is a marker in the publication's comment (COMMENT ON PUBLICATION), written in the
// same transaction as CREATE PUBLICATION, so no publication of ours is ever unmarked. A create cut
// short finds its publication by that marker and continues; another deployment's is refused unless
// `takeOver` names it; delete drops only what still carries this instance's marker.
//
// Replace-only: name, namePrefix. A change of the query (event types, instances, columns, payload) is
// an ALTER PUBLICATION … SET TABLE in place: it applies from its place in the WAL for a slot that is
// already streaming, with no gap and no leak (docs/postgres-source.md §2, result 3).
//
// The provider stored in state is `require(".../provider/stored/pg-publication.js")`
// (provider/operations-provider.ts): this file's path and its `pgPublicationOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { UNKNOWN, containsUnknown, defineResource, defined, engineFacing, inputRules, sameValue, withoutProvider } from "../engine";
import type { ArgsInSchema, ConfigLike, DeepInput, Outputs, TypedOperations } from "../engine";
import { mayDelete, markerIn, withMarker } from "../ownership";
import { identityOf } from "../gcp/ownership";
import { OWNED } from "../stream-identity";
import { Db } from "../sql/db";
import { ChangefeedQueryOptions, changefeedQueryOptionsSchema } from "../cdc/query";
import { PlannedPublication, alterPublicationSql, createPublicationSql, planPublications } from "../cdc/publication";
import { quoteIdent, sqlString } from "../cdc/events2";
import { explainPg, pgWhere, withPg } from "./sql";
import { NAME_OR_PREFIX, PG_OBJECT_RULES, PgObjectArgs, createOrAdoptMarked, pgNameRule, pgObjectFields } from "./fields";

export interface PgPublicationArgs extends PgObjectArgs {
  /** Which events and columns: the Changefeed's `query` options (a raw `query` is CockroachDB's only). */
  query?: DeepInput<ChangefeedQueryOptions>;
  /** "events" (default): every selected event, payload only if `query.payload` is "all"; "payload": the allow-listed types with their payload. */
  part?: pulumi.Input<"events" | "payload">;
  /**
   * Accept PostgreSQL 14, which has no column lists or row filters: the publication then carries every
   * inserted event with its payload, and the engine selects (output `filteredBy` "engine"; README,
   * "PostgreSQL 14"). Payloads, personal data, then reach the engine's process. Ignored on 15 and later.
   */
  engineFilteringOnPg14?: pulumi.Input<boolean>;
}

/** What the connection's role needs on the server (PostgreSQL has no permission names to list: the privilege or role). */
export const PG_PUBLICATION_PRIVILEGES = {
  create: ["CREATE on the database", "ownership of eventstore.events2 (or superuser): PostgreSQL requires it to add a table to a publication"],
  update: ["ownership of the publication"],
  delete: ["ownership of the publication"],
} as const;

export const pgPublicationInputs = z
  .strictObject({
    ...pgObjectFields("publication", 56),
    query: changefeedQueryOptionsSchema.default({}),
    part: z.enum(["events", "payload"]).default("events"),
    // Absent unless given, so a state made before it diffs unchanged.
    engineFilteringOnPg14: z.boolean().optional(),
  })
  .refine(...NAME_OR_PREFIX);
true satisfies ArgsInSchema<PgPublicationArgs, typeof pgPublicationInputs>;

export type PgPublicationInputs = z.output<typeof pgPublicationInputs> & {
  name: string;
  autoNamed: boolean;
  nameGeneration?: number;
  /** The planned column list and row filter (provider/cdc/publication.ts). */
  columns: string[];
  rowFilter: string;
};

/** What a PgPublication keeps in state: its inputs (with the plan), and the server's own rendering of it. */
export type PgPublicationState = PgPublicationInputs & {
  takenOverFrom: string;
  /**
   * The column list and row filter as the server shows them after this resource set them
   * (pg_publication_tables: PostgreSQL rewrites `x NOT IN (…)` as `x <> ALL (ARRAY[…])`), so that a
   * refresh tells a change made by hand from the server's own spelling of ours.
   */
  appliedColumns: string[];
  appliedRowFilter: string;
  /** Who selects the events and columns: "database" (PostgreSQL 15+), or "engine" (PostgreSQL 14, asked for). */
  filteredBy: "database" | "engine";
};

const RULES = inputRules({
  schema: pgPublicationInputs,
  replace: PG_OBJECT_RULES.replace,
  update: [...PG_OBJECT_RULES.update, "query", "part", "columns", "rowFilter", "engineFilteringOnPg14"],
  identity: true,
  name: pgNameRule(56),
});

/** The part of the plan this resource is; a failure names what is wrong with the options. */
export function planned(query: ChangefeedQueryOptions, part: "events" | "payload"): PlannedPublication {
  const plan = planPublications(query);
  const p = plan.find((x) => x.role === part);
  if (!p) throw new Error('part "payload" needs a payload allow-list: query.payload = { eventTypes: [...] }');
  return p;
}

const MINIMUM_VERSION = 150000;

/**
 * Who selects on this server: the database (15+: column lists and row filters came with PostgreSQL 15,
 * release notes 15, "Logical replication"), or the engine on 14 when asked for; refused otherwise.
 */
export function filteringOn(serverVersionNum: number, engineFilteringOnPg14: boolean | undefined, what: string): "database" | "engine" {
  if (serverVersionNum >= MINIMUM_VERSION) return "database";
  const major = Math.floor(serverVersionNum / 10000);
  if (major === 14 && engineFilteringOnPg14) return "engine";
  throw new Error(
    major === 14
      ? `${what}: PostgreSQL 14 has no column lists or row filters on publications (they came with 15), so every event and its payload would leave the database. Upgrade to PostgreSQL 15 or later, or set engineFilteringOnPg14: true to let the engine select (payloads, personal data, then reach the engine's process).`
      : `${what}: PostgreSQL ${major} has no column lists or row filters on publications, and ZITADEL v3/v4 need 14 or later: upgrade to PostgreSQL 15 or later.`,
  );
}

/** The publication's table as the server is to hold it: the plan, or on 14 the whole table (the engine selects). */
const specOf = (i: PgPublicationInputs, by: "database" | "engine"): PlannedPublication =>
  by === "engine" ? { role: i.part, columns: [], where: "" } : { role: i.part, columns: i.columns, where: i.rowFilter };

const serverVersion = async (db: Db) => Number((await db.query("SHOW server_version_num")).rows[0].server_version_num);

interface FoundPublication {
  comment: string;
  /** events2's column list and row filter in the publication, as the server spells them. */
  columns: string[];
  rowFilter: string;
}

async function findPublication(db: Db, name: string): Promise<FoundPublication | undefined> {
  const p = await db.query("SELECT coalesce(obj_description(oid, 'pg_publication'), '') AS comment FROM pg_publication WHERE pubname = $1", [name]);
  if (!p.rows[0]) return undefined;
  // pg_publication_tables gained attnames and rowfilter in PostgreSQL 15; on 14 there is neither.
  const columns =
    (await serverVersion(db)) >= MINIMUM_VERSION ? "coalesce(attnames::text[], '{}') AS cols, coalesce(rowfilter, '') AS f" : "'{}'::text[] AS cols, '' AS f";
  const t = await db.query(`SELECT ${columns} FROM pg_publication_tables WHERE pubname = $1 AND schemaname = 'eventstore' AND tablename = 'events2'`, [name]);
  return { comment: p.rows[0].comment, columns: t.rows[0]?.cols ?? [], rowFilter: t.rows[0]?.f ?? "" };
}

function markerText(i: PgPublicationInputs): string {
  return withMarker(`ZITADEL audit stream: ${i.part === "payload" ? "allow-listed events with payload" : "events"}`, identityOf(i)) ?? "";
}

/** CREATE and COMMENT in one transaction: a publication of ours always carries its marker. */
async function createMarked(db: Db, i: PgPublicationInputs, by: "database" | "engine"): Promise<void> {
  await db.query(
    `BEGIN; ${createPublicationSql(i.name, specOf(i, by))}; COMMENT ON PUBLICATION ${quoteIdent(i.name)} IS ${sqlString(markerText(i))}; COMMIT`,
    [],
    { once: true },
  );
}

/** Brings a publication to the plan (ALTER … SET TABLE, insert-only) and re-marks it as this instance's. */
async function bringToPlan(db: Db, i: PgPublicationInputs, by: "database" | "engine"): Promise<void> {
  const p = specOf(i, by);
  await db.query(
    `BEGIN; ${alterPublicationSql(i.name, p)}; ALTER PUBLICATION ${quoteIdent(i.name)} SET (publish = 'insert'); COMMENT ON PUBLICATION ${quoteIdent(i.name)} IS ${sqlString(markerText(i))}; COMMIT`,
  );
}

/** The state after the server holds `i`'s plan: read back, so its own spelling is recorded. */
async function applied(db: Db, i: PgPublicationInputs, takenOverFrom: string, filteredBy: "database" | "engine"): Promise<PgPublicationState> {
  const found = await findPublication(db, i.name);
  if (!found) throw new Error(`publication ${i.name} vanished right after it was set (dropped meanwhile?): run \`pulumi up\` again.`);
  return { ...withoutProvider(i), takenOverFrom, appliedColumns: found.columns, appliedRowFilter: found.rowFilter, filteredBy } as PgPublicationState;
}

async function make(config: ConfigLike | undefined, i: PgPublicationInputs): Promise<PgPublicationState> {
  const what = `create publication ${i.name} on PostgreSQL at ${pgWhere(i.connectionString)}`;
  return withPg(i.connectionString, config, async (db) => {
    const by = filteringOn(await serverVersion(db), i.engineFilteringOnPg14, what);
    const { takenOverFrom } = await createOrAdoptMarked(db, "publication", i, what, {
      comment: async () => (await findPublication(db, i.name))?.comment,
      create: () => createMarked(db, i, by),
      adopt: () =>
        bringToPlan(db, i, by).catch((e) => {
          throw explainPg(e, `bring publication ${i.name} to the plan`);
        }),
    });
    return applied(db, i, takenOverFrom, by);
  });
}

export const pgPublicationOperations: TypedOperations<PgPublicationInputs, PgPublicationState> = engineFacing(
  "PgPublication",
  {
    async check(config, olds, news) {
      const r = await RULES.check(config, olds, news);
      if (!r.inputs) return r;
      const i = r.inputs as PgPublicationInputs;
      if (containsUnknown(i.query) || (i.part as unknown) === UNKNOWN) return r;
      try {
        const p = planned(i.query, i.part);
        return { inputs: defined({ ...i, columns: p.columns, rowFilter: p.where }) };
      } catch (e) {
        return { failures: [{ property: "query", reason: (e as Error).message }] };
      }
    },
    diff: RULES.diff,

    async create(config, i) {
      return { id: i.name, outs: await make(config, i) };
    },

    async read(config, id, props) {
      const found = await withPg(props.connectionString, config, (db) => findPublication(db, id)).catch((e) => {
        throw explainPg(e, `read publication ${id}`);
      });
      if (!found) return { id: "" };
      // Changed by hand since this resource set it: the server's columns and filter stand in state, so
      // the next preview shows the difference and \`up\` sets the plan back.
      const same = sameValue(found.columns, props.appliedColumns) && found.rowFilter === props.appliedRowFilter;
      return { id, props: same ? withoutProvider(props) : { ...withoutProvider(props), columns: found.columns, rowFilter: found.rowFilter } };
    },

    async update(config, id, olds, checked) {
      const { news } = RULES.updating(olds, checked);
      const outs = await withPg(news.connectionString, config, async (db) => {
        const found = await findPublication(db, id);
        if (!found)
          throw new Error(
            `publication ${id} is not on PostgreSQL at ${pgWhere(news.connectionString)} (dropped by hand?): run \`pulumi refresh\`, then \`pulumi up\` makes it again.`,
          );
        const d = mayDelete(markerIn(found.comment), identityOf(news));
        if (!d.delete)
          throw new Error(`publication ${id} is not changed: ${d.why.replace("it is kept, and dropped from this stack only", "it is left as it is")}`);
        const by = filteringOn(await serverVersion(db), news.engineFilteringOnPg14, `alter publication ${id}`);
        await bringToPlan(db, news, by);
        return applied(db, news, olds.takenOverFrom ?? "", by);
      }).catch((e) => {
        throw e instanceof Error && /^publication /.test(e.message) ? e : explainPg(e, `alter publication ${id}`);
      });
      return { outs };
    },

    async delete(config, id, props) {
      await withPg(props.connectionString, config, async (db) => {
        const found = await findPublication(db, id);
        if (!found) return;
        const d = mayDelete(markerIn(found.comment), identityOf(props));
        if (!d.delete) return console.log(`publication ${id} is not dropped: ${d.why}`);
        await db.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(id)}`);
      }).catch((e) => {
        throw explainPg(e, `drop publication ${id}`);
      });
    },
  },
  ["connectionString"],
);

export interface PgPublication extends Outputs<Pick<PgPublicationState, "name" | "columns" | "rowFilter" | "part" | "takenOverFrom" | "filteredBy">> {}

/** A publication on eventstore.events2: insert-only, with the row filter and columns of the stream's query. */
export class PgPublication extends defineResource<PgPublicationArgs>(__filename, {
  operations: { pgPublicationOperations },
  ...OWNED,
  wrap: (args) => ({ connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined }),
  outputs: ["name", "columns", "rowFilter", "part", "takenOverFrom", "appliedColumns", "appliedRowFilter", "filteredBy", "connectionString"],
  secretOutputs: ["connectionString"],
  importInstead:
    "declare it without `import`: a publication this stream made carries its marker in its comment and is adopted; one made elsewhere is refused by name (or taken over with `takeOver`)",
}) {}
