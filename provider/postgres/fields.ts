// What every PostgreSQL object of a stream (role, publication, slot) has alike: the connection, an
// exact name or a prefix the name is derived from, and the rule that derives it. Each resource file
// adds what is its own.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { OwnedArgs } from "../ownership";
import type { NameRule } from "../engine/rules";
import { identitySchema } from "../gcp/fields";
import { connectionStringSchema } from "../sql/db";

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
