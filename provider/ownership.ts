// Whose is it? Every object this package makes (a changefeed job, a service account, a role, a bucket,
// a dataset, a table, a topic, a subscription) carries the identity of the resource that made it, so
// that a resource adopts or deletes only what it can prove it made, and never what a same-named
// deployment elsewhere made (another backend, another organisation, a stack whose state was lost).
// Pure: the rules, with their table of cases in ownership.test.ts; the I/O is in the resources.
//
// An identity has three parts (docs/identity.md has the reasons and the cases):
//   - deployment: 16 hex characters made once by the stream's StreamIdentity resource and kept in
//     state; unique to one deployment of one program (two backends deploying the same project/stack
//     names get different ones);
//   - owner: `<project>/<stack>/<resource name>`, from which names are derived; with the deployment it
//     makes the lineage, shared by every instance of a resource (a replacement, a parent move, a
//     create cut short by a crash);
//   - instance: 8 hex characters made by check when a resource is first declared and kept in state;
//     it tells the instance that holds an object now (an adopted object is re-tagged) from the one
//     that held it before, so that the older one's delete leaves it alone.
// Objects carry the tag `<deployment>-<owner hash>-<instance>` (a label value, or a description
// suffix where there are no labels); changefeed jobs carry the lineage in `metrics_label`.
// Objects made before identities (version 0.x: a label of the owner's hash, or nothing) are "legacy".
//
// Reached from state only through the modules under provider/stored/: its path may change.
import * as crypto from "crypto";
import type * as pulumi from "@pulumi/pulumi";

/** The label key (GCP labels) and the description marker's word. */
export const OWNER_LABEL = "zitadel-audit-stream";

const DEPLOYMENT = /^[0-9a-f]{16}$/;
const INSTANCE = /^[0-9a-f]{8}$/;
const TAG = /^([0-9a-f]{16})-([0-9a-f]{10})-([0-9a-f]{8})$/;

/** A resource's identity as check records it; `deployment` and `instance` are absent for a resource declared before identities existed. */
export interface Identity {
  owner: string;
  deployment?: string;
  instance?: string;
}

/** The arguments of every resource whose objects carry a stream's identity. */
export interface OwnedArgs {
  /** The stream's identity (StreamIdentity.deployment), carried by what this resource makes (a label, or a marker in a description). Default: the stack's. */
  deployment?: pulumi.Input<string>;
  /** Adopt what another deployment of the same names made (the one the error names, or "legacy"): the recovery after a lost state. Recorded in `takenOverFrom`. */
  takeOver?: pulumi.Input<string>;
}

export const newDeployment = (): string => crypto.randomBytes(8).toString("hex");
export const newInstance = (): string => crypto.randomBytes(4).toString("hex");
export const isDeployment = (s: unknown): s is string => typeof s === "string" && DEPLOYMENT.test(s);

const hash = (s: string, n: number) => crypto.createHash("sha256").update(s).digest("hex").slice(0, n);
/** The owner's part of a tag. */
export const ownerHash = (owner: string): string => hash(owner, 10);
/** What version 0.x labelled objects with: the owner's hash (32 hex). */
export const legacyLabel = (owner: string): string => hash(owner, 32);

/**
 * The identity fields check stores: kept from the stored inputs once there (never changing), else made
 * now. A resource stored without them (declared before identities) stays legacy: its objects are
 * tracked by state as before, and nothing of it is re-tagged.
 */
export function identityFields(olds: Record<string, unknown> | undefined, news: Record<string, unknown>): { deployment?: string; instance?: string } {
  const stored = !!olds && Object.keys(olds).some((k) => k !== "__provider");
  if (!stored) return { deployment: news.deployment as string | undefined, instance: newInstance() };
  if (typeof olds.instance !== "string") return { deployment: undefined, instance: undefined };
  return { deployment: olds.deployment as string | undefined, instance: olds.instance };
}

/** The tag of a resource with a full identity, or undefined for a legacy one. */
export function tagOf(id: Identity): string | undefined {
  if (!id.deployment || !id.instance || !isDeployment(id.deployment) || !INSTANCE.test(id.instance)) return undefined;
  return `${id.deployment}-${ownerHash(id.owner)}-${id.instance}`;
}

