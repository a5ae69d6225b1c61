// AuditStream: ZITADEL's guide "Streaming Audit Logs to External Systems" as one component —
// bucket → service account → custom role holding only storage.objects.create → bucket grant →
// key → kv.rangefeed.enabled → changefeed streaming eventstore.events2 into the bucket.
import * as pulumi from "@pulumi/pulumi";
import { Bucket, BucketArgs } from "./gcp/bucket";
import { ServiceAccount } from "./gcp/service-account";
import { CustomRole } from "./gcp/custom-role";
import { BucketIamMember } from "./gcp/bucket-iam-member";
import { ServiceAccountKey } from "./gcp/service-account-key";
import { ClusterSetting } from "./cockroach/cluster-setting";
import { Changefeed } from "./cockroach/changefeed";
import type { ChangefeedQueryOptions } from "./cdc/query";
import type { ChangefeedOptions } from "./cdc/statement";
import type { DeepInput } from "./shared";

export interface AuditStreamArgs {
  /** CockroachDB URL (secret). Default: `zitadel-audit-stream:cockroachUrl`, then the PG* environment. */
  connectionString?: pulumi.Input<string>;
  /** GCP project of the new resources. Default: `gcp:project`. */
  project?: pulumi.Input<string>;
  /** Settings of the bucket this component creates (compliance: retention, versioning, lifecycle, …). */
  bucket?: Omit<BucketArgs, "project">;
  /** Stream into this existing bucket instead of creating one (the grant is still added to it). */
  existingBucket?: pulumi.Input<string>;
  /** Object prefix inside the bucket. Default "events". */
  prefix?: pulumi.Input<string>;
  /** Default "flat", as in the guide. */
  partitionFormat?: pulumi.Input<"flat" | "daily" | "hourly">;
  /** What to stream: default the guide's columns without payload; `{ payload: { eventTypes: [...] } }` adds payload for those. */
  query?: DeepInput<ChangefeedQueryOptions>;
  /** WITH options of the changefeed. */
  changefeedOptions?: DeepInput<ChangefeedOptions>;
  /**
   * How CockroachDB authenticates to Cloud Storage. "key" (default): a key of the new service account
   * goes into the sink URI. "implicit": the nodes' own Google identity (grant it with
   * `implicitMember`). `{ assumeRole: [...] }`: the nodes impersonate the new service account through
   * the given delegates (each needs Service Account Token Creator on the next).
   */
  credentials?: "key" | "implicit" | { assumeRole: string[] };
  /** With credentials "implicit": the member to grant, e.g. "serviceAccount:crl-cdc-sink-user-…@….iam.gserviceaccount.com". */
  implicitMember?: pulumi.Input<string>;
  /** Change it to rotate the key: a new key is made, the feed switched, then the old key deleted. */
  keyRotationTrigger?: pulumi.Input<string>;
  /** Turn on kv.rangefeed.enabled. Default true. */
  manageRangefeedSetting?: boolean;
  /** How long changefeed updates may wait for a job to run (default 120 s). */
  timeoutSeconds?: pulumi.Input<number>;
}

export class AuditStream extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly serviceAccountEmail: pulumi.Output<string | undefined>;
  readonly roleName: pulumi.Output<string>;
  readonly jobId: pulumi.Output<string>;
  readonly sinkUriRedacted: pulumi.Output<string>;
  readonly feedStatus: pulumi.Output<string>;
  readonly highWaterTimestamp: pulumi.Output<string | null>;
  readonly changefeed: Changefeed;

  constructor(name: string, args: AuditStreamArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("zitadel-audit-stream:index:AuditStream", name, {}, opts);
    const parent = { parent: this };
    const mode = args.credentials ?? "key";
    if (args.existingBucket !== undefined && args.bucket !== undefined) {
      throw new Error(`AuditStream ${name}: give either existingBucket or bucket settings, not both`);
    }
    if (mode === "implicit" && args.keyRotationTrigger !== undefined) {
      throw new Error(`AuditStream ${name}: keyRotationTrigger needs credentials "key"`);
    }

    // An audit archive is kept on destroy unless forceDestroy says otherwise.
    const bucket =
      args.existingBucket === undefined
        ? new Bucket(`${name}-bucket`, { ...args.bucket, project: args.project }, { ...parent, retainOnDelete: !args.bucket?.forceDestroy })
        : undefined;
    const bucketName = bucket ? bucket.name : pulumi.output(args.existingBucket!);

    const role = new CustomRole(
      `${name}-role`,
      { roleIdPrefix: `${name.replace(/[^a-zA-Z0-9_.]+/g, "_")}_writer`.slice(0, 57), title: "ZITADEL audit stream writer", description: "Create objects only: what a CockroachDB changefeed needs.", permissions: ["storage.objects.create"], project: args.project },
      parent,
    );
    const account = mode === "implicit" ? undefined : new ServiceAccount(`${name}-writer`, { displayName: "ZITADEL audit stream writer", description: "CockroachDB changefeed into Cloud Storage", project: args.project }, parent);
    const member = account ? account.member : args.implicitMember;
    if (member === undefined) throw new Error(`AuditStream ${name}: credentials "implicit" needs implicitMember (the nodes' identity to grant)`);
    const grant = new BucketIamMember(`${name}-grant`, { bucket: bucketName, role: role.name, member }, parent);
    const key = mode === "key" ? new ServiceAccountKey(`${name}-key`, { serviceAccountEmail: account!.email, rotationTrigger: args.keyRotationTrigger }, parent) : undefined;
    const setting = args.manageRangefeedSetting === false ? undefined : new ClusterSetting(`${name}-rangefeeds`, { connectionString: args.connectionString }, parent);

    const sink = pulumi.all([bucketName, args.prefix, args.partitionFormat, key?.privateKeyBase64, account?.email]).apply(([b, prefix, pf, k, email]) => ({
      bucket: b,
      prefix: prefix ?? "events",
      partitionFormat: pf ?? "flat",
      ...(mode === "key" ? { credentials: k! } : { auth: "implicit" as const }),
      ...(typeof mode === "object" ? { assumeRole: [...mode.assumeRole, email!] } : {}),
    }));
    this.changefeed = new Changefeed(
      `${name}-changefeed`,
      { connectionString: args.connectionString, sink, query: args.query, options: args.changefeedOptions, timeoutSeconds: args.timeoutSeconds },
      { ...parent, dependsOn: [grant, ...(setting ? [setting] : [])] },
    );

    this.bucketName = bucketName;
    this.serviceAccountEmail = account ? account.email : pulumi.output(undefined);
    this.roleName = role.name;
    this.jobId = this.changefeed.jobId;
    this.sinkUriRedacted = this.changefeed.sinkUriRedacted;
    this.feedStatus = this.changefeed.status;
    this.highWaterTimestamp = this.changefeed.highWaterTimestamp;
    this.registerOutputs({
      bucketName: this.bucketName,
      serviceAccountEmail: this.serviceAccountEmail,
      roleName: this.roleName,
      jobId: this.jobId,
      sinkUriRedacted: this.sinkUriRedacted,
      feedStatus: this.feedStatus,
    });
  }
}
