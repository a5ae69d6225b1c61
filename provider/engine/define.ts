// The resource class every resource is made with (defineResource), so that a resource file holds
// only what is its own: args, schema, outputs, operations, permissions and import advice; and the
// operations as the engine sees them (engineFacing).
import * as pulumi from "@pulumi/pulumi";
import type { ConfigLike, Operations, ResourceOperations } from "./contract";
import * as path from "path";
import { adviseOnImport, importRefusal } from "./no-import";
import { scrubSecrets, secretsIn } from "./secrets";
import { startWatchdog } from "./watchdog";
import { StoredProvider, operationsProvider } from "../operations-provider";

/**
 * Check failures as the CLI prints them: it shows `property <p> value {<v>}` looking `p` up as a
 * top-level key only (pkg/resource/deploy/step_generator.go issueCheckFailures), so a nested path
 * printed `value {<nil>}`, and a secret-bearing input could print its value. Top-level, non-secret
 * properties keep their name (the CLI shows the value the user gave); the rest name their path in
 * the reason, with no value printed.
 */
export function forEngine<T extends { failures?: { property: string; reason: string }[] }>(r: T, secretKeys: string[] = []): T {
  if (!r?.failures) return r;
  return {
    ...r,
    failures: r.failures.map((f) =>
      f.property && !f.property.includes(".") && !secretKeys.includes(f.property)
        ? f
        : { property: "", reason: f.property ? `${f.property}: ${f.reason}` : f.reason },
    ),
  };
}

/**
 * The operations as the engine should see them: `check`'s failures rendered for the CLI (see
 * forEngine), every error message scrubbed of secrets (see scrubSecrets) — the connection string,
 * the sink's key, private keys, and the config's credentials — whatever the input's secrecy, and
 * `read` without state (what `pulumi import` and `get` ask for) refused with the advice of the
 * resource type `type` (its defineResource spec's `importInstead`). The type travels with the
 * operations to the class.
 */
export function engineFacing<I, S>(type: string, ops: ResourceOperations<I, S>, secretKeys: string[] = []): TypedOperations<I, S> {
  const guard =
    <A extends unknown[], R>(fn: (config: ConfigLike | undefined, ...args: A) => Promise<R>) =>
    async (config: ConfigLike | undefined, ...args: A): Promise<R> => {
      // The first operation in Pulumi's provider host starts the watchdog (a no-op elsewhere).
      startWatchdog();
      try {
        return await fn(config, ...args);
      } catch (e) {
        if (e instanceof Error) {
          e.message = scrubSecrets(e.message, secretsIn(config, args));
          // A failure that records state (the host's ErrorResourceInitFailed: `id` and `properties`)
          // reaches the user only through `reasons`: without them the CLI prints "resource init
          // failed" and nothing of the message (cmd/dynamic-provider/index.js grpcResponseFromError).
          if ((e as { id?: unknown }).id) (e as { reasons?: string[] }).reasons = [e.message];
        }
        throw e;
      }
    };
  return {
    type,
    check: guard(async (config, olds, news) => forEngine(await ops.check(config, olds, news), secretKeys)),
    diff: guard(ops.diff),
    create: guard(ops.create),
    read: guard(async (config, id: string, props?: S) => {
      if (!props) throw new Error(importRefusal(type, id));
      return ops.read(config, id, props);
    }),
    update: guard(ops.update),
    delete: guard(ops.delete),
  };
}

/** A resource's operations as engineFacing makes them: with the resource's type name. */
export type TypedOperations<I = any, S = any> = Operations<I, S> & { readonly type: string };

/** What makes a resource class beyond its type and its stored provider. */
export interface ResourceOptions<Args extends object> {
  /** The module's operations export, by its name: `{ bucketOperations }`. */
  operations: Record<string, TypedOperations>;
  /**
   * What to do instead of `import` or `get` (which dynamic resources cannot do), the end of one
   * sentence: "<Type> <name> cannot be imported: dynamic resources have no import in Pulumi; <importInstead>."
   */
  importInstead: string;
  /**
   * Every output key: each is seeded in the constructor (from the args where given), as the engine
   * registers only the keys the inputs hold (pulumi-dynamic.md §1.5).
   */
  outputs: readonly string[];
  /** Outputs kept encrypted in state whatever the inputs' secrecy (generated keys, credentials). */
  secretOutputs?: readonly string[];
  /** `owner`: project/stack/name, the seed of derived names and the lineage of grants (ownership.ts). */
  owner?: boolean;
  /** The stream's deployment when the args give none (the stack's StreamIdentity). */
  defaultDeployment?: () => pulumi.Input<string>;
  /** Inputs replaced as sent, e.g. wrapped as secrets. */
  wrap?: (args: Args) => Record<string, unknown>;
  /** Runs once import was refused or not asked for, before anything is declared: warnings about the args. */
  announce?: (name: string, args: Args) => void;
}

/** The constructor's arguments: `args` may be left out when every field is optional. */
export type ResourceCtorArgs<Args> = {} extends Args ? [args?: Args, opts?: pulumi.CustomResourceOptions] : [args: Args, opts?: pulumi.CustomResourceOptions];

export interface ResourceClass<Args> {
  new (name: string, ...rest: ResourceCtorArgs<Args>): pulumi.dynamic.Resource;
  readonly provider: StoredProvider;
}

/**
 * The module part of the type token: the resource file's folder below provider/ ("gcp",
 * "cockroach"), "index" for a file in provider/ itself.
 */
export function tokenModule(file: string): string {
  const folder = path.basename(path.dirname(file));
  return folder === "provider" ? "index" : folder;
}

/**
 * The resource class: `export class X extends defineResource<XArgs>(__filename, { operations: { xOperations }, … }) {}`
 * beside an `export interface X` of its outputs. The type token is `pulumi-nodejs:dynamic/<module>:<type>`
 * (stable API: state holds it), the module being the file's folder (tokenModule) and the type the
 * operations' (engineFacing). `file` and the one key of `operations` name the resource module and
 * its operations export, which the stored provider loads (provider/operations-provider.ts). Import
 * and `get` are refused before anything is declared (the stack's identity is a resource too).
 */
export function defineResource<Args extends object>(file: string, spec: ResourceOptions<Args>): ResourceClass<Args> {
  const [[operationsExport, ops], ...more] = Object.entries(spec.operations);
  if (more.length) throw new Error(`defineResource(${ops.type}): one operations export, not ${more.length + 1}`);
  const module = tokenModule(file);
  const imports = adviseOnImport(ops.type, spec.importInstead);
  const provider = () => operationsProvider(file, operationsExport, ops);
  return class extends pulumi.dynamic.Resource {
    /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
    static get provider(): StoredProvider {
      return provider();
    }

    constructor(name: string, ...rest: ResourceCtorArgs<Args>) {
      const [given, opts] = rest;
      imports.refuse(name, opts);
      const args = (given ?? {}) as Record<string, unknown>;
      spec.announce?.(name, args as Args);
      const props: Record<string, unknown> = {
        ...(spec.owner ? { owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}` } : {}),
        ...args,
        ...spec.wrap?.(args as Args),
      };
      if (spec.defaultDeployment) props.deployment = args.deployment ?? spec.defaultDeployment();
      for (const k of spec.outputs) if (!(k in props)) props[k] = undefined;
      const secrets = spec.secretOutputs?.length ? { additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...spec.secretOutputs] } : {};
      super(provider(), name, props, { ...opts, ...secrets }, module, ops.type);
    }
  };
}
