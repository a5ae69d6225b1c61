// PgRole: the role the CDC engine logs in as: LOGIN REPLICATION, USAGE on schema eventstore and SELECT
// on eventstore.events2, nothing else. Its password is generated here, kept as a secret output, and
// reaches the server only as a SCRAM verifier (scram.ts); a new `passwordRotationTrigger` sets a new
// one in place (sessions already open keep running; the engine reconnects with the new one).
//
// Its identity is a marker in the role's comment (COMMENT ON ROLE), written in the same transaction as
// CREATE ROLE: a create cut short is found and continued, another deployment's role is refused unless
// `takeOver` names it, and delete drops only a role that still carries this instance's marker.
//
// The connection is an administrator's: PostgreSQL 15 lets only a superuser create a role with
// REPLICATION (CREATE ROLE docs); on Cloud SQL and AlloyDB the admin role (cloudsqlsuperuser /
// alloydbsuperuser) may, on RDS the role is granted rds_replication instead (docs/postgres-hosts.md).
//
// The provider stored in state is `require(".../provider/stored/pg-role.js")`
// (provider/operations-provider.ts): this file's path and its `pgRoleOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, ConfigLike, Outputs, TypedOperations } from "../engine";
import { mayDelete, markerIn, withMarker } from "../ownership";
import { identityOf } from "../gcp/ownership";
import { OWNED } from "../stream-identity";
import { Db } from "../sql/db";
import { quoteIdent, sqlString } from "../cdc/events2";
import { explainPg, pgWhere, withPg } from "./sql";
import { generatePassword, scramVerifier } from "./scram";
import { NAME_OR_PREFIX, PG_OBJECT_RULES, PgObjectArgs, createOrAdoptMarked, pgNameRule, pgObjectFields } from "./fields";

export interface PgRoleArgs extends PgObjectArgs {
  /** Any value; a change sets a new generated password. */
  passwordRotationTrigger?: pulumi.Input<string>;
}

/** What the connection's role needs on the server (PostgreSQL has no permission names to list: the privilege or role). */
export const PG_ROLE_PRIVILEGES = {
  create: ["superuser (self-managed), cloudsqlsuperuser (Cloud SQL), alloydbsuperuser (AlloyDB) or rds_superuser with rds_replication (RDS)"],
  update: ["the same, to set a password on a REPLICATION role"],
  delete: ["the same"],
} as const;

export const pgRoleInputs = z
  .strictObject({
    ...pgObjectFields(
      "role",
      56,
      z.string().refine((n) => !n.startsWith("pg_"), "names starting with pg_ are reserved"),
    ),
    passwordRotationTrigger: z.string().max(256).default(""),
  })
  .refine(...NAME_OR_PREFIX);
true satisfies ArgsInSchema<PgRoleArgs, typeof pgRoleInputs>;

export type PgRoleInputs = z.output<typeof pgRoleInputs> & { name: string; autoNamed: boolean; nameGeneration?: number };

/** What a PgRole keeps in state: its inputs, the generated password (secret) and what the marker says. */
export type PgRoleState = PgRoleInputs & { password: string; takenOverFrom: string };

const RULES = inputRules({
  schema: pgRoleInputs,
  replace: PG_OBJECT_RULES.replace,
  update: [...PG_OBJECT_RULES.update, "passwordRotationTrigger"],
  identity: true,
  name: pgNameRule(56),
});

/** What the role may do: log in, stream, and read the one table (the engine's snapshot and checks). */
function grants(name: string): string {
  const r = quoteIdent(name);
  return `GRANT USAGE ON SCHEMA eventstore TO ${r}; GRANT SELECT ON eventstore.events2 TO ${r}`;
}

function marker(i: PgRoleInputs): string {
  return withMarker("ZITADEL audit stream: CDC engine login", identityOf(i)) ?? "";
}

async function commentOf(db: Db, name: string): Promise<string | undefined> {
  const r = await db.query("SELECT coalesce(shobj_description(oid, 'pg_authid'), '') AS c FROM pg_roles WHERE rolname = $1", [name]);
  return r.rows[0]?.c;
}

