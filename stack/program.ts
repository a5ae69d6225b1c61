// The root project's program, driven by stack config. `index.ts` hands it to `pulumi up`; the
// tests run the same function inline through the real engine.
//
// Config (all optional but the database's URL; see Pulumi.example.yaml):
//   gcp:project, gcp:credentials (secret)         where the GCP resources go
//   zitadel-audit-stream:source                   cockroach (default, ZITADEL v2) | postgres (ZITADEL v3/v4)
//   zitadel-audit-stream:cockroachUrl (secret)    the CockroachDB cluster ZITADEL writes to
//   zitadel-audit-stream:postgresUrl (secret)     with source=postgres: ZITADEL's PostgreSQL database
//   zitadel-audit-stream:sourceSwitch             the source being left when switching (cockroach | postgres); remove it afterwards
//   zitadel-audit-stream:engineDatabase           with source=postgres: JSON {host, port, dbname, sslmode} where the engine reaches it
//   zitadel-audit-stream:cloudRun                 with source=postgres: JSON {region, image, cpu, memory}: run the engine on Cloud Run
//   zitadel-audit-stream:gcpEndpoint              emulator or private endpoint for Google APIs
//   zitadel-audit-stream:payloadEventTypes        JSON list: stream payload for these event types only
//   zitadel-audit-stream:instanceIds              JSON list: only these ZITADEL instances
//   zitadel-audit-stream:eventTypes               JSON list: only these event types
//   zitadel-audit-stream:existingBucket           stream into this bucket instead of creating one
//   zitadel-audit-stream:bucketLocation           default US
//   zitadel-audit-stream:retentionDays            objects cannot be deleted for this many days
//   zitadel-audit-stream:forceDestroy             true: destroy deletes the bucket and its files
//   zitadel-audit-stream:prefix                   default "events"
//   zitadel-audit-stream:partitionFormat          flat (default) | daily | hourly
//   zitadel-audit-stream:credentials              key (default) | implicit
//   zitadel-audit-stream:implicitMember           with credentials=implicit: the nodes' identity
//   zitadel-audit-stream:keyRotationTrigger       change it to rotate the key
//   zitadel-audit-stream:changefeedOptions        JSON object of WITH options
//   zitadel-audit-stream:bigQuery                 JSON object: AuditStream's bigQuery option (dataset, table, view)
//   zitadel-audit-stream:destinations             JSON list: "gcs" (default), "pubsub", or both
//   zitadel-audit-stream:pubsub                   JSON object: AuditStream's pubsub option (region, topic, subscription, subscribers)
//   zitadel-audit-stream:takeOver                 after a lost state: the deployment an error named (or "legacy") whose objects to take over
import * as pulumi from "@pulumi/pulumi";
import type * as Package from "../provider";

const NS = "zitadel-audit-stream";
/** The config keys this program reads (cockroachUrl and gcpEndpoint are read by the providers). */
export const CONFIG_KEYS = [
  "source",
  "cockroachUrl",
  "postgresUrl",
  "engineDatabase",
  "cloudRun",
  "sourceSwitch",
  "eventTypes",
  "gcpEndpoint",
  "payloadEventTypes",
  "instanceIds",
  "existingBucket",
  "bucketLocation",
  "retentionDays",
  "forceDestroy",
  "prefix",
  "partitionFormat",
  "credentials",
  "implicitMember",
  "keyRotationTrigger",
  "changefeedOptions",
  "bigQuery",
  "destinations",
  "pubsub",
  "takeOver",
];
const JSON_LISTS = ["payloadEventTypes", "instanceIds", "eventTypes"];

/**
 * Problems in the stack's `zitadel-audit-stream:*` config, each naming the key: unknown keys (a
 * typo such as payloadEventType would otherwise be ignored) and JSON lists that are not lists of
 * strings. Types of the other keys are checked where they are read (Config.getNumber/getBoolean) and
 * by AuditStream.
 */
export function stackConfigProblems(all: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [full, value] of Object.entries(all)) {
    if (!full.startsWith(`${NS}:`)) continue;
    const key = full.slice(NS.length + 1);
    if (!CONFIG_KEYS.includes(key)) {
      problems.push(`${full}: not a setting of this program (known: ${CONFIG_KEYS.join(", ")}); remove it with \`pulumi config rm ${full}\``);
      continue;
    }
    if (JSON_LISTS.includes(key)) {
      let v: unknown;
      try {
        v = JSON.parse(value);
      } catch {
        v = undefined;
      }
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
        problems.push(`${full}: must be a JSON list of strings, e.g. '["user.human.added"]' (set with \`pulumi config set --path\` or as JSON)`);
    }
  }
  return problems;
}

