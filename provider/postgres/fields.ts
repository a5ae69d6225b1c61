// What every PostgreSQL object of a stream (role, publication, slot) has alike: the connection, an
// exact name or a prefix the name is derived from, and the rule that derives it; and for the objects
// that carry a marker in their comment (role, publication), how they are made or adopted. Each
// resource file adds what is its own.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { OwnedArgs } from "../ownership";
import type { NameRule } from "../engine/rules";
import { identitySchema } from "../gcp/fields";
import { ConnectionLostError, Db, connectionStringSchema } from "../sql/db";
import { adoptDecision, markerIn } from "../ownership";
import { identityOf } from "../gcp/ownership";
import { explainPg } from "./sql";

export interface PgObjectArgs extends OwnedArgs {
  /** postgresql:// URL of ZITADEL's database (secret). Default: `zitadel-audit-stream:postgresUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /** Exact name. Default: `namePrefix` (default: the resource name) and hex characters of this stream's identity. */
  name?: pulumi.Input<string>;
  /** Lower-case letters, digits and '_', starting with a letter (up to 56; a slot's up to 50). */
  namePrefix?: pulumi.Input<string>;
}

/**
 * The schema fields of PgObjectArgs, with the identity fields. `what` names the object in messages;
 * `prefixMax` leaves room for '_' and the hex; `name` may narrow the exact name further.
 */
export function pgObjectFields(what: string, prefixMax: number, name: z.ZodType<string> = z.string()) {
  return {
    connectionString: connectionStringSchema,
    name: name.pipe(z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, `a ${what} name is up to 63 lower-case letters, digits and '_'`)).optional(),
    namePrefix: z
      .string()
      .regex(new RegExp(`^[a-z][a-z0-9_]{0,${prefixMax - 1}}$`), `must be up to ${prefixMax} lower-case letters, digits and '_', starting with a letter`)
      .optional(),
    ...identitySchema,
  };
}

/** Either an exact name or a prefix (the constructor gives the prefix by default). */
export const NAME_OR_PREFIX: [(a: { name?: string; namePrefix?: string }) => boolean, { path: string[]; message: string }] = [
  (a) => a.name !== undefined || a.namePrefix !== undefined,
  { path: ["name"], message: "give name or namePrefix" },
];

/**
 * The derived name: `<prefix>_<hex>`, the hex from the owner and the stream's deployment (no other
 * deployment derives it) and the generation (engine/naming.ts); the prefix from the resource's name.
 */
export function pgNameRule(prefixMax: number, hexLength = 6): NameRule {
  return {
    nameKey: "name",
    prefixKey: "namePrefix",
    separator: "_",
    maxLength: 63,
    replaceKeys: [],
    seedKeys: ["deployment"],
    hexLength,
    prefix: { disallowed: /[^a-z0-9_]+/g, max: prefixMax, joiner: "_" },
  };
}

/** What every PgObject replaces on (a new name is a new object) and updates in place (a rotated connection). */
export const PG_OBJECT_RULES = { replace: ["name", "namePrefix"], update: ["connectionString"] } as const;

/**
 * Makes an object that carries its maker's marker in its comment (role, publication), or continues
 * with the one of that name when its marker allows (provider/ownership.ts adoptDecision): a create
 * cut short (the answer lost, the connection dropped: `create` runs once, and what it left is read
 * back), this resource's lineage, or what `takeOver` names. `comment` is undefined when there is no
 * such object; `create` makes it and its marker in one transaction; `adopt` brings one found to the
 * inputs and re-marks it.
 */
export async function createOrAdoptMarked(
  db: Db,
  kind: "role" | "publication",
  i: { name: string; owner?: string; deployment?: string; instance?: string; takeOver?: string },
  what: string,
  ops: { comment(): Promise<string | undefined>; create(): Promise<void>; adopt(): Promise<void> },
): Promise<{ takenOverFrom: string }> {
  let found = await ops.comment();
  if (found === undefined) {
    try {
      await ops.create();
      return { takenOverFrom: "" };
    } catch (e) {
      // 42710 duplicate_object: made meanwhile; a dropped connection: whether COMMIT ran is read back.
      if (!(e instanceof ConnectionLostError) && (e as { code?: string }).code !== "42710") throw explainPg(e, what);
      await db.query("ROLLBACK").catch(() => undefined);
      found = await ops.comment();
      if (found === undefined)
        throw new Error(`${what}: the connection dropped during CREATE ${kind.toUpperCase()}, and it does not exist: run \`pulumi up\` again.`);
    }
  }
  const d = adoptDecision(markerIn(found), identityOf(i), i.takeOver);
  if (!d.adopt) throw new Error(`${kind} ${i.name} already exists: ${d.why}. Otherwise choose another name.`);
  await ops.adopt();
  return { takenOverFrom: d.takenOverFrom };
}