/** The label an object of this resource carries: its tag, or for a legacy resource the 0.x label. */
export function ownerLabels(id: Identity | undefined): Record<string, string> {
  if (!id?.owner) return {};
  return { [OWNER_LABEL]: tagOf(id) ?? legacyLabel(id.owner) };
}

/** `text` with the identity marker appended, for objects without labels (service accounts, roles): `… [zitadel-audit-stream <tag>]`. */
export function withMarker(text: string | undefined, id: Identity): string | undefined {
  const tag = tagOf(id);
  if (!tag) return text;
  const base = stripMarker(text) ?? "";
  return `${base}${base ? " " : ""}[${OWNER_LABEL} ${tag}]`;
}

/** The text without the marker (what the user wrote). */
export function stripMarker(text: string | undefined): string | undefined {
  return text?.replace(new RegExp(`\\s*\\[${OWNER_LABEL} [0-9a-f-]+\\]$`), "");
}

/** The tag in a description's marker, if any. */
export function markerIn(text: string | undefined): string | undefined {
  return new RegExp(`\\[${OWNER_LABEL} ([0-9a-f-]+)\\]$`).exec(text ?? "")?.[1];
}

/**
 * How an object found at this resource's name relates to it:
 * - "mine": this instance's (a create retried after its answer was lost);
 * - "lineage": this resource's lineage, another instance (a create cut short by a crash, a
 *   replacement, a parent move): adoptable, and re-tagged when adopted;
 * - "foreign": another deployment's, or another resource's of this deployment;
 * - "legacy": made before identities (0.x's label of this owner, or no mark at all): its maker cannot be told.
 */
export type Relation = "mine" | "lineage" | "foreign" | "legacy";

/** The relation of an object whose tag (label value or description marker) is `found`. */
export function relationOf(found: string | undefined, id: Identity): Relation {
  const m = TAG.exec(found ?? "");
  if (!m) return found === undefined || found === legacyLabel(id.owner) || found === "" ? "legacy" : "foreign";
  if (!id.deployment || m[1] !== id.deployment || m[2] !== ownerHash(id.owner)) return "foreign";
  return m[3] === id.instance ? "mine" : "lineage";
}

/** Who made it, for a message: "deployment 3f2a… (resource <owner hash>)", or "a version before 1.0 or by hand". */
export function describeTag(found: string | undefined): string {
  const m = TAG.exec(found ?? "");
  if (!m) return found ? `an earlier version of this package (label ${found})` : "an earlier version of this package, or by hand (no identity mark)";
  return `deployment ${m[1]} (resource ${m[2]}, instance ${m[3]})`;
}

/** What `takeOver` must say to take this object over: the deployment in its tag, or "legacy". */
export function takeOverValue(found: string | undefined): string {
  return TAG.exec(found ?? "")?.[1] ?? "legacy";
}

/**
 * Create found `found` at its name: adopt it (re-tagging it as this instance's), or refuse. A foreign or
 * legacy object is adopted only when `takeOver` names its maker exactly (the recovery after a lost
 * state); the result says so, for the resource's `takenOverFrom` output.
 */
export function adoptDecision(
  found: string | undefined,
  id: Identity,
  takeOver: string | undefined,
): { adopt: true; takenOverFrom: string } | { adopt: false; why: string } {
  const r = relationOf(found, id);
  if (r === "mine" || r === "lineage") return { adopt: true, takenOverFrom: "" };
  const value = takeOverValue(found);
  if (takeOver !== undefined && takeOver === value) return { adopt: true, takenOverFrom: value };
  const m = TAG.exec(found ?? "");
  if (m && id.deployment && m[1] === id.deployment) {
    return {
      adopt: false,
      why: `it belongs to another resource of this stack (resource ${m[2]}, instance ${m[3]}): two resources name the same object. It is left as it is`,
    };
  }
  return {
    adopt: false,
    why: `it was made by ${describeTag(found)}, not by this stack's ${id.deployment ? `deployment ${id.deployment}` : "resource"}. It is left as it is. If it is yours (this stack's state was lost, or it moved to another backend), set takeOver: "${value}" on this resource (AuditStream: its takeOver argument) and run \`pulumi up\``,
  };
}