export function auditStreamProgram(pkg: typeof Package) {
  return async () => {
    const problems = stackConfigProblems(pulumi.runtime.allConfig());
    if (problems.length) throw new Error(`stack config: ${problems.join("; ")}`);
    const cfg = new pulumi.Config(NS);
    const payload = cfg.getObject<string[]>("payloadEventTypes");
    const instanceIds = cfg.getObject<string[]>("instanceIds");
    const eventTypes = cfg.getObject<string[]>("eventTypes");
    const sourceName = cfg.get("source") ?? "cockroach";
    if (sourceName !== "cockroach" && sourceName !== "postgres")
      throw new Error(`stack config: ${NS}:source must be cockroach or postgres, not ${JSON.stringify(sourceName)}`);
    const postgres = sourceName === "postgres";
    const retentionDays = cfg.getNumber("retentionDays");
    const existingBucket = cfg.get("existingBucket");
    const destinations = cfg.getObject<("gcs" | "pubsub")[]>("destinations");
    // Without the bucket destination, the bucket's settings have nothing to apply to.
    const toGcs = destinations === undefined || destinations.includes("gcs");
    const cloudRun = cfg.getObject<Package.AuditStreamCloudRunArgs>("cloudRun");
    if (cloudRun && !postgres) throw new Error(`stack config: ${NS}:cloudRun runs the PostgreSQL source's engine: set ${NS}:source postgres, or remove it`);
    const stream = new pkg.AuditStream("zitadel-audit", {
      ...(postgres
        ? { source: { postgres: { engineDatabase: cfg.getObject("engineDatabase"), ...(cloudRun ? { runtime: "cloudRun" as const, cloudRun } : {}) } } }
        : {}),
      ...(cfg.get("sourceSwitch") ? { sourceSwitch: { from: cfg.get("sourceSwitch") as "cockroach" | "postgres" } } : {}),
      existingBucket,
      bucket:
        existingBucket || !toGcs
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
        ...(instanceIds || eventTypes ? { filter: { ...(instanceIds ? { instanceIds } : {}), ...(eventTypes ? { eventTypes } : {}) } } : {}),
      },
      // On Cloud Run the engine runs as its own account, keyless: no credentials to choose.
      credentials: (cfg.get("credentials") as "key" | "implicit" | undefined) ?? (cloudRun ? undefined : "key"),
      implicitMember: cfg.get("implicitMember"),
      keyRotationTrigger: cfg.get("keyRotationTrigger"),
      changefeedOptions: cfg.getObject("changefeedOptions"),
      bigQuery: cfg.getObject("bigQuery"),
      destinations,
      pubsub: cfg.getObject("pubsub"),
      takeOver: cfg.get("takeOver"),
    });
    if (postgres) {
      return {
        bucketName: stream.bucketName,
        serviceAccountEmail: stream.serviceAccountEmail,
        health: stream.health,
        deployment: stream.identity.deployment,
        pubsubTopic: stream.pubsubTopic,
        slotNames: stream.slotNames,
        // Secret: the engines' configuration holds the database password, the key the engine's Google credentials.
        engines: stream.engines,
        enginePassword: stream.enginePassword,
        // On Cloud Run the engine's account has no key; its services instead.
        ...(cloudRun ? { engineServices: stream.engineServices } : { engineKey: stream.engineKey }),
        ...(toGcs ? { gcsSubscription: stream.gcsSubscription } : {}),
        ...(cfg.getObject("bigQuery")
          ? { bigQueryTableId: stream.bigQueryTableId, bigQueryViewId: stream.bigQueryViewId, bigQuerySubscription: stream.bigQuerySubscription }
          : {}),
        ...(destinations?.includes("pubsub") ? { pubsubSubscription: stream.pubsubSubscription } : {}),
      };
    }
    return {
      bucketName: stream.bucketName,
      serviceAccountEmail: stream.serviceAccountEmail,
      roleName: stream.roleName,
      jobId: stream.jobId,
      sinkUriRedacted: stream.sinkUriRedacted,
      feedStatus: stream.feedStatus,
      health: stream.health,
      deployment: stream.identity.deployment,
      // Only what the stack has (an undefined stack output is a warning).
      ...(cfg.getObject("bigQuery") && toGcs
        ? { bigQueryTableId: stream.bigQueryTableId, bigQueryViewId: stream.bigQueryViewId, bigQueryCommand: stream.bigQueryCommand }
        : {}),
      ...(destinations?.includes("pubsub") || (cfg.getObject("pubsub") && destinations === undefined)
        ? { pubsubTopic: stream.pubsubTopic, pubsubSubscription: stream.pubsubSubscription, pubsubJobId: stream.pubsubJobId }
        : {}),
    };
  };
}
