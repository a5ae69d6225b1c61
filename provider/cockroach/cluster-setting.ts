// ClusterSetting: a CockroachDB cluster setting, `kv.rangefeed.enabled` = true by default (the
// guide's first CockroachDB step). Reads first and sets only when needed; keeps the value on delete
// by default, since other changefeeds may depend on it. On a virtual cluster (CockroachDB
// Basic/Standard) the setting is operator-only but already on: that counts as success (cockroach-changefeeds.md §7).
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `clusterSettingOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, ConfigLike, TypedOperations, Outputs } from "../engine";
import { connectionStringSchema, explain, withClient } from "./sql";
import { sqlString } from "../cdc/events2";

export interface ClusterSettingArgs {
  /** postgresql:// URL (secret). Default: `zitadel-audit-stream:cockroachUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /** Default "kv.rangefeed.enabled". */
  name?: pulumi.Input<string>;
  /** Default "true". */
  value?: pulumi.Input<string | boolean>;
  /** Default true: leave the setting as it is when this resource is deleted. */
  keepOnDelete?: pulumi.Input<boolean>;
}

export const clusterSettingInputs = z.strictObject({
  connectionString: connectionStringSchema,
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/, 'must be a cluster setting name such as "kv.rangefeed.enabled"')
    .default("kv.rangefeed.enabled"),
  value: z
    .union([z.boolean(), z.string().regex(/^[\x20-\x7e]{0,1024}$/, "must be printable text")])
    .transform((v) => String(v))
    .default("true"),
  keepOnDelete: z.boolean().default(true),
});
true satisfies ArgsInSchema<ClusterSettingArgs, typeof clusterSettingInputs>;

export type ClusterSettingInputs = z.output<typeof clusterSettingInputs>;

/** What a ClusterSetting keeps in state: its inputs and the value before this resource first set it. */
export type ClusterSettingState = ClusterSettingInputs & { previousValue: string };

const norm = (v: unknown) => (typeof v === "boolean" ? String(v) : String(v ?? ""));

async function current(c: any, name: string): Promise<string> {
  const r = await c.query(`SHOW CLUSTER SETTING ${name}`);
  return norm(Object.values(r.rows[0] ?? {})[0]);
}

/** SET only when the value differs; an operator-only setting that already has the value is fine. */
async function apply(config: ConfigLike | undefined, i: ClusterSettingInputs): Promise<{ previousValue: string }> {
  return withClient(i.connectionString, config, async (c) => {
    const what = `set cluster setting ${i.name}`;
    const before = await current(c, i.name).catch((e) => {
      throw explain(e, `read cluster setting ${i.name}`);
    });
    if (before === i.value) return { previousValue: before };
    try {
      await c.query(`SET CLUSTER SETTING ${i.name} = ${literal(i.value)}`);
    } catch (e) {
      if (/only settable by the operator/.test((e as Error).message)) {
        throw new Error(`${what}: the platform manages it (virtual cluster) and it is ${before}, not ${i.value}; ask the operator, or leave it at its value.`);
      }
      throw explain(e, what);
    }
    return { previousValue: before };
  });
}

/** true/false stay keywords; anything else is a quoted string literal. */
function literal(v: string): string {
  return v === "true" || v === "false" ? v : sqlString(v);
}

const RULES = inputRules({ schema: clusterSettingInputs, replace: ["name"], update: ["value", "keepOnDelete", "connectionString"] });

export const clusterSettingOperations: TypedOperations<ClusterSettingInputs, ClusterSettingState> = engineFacing(
  "ClusterSetting",
  {
    ...RULES.handlers,

    async create(config, i) {
      const r = await apply(config, i);
      return { id: i.name, outs: defined({ ...withoutProvider(i), ...r }) as ClusterSettingState };
    },

    async read(config, id, props) {
      const value = await withClient(props.connectionString, config, (c) => current(c, props.name)).catch((e) => {
        throw explain(e, `read cluster setting ${props.name}`);
      });
      return { id, props: { ...withoutProvider(props), value } };
    },

    async update(config, _id, olds, news) {
      const r = olds.value === news.value ? { previousValue: olds.previousValue } : await apply(config, news);
      return { outs: defined({ ...withoutProvider(news), previousValue: olds.previousValue ?? r.previousValue }) as ClusterSettingState };
    },

    async delete(config, _id, props) {
      if (props.keepOnDelete !== false || props.previousValue === undefined || props.previousValue === props.value) return;
      await withClient(props.connectionString, config, async (c) => {
        await c.query(`SET CLUSTER SETTING ${props.name} = ${literal(props.previousValue)}`);
      }).catch((e) => {
        throw explain(e, `restore cluster setting ${props.name} to ${props.previousValue}`);
      });
    },
  },
  ["connectionString"],
);

export interface ClusterSetting extends Outputs<{ name: string; value: string; /** The value before this resource first set it. */ previousValue: string }> {}

/** A CockroachDB cluster setting; by default turns on kv.rangefeed.enabled. */
export class ClusterSetting extends defineResource<ClusterSettingArgs>(__filename, {
  operations: { clusterSettingOperations },
  wrap: (args) => ({ connectionString: args.connectionString ? pulumi.secret(args.connectionString) : undefined }),
  outputs: ["connectionString", "name", "value", "previousValue"],
  importInstead: "declare it without `import`: it reads the setting and changes it only when needed",
}) {}
