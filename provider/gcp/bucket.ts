// Bucket: a Cloud Storage bucket with an audit archive's defaults (uniform bucket-level access on,
// public access prevention enforced). Replace-only: name, project, location; the rest updates in
// place (gcp-apis.md §7.1).
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `bucketOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { Gcp, clientsFor, gcpCall, gcpError } from "./client";
import { notFound, statusOf, unlessNotFound, withRetry } from "./recovery";
import { z } from "zod";
import { bucketName } from "../validation";
import { PROJECT_DEFAULT, ProjectArgs, STORAGE_LOCATIONS, identitySchema, projectId } from "./fields";
import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, DeepInput, TypedOperations, Outputs } from "../engine";
import { OWNER_LABEL, deleteIfOwned, identityOf, labelTag } from "./ownership";
import { adoptDecision, ownerLabels, userLabels } from "../ownership";

import { OWNED } from "../stream-identity";

/** A replacement would orphan or delete the audit files the bucket holds. */
const nonEmptyReplacement = (changed: string, id: string, forceDestroy: boolean) =>
  `changing ${changed} of bucket ${id} replaces it, and it holds objects (audit files) that the replacement would ${forceDestroy ? "delete (forceDestroy)" : "leave behind in a bucket this stack no longer manages"}. Keep ${changed} as it was; or copy the objects yourself and set replaceNonEmpty: true for this one change.`;

/** A destroy met a bucket that still holds objects. */
const nonEmptyDestroy = (id: string) =>
  `bucket ${id} is not empty, so it was kept and the destroy stops here. To keep the archive and drop it from the stack, set the resource option retainOnDelete: true (AuditStream does unless bucket.forceDestroy) and \`pulumi up\`; to delete it with its objects, set forceDestroy: true and \`pulumi up\`; or empty it first.`;

export const BUCKET_PERMISSIONS = collectionPermissions("storage.buckets", { delete: ["storage.objects.list", "storage.objects.delete"] });

export interface BucketArgs extends ProjectArgs {
  /** Exact bucket name. Default: `namePrefix` (default: the resource name) plus a random suffix. */
  name?: pulumi.Input<string>;
  namePrefix?: pulumi.Input<string>;
  /** Default "US". Changing it replaces the bucket. */
  location?: pulumi.Input<string>;
  storageClass?: pulumi.Input<"STANDARD" | "NEARLINE" | "COLDLINE" | "ARCHIVE">;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  versioning?: pulumi.Input<boolean>;
  lifecycleRules?: DeepInput<LifecycleRule[]>;
  retentionPeriodSeconds?: pulumi.Input<number>;
  /** Default true. */
  uniformBucketLevelAccess?: pulumi.Input<boolean>;
  /** Default "enforced". */
  publicAccessPrevention?: pulumi.Input<"enforced" | "inherited">;
  /** Default false: destroying a bucket that still holds objects fails and says so. */
  forceDestroy?: pulumi.Input<boolean>;
  /**
   * A change that replaces the bucket (name, project, location) is refused while it holds objects;
   * set true for that one change after copying them (the old bucket is then deleted with forceDestroy, or left).
   */
  replaceNonEmpty?: pulumi.Input<boolean>;
}

export interface LifecycleRule {
  action: { type: "Delete" | "SetStorageClass" | "AbortIncompleteMultipartUpload"; storageClass?: string };
  condition: {
    age?: number;
    createdBefore?: string;
    isLive?: boolean;
    numNewerVersions?: number;
    daysSinceNoncurrentTime?: number;
    noncurrentTimeBefore?: string;
    matchesPrefix?: string[];
    matchesSuffix?: string[];
    matchesStorageClass?: string[];
  };
}

/** What a Bucket keeps in state: its checked inputs and what Cloud Storage gave it. */
export type BucketState = BucketInputs & { url: string; selfLink: string; takenOverFrom: string };

export const STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"] as const;

const storageClass = z.enum(STORAGE_CLASSES, { error: `must be one of ${STORAGE_CLASSES.join(", ")}` });

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD");

const count = z.number().int("must be a whole number").min(0, "must not be negative");

