// The contract between a resource module and Pulumi's dynamic provider host: the operations a
// resource exports and the config they are given. Types only.
//
// The Operations call signature (config first, then the engine's arguments) is stable API: the
// OperationsProvider copied into users' state calls it (provider/operations-provider.ts).
import type * as pulumi from "@pulumi/pulumi";
import type { DiffResult } from "./diff";

/** The provider config as `configure` receives it (namespaced keys, secrets unwrapped). */
export interface ConfigLike {
  get(key: string): string | undefined;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

/**
 * What a resource module exports for its provider: the real work, given the provider config. `I` is
 * the checked inputs, `S` the state (outputs) the resource keeps; `olds` of `check` is the previous
 * inputs, empty on create.
 */
export interface Operations<I = any, S = any> {
  check(config: ConfigLike | undefined, olds: any, news: any): Promise<{ inputs?: I; failures?: CheckFailure[] }>;
  diff(config: ConfigLike | undefined, id: string, olds: S, news: I): Promise<DiffResult>;
  create(config: ConfigLike | undefined, inputs: I): Promise<{ id: string; outs: S }>;
  read(config: ConfigLike | undefined, id: string, props?: S): Promise<{ id: string; props?: S; inputs?: Record<string, unknown> }>;
  update(config: ConfigLike | undefined, id: string, olds: S, news: I): Promise<{ outs: S }>;
  delete(config: ConfigLike | undefined, id: string, props: S): Promise<void>;
}

/** The operations as a resource file writes them: `read` always has the state (engineFacing refuses a read without it: an import). */
export interface ResourceOperations<I = any, S = any> extends Omit<Operations<I, S>, "read"> {
  read(config: ConfigLike | undefined, id: string, props: S): Promise<{ id: string; props?: S; inputs?: Record<string, unknown> }>;
}

type Scalar = string | number | boolean | null | undefined;

/**
 * `T` as users write it in a program: every field, element and the whole value may be a
 * `pulumi.Input` (an Output of another resource, a promise, or a plain value), at every depth —
 * e.g. `sink: { bucket: bucket.name, credentials: key.privateKeyBase64 }`. The engine resolves the
 * nested values before `check` sees them.
 */
export type DeepInput<T> = [T] extends [Scalar]
  ? pulumi.Input<T>
  : T extends ReadonlyArray<infer U>
    ? pulumi.Input<ReadonlyArray<DeepInput<U>>>
    : pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>;

/** The permissions a resource's operations need from the deploying identity: operation (or a list of them) → permissions. */
export type Permissions = Readonly<Record<string, readonly string[]>>;

/**
 * Compile-time check that every key of a resource's Args is a field its schema knows (a field added to
 * the Args but not the schema would be dropped by check without a word): `true satisfies
 * ArgsInSchema<BucketArgs, typeof bucketInputs>` fails to compile, naming the stray keys, otherwise.
 */
export type ArgsInSchema<Args, Schema extends import("zod").ZodType> = [Exclude<keyof Args, keyof import("zod").input<Schema>>] extends [never]
  ? true
  : { argsNotInSchema: Exclude<keyof Args, keyof import("zod").input<Schema>> };

/** A resource's outputs as a program reads them: `export interface Bucket extends Outputs<{ name: string; … }> {}` beside its class. */
export type Outputs<T> = { readonly [K in keyof T]-?: pulumi.Output<Exclude<T[K], undefined>> };