async function make(config: ConfigLike | undefined, i: PgRoleInputs): Promise<PgRoleState> {
  const what = `create role ${i.name} on PostgreSQL at ${pgWhere(i.connectionString)}`;
  const password = generatePassword();
  const r = quoteIdent(i.name);
  // CREATE, or for a role adopted ALTER (to what this resource declares, with a password only this state knows).
  const declare = (verb: "CREATE" | "ALTER") =>
    `BEGIN; ${verb} ROLE ${r} LOGIN REPLICATION PASSWORD ${sqlString(scramVerifier(password))}; COMMENT ON ROLE ${r} IS ${sqlString(marker(i))}; ${grants(i.name)}; COMMIT`;
  return withPg(i.connectionString, config, async (db) => {
    const { takenOverFrom } = await createOrAdoptMarked(db, "role", i, what, {
      comment: () => commentOf(db, i.name),
      create: async () => void (await db.query(declare("CREATE"), [], { once: true })),
      adopt: async () =>
        void (await db.query(declare("ALTER")).catch((e) => {
          throw explainPg(e, `adopt role ${i.name}`);
        })),
    });
    return { ...withoutProvider(i), password, takenOverFrom } as PgRoleState;
  });
}

export const pgRoleOperations: TypedOperations<PgRoleInputs, PgRoleState> = engineFacing(
  "PgRole",
  {
    ...RULES.handlers,

    async create(config, i) {
      return { id: i.name, outs: await make(config, i) };
    },

    async read(config, id, props) {
      const found = await withPg(props.connectionString, config, (db) => commentOf(db, id)).catch((e) => {
        throw explainPg(e, `read role ${id}`);
      });
      return found === undefined ? { id: "" } : { id, props: withoutProvider(props) };
    },

    async update(config, id, olds, checked) {
      const { news } = RULES.updating(olds, checked);
      let password = olds.password;
      if (news.passwordRotationTrigger !== olds.passwordRotationTrigger) {
        password = generatePassword();
        await withPg(news.connectionString, config, async (db) => {
          const found = await commentOf(db, id);
          if (found === undefined)
            throw new Error(`role ${id} is not on PostgreSQL at ${pgWhere(news.connectionString)}: run \`pulumi refresh\`, then \`pulumi up\` makes it again.`);
          const d = mayDelete(markerIn(found), identityOf(news));
          if (!d.delete)
            throw new Error(`role ${id}'s password is not changed: ${d.why.replace("it is kept, and dropped from this stack only", "it is left as it is")}`);
          await db.query(`ALTER ROLE ${quoteIdent(id)} PASSWORD ${sqlString(scramVerifier(password))}`);
        }).catch((e) => {
          throw e instanceof Error && /^role /.test(e.message) ? e : explainPg(e, `rotate the password of role ${id}`);
        });
      }
      return { outs: defined({ ...withoutProvider(news), password, takenOverFrom: olds.takenOverFrom ?? "" }) as PgRoleState };
    },

    async delete(config, id, props) {
      await withPg(props.connectionString, config, async (db) => {
        const found = await commentOf(db, id);
        if (found === undefined) return;
        const d = mayDelete(markerIn(found), identityOf(props));
        if (!d.delete) return console.log(`role ${id} is not dropped: ${d.why}`);
        const r = quoteIdent(id);
        await db.query(`BEGIN; REVOKE ALL ON eventstore.events2 FROM ${r}; REVOKE ALL ON SCHEMA eventstore FROM ${r}; DROP ROLE ${r}; COMMIT`);
      }).catch((e) => {
        throw explainPg(e, `drop role ${id}`);
      });
    },
  },
  ["connectionString", "password"],
);

export interface PgRole extends Outputs<Pick<PgRoleState, "name" | "password" | "takenOverFrom">> {}

/** The CDC engine's login: LOGIN REPLICATION and SELECT on eventstore.events2 only, with a generated password. */
export class PgRole extends defineResource<PgRoleArgs>(__filename, {
  operations: { pgRoleOperations },
  ...OWNED,
  wrap: (args) => ({ connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined }),
  outputs: ["name", "password", "takenOverFrom", "connectionString"],
  secretOutputs: ["password", "connectionString"],
  importInstead:
    "declare it without `import`: a role this stream made carries its marker in its comment and is adopted (with a new password); one made elsewhere is refused by name (or taken over with `takeOver`)",
}) {}