const lifecycleRule = z
  .strictObject({
    action: z.strictObject({
      type: z.enum(["Delete", "SetStorageClass", "AbortIncompleteMultipartUpload"], {
        error: 'must be "Delete", "SetStorageClass" or "AbortIncompleteMultipartUpload"',
      }),
      storageClass: storageClass.optional(),
    }),
    condition: z
      .strictObject({
        age: count,
        createdBefore: date,
        isLive: z.boolean(),
        numNewerVersions: count,
        daysSinceNoncurrentTime: count,
        noncurrentTimeBefore: date,
        matchesPrefix: z.array(z.string().min(1)).min(1),
        matchesSuffix: z.array(z.string().min(1)).min(1),
        matchesStorageClass: z.array(storageClass).min(1),
      })
      .partial()
      .refine((c) => Object.keys(c).length > 0, "a lifecycle rule needs at least one condition"),
  })
  .superRefine((rule, ctx) => {
    if ((rule.action.type === "SetStorageClass") !== (rule.action.storageClass !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["action", "storageClass"], message: "storageClass is required with SetStorageClass, and only there" });
    }
  });

export const bucketInputs = z
  .strictObject({
    /** An explicit bucket name; otherwise `namePrefix` plus a random suffix. */
    name: bucketName.optional(),
    namePrefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,55}$/, "must be up to 56 lowercase letters, digits, '-' and '_', starting with a letter or digit")
      .refine((s) => !s.startsWith("goog") && !/g[o0][o0]g[l1][e3]/.test(s), 'must not start with "goog" or contain "google"')
      .optional(),
    project: projectId.optional(),
    location: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{1,39}$/, 'must be a Cloud Storage location such as "US", "EU" or "europe-west3"')
      .transform((l) => l.toUpperCase())
      .refine((l) => STORAGE_LOCATIONS.has(l), {
        message:
          "is not a Cloud Storage location (multi-regions US, EU, ASIA; dual-regions such as NAM4, EUR4; regions such as europe-west3): https://cloud.google.com/storage/docs/locations",
      })
      .default("US"),
    storageClass: storageClass.default("STANDARD"),
    labels: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, "label keys are 1-63 lowercase letters, digits, '_' and '-', starting with a letter"),
        z.string().regex(/^[a-z0-9_-]{0,63}$/, "label values are up to 63 lowercase letters, digits, '_' and '-'"),
      )
      .refine((l) => Object.keys(l).length <= 64, "at most 64 labels")
      .default({}),
    versioning: z.boolean().default(false),
    lifecycleRules: z.array(lifecycleRule).max(100, "at most 100 lifecycle rules").default([]),
    /** Objects cannot be deleted or overwritten for this long after they are written. */
    retentionPeriodSeconds: z
      .number()
      .int("must be whole seconds")
      .positive("must be greater than zero")
      .lt(3_155_760_000, "must be less than 100 years")
      .optional(),
    uniformBucketLevelAccess: z.boolean().default(true),
    publicAccessPrevention: z.enum(["enforced", "inherited"], { error: 'must be "enforced" or "inherited"' }).default("enforced"),
    /** Delete the bucket's objects on destroy. Without it a non-empty bucket is refused. */
    forceDestroy: z.boolean().default(false),
    replaceNonEmpty: z.boolean().optional(),
    ...identitySchema,
  })
  .refine((b) => b.name !== undefined || b.namePrefix !== undefined, { path: ["name"], message: "give name or namePrefix" });
true satisfies ArgsInSchema<BucketArgs, typeof bucketInputs>;

export type BucketInputs = z.output<typeof bucketInputs> & { name: string; autoNamed: boolean; project: string };

const REPLACE = ["name", "project", "location"];
const UPDATE = [
  "storageClass",
  "labels",
  "versioning",
  "lifecycleRules",
  "retentionPeriodSeconds",
  "uniformBucketLevelAccess",
  "publicAccessPrevention",
  "forceDestroy",
];

const RULES = inputRules({
  schema: bucketInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: REPLACE,
  update: UPDATE,
  // A new name can exist beside the old one; the same name cannot.
  deleteBeforeReplace: (olds, news) => olds.name === news.name,
  name: {
    nameKey: "name",
    prefixKey: "namePrefix",
    separator: "-",
    maxLength: 63,
    replaceKeys: ["project", "location"],
    prefix: { disallowed: /[^a-z0-9_-]+/g, max: 56 },
  },
});

