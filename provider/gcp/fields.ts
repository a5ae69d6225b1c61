// Field rules the GCP resources share (gcp-apis.md §1.2, §1.3, §2.1, §2.3, §3, §1.5): project ids,
// principals, roles, locations, labels, the identity fields, and the project every resource defaults to.
// Each resource's own schema sits in its file.
import { z } from "zod";
import type { ConfigLike } from "../engine/contract";
import { defaultProject, gcpConfigFrom } from "./client";
import type * as pulumi from "@pulumi/pulumi";
import type { OwnedArgs } from "../ownership";

/** The arguments of a GCP resource a stream owns. */
export interface ProjectArgs extends OwnedArgs {
  /** The GCP project. Default: `gcp:project`, the environment, or the credentials' project. */
  project?: pulumi.Input<string>;
}

/**
 * The project: `gcp:project`, the environment, or the credentials' project, known in `check` without
 * I/O; else the one Application Default Credentials give at create, which then stands while the
 * program names none (engine/rules.ts `sticky`).
 */
export const PROJECT_DEFAULT = {
  defaults: (config: ConfigLike | undefined) => ({ project: defaultProject(gcpConfigFrom(config)) }),
  sticky: ["project"],
} as const;

/**
 * Cloud Storage locations (https://cloud.google.com/storage/docs/locations, "Available locations"):
 * multi-regions, predefined dual-regions, and regions. A new region means a new entry here.
 */
export const STORAGE_LOCATIONS = new Set(
  [
    "US",
    "EU",
    "ASIA",
    "NAM4",
    "EUR4",
    "EUR5",
    "EUR7",
    "EUR8",
    "ASIA1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
    "southamerica-east1",
    "southamerica-west1",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "me-central1",
    "me-central2",
    "me-west1",
    "africa-south1",
  ].map((l) => l.toUpperCase()),
);

/** Set by the resource constructors: project/stack/name, the seed of generated names (engine/naming.ts physicalName). */
export const ownerSchema = z.string().min(1).optional();

/**
 * The identity fields every object-making resource takes (provider/ownership.ts): the owner (set by the
 * constructor), the stream's deployment (StreamIdentity), the instance check makes, and takeOver.
 */
export const identitySchema = {
  owner: ownerSchema,
  deployment: z
    .string()
    .regex(/^[0-9a-f]{16}$/, "must be a StreamIdentity's deployment (16 hex characters)")
    .optional(),
  instance: z
    .string()
    .regex(/^[0-9a-f]{8}$/)
    .optional(),
  takeOver: z
    .string()
    .regex(/^([0-9a-f]{16}|legacy)$/, 'must be the deployment an error named (16 hex characters), or "legacy"')
    .optional(),
};

/** Room a description keeps for the identity marker (" [zitadel-audit-stream <36-character tag>]"). */
export const MARKER_ROOM = 60;

export const projectId = z
  .string()
  .regex(/^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, "must be a Google Cloud project id (6-30 lowercase letters, digits and hyphens)");

export const utf8Max = (max: number, what: string) => z.string().refine((s) => Buffer.byteLength(s, "utf8") <= max, `${what} is at most ${max} bytes`);

export const roleName = z
  .string()
  .regex(
    /^(roles\/[a-zA-Z0-9_.]{3,64}|projects\/([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]\/roles\/[a-zA-Z0-9_.]{3,64}|organizations\/\d+\/roles\/[a-zA-Z0-9_.]{3,64})$/,
    'must be "roles/<id>" or a custom role "projects/<project>/roles/<id>"',
  );

export const member = z
  .string()
  // Public principals would let anyone write (forge) audit records, or read them.
  .refine(
    (m) => m !== "allUsers" && m !== "allAuthenticatedUsers",
    "must not be public (allUsers, allAuthenticatedUsers): anyone could then write or read audit records",
  )
  .regex(
    /^((user|serviceAccount|group):[^@\s:]+@[^@\s:]+\.[a-z]{2,}|domain:[a-z0-9-]+(\.[a-z0-9-]+)+|(projectOwner|projectEditor|projectViewer):[a-z][a-z0-9-]{4,28}[a-z0-9])$/,
    'must be a principal such as "serviceAccount:name@project.iam.gserviceaccount.com", "user:…", "group:…" or "domain:…"',
  );

export const serviceAccountEmail = z
  .string()
  .regex(
    /^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9.:-]+\.iam\.gserviceaccount\.com$/,
    "must be a service account email such as name@project.iam.gserviceaccount.com",
  );

/** Dataset ids: letters, digits and underscores, at most 1,024 (datasets#datasetReference). */
export const datasetId = z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, "must be letters, digits and underscores (at most 1024)");

/** Table ids: we keep to letters, digits and underscores, at most 1,024 (tables#tableReference allows more). */
export const tableId = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,1023}$/, "must start with a letter or underscore, then letters, digits and underscores (at most 1024)");

export const labels = z.record(
  z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, "label keys are lowercase letters, digits, '_' and '-', starting with a letter, at most 63"),
  z.string().regex(/^[a-z0-9_-]{0,63}$/, "label values are lowercase letters, digits, '_' and '-', at most 63"),
);

/** A dataset reader: an IAM principal of a kind dataset access entries can name. */
export const datasetReader = z
  .string()
  .regex(/^(user|serviceAccount|group):[^@\s:]+@[^@\s:]+\.[a-z]{2,}$/, 'must be "user:…", "serviceAccount:…" or "group:…" followed by an email');

/** Topic and subscription ids: 3-255 letters, digits and - _ . ~ + %, starting with a letter, not "goog…". */
export const pubsubId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, "must be 3-255 letters, digits and - _ . ~ + %, starting with a letter")
  .refine((t) => !t.toLowerCase().startsWith("goog"), 'must not start with "goog"');

/** A protobuf Duration in seconds, as the REST API writes it ("604800s"). */
export const seconds = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+s$/, `${what} is whole seconds such as "604800s"`)
    .refine((d) => Number(d.slice(0, -1)) >= min && Number(d.slice(0, -1)) <= max, `${what} is from ${min}s to ${max}s`);
