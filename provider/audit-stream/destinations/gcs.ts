// AuditStream's Cloud Storage destination, the guide's pipeline: bucket (or an existing one), a custom
// role holding only storage.objects.create, the writer, its grant on the bucket, and the source's
// feed into `gs://<bucket>/<prefix>`.
import * as pulumi from "@pulumi/pulumi";
import { Bucket } from "../../gcp/bucket";

import { BucketIamMember } from "../../gcp/bucket-iam-member";
import type { ServiceAccount } from "../../gcp/service-account";
import type { Changefeed } from "../../cockroach/changefeed";
import { STORAGE_LOCATIONS } from "../../gcp/fields";
import { sinkUriOptionsSchema } from "../../cdc/sink";
import { EVENTS2_PRIMARY_KEY } from "../../cdc/events2";
import { bucketName as bucketNameSchema } from "../../validation";
import { ARGUMENTS, StreamContext, plain } from "../args";
import type { Source } from "../sources/cockroach";
import { ownsKey, roleAndWriter, writerSink } from "../writer";

export interface GcsDestination {
  bucketName: pulumi.Output<string>;
  account?: ServiceAccount;
  roleName: pulumi.Output<string>;
  changefeed: Changefeed;
}

/** The guide's pipeline into Cloud Storage: bucket, writer role and account, grant, key, feed. */
export function gcsDestination(ctx: StreamContext, source: Source): GcsDestination {
  const { name, args, parent } = ctx;
  const bucketName = streamBucket(ctx);

  const writer = roleAndWriter(ctx, {
    names: { role: `${name}-role`, account: `${name}-writer`, key: `${name}-key` },
    roleSuffix: "writer",
    title: "ZITADEL audit stream writer",
    permission: "storage.objects.create",
    why: "Create objects only: what a CockroachDB changefeed needs.",
    describe: "CockroachDB changefeed into Cloud Storage",
  });
  const grant = new BucketIamMember(`${name}-grant`, { bucket: bucketName, role: writer.role.name, member: writer.member }, parent);
  const sink = writerSink(
    args,
    writer,
    pulumi
      .all([bucketName, args.prefix, args.partitionFormat])
      .apply(([bucket, prefix, pf]) => ({ bucket, prefix: prefix ?? "events", partitionFormat: pf ?? "flat" })),
  );
  const changefeed = source.feed(`${name}-changefeed`, sink, [grant], ownsKey(args));
  return { bucketName, account: writer.account, roleName: writer.role.name, changefeed };
}

/** The stream's bucket's name: the one it makes (kept on destroy unless forceDestroy: an audit archive), or existingBucket. */
export function streamBucket(ctx: StreamContext): pulumi.Output<string> {
  const { name, args, owned, parent } = ctx;
  if (args.existingBucket !== undefined) return pulumi.output(args.existingBucket);
  return new Bucket(`${name}-bucket`, { ...args.bucket, project: args.project, ...owned }, { ...parent, retainOnDelete: !args.bucket?.forceDestroy }).name;
}

/** Problems in the Cloud Storage arguments, each named (checked in the program, so at preview). */
export function gcsProblems(args: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (args.existingBucket !== undefined && args.bucket !== undefined) problems.push("existingBucket: give either existingBucket or bucket settings, not both");
  if (args.existingBucket !== undefined && plain(args.existingBucket) && !bucketNameSchema.safeParse(args.existingBucket).success)
    problems.push(`existingBucket: not a bucket name: ${JSON.stringify(args.existingBucket)}`);
  if (args.prefix !== undefined && plain(args.prefix)) {
    const p = sinkUriOptionsSchema.safeParse({ bucket: "b-check", credentials: "x", prefix: args.prefix });
    const issue = p.success ? undefined : p.error.issues.find((i) => i.path[0] === "prefix");
    if (issue) problems.push(`prefix: ${issue.message}`);
  }
  // De-duplication of the files (the BigQuery view, any reader) needs every event's key in every line;
  // a Pub/Sub message carries the key beside the value whatever the columns.
  const q = args.query as Record<string, unknown> | undefined;
  const toFiles = !Array.isArray(args.destinations) || (args.destinations as unknown[]).includes("gcs");
  if (toFiles && q && plain(q) && Array.isArray(q.columns) && q.columns.every(plain)) {
    const missing = EVENTS2_PRIMARY_KEY.filter((c) => !(q.columns as unknown[]).includes(c));
    if (missing.length)
      problems.push(
        `query.columns: leaves out ${missing.join(", ")} of events2's primary key (${EVENTS2_PRIMARY_KEY.join(", ")}): the at-least-once duplicates could no longer be told apart; keep every key column`,
      );
  }
  if (args.partitionFormat !== undefined && plain(args.partitionFormat) && !["flat", "daily", "hourly"].includes(args.partitionFormat as string))
    problems.push(`partitionFormat: must be "flat", "daily" or "hourly", not ${JSON.stringify(args.partitionFormat)}`);
  const destinations = (args.destinations as unknown[] | undefined) ?? ["gcs"];
  if (Array.isArray(destinations) && !destinations.includes("gcs")) {
    const gcsOnly = Object.entries(ARGUMENTS)
      .filter(([, part]) => part === "gcs")
      .map(([k]) => k);
    for (const k of gcsOnly)
      if (args[k] !== undefined) problems.push(`${k}: only with the "gcs" destination (destinations is ${JSON.stringify(destinations)})`);
  }
  const b = args.bucket as Record<string, unknown> | undefined;
  if (b && plain(b) && b.location !== undefined && plain(b.location) && !STORAGE_LOCATIONS.has(String(b.location).toUpperCase()))
    problems.push(`bucket.location: ${JSON.stringify(b.location)} is not a Cloud Storage location (https://cloud.google.com/storage/docs/locations)`);
  return problems;
}
