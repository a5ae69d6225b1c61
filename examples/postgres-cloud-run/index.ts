// ZITADEL v3/v4 on PostgreSQL: a publication and a slot on ZITADEL's database, Debezium Server on
// Cloud Run reading the slot (one always-on instance, its own keyless service account that may only
// publish to the topic, the database password from Secret Manager), and the topic's subscriptions as
// destinations: the SIEM's (ordered per aggregate), NDJSON files in Cloud Storage, a BigQuery table.
//
//   pulumi config set --secret zitadel-audit-stream:postgresUrl postgresql://admin@10.0.0.5:5432/zitadel
//   pulumi config set region europe-west1
//   pulumi config set image europe-west1-docker.pkg.dev/<project>/quay/debezium/server:3.6.1.Final
//   pulumi config set passwordRotationTrigger 2026-12   # later: a new value rotates the engine's password
import * as pulumi from "@pulumi/pulumi";
import { AuditStream } from "zitadel-audit-stream";

const config = new pulumi.Config();

const stream = new AuditStream("zitadel-audit", {
  source: {
    postgres: {
      runtime: "cloudRun",
      cloudRun: { region: config.require("region"), image: config.require("image") },
      passwordRotationTrigger: config.get("passwordRotationTrigger"),
    },
  },
  query: { filter: { eventTypes: ["user.human.added", "user.human.password.changed", "org.added"] } },
  destinations: ["gcs", "pubsub"],
  bigQuery: { datasetId: "zitadel_audit" },
  bucket: { location: "EU", forceDestroy: config.getBoolean("forceDestroy") ?? false },
});

export const slots = stream.slotNames;
export const engineServices = stream.engineServices;
export const topic = stream.pubsubTopic;
export const siemSubscription = stream.pubsubSubscription;
export const bigQueryView = stream.bigQueryViewId;
export const health = stream.health;
