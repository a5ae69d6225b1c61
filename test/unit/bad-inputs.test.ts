// Bad inputs refused at preview, naming the setting the user wrote. Preview runs the program (so
// AuditStream's own checks) and each resource's `check` with not-yet-known values (the key of a new
// service account is unknown then): every row here must be refused in that state, not at `up`.
import { auditStreamProblems } from "../../provider/audit-stream";
import { UNKNOWN } from "../../provider/engine/check";
import { changefeedOperations } from "../../provider/cockroach/changefeed";
import { clusterSettingOperations } from "../../provider/cockroach/cluster-setting";
import { bucketOperations } from "../../provider/gcp/bucket";
import { bigQueryDatasetOperations } from "../../provider/gcp/bigquery-dataset";
import { bigQueryTableOperations } from "../../provider/gcp/bigquery-table";
import { bucketIamMemberOperations } from "../../provider/gcp/bucket-iam-member";
import { serviceAccountKeyOperations } from "../../provider/gcp/service-account-key";
import { serviceAccountOperations } from "../../provider/gcp/service-account";
import { customRoleOperations } from "../../provider/gcp/custom-role";
import { loadSqlParser } from "../../provider/cdc/query";
import type { Operations } from "../../provider/engine/contract";
import { named } from "../helpers/failures";

beforeAll(() => loadSqlParser());

/** An AuditStream argument list: refused with the argument named. */
const stream = (args: Record<string, unknown>) => async () => auditStreamProblems(args);

/** A resource's check as in preview: failures as "property: reason". */
const check = (ops: Operations, news: Record<string, unknown>) => async () => {
  const r = await ops.check(undefined, {}, { ...news, __provider: "text" });
  return named(r.failures).map((f) => `${f.property}: ${f.reason}`);
};
// The sink as AuditStream builds it in preview: the new key is not known yet.
const feed = (news: Record<string, unknown>) =>
  check(changefeedOperations, {
    owner: "p/s/feed",
    sink: { bucket: "audit-bucket", prefix: "events", partitionFormat: "flat", credentials: UNKNOWN },
    ...news,
  });
const sinkWith = (extra: Record<string, unknown>) => feed({ sink: { bucket: "audit-bucket", credentials: UNKNOWN, ...extra } });
const bucket = (news: Record<string, unknown>) => check(bucketOperations, { owner: "p/s/b", namePrefix: "audit", project: "zitadel-audit", ...news });
const account = (news: Record<string, unknown>) =>
  check(serviceAccountOperations, { owner: "p/s/sa", namePrefix: "writer", project: "zitadel-audit", ...news });
const role = (news: Record<string, unknown>) =>
  check(customRoleOperations, { owner: "p/s/r", roleIdPrefix: "writer", project: "zitadel-audit", permissions: ["storage.objects.create"], ...news });
const grant = (news: Record<string, unknown>) =>
  check(bucketIamMemberOperations, {
    bucket: "audit-bucket",
    role: "projects/zitadel-audit/roles/writer_abc123",
    member: "serviceAccount:writer-abc123@zitadel-audit.iam.gserviceaccount.com",
    ...news,
  });
const key = (news: Record<string, unknown>) =>
  check(serviceAccountKeyOperations, { serviceAccountEmail: "writer-abc123@zitadel-audit.iam.gserviceaccount.com", ...news });

