// PgSlot: a logical replication slot (pgoutput) on the PostgreSQL database ZITADEL writes its events
// to: the stream's cursor. The server keeps every WAL segment the slot has not confirmed, so the
// events between a crash of the engine and its restart are not lost (docs/postgres-source.md §3).
//
// A slot has no comment or label: its name is its only mark. The derived name's hex comes from the
// resource's owner, its stream's deployment and its name generation (engine/naming.ts seedKeys), so
// only this resource's lineage derives it: a create cut short (a crash, a dropped connection)
// finds its slot under that name and continues with it, and a second deployment with the same
// names makes its own. A slot of an explicit `name` that exists already is refused: who made it
// cannot be told. Delete drops only the slot this resource holds, and waits (bounded) for its
// consumer to let go.
//
// Replace-only: name, namePrefix (a new slot starts at the WAL's end: see AuditStream for the
// handoff that loses nothing). The connection updates in place (a rotated password); it must reach
// the same database.
//
// The provider stored in state is `require(".../provider/stored/pg-slot.js")`
// (provider/operations-provider.ts): this file's path and its `pgSlotOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, ConfigLike, Outputs, TypedOperations } from "../engine";

import { OWNED } from "../stream-identity";
import { ConnectionLostError, Db } from "../sql/db";
import { SLOT_NAME, SlotRow, SlotState, slotState } from "../cdc/slot";
import { explainPg, pgWhere, withPg } from "./sql";
import { readFacts } from "./facts";
import { preflight } from "./preflight";
import { NAME_OR_PREFIX, PG_OBJECT_RULES, PgObjectArgs, pgNameRule, pgObjectFields } from "./fields";

export interface PgSlotArgs extends PgObjectArgs {
  /** How long delete waits for the slot's consumer to disconnect before it refuses (default 30 s). */
  releaseTimeoutSeconds?: pulumi.Input<number>;
  /** PostgreSQL 14 accepted, its events filtered in the engine (the publication's engineFilteringOnPg14; README). */
  engineFilteringOnPg14?: pulumi.Input<boolean>;
}

/** What the connection's role needs on the server (PostgreSQL has no permission names to list: the privilege or role). */
export const PG_SLOT_PRIVILEGES = {
  create: ["REPLICATION attribute (RDS: rds_replication; Cloud SQL and AlloyDB: the REPLICATION attribute given by their admin role)"],
  "read (refresh)": ["pg_replication_slots (every role can read it)"],
  delete: ["REPLICATION attribute"],
} as const;

export const pgSlotInputs = z
  .strictObject({
    ...pgObjectFields("slot", 50, z.string().regex(SLOT_NAME, "a slot name is 1 to 63 lower-case letters, digits and '_'")),
    releaseTimeoutSeconds: z.number().int().min(0).max(600).default(30),
    // Absent unless given, so a state made before it diffs unchanged.
    engineFilteringOnPg14: z.boolean().optional(),
  })
  .refine(...NAME_OR_PREFIX);
true satisfies ArgsInSchema<PgSlotArgs, typeof pgSlotInputs>;

export type PgSlotInputs = z.output<typeof pgSlotInputs> & { name: string; autoNamed: boolean; nameGeneration?: number };

/** What a PgSlot keeps in state: its inputs and the slot's row when last read. */
export type PgSlotState = PgSlotInputs & {
  /** The database the slot belongs to (a slot serves one database). */
  database: string;
  /** The LSN the slot was created at: no event committed before it is streamed. */
  createdAtLsn: string;
  active: boolean;
  walStatus: string;
  /** WAL bytes the server keeps for this slot (INT8 as a string). */
  retainedBytes: string;
  confirmedFlushLsn: string;
  health: SlotState;
};

const RULES = inputRules({
  schema: pgSlotInputs,
  replace: PG_OBJECT_RULES.replace,
  update: [...PG_OBJECT_RULES.update, "releaseTimeoutSeconds", "engineFilteringOnPg14"],
  identity: true,
  name: pgNameRule(50, 12),
});

export interface FoundSlot extends SlotRow {
  plugin: string;
  slotType: string;
  database: string;
}

/** The slot's row in pg_replication_slots, or undefined (also what the health command reads). */
export async function findSlot(db: Db, name: string): Promise<FoundSlot | undefined> {
  const r = await db.query(
    `SELECT plugin, slot_type, database, active, coalesce(wal_status, '') AS wal_status,
            coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::text AS retained,
            coalesce(confirmed_flush_lsn::text, '') AS confirmed
       FROM pg_replication_slots WHERE slot_name = $1`,
    [name],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    plugin: row.plugin ?? "",
    slotType: row.slot_type,
    database: row.database ?? "",
    active: row.active === true,
    walStatus: row.wal_status,
    retainedBytes: String(row.retained),
    confirmedFlushLsn: row.confirmed,
  };
}

function outputs(i: PgSlotInputs, s: FoundSlot, createdAtLsn: string): PgSlotState {
  return defined({
    ...withoutProvider(i),
    database: s.database,
    createdAtLsn,
    active: s.active,
    walStatus: s.walStatus,
    retainedBytes: s.retainedBytes,
    confirmedFlushLsn: s.confirmedFlushLsn,
    health: slotState(s),
  }) as PgSlotState;
}

