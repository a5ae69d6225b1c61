// Bucket: a Cloud Storage bucket with an audit archive's defaults (uniform bucket-level access on,
// public access prevention enforced). Replace-only: name, project, location; the rest updates in
// place (gcp-apis.md §7.1).
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `bucketOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { Gcp, defaultProject, gcpClients, gcpConfigFrom, gcpError, getOrUndefined, statusOf, withRetry } from "./client";
import { BucketInputs, bucketInputs } from "./schemas";
import { operationsProvider } from "../operations-provider";
import { ConfigLike, DeepInput, Operations, classifyDiff, defined, physicalName, previewName, validate, withoutProvider, importRefusal, refuseImport, engineFacing } from "../shared";
import { prefixFrom } from "./naming";
import { OWNER_LABEL, deleteIfOwned, identityOf, labelTag } from "./ownership";
import { adoptDecision, identityFields, ownerLabels, userLabels } from "../ownership";
import { stackIdentity } from "../stream-identity";

export interface BucketArgs {
  /** Exact bucket name. Default: `namePrefix` (default: the resource name) plus a random suffix. */
  name?: pulumi.Input<string>;
  namePrefix?: pulumi.Input<string>;
  /** Default: `gcp:project`, the environment, or the credentials' project. */
  project?: pulumi.Input<string>;
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
  /** The stream's identity (StreamIdentity.deployment), carried in a label. Default: the stack's. */
  deployment?: pulumi.Input<string>;
  /** Adopt a bucket of this name made by another deployment (the one the error names, or "legacy"): the recovery after a lost state. */
  takeOver?: pulumi.Input<string>;
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

type Outputs = BucketInputs & { url: string; selfLink: string; takenOverFrom: string };

const REPLACE = ["name", "project", "location"];
const UPDATE = ["storageClass", "labels", "versioning", "lifecycleRules", "retentionPeriodSeconds", "uniformBucketLevelAccess", "publicAccessPrevention", "forceDestroy"];

export const bucketOperations: Operations = engineFacing({
  async check(config: ConfigLike | undefined, olds: any, news: any) {
    const v = validate(bucketInputs, { project: defaultProject(gcpConfigFrom(config)), ...news });
    if (!v.inputs) return { failures: v.failures };
    const identity = identityFields(olds, news);
    if (!v.complete) return { inputs: defined({ ...v.inputs, ...identity, ...previewName(olds, news, { nameKey: "name", prefixKey: "namePrefix", separator: "-", maxLength: 63 }) }) };
    const n = physicalName(olds, v.inputs, { nameKey: "name", prefixKey: "namePrefix", separator: "-", maxLength: 63, replaceKeys: ["project", "location"] });
    return { inputs: defined({ ...v.inputs, ...identity, ...n }) };
  },

  async diff(config: ConfigLike | undefined, id: string, olds: any, news: any) {
    // Without an explicit or configured project the stored one stands (it came from ADC).
    const n = { ...news, project: news.project ?? olds.project };
    const d = classifyDiff(olds, n, { replace: REPLACE, update: UPDATE, deleteBeforeReplace: olds.name === news.name });
    // An audit archive is never deleted (forceDestroy) or stranded by a replacement the user did
    // not ask for by name: refused in preview while the bucket holds objects.
    if (d.replaces.length > 0 && news.replaceNonEmpty !== true) {
      const gcp = await gcpClients(gcpConfigFrom(config));
      const page = await withRetry(() => gcp.storage.objects.list({ bucket: id, maxResults: 1 }), { what: `list objects of ${id}` }).catch((e) => (statusOf(e) === 404 ? undefined : Promise.reject(gcpError(e, `check whether bucket ${id} holds objects before replacing it`))));
      if ((page?.data.items ?? []).length > 0) {
        // A generated name changes because of the others; name what the user changed.
        const changed = d.replaces.filter((k) => !(k === "name" && news.autoNamed)).join(", ") || d.replaces.join(", ");
        throw new Error(`changing ${changed} of bucket ${id} replaces it, and it holds objects (audit files) that the replacement would ${olds.forceDestroy ? "delete (forceDestroy)" : "leave behind in a bucket this stack no longer manages"}. Keep ${changed} as it was; or copy the objects yourself and set replaceNonEmpty: true for this one change.`);
      }
    }
    return d;
  },

  async create(config: ConfigLike | undefined, i: BucketInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
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
      if (!d.adopt) throw new Error(`bucket ${i.name} already exists: ${d.why}. Its objects and settings were not touched; otherwise choose another bucket name.`);
      takenOverFrom = d.takenOverFrom;
      data = (await withRetry(() => gcp.storage.buckets.patch({ bucket: i.name, requestBody: toApi(i, UPDATE) }), { what })).data;
    }
    return { id: i.name, outs: outputs({ ...i, project, takenOverFrom }, data) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(importRefusal("Bucket", id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const b = await getOrUndefined(() => gcp.storage.buckets.get({ bucket: id }), `read bucket ${id}`);
    if (!b) return { id: "" };
    return { id, props: outputs({ ...props, ...fromApi(b.data) }, b.data) };
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, checked: any) {
    const news = { ...checked, project: checked.project ?? olds.project };
    const d = classifyDiff(olds, news, { replace: REPLACE, update: UPDATE });
    const api = toApi(news, d.updates.filter((k) => k !== "forceDestroy"), olds);
    if (Object.keys(api).length === 0) return { outs: outputs(news, { selfLink: olds.selfLink }) };
    const gcp = await gcpClients(gcpConfigFrom(config));
    const b = await withRetry(() => gcp.storage.buckets.patch({ bucket: id, requestBody: api }), { what: `update bucket ${id}` }).catch((e) => {
      throw gcpError(e, `update bucket ${id}`);
    });
    return { outs: outputs(news, b.data) };
  },

  async delete(config: ConfigLike | undefined, id: string, props: any) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    // A bucket another instance or deployment took over since is neither emptied nor deleted.
    await deleteIfOwned(`bucket ${id}`, props, {
      read: async () => (await getOrUndefined(() => gcp.storage.buckets.get({ bucket: id }), `read bucket ${id}`))?.data,
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
        const page = (await withRetry(() => gcp.storage.objects.list({ bucket: id, versions: true, pageToken }), { what: `list objects of ${id}` }).catch((e) => (statusOf(e) === 404 ? undefined : Promise.reject(gcpError(e, `empty bucket ${id}`)))))?.data;
        for (const o of page?.items ?? []) {
          await withRetry(() => gcp.storage.objects.delete({ bucket: id, object: o.name!, generation: o.generation! }), { what: `delete gs://${id}/${o.name}` }).catch((e) => {
            if (statusOf(e) !== 404) throw gcpError(e, `empty bucket ${id} (forceDestroy)`);
          });
        }
        pageToken = page?.nextPageToken ?? undefined;
      } while (pageToken);
    }
    await withRetry(() => gcp.storage.buckets.delete({ bucket: id }), { what: `delete bucket ${id}` }).catch((e) => {
      if (statusOf(e) === 404) return;
      if (statusOf(e) === 409) {
        throw new Error(`bucket ${id} is not empty, so it was kept and the destroy stops here. To keep the archive and drop it from the stack, set the resource option retainOnDelete: true (AuditStream does unless bucket.forceDestroy) and \`pulumi up\`; to delete it with its objects, set forceDestroy: true and \`pulumi up\`; or empty it first.`);
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

function outputs(i: any, b: any): Outputs {
  const { retentionPeriodSeconds, ...rest } = withoutProvider(i);
  return defined({ ...rest, ...(retentionPeriodSeconds ? { retentionPeriodSeconds } : {}), url: `gs://${i.name}`, selfLink: b?.selfLink ?? "", takenOverFrom: rest.takenOverFrom ?? "" }) as Outputs;
}

export interface Bucket {
  readonly name: pulumi.Output<string>;
  readonly project: pulumi.Output<string>;
  readonly location: pulumi.Output<string>;
  readonly url: pulumi.Output<string>;
  readonly selfLink: pulumi.Output<string>;
  readonly forceDestroy: pulumi.Output<boolean>;
}

/** A Cloud Storage bucket for audit logs. */
export class Bucket extends pulumi.dynamic.Resource {
  /** The stored provider (provider/operations-provider.ts); made on first use, so importing the package never fails. */
  static get provider() {
    return operationsProvider(__filename, "bucketOperations", bucketOperations);
  }

  constructor(name: string, args: BucketArgs = {}, opts?: pulumi.CustomResourceOptions) {
    // Refused before anything is declared (the stack identity below is a resource too).
    refuseImport("Bucket", name, opts);
    super(
      Bucket.provider,
      name,
      { owner: `${pulumi.getProject()}/${pulumi.getStack()}/${name}`, namePrefix: prefixFrom(name, /[^a-z0-9_-]+/g, 56), ...args, deployment: args.deployment ?? stackIdentity().deployment, name: args.name, project: args.project, location: args.location, url: undefined, selfLink: undefined, forceDestroy: args.forceDestroy, takenOverFrom: undefined },
      refuseImport("Bucket", name, opts),
      "gcp",
      "Bucket",
    );
  }
}