type Row = [string, () => Promise<string[]>, RegExp];
const rows: Row[] = [
  // AuditStream arguments (the program, at preview)
  ["credentials with a capital", stream({ credentials: "Key" }), /^credentials: must be "key", "implicit" or \{ assumeRole/],
  ["credentials that is not a mode", stream({ credentials: "service-account" }), /^credentials: must be/],
  ["assumeRole empty", stream({ credentials: { assumeRole: [] } }), /^credentials\.assumeRole: must list at least one/],
  ["assumeRole not an email", stream({ credentials: { assumeRole: ["admin"] } }), /^credentials\.assumeRole\.0: must be a service account email/],
  [
    "assumeRole with an extra key",
    stream({ credentials: { assumeRole: ["a-delegate@p1-234.iam.gserviceaccount.com"], role: "x" } }),
    /^credentials: unknown key role/,
  ],
  [
    "keyRotationTrigger with implicit",
    stream({ credentials: "implicit", implicitMember: "serviceAccount:nodes@p1-234.iam.gserviceaccount.com", keyRotationTrigger: "2" }),
    /^keyRotationTrigger: only with credentials "key"/,
  ],
  [
    "keyRotationTrigger with assumeRole",
    stream({ credentials: { assumeRole: ["a-delegate@p1-234.iam.gserviceaccount.com"] }, keyRotationTrigger: "2" }),
    /^keyRotationTrigger: only with credentials "key"/,
  ],
  [
    "implicitMember with a key",
    stream({ implicitMember: "serviceAccount:nodes@p1-234.iam.gserviceaccount.com" }),
    /^implicitMember: only with credentials "implicit"/,
  ],
  ["implicit without a member", stream({ credentials: "implicit" }), /^implicitMember: credentials "implicit" needs/],
  ["implicit member allUsers", stream({ credentials: "implicit", implicitMember: "allUsers" }), /^implicitMember: must not be public/],
  [
    "implicit member allAuthenticatedUsers",
    stream({ credentials: "implicit", implicitMember: "allAuthenticatedUsers" }),
    /^implicitMember: must not be public/,
  ],
  [
    "implicit member without a kind",
    stream({ credentials: "implicit", implicitMember: "nodes@p1-234.iam.gserviceaccount.com" }),
    /^implicitMember: must be a principal/,
  ],
  ["existingBucket and bucket settings", stream({ existingBucket: "audit", bucket: { versioning: true } }), /^existingBucket: give either/],
  ["existingBucket that is no bucket name", stream({ existingBucket: "Audit Logs" }), /^existingBucket: not a bucket name/],
  ["prefix with a query", stream({ prefix: "events?AUTH=implicit" }), /^prefix: /],
  ["prefix with a space", stream({ prefix: "audit events" }), /^prefix: /],
  ["partitionFormat weekly", stream({ partitionFormat: "weekly" }), /^partitionFormat: must be "flat", "daily" or "hourly"/],
  ["manageRangefeedSetting as a string", stream({ manageRangefeedSetting: "no" }), /^manageRangefeedSetting: must be true or false/],
  ["timeoutSeconds too small", stream({ timeoutSeconds: 1 }), /^timeoutSeconds: must be a whole number/],
  [
    "initial_scan only (the stream would end)",
    stream({ changefeedOptions: { initial_scan: "only" } }),
    /^changefeedOptions\.initial_scan: "only" ends the feed/,
  ],
  ["end_time (the stream would end)", stream({ changefeedOptions: { end_time: "2030-01-01T00:00:00Z" } }), /^changefeedOptions\.end_time: ends the feed/],
  ["metrics_label (the provider's marker)", stream({ changefeedOptions: { metrics_label: "mine" } }), /^changefeedOptions\.metrics_label: set by the provider/],
  ["bucket location mars", stream({ bucket: { location: "mars" } }), /^bucket\.location: "mars" is not a Cloud Storage location/],
  ["an argument that does not exist", stream({ payloadEventType: "user.human.added" }), /^payloadEventType: not an AuditStream argument/],
  ["pubsub without a region", stream({ destinations: ["pubsub"], pubsub: {} }), /^pubsub\.region: must be a Google Cloud region/],
  [
    "dead-lettering without a subscription",
    stream({ destinations: ["pubsub"], pubsub: { region: "us-east1", subscriptionName: null, maxDeliveryAttempts: 5 } }),
    /^pubsub\.maxDeliveryAttempts: there is no subscription to dead-letter from/,
  ],
  [
    "maxDeliveryAttempts below Pub/Sub's 5",
    stream({ destinations: ["pubsub"], pubsub: { region: "us-east1", maxDeliveryAttempts: 3 } }),
    /^pubsub\.maxDeliveryAttempts: a whole number from 5 to 100/,
  ],
  ["bigQuery dataset id with a dash", stream({ bigQuery: { datasetId: "zitadel-audit" } }), /^bigQuery\.datasetId: must be letters, digits and underscores/],
  // The PostgreSQL source
  ["source that is neither", stream({ source: "mysql" }), /^source: must be "cockroach" or \{ postgres: \{ … \} \}/],
  ["sourceSwitch naming no source", stream({ sourceSwitch: { from: "mysql" } }), /^sourceSwitch: must be \{ from: "cockroach" \} or \{ from: "postgres" \}/],
  ["sourceSwitch as a bare string", stream({ sourceSwitch: "cockroach" }), /^sourceSwitch: must be/],
  [
    "a PostgreSQL option that does not exist",
    stream({ source: { postgres: { slotName: "x" } } }),
    /^source\.postgres\.slotName: not a PostgreSQL source option/,
  ],
  [
    "runtime cloudRun without its region and image",
    stream({ source: { postgres: { runtime: "cloudRun" } } }),
    /^source\.postgres\.cloudRun: runtime "cloudRun" needs/,
  ],
  ["an unknown runtime", stream({ source: { postgres: { runtime: "vm" } } }), /^source\.postgres\.runtime: must be "external" or "cloudRun"/],
  [
    "CockroachDB's connectionString with the PostgreSQL source",
    stream({ source: { postgres: {} }, connectionString: "postgresql://x" }),
    /^connectionString: CockroachDB's only; the PostgreSQL source takes source\.postgres\.connectionString/,
  ],
  [
    "changefeedOptions with the PostgreSQL source",
    stream({ source: { postgres: {} }, changefeedOptions: { resolved: "10s" } }),
    /^changefeedOptions: CockroachDB's only/,
  ],
  [
    "a raw query with the PostgreSQL source",
    stream({ source: { postgres: {} }, query: { query: "SELECT * FROM eventstore.events2" } }),
    /^query: .*row filter and column list/,
  ],
  [
    "assumeRole with the PostgreSQL source",
    stream({ source: { postgres: {} }, credentials: { assumeRole: ["a@p1-234.iam.gserviceaccount.com"] } }),
    /^credentials: with the PostgreSQL source/,
  ],
  ["pubsub.region with the PostgreSQL source", stream({ source: { postgres: {} }, pubsub: { region: "us-east1" } }), /^pubsub\.region: CockroachDB's only/],
  [
    "a BigLake connection with the PostgreSQL source",
    stream({ source: { postgres: {} }, bigQuery: { connection: { id: "p.us.c", serviceAccount: "a@b.iam.gserviceaccount.com" } } }),
    /^bigQuery\.connection: for the external table/,
  ],
  ["bigQuery view named as the table", stream({ bigQuery: { viewName: "events" } }), /^bigQuery\.viewName: must differ from tableName/],
  [
    "bigQuery reader without a kind",
    stream({ bigQuery: { readers: ["auditors@example.com"] } }),
    /^bigQuery\.readers\.0: must be "user:…", "serviceAccount:…" or "group:…"/,
  ],
  ["bigQuery unknown option", stream({ bigQuery: { dataset: "x" } }), /^bigQuery\.dataset: not a bigQuery option/],
  [
    "bigQuery with format parquet",
    stream({ bigQuery: {}, changefeedOptions: { format: "parquet" } }),
    /^changefeedOptions\.format: the BigQuery table reads NDJSON/,
  ],
  [
    "bigQuery with the wrapped envelope",
    stream({ bigQuery: {}, changefeedOptions: { envelope: "wrapped" } }),
    /^changefeedOptions\.envelope: with bigQuery the envelope must be "bare"/,
  ],
  [
    "bigQuery connection id in the wrong form",
    stream({ bigQuery: { connection: { id: "my-connection", serviceAccount: "bqcx-1-abcd@gcp-sa-bigquery-condel.iam.gserviceaccount.com" } } }),
    /^bigQuery\.connection\.id: must be "project\.location\.connection"/,
  ],
  [
    "bigQuery with zstd",
    stream({ bigQuery: {}, changefeedOptions: { compression: "zstd" } }),
    /^changefeedOptions\.compression: BigQuery reads gzip, not zstd/,
  ],
  // Changefeed check in preview (the key unknown): the rest of the sink is still checked
  ["sink prefix with a query, key unknown", sinkWith({ prefix: "x?AUTH=implicit" }), /^sink\.prefix: /],
  ["sink partition format, key unknown", sinkWith({ partitionFormat: "weekly" }), /^sink\.partitionFormat: must be "flat"/],
  ["sink file size, key unknown", sinkWith({ fileSize: "lots" }), /^sink\.fileSize: must be a size/],
  ["sink bucket in capitals, key unknown", sinkWith({ bucket: "Audit" }), /^sink\.bucket: /],
  ["unknown sink field, key unknown", sinkWith({ region: "eu" }), /^sink\.region: unknown option/],
  [
    "Pub/Sub sink without a region (and not unordered)",
    feed({ sink: { project: "zitadel-audit", topic: "zitadel-events", credentials: UNKNOWN } }),
    /^sink\.region: a Pub\/Sub sink needs a region/,
  ],
  [
    "Pub/Sub sink with compression",
    feed({ sink: { project: "zitadel-audit", topic: "zitadel-events", region: "us-east1", credentials: UNKNOWN }, options: { compression: "gzip" } }),
    /^options\.compression: compression applies to cloud storage files/,
  ],
  [
    "Pub/Sub sink with a bucket field",
    feed({ sink: { project: "zitadel-audit", topic: "zitadel-events", region: "us-east1", prefix: "x", credentials: UNKNOWN } }),
    /^sink\.prefix: unknown option/,
  ],
  [
    "pubsub_sink_config into a bucket",
    feed({ options: { pubsub_sink_config: { Flush: { Messages: 10 } } } }),
    /^options\.pubsub_sink_config: applies to a Pub\/Sub sink only/,
  ],
  ["connection string that is not postgres", feed({ connectionString: "mysql://root:hunter2@db:3306" }), /^connectionString: must be a postgresql:\/\/ URL$/],
  ["unknown changefeed option", feed({ options: { retention: "1d" } }), /^options\.retention: unknown option/],
  ["format avro into cloud storage", feed({ options: { format: "avro" } }), /^options\.format: /],
  ["metrics_label on a Changefeed", feed({ options: { metrics_label: "mine" } }), /^options\.metrics_label: is set by the provider/],
  ["timeoutSeconds over an hour", feed({ timeoutSeconds: 7200 }), /^timeoutSeconds: at most an hour/],
  [
    "raw query over pg_catalog",
    feed({ query: { query: "SELECT rolname, rolpassword FROM pg_catalog.pg_authid" } }),
    /^query\.query: .*system catalogs are not streamed/,
  ],
  ["raw query with a volatile function", feed({ query: { query: "SELECT instance_id, now() FROM eventstore.events2" } }), /^query\.query: .*function now\(\)/],
  ["unknown column", feed({ query: { columns: ["instance_id", "password"] } }), /^query\.columns\.1: unknown column/],
  // Inputs that silently stop, shorten or widen a stream (issue #21)
  [
    "raw query on another catalog's users table",
    feed({ query: { query: 'SELECT username, "hashedPassword" FROM system.public.users' } }),
    /^query\.query: .*reads system\.public\.users: system catalogs are not streamed/,
  ],
  [
    "builder table other than events2 (its columns are events2's)",
    feed({ query: { table: "public.audit_copy" } }),
    /^query\.table: must be ZITADEL's eventstore\.events2/,
  ],
  [
    "raw query text over a sane size",
    feed({
      query: {
        query: `SELECT instance_id FROM eventstore.events2 WHERE event_type IN (${Array.from({ length: 1500 }, (_, i) => `'user.type.${i}'`).join(", ")})`,
      },
    }),
    /^query\.query: is longer than 20000 characters/,
  ],
  ["Changefeed initial_scan only", feed({ options: { initial_scan: "only" } }), /^options\.initial_scan: "only" ends the job after the scan/],
  ["Changefeed end_time", feed({ options: { end_time: "2030-01-01T00:00:00Z" } }), /^options\.end_time: ends the job at that time/],
  [
    "schema_change_policy stop (silent at the next migration)",
    feed({ options: { schema_change_policy: "stop" } }),
    /^options\.schema_change_policy: "stop" stops the feed at the next schema change/,
  ],
  [
    "cursor on a day that does not exist",
    feed({ options: { cursor: "2025-02-30T00:00:00Z" } }),
    /^options\.cursor: 2025-02-30T00:00:00Z is not a date \(no such day\)/,
  ],
  ["cursor in the future", feed({ options: { cursor: "2999-01-01T00:00:00Z" } }), /^options\.cursor: .* is in the future/],
  ["cursor before CockroachDB existed", feed({ options: { cursor: "1000000000000000000.0000000000" } }), /^options\.cursor: .* is before CockroachDB existed/],
  [
    "gc_protect_expires_after shorter than a handoff",
    feed({ options: { gc_protect_expires_after: "2m" }, timeoutSeconds: 120 }),
    /^options\.gc_protect_expires_after: 2m is shorter than a handoff may keep the old job paused \(360 s/,
  ],
  [
    "maxLagSeconds below the checkpoint interval",
    feed({ options: { min_checkpoint_frequency: "2m" }, maxLagSeconds: 60 }),
    /^maxLagSeconds: 60 s is less than the checkpoint interval \(min_checkpoint_frequency 120 s\)/,
  ],
  ["takeOver that names no deployment", feed({ takeOver: "the-old-one" }), /^takeOver: must be the deployment an error named/],
  ["stream takeOver that names no deployment", stream({ takeOver: "everything" }), /^takeOver: must be the deployment an error named/],
  [
    "stream columns without the primary key (duplicates could not be told apart)",
    stream({ query: { columns: ["instance_id", "event_type", "created_at"] } }),
    /^query\.columns: leaves out aggregate_type, aggregate_id, sequence of events2's primary key/,
  ],
  ["account takeOver that names no deployment", account({ takeOver: "yes" }), /^takeOver: must be the deployment an error named/],
  // GCP resources
  [
    "dataset reader that is public",
    check(bigQueryDatasetOperations, { datasetId: "audit", project: "zitadel-audit", readers: ["allUsers"] }),
    /^readers\.0: must be "user:…", "serviceAccount:…" or "group:…"/,
  ],
  [
    "table source URI with two wildcards",
    check(bigQueryTableOperations, {
      datasetId: "audit",
      tableId: "events",
      project: "zitadel-audit",
      schema: [{ name: "a", type: "STRING" }],
      sourceUris: ["gs://audit-bucket/*/x/*.ndjson"],
    }),
    /^sourceUris\.0: must be "gs:\/\/<bucket>\/<path>" with at most one "\*"/,
  ],
  [
    "table column of an unknown type",
    check(bigQueryTableOperations, {
      datasetId: "audit",
      tableId: "events",
      project: "zitadel-audit",
      schema: [{ name: "a", type: "VARCHAR" }],
      sourceUris: ["gs://audit-bucket/e/*.ndjson"],
    }),
    /^schema\.0\.type: must be STRING, INT64/,
  ],
  ["bucket location mars", bucket({ location: "mars" }), /^location: is not a Cloud Storage location/],
  ["bucket name with capitals", bucket({ name: "Audit-Logs" }), /^name: /],
  ["negative retention", bucket({ retentionPeriodSeconds: -1 }), /^retentionPeriodSeconds: /],
  ["account id too short", account({ accountId: "abc" }), /^accountId: /],
  ["role id with a hyphen", role({ roleId: "audit-writer" }), /^roleId: /],
  ["role without permissions", role({ permissions: [] }), /^permissions: /],
  ["grant to allUsers (public write: forged audit records)", grant({ member: "allUsers" }), /^member: must not be public/],
  ["grant to allAuthenticatedUsers", grant({ member: "allAuthenticatedUsers" }), /^member: must not be public/],
  ["RSA-1024 key", key({ keyAlgorithm: "KEY_ALG_RSA_1024" }), /^keyAlgorithm: must be "KEY_ALG_RSA_2048"/],
  [
    "key for something that is not a service account",
    key({ serviceAccountEmail: "alice@example.com" }),
    /^serviceAccountEmail: must be a service account email/,
  ],
  ["cluster setting that is not a setting name", check(clusterSettingOperations, { name: "rangefeeds on" }), /^name: must be a cluster setting name/],
];

test("the table is the size the issue asks for", () => {
  expect(rows.length).toBeGreaterThanOrEqual(40);
});

test.each(rows)("refused at preview: %s", async (_name, run, expected) => {
  const problems = await run();
  expect(problems.some((p) => expected.test(p))).toBe(true);
  // Secrets in the inputs never come back in a message.
  expect(problems.join("\n")).not.toContain("hunter2");
});

test("as the CLI gets them: no nested property (it would print `value {<nil>}`), and no secret-bearing input named as a property (it would print its value)", async () => {
  const raw = async (news: Record<string, unknown>) =>
    (
      await changefeedOperations.check(
        undefined,
        {},
        { owner: "p/s/feed", sink: { bucket: "audit-bucket", credentials: UNKNOWN }, ...news, __provider: "text" },
      )
    ).failures as { property: string; reason: string }[];
  const cases = [
    await raw({ connectionString: "mysql://root:hunter2@db:3306" }),
    await raw({ sink: { bucket: "audit-bucket", credentials: UNKNOWN, prefix: "x?y" } }),
    await raw({ timeoutSeconds: 1 }),
    (
      await bucketOperations.check(
        undefined,
        {},
        { owner: "p/s/b", namePrefix: "audit", project: "zitadel-audit", location: "mars", lifecycleRules: [{ action: { type: "Delete" } }], __provider: "t" },
      )
    ).failures ?? [],
  ];
  for (const failures of cases) {
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      expect(f.property).not.toContain(".");
      expect(["connectionString", "sink"]).not.toContain(f.property);
      if (!f.property) expect(f.reason).toMatch(/^[a-zA-Z]+(\.[a-zA-Z0-9_]+)*: /);
    }
  }
  expect(cases[2]).toEqual([{ property: "timeoutSeconds", reason: expect.stringMatching(/at least 5 seconds/) }]);
  expect(cases[0]).toEqual([{ property: "", reason: "connectionString: must be a postgresql:// URL" }]);
});

describe("payloads that carry secrets: a warning, not a refusal (a user may mean it)", () => {
  const { payloadWarning, secretBearing } = require("../../provider/cdc/secret-events") as typeof import("../../provider/cdc/secret-events");
  test.each([
    ["user.human.added", true],
    ["user.human.password.changed", true],
    ["user.machine.secret.set", true],
    ["user.human.mfa.otp.added", true],
    ["user.human.password.code.added", true],
    ["project.application.oidc.secret.changed", true],
    ["instance.smtp.config.password.changed", true],
    ["instance.domain.added", false],
    ["user.human.profile.changed", false],
    ["org.added", false],
  ])("%s carries a secret: %s", (type, expected) => {
    expect(secretBearing(type)).toBe(expected);
  });
  test("payload all, and an allow-list naming secret-bearing types, each warn naming them; a harmless list does not", () => {
    expect(payloadWarning({ payload: "all" })).toMatch(/^query\.payload "all" streams every event's payload, including password hashes/);
    expect(payloadWarning({ payload: { eventTypes: ["instance.domain.added", "user.machine.secret.set"] } })).toMatch(
      /^query\.payload\.eventTypes names user\.machine\.secret\.set, whose payloads carry credentials/,
    );
    expect(payloadWarning({ payload: { eventTypes: ["instance.domain.added"] } })).toBeUndefined();
    expect(payloadWarning(undefined)).toBeUndefined();
  });
});