export const bucketOperations: TypedOperations<BucketInputs, BucketState> = engineFacing("Bucket", {
  check: RULES.check,

  async diff(config, id, olds, news) {
    const d = RULES.changes(olds, news);
    // An audit archive is never deleted (forceDestroy) or stranded by a replacement the user did
    // not ask for by name: refused in preview while the bucket holds objects.
    if (d.replaces.length > 0 && news.replaceNonEmpty !== true) {
      const gcp = await clientsFor(config);
      const page = await withRetry(() => gcp.storage.objects.list({ bucket: id, maxResults: 1 }), { what: `list objects of ${id}` }).catch((e) =>
        notFound(e) ? undefined : Promise.reject(gcpError(e, `check whether bucket ${id} holds objects before replacing it`)),
      );
      if ((page?.data.items ?? []).length > 0) {
        // A generated name changes because of the others; name what the user changed.
        const changed = d.replaces.filter((k) => !(k === "name" && news.autoNamed)).join(", ") || d.replaces.join(", ");
        throw new Error(nonEmptyReplacement(changed, id, olds.forceDestroy));
      }
    }
    return d;
  },

  async create(config, i) {
    const gcp = await clientsFor(config);
    const project = i.project ?? gcp.project;
    const what = `create bucket ${i.name}`;
    let data;
    let takenOverFrom = "";
    try {
      data = (await withRetry(() => gcp.storage.buckets.insert({ project, requestBody: { name: i.name, ...toApi(i, UPDATE) } }), { what })).data;
    } catch (e) {
      // Bucket names are global: "you already own it" is a bucket of this project, adopted only when it
      // carries this resource's identity or takeOver names its maker; any other conflict is someone else's.
      if (!(statusOf(e) === 409 && /already own/.test(String((e as any)?.message)))) throw gcpError(e, what);
      const found = (await withRetry(() => gcp.storage.buckets.get({ bucket: i.name }), { what: `read bucket ${i.name}` })).data;
      const d = adoptDecision(labelTag(found as any), identityOf(i), i.takeOver);
      if (!d.adopt)
        throw new Error(`bucket ${i.name} already exists: ${d.why}. Its objects and settings were not touched; otherwise choose another bucket name.`);
      takenOverFrom = d.takenOverFrom;
      data = (await withRetry(() => gcp.storage.buckets.patch({ bucket: i.name, requestBody: toApi(i, UPDATE) }), { what })).data;
    }
    return { id: i.name, outs: outputs({ ...i, project, takenOverFrom }, data) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const b = await unlessNotFound(() => gcp.storage.buckets.get({ bucket: id }), `read bucket ${id}`);
    if (!b) return { id: "" };
    return { id, props: outputs({ ...props, ...fromApi(b.data) }, b.data) };
  },

  async update(config, id, olds, checked) {
    const news = RULES.withSticky(olds, checked);
    const d = RULES.changes(olds, news);
    const api = toApi(
      news,
      d.updates.filter((k) => k !== "forceDestroy"),
      olds,
    );
    if (Object.keys(api).length === 0) return { outs: outputs(news, { selfLink: olds.selfLink }) };
    const gcp = await clientsFor(config);
    const b = await gcpCall(`update bucket ${id}`, () => gcp.storage.buckets.patch({ bucket: id, requestBody: api }));
    return { outs: outputs(news, b.data) };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    // A bucket another instance or deployment took over since is neither emptied nor deleted.
    await deleteIfOwned(`bucket ${id}`, props, {
      read: async () => (await unlessNotFound(() => gcp.storage.buckets.get({ bucket: id }), `read bucket ${id}`))?.data,
      tag: labelTag,
      del: () => deleteBucket(gcp, id, props),
    });
  },
});

/** Empties the bucket (with forceDestroy) and deletes it; a non-empty one is refused with what to do. */
async function deleteBucket(gcp: Gcp, id: string, props: any): Promise<void> {
  if (props.forceDestroy) {
    let pageToken: string | undefined;
    do {
      const page = (
        await withRetry(() => gcp.storage.objects.list({ bucket: id, versions: true, pageToken }), { what: `list objects of ${id}` }).catch((e) =>
          notFound(e) ? undefined : Promise.reject(gcpError(e, `empty bucket ${id}`)),
        )
      )?.data;
      for (const o of page?.items ?? []) {
        await withRetry(() => gcp.storage.objects.delete({ bucket: id, object: o.name!, generation: o.generation! }), {
          what: `delete gs://${id}/${o.name}`,
        }).catch((e) => {
          if (!notFound(e)) throw gcpError(e, `empty bucket ${id} (forceDestroy)`);
        });
      }
      pageToken = page?.nextPageToken ?? undefined;
    } while (pageToken);
  }
  await withRetry(() => gcp.storage.buckets.delete({ bucket: id }), { what: `delete bucket ${id}` }).catch((e) => {
    if (notFound(e)) return;
    if (statusOf(e) === 409) {
      throw new Error(nonEmptyDestroy(id));
    }
    throw gcpError(e, `delete bucket ${id}`);
  });
}

/** The API body for the given fields; removals are sent as null, as PATCH needs (gcp-apis.md §7.1). */
function toApi(i: any, fields: string[], olds?: any): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const f of fields) {
    if (f === "storageClass") body.storageClass = i.storageClass;
    if (f === "labels") {
      body.labels = { ...Object.fromEntries(Object.keys(olds?.labels ?? {}).map((k) => [k, null])), ...i.labels, ...ownerLabels(identityOf(i)) };
      // A resource from before identities never had a label of ours: none is added.
      if (identityOf(i).instance === undefined) delete (body.labels as Record<string, unknown>)[OWNER_LABEL];
    }
    if (f === "versioning") body.versioning = { enabled: i.versioning };
    if (f === "lifecycleRules") body.lifecycle = i.lifecycleRules.length ? { rule: i.lifecycleRules } : null;
    if (f === "retentionPeriodSeconds") body.retentionPolicy = i.retentionPeriodSeconds ? { retentionPeriod: String(i.retentionPeriodSeconds) } : null;
    if (f === "uniformBucketLevelAccess" || f === "publicAccessPrevention") {
      body.iamConfiguration = { uniformBucketLevelAccess: { enabled: i.uniformBucketLevelAccess }, publicAccessPrevention: i.publicAccessPrevention };
    }
  }
  if (!olds) body.location = i.location;
  return body;
}

