// Calls a resource module's operations (what the stored OperationsProvider forwards to) in the order and with the arguments the Pulumi engine uses
// (pulumi-dynamic.md §1.2, §3.3): configure first; check(old inputs, new inputs); diff(id, old
// outputs, checked inputs); create, update, or replace (create first unless deleteBeforeReplace);
// read(id, outputs) on refresh, a blank id meaning gone; delete(id, outputs). `__provider` rides
// along in inputs and outputs as the host adds it.

import type { ConfigLike, Operations } from "../../provider/engine/contract";

export interface State {
  id: string;
  inputs: Record<string, any>;
  outputs: Record<string, any>;
}

export type Op = "create" | "same" | "update" | "replace";

export class CheckFailed extends Error {
  constructor(readonly failures: { property: string; reason: string }[]) {
    super(failures.map((f) => (f.property ? `${f.property}: ${f.reason}` : f.reason)).join("; "));
  }
}

/** OperationsProvider's forwarding, in process (the stored one loads the module by its specifier). */
class DirectProvider {
  constructor(
    private readonly ops: Operations,
    private readonly config: ConfigLike,
  ) {}
  check = (olds: any, news: any) => this.ops.check(this.config, olds, news);
  diff = (id: string, olds: any, news: any) => this.ops.diff(this.config, id, olds, news);
  create = (inputs: any) => this.ops.create(this.config, inputs);
  read = (id: string, props?: any) => this.ops.read(this.config, id, props);
  update = (id: string, olds: any, news: any) => this.ops.update(this.config, id, olds, news);
  delete = (id: string, props: any) => this.ops.delete(this.config, id, props);
}

const PROVIDER_TEXT = "exports.handler = () => provider; // stand-in for the serialized provider";

/**
 * A step that failed after the resource changed: the provider's error carried `id` and `properties`
 * (the dynamic host's ErrorResourceInitFailed), which the engine writes to state anyway.
 */
/**
 * A deployment id for resources driven here, as a StreamIdentity would give (the constructors pass the
 * stack's or the stream's): with it, objects carry a full identity tag (provider/ownership.ts).
 */
export const TEST_DEPLOYMENT = "7e57000000000001";

export class PartialFailure extends Error {
  constructor(
    message: string,
    readonly state: State,
  ) {
    super(message);
  }
}

export class Driver {
  private readonly provider: DirectProvider;
  /**
   * `defaults` are merged under every program's inputs, as a resource constructor adds its own (the
   * Changefeed constructor's `owner`: project/stack/name).
   */
  constructor(
    ops: Operations,
    config: Record<string, string> = {},
    private readonly defaults: () => Record<string, any> = () => ({}),
  ) {
    this.provider = new DirectProvider(ops, { get: (k: string) => config[k] });
  }

  async check(news: Record<string, any>, prev?: State): Promise<Record<string, any>> {
    const r = await this.provider.check(prev?.inputs ?? {}, { ...this.defaults(), ...news, __provider: PROVIDER_TEXT });
    if (r.failures?.length) throw new CheckFailed(r.failures);
    return { ...r.inputs, __provider: PROVIDER_TEXT };
  }

  async diff(news: Record<string, any>, prev: State) {
    const inputs = await this.check(news, prev);
    return { inputs, diff: await this.provider.diff(prev.id, prev.outputs, inputs) };
  }

  /** One `pulumi up` of this resource: returns what the engine would have done and the new state. */
  async up(news: Record<string, any>, prev?: State): Promise<{ op: Op; state: State; replaced?: State }> {
    if (!prev) {
      const inputs = await this.check(news);
      return { op: "create", state: await this.create(inputs) };
    }
    const { inputs, diff } = await this.diff(news, prev);
    if (!diff.changes) return { op: "same", state: { ...prev, inputs } };
    if (diff.replaces?.length) {
      if (diff.deleteBeforeReplace) {
        await this.destroy(prev);
        return { op: "replace", state: await this.create(inputs), replaced: prev };
      }
      const state = await this.create(inputs);
      await this.destroy(prev);
      return { op: "replace", state, replaced: prev };
    }
    const r = await this.provider.update(prev.id, prev.outputs, inputs).catch((e) => Promise.reject(partial(e, inputs)));
    return { op: "update", state: { id: prev.id, inputs, outputs: { ...r.outs, __provider: PROVIDER_TEXT } } };
  }

  async create(inputs: Record<string, any>): Promise<State> {
    const r = await this.provider.create(inputs).catch((e) => Promise.reject(partial(e, inputs)));
    return { id: r.id, inputs, outputs: { ...r.outs, __provider: PROVIDER_TEXT } };
  }

  /** `pulumi refresh`: the new state, or undefined when the provider reports the resource gone. */
  async refresh(s: State): Promise<State | undefined> {
    const r = await this.provider.read(s.id, s.outputs);
    if (!r.id) return undefined;
    return { id: r.id, inputs: r.inputs ? { ...r.inputs, __provider: PROVIDER_TEXT } : s.inputs, outputs: { ...r.props, __provider: PROVIDER_TEXT } };
  }

  async destroy(s: State): Promise<void> {
    await this.provider.delete(s.id, s.outputs);
  }
}

/** The error as the engine sees it: with `id`, the step's state is what the provider said. */
function partial(e: any, inputs: Record<string, any>): Error {
  if (!e?.id) return e;
  return new PartialFailure(e.message, { id: e.id, inputs, outputs: { ...e.properties, __provider: PROVIDER_TEXT } });
}