/**
 * Delete: may this instance delete the object it holds in state, whose tag now reads `found`? Its own, or
 * an unmarked one held by a legacy resource; not one another instance adopted since (a replacement or
 * a parent move: the newer instance uses it), nor one another deployment took over.
 */
export function mayDelete(found: string | undefined, id: Identity): { delete: true } | { delete: false; why: string } {
  const r = relationOf(found, id);
  // Unmarked (or 0.x's label): made by 0.x, or by this resource before it carried a tag; state holds it.
  if (r === "mine" || r === "legacy") return { delete: true };
  return { delete: false, why: `it now carries the identity of ${describeTag(found)}, which took it over: it is kept, and dropped from this stack only` };
}

// Changefeed jobs: the lineage in metrics_label.
const JOB_PREFIX = "zitadel-audit-stream.";
const LEGACY_MARKER = /^zitadel-audit-stream\.[0-9a-f]{20}$/;
const JOB_MARKER = /^zitadel-audit-stream\.([0-9a-f]{16})\.([0-9a-f]{10})$/;

/** The `metrics_label` of this resource's jobs: its lineage; for a legacy resource 0.x's marker. */
export function jobMarker(id: Identity): string {
  return id.deployment && isDeployment(id.deployment) ? `${JOB_PREFIX}${id.deployment}.${ownerHash(id.owner)}` : legacyJobMarker(id.owner);
}

/** 0.x's marker: the owner's hash alone. */
export const legacyJobMarker = (owner: string): string => `${JOB_PREFIX}${hash(owner, 20)}`;

/** Is this 0.x's marker (a resource from before identities)? */
export const isLegacyJobMarker = (s: unknown): boolean => typeof s === "string" && LEGACY_MARKER.test(s);

export const isJobMarker = (s: unknown): s is string => typeof s === "string" && (LEGACY_MARKER.test(s) || JOB_MARKER.test(s));

/** The prefix every job of a deployment carries (StreamIdentity's sweep). */
export const deploymentJobPrefix = (deployment: string): string => `${JOB_PREFIX}${deployment}.`;

/**
 * A live job's relation to this resource by its marker: "lineage" (this resource, any instance),
 * "foreign" (the same resource name in another deployment, or 0.x's marker of it while this resource
 * is not legacy), or "other" (another resource: none of its business).
 */
export function jobRelation(marker: string | undefined, id: Identity, mine: string): "lineage" | "foreign" | "other" {
  if (!marker) return "other";
  if (marker === mine) return "lineage";
  const m = JOB_MARKER.exec(marker);
  if (m) return m[2] === ownerHash(id.owner) ? "foreign" : "other";
  return marker === legacyJobMarker(id.owner) ? "foreign" : "other";
}

/** What takeOver must say to continue from a foreign job: its deployment, or "legacy". */
export const jobTakeOverValue = (marker: string): string => JOB_MARKER.exec(marker)?.[1] ?? "legacy";

// Grants (IAM bindings) cannot carry a tag: the resource granted on records which instance of a grant
// holds it, in a label `zitadel-audit-stream-grant-<hash of owner, role and member>: <instance>`. A grant
// created anew (a replacement, a parent move) writes its own instance there; the older instance's
// delete then finds another instance holding the binding and leaves it (docs/identity.md §5).
const GRANT_LABEL_PREFIX = `${OWNER_LABEL}-grant-`;

/** The label key of one grant lineage (its owner, role and member). */
export const grantLabel = (owner: string, role: string, member: string): string => `${GRANT_LABEL_PREFIX}${hash(`${owner}|${role}|${member}`, 10)}`;

/** Is this label one of ours (the owner tag or a grant record)? Reads strip them from the user's labels. */
export const isOwnLabel = (key: string): boolean => key === OWNER_LABEL || key.startsWith(GRANT_LABEL_PREFIX);

/** The user's labels: without ours. */
export function userLabels(labels: Record<string, string> | undefined | null): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !isOwnLabel(k)));
}

/** On a grant's delete: remove the binding unless another instance of the grant holds it now. */
export function grantMayRevoke(recorded: string | undefined, instance: string | undefined): boolean {
  return recorded === undefined || instance === undefined || recorded === instance;
}