/** The settable fields as the API reports them, in our input shape. */
function fromApi(b: any): Partial<BucketInputs> {
  return {
    location: b.location,
    storageClass: b.storageClass,
    labels: userLabels(b.labels),
    versioning: Boolean(b.versioning?.enabled),
    lifecycleRules: b.lifecycle?.rule ?? [],
    retentionPeriodSeconds: b.retentionPolicy ? Number(b.retentionPolicy.retentionPeriod) : undefined,
    uniformBucketLevelAccess: Boolean(b.iamConfiguration?.uniformBucketLevelAccess?.enabled),
    publicAccessPrevention: b.iamConfiguration?.publicAccessPrevention === "enforced" ? "enforced" : "inherited",
  };
}

function outputs(i: any, b: any): BucketState {
  const { retentionPeriodSeconds, ...rest } = withoutProvider(i);
  return defined({
    ...rest,
    ...(retentionPeriodSeconds ? { retentionPeriodSeconds } : {}),
    url: `gs://${i.name}`,
    selfLink: b?.selfLink ?? "",
    takenOverFrom: rest.takenOverFrom ?? "",
  }) as BucketState;
}

export interface Bucket extends Outputs<{ name: string; project: string; location: string; url: string; selfLink: string; forceDestroy: boolean }> {}

/** A Cloud Storage bucket for audit logs. */
export class Bucket extends defineResource<BucketArgs>(__filename, {
  operations: { bucketOperations },
  ...OWNED,
  outputs: ["name", "project", "location", "url", "selfLink", "forceDestroy", "takenOverFrom"],
  importInstead:
    "declare it without `import`: a Bucket this stack made is adopted by its derived name; to stream into a bucket made elsewhere, use AuditStream's `existingBucket` (or give the Changefeed its name)",
}) {}