/** A slot of this name that is not a pgoutput logical slot of this database is someone else's. */
function unlike(s: FoundSlot, database: string): string | undefined {
  if (s.slotType !== "logical" || s.plugin !== "pgoutput")
    return `it is a ${s.slotType} slot${s.plugin ? ` of plugin ${s.plugin}` : ""}, not a pgoutput logical slot`;
  if (s.database !== database) return `it belongs to database ${s.database}, not ${database}`;
  return undefined;
}

async function make(config: ConfigLike | undefined, i: PgSlotInputs): Promise<PgSlotState> {
  const what = `create replication slot ${i.name} on PostgreSQL at ${pgWhere(i.connectionString)}`;
  return withPg(i.connectionString, config, async (db) => {
    const database = (await db.query("SELECT current_database() AS d")).rows[0].d as string;
    let found = await findSlot(db, i.name);
    if (found && !i.autoNamed) {
      throw new Error(
        `${what}: a slot of that name already exists, and a slot carries no mark of who made it. Choose another name (or leave name out: a derived one is unique to this stream), or drop that slot if it is no one's.`,
      );
    }
    if (!found) {
      // Everything a slot needs, checked first: a slot that cannot be made or kept is named with its fix.
      const pf = preflight(await readFacts(db), { slots: 1, engineFilteringOnPg14: i.engineFilteringOnPg14 === true });
      for (const w of pf.warnings) console.log(`PgSlot ${i.name}: ${w}`);
      if (pf.problems.length) throw new Error(`${what}: the server is not ready:\n  - ${pf.problems.join("\n  - ")}`);
      try {
        // Not safe to repeat: a drop in flight leaves whether it ran unknown, and the name tells.
        await db.query("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", [i.name], { once: true });
      } catch (e) {
        // 42710 duplicate_object: a create of ours that raced this one, or whose answer was lost.
        if (!(e instanceof ConnectionLostError) && (e as { code?: string }).code !== "42710") throw explainPg(e, what);
      }
      found = await findSlot(db, i.name);
      if (!found) throw new Error(`${what}: the connection dropped while the slot was being made, and it does not exist: run \`pulumi up\` again.`);
    }
    const other = unlike(found, database);
    if (other) throw new Error(`${what}: a slot of that name exists, but ${other}. It is left as it is; choose another name.`);
    return outputs(i, found, found.confirmedFlushLsn);
  });
}

/** Waits up to `seconds` for the slot's consumer to disconnect, then drops it. */
async function drop(db: Db, name: string, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const s = await findSlot(db, name);
    if (!s) return;
    if (!s.active) {
      try {
        await db.query("SELECT pg_drop_replication_slot($1)", [name]);
        return;
      } catch (e) {
        const code = (e as { code?: string }).code;
        // 42704 undefined_object: gone meanwhile; 55006 object_in_use: a consumer connected meanwhile.
        if (code === "42704") return;
        if (code !== "55006") throw e;
      }
    }
    if (Date.now() >= deadline) {
      const pid = (await db.query("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", [name])).rows[0]?.active_pid;
      throw new Error(
        `replication slot ${name} is still read by a consumer (PostgreSQL backend pid ${pid ?? "unknown"}) after ${seconds}s: stop the engine that reads it (its resource is deleted before this one when it depends on it), then run \`pulumi destroy\` again. The slot was kept.`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const pgSlotOperations: TypedOperations<PgSlotInputs, PgSlotState> = engineFacing(
  "PgSlot",
  {
    ...RULES.handlers,

    async create(config, i) {
      const s = await make(config, i);
      return { id: i.name, outs: s };
    },

    async read(config, id, props) {
      const s = await withPg(props.connectionString, config, (db) => findSlot(db, id)).catch((e) => {
        throw explainPg(e, `read replication slot ${id}`);
      });
      if (!s) return { id: "" };
      return { id, props: outputs(props, s, props.createdAtLsn) };
    },

    async update(config, id, olds, checked) {
      const { news } = RULES.updating(olds, checked);
      const s = await withPg(news.connectionString, config, (db) => findSlot(db, id)).catch((e) => {
        throw explainPg(e, `read replication slot ${id}`);
      });
      if (!s)
        throw new Error(
          `replication slot ${id} is not on PostgreSQL at ${pgWhere(news.connectionString)}: the connection must reach the database the slot is in.`,
        );
      return { outs: outputs(news, s, olds.createdAtLsn) };
    },

    async delete(config, id, props) {
      await withPg(props.connectionString, config, (db) => drop(db, id, props.releaseTimeoutSeconds ?? 30)).catch((e) => {
        throw e instanceof Error && /still read by a consumer/.test(e.message) ? e : explainPg(e, `drop replication slot ${id}`);
      });
    },
  },
  ["connectionString"],
);

export interface PgSlot
  extends Outputs<Pick<PgSlotState, "name" | "database" | "createdAtLsn" | "active" | "walStatus" | "retainedBytes" | "confirmedFlushLsn" | "health">> {}

/** A pgoutput logical replication slot: the PostgreSQL stream's cursor. */
export class PgSlot extends defineResource<PgSlotArgs>(__filename, {
  operations: { pgSlotOperations },
  ...OWNED,
  wrap: (args) => ({ connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined }),
  outputs: ["name", "database", "createdAtLsn", "active", "walStatus", "retainedBytes", "confirmedFlushLsn", "health", "connectionString"],
  secretOutputs: ["connectionString"],
  importInstead:
    "declare it without `import`: a slot this stream made is found by its derived name and continued; a slot made elsewhere carries no mark of its maker and cannot be adopted",
}) {}
