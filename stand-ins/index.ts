// The stand-ins' public entry: what the demo, the bench, the tools and the product's tests use.
// The stand-ins stand in for Google Cloud (a REST emulator with IAM enforced, real RSA keys and OAuth
// tokens) and CockroachDB (a twin speaking its wire protocol, SQL and changefeeds); they never import
// the product (test/unit/imports.test.ts). See README.md.
export { GcpEmulator, CallRecord, EmulatorOptions, Fault, Knobs } from "./gcp/emulator";
export { bqemulatorInstalled } from "./gcp/bigquery-engine";
export { pubsubServiceAgentOf } from "./gcp/resourcemanager";
export { RunningTwin, startCockroachTwin } from "./cockroach/spawn";
export type { TwinOptions } from "./cockroach/twin";
export { RunningStandIns, startStandIns } from "./start";
export { ZitadelEvent, makeEvents, insertEvents, insertContinuously, eventKey, insertedKey } from "./zitadel-events";
export { freePort } from "./net";
export type { LocalImage, Instance } from "./gcp/cloudrun";
