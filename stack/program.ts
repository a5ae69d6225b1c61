// The root project's program, driven by stack config. `index.ts` hands it to `pulumi up`; the
// tests run the same function inline through the real engine.
//
// Config (all optional but the CockroachDB URL; see Pulumi.example.yaml):
//   gcp:project, gcp:credentials (secret)         where the GCP resources go
//   zitadel-audit-stream:cockroachUrl (secret)    the CockroachDB cluster ZITADEL writes to
//   zitadel-audit-stream:gcpEndpoint              emulator or private endpoint for Google APIs
//   zitadel-audit-stream:payloadEventTypes        JSON list: stream payload for these event types only
//   zitadel-audit-stream:instanceIds              JSON list: only these ZITADEL instances
//   zitadel-audit-stream:existingBucket           stream into this bucket instead of creating one
//   zitadel-audit-stream:bucketLocation           default US
//   zitadel-audit-stream:retentionDays            objects cannot be deleted for this many days
//   zitadel-audit-stream:forceDestroy             true: destroy deletes the bucket and its files
//   zitadel-audit-stream:prefix                   default "events"
//   zitadel-audit-stream:partitionFormat          flat (default) | daily | hourly
//   zitadel-audit-stream:credentials              key (default) | implicit
//   zitadel-audit-stream:implicitMember           with credentials=implicit: the nodes' identity
//   zitadel-audit-stream:keyRotationTrigger       change it to rotate the key
import * as pulumi from "@pulumi/pulumi";
import type * as Package from "../provider";

export function auditStreamProgram(pkg: typeof Package) {
  return async () => {
    const cfg = new pulumi.Config("zitadel-audit-stream");
    const payload = cfg.getObject<string[]>("payloadEventTypes");
    const instanceIds = cfg.getObject<string[]>("instanceIds");
    const retentionDays = cfg.getNumber("retentionDays");
    const existingBucket = cfg.get("existingBucket");
    const stream = new pkg.AuditStream("zitadel-audit", {
      existingBucket,
      bucket: existingBucket
        ? undefined
        : {
            location: cfg.get("bucketLocation"),
            retentionPeriodSeconds: retentionDays ? retentionDays * 86_400 : undefined,
            forceDestroy: cfg.getBoolean("forceDestroy") ?? false,
          },
      prefix: cfg.get("prefix"),
      partitionFormat: cfg.get("partitionFormat") as "flat" | "daily" | "hourly" | undefined,
      query: {
        ...(payload ? { payload: { eventTypes: payload } } : {}),
        ...(instanceIds ? { filter: { instanceIds } } : {}),
      },
      credentials: (cfg.get("credentials") as "key" | "implicit" | undefined) ?? "key",
      implicitMember: cfg.get("implicitMember"),
      keyRotationTrigger: cfg.get("keyRotationTrigger"),
      changefeedOptions: cfg.getObject("changefeedOptions"),
    });
    return {
      bucketName: stream.bucketName,
      serviceAccountEmail: stream.serviceAccountEmail,
      roleName: stream.roleName,
      jobId: stream.jobId,
      sinkUriRedacted: stream.sinkUriRedacted,
      feedStatus: stream.feedStatus,
    };
  };
}
