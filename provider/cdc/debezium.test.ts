import { DEFAULT_DEBEZIUM_IMAGE, DebeziumPlan, containerSpec, debeziumEnvironment, debeziumProperties, filterCondition, propertiesText } from "./debezium";
import { GUIDE_COLUMNS } from "./events2";

const plan: DebeziumPlan = {
  database: { host: "10.0.0.5", port: 5432, dbname: "zitadel", user: "audit_login_1a2b3c", password: "s3cret=with#chars" },
  slot: "audit_slot_0123456789ab",
  publication: "audit_pub_abc123",
  columns: GUIDE_COLUMNS,
  payload: false,
  pubsub: { project: "p-123", topic: "zitadel-audit" },
  offsetsFile: "/var/lib/debezium/offsets.dat",
  httpPort: 8080,
};

test("this slot and publication, none created by the engine, no snapshot, position as a string, one ordering key per aggregate, the stream's topic", () => {
  const p = debeziumProperties(plan);
  expect(p).toMatchObject({
    "debezium.source.slot.name": plan.slot,
    "debezium.source.publication.name": plan.publication,
    "debezium.source.publication.autocreate.mode": "disabled",
    "debezium.source.plugin.name": "pgoutput",
    "debezium.source.snapshot.mode": "no_data",
    "debezium.source.decimal.handling.mode": "string",
    "debezium.transforms": "unwrap,aggkey,route",
    "debezium.transforms.aggkey.fields": "instance_id,aggregate_type,aggregate_id",
    "debezium.transforms.route.replacement": "zitadel-audit",
    "debezium.sink.pubsub.ordering.enabled": "true",
    "debezium.sink.pubsub.project.id": "p-123",
    "debezium.source.column.exclude.list": "eventstore.events2.payload",
    "quarkus.http.host": "127.0.0.1",
  });
  expect(p).not.toHaveProperty("debezium.sink.pubsub.address");
  expect(p).not.toHaveProperty("debezium.sink.pubsub.ordering.key"); // one key for every message: never
});

test("the allow-listed part keeps payload; an emulator address and sslmode pass through", () => {
  const p = debeziumProperties({
    ...plan,
    payload: true,
    pubsub: { ...plan.pubsub, address: "127.0.0.1:8085" },
    database: { ...plan.database, sslmode: "verify-full" },
  });
  expect(p).not.toHaveProperty("debezium.source.column.exclude.list");
  expect(p["debezium.sink.pubsub.address"]).toBe("127.0.0.1:8085");
  expect(p["debezium.source.database.sslmode"]).toBe("verify-full");
});

test("a column list without the ordering key's columns is refused, naming them", () => {
  expect(() => debeziumProperties({ ...plan, columns: ["aggregate_id", "event_type", "sequence"] })).toThrow(
    /needs instance_id, aggregate_type in the publication's columns/,
  );
  expect(() => debeziumProperties({ ...plan, tuning: { maxBatchSize: 100, maxQueueSize: 100 } })).toThrow(/maxQueueSize must be larger/);
});

test("every property maps to an environment variable Debezium Server maps back ('_' to '.', lower case)", () => {
  const props = debeziumProperties(plan);
  const env = debeziumEnvironment(props);
  expect(env.DEBEZIUM_SOURCE_SLOT_NAME).toBe(plan.slot);
  expect(env.QUARKUS_HTTP_PORT).toBe("8080");
  const back = Object.fromEntries(Object.entries(env).map(([k, v]) => [k.toLowerCase().replace(/_/g, "."), v]));
  expect(back).toEqual(props);
  expect(() => debeziumEnvironment({ "debezium.source.snake_case": "x" })).toThrow(/cannot be an environment variable/);
});

test("the properties text escapes what java.util.Properties would read otherwise", () => {
  expect(propertiesText({ a: "x\\y", b: " lead", c: "line\nbreak", d: "k=v#not-a-comment" })).toBe(
    "a=x\\\\y\nb=\\ lead\nc=line\\nbreak\nd=k=v#not-a-comment\n",
  );
});

test("the container spec: every property from the environment, the password from the user's secret only, health as probes", () => {
  const props = debeziumProperties(plan);
  const spec = containerSpec(props, { passwordSecret: { name: "zitadel-cdc", key: "password" } }) as any;
  expect(spec.image).toBe(DEFAULT_DEBEZIUM_IMAGE);
  expect(JSON.stringify(spec)).not.toContain(plan.database.password);
  expect(spec.env).toContainEqual({ name: "DEBEZIUM_SOURCE_DATABASE_PASSWORD", valueFrom: { secretKeyRef: { name: "zitadel-cdc", key: "password" } } });
  expect(spec.env).toContainEqual({ name: "DEBEZIUM_SOURCE_SLOT_NAME", value: plan.slot });
  expect(spec.env).toContainEqual({ name: "QUARKUS_HTTP_HOST", value: "0.0.0.0" });
  expect(spec.env).toHaveLength(Object.keys(props).length);
  expect(spec.livenessProbe).toEqual({ httpGet: { path: "/q/health/live", port: 8080 }, periodSeconds: 10, failureThreshold: 3 });
  expect(spec.volumeMounts).toBeUndefined();
  // With the engine's Google key: mounted from the named volume, and ADC pointed at it.
  const keyed = containerSpec(props, { passwordSecret: { name: "zitadel-cdc", key: "password" }, googleKeyVolume: "zitadel-cdc-key" }) as any;
  expect(keyed.volumeMounts).toEqual([{ name: "zitadel-cdc-key", mountPath: "/var/secrets/google", readOnly: true }]);
  expect(keyed.env).toContainEqual({ name: "GOOGLE_APPLICATION_CREDENTIALS", value: "/var/secrets/google/key.json" });
  expect(keyed.env).toHaveLength(Object.keys(props).length + 1);
});

test("PostgreSQL 14, selected in the engine: a Groovy Filter after unwrap, only the plan's columns, and the scripting jars asked for", () => {
  const engineFilter = {
    eventTypes: ["user.human.added", "it's"],
    notEventTypes: ["org.added"],
    instanceIds: ["i1"],
    columns: ["instance_id", "aggregate_type", "aggregate_id", "event_type", "sequence"],
  };
  const p = debeziumProperties({ ...plan, columns: engineFilter.columns, engineFilter });
  expect(p["debezium.transforms"]).toBe("unwrap,filter,aggkey,route");
  expect(p["debezium.transforms.filter.type"]).toBe("io.debezium.transforms.Filter");
  expect(p["debezium.transforms.filter.language"]).toBe("jsr223.groovy");
  expect(p["debezium.transforms.filter.condition"]).toBe(
    "value != null && ['i1'].contains(value.getString('instance_id')) && ['user.human.added', 'it\\'s'].contains(value.getString('event_type')) && !['org.added'].contains(value.getString('event_type'))",
  );
  expect(p["debezium.source.column.include.list"]).toBe(engineFilter.columns.map((c) => `eventstore.events2.${c}`).join(","));
  expect(p["debezium.source.column.exclude.list"]).toBeUndefined();
  expect(debeziumEnvironment(p).ENABLE_DEBEZIUM_SCRIPTING).toBe("true");
  // Nothing to select by value: no Filter (and no scripting), the columns still chosen in the engine.
  const all = debeziumProperties({ ...plan, columns: engineFilter.columns, engineFilter: { columns: engineFilter.columns } });
  expect([all["debezium.transforms"], all["debezium.transforms.filter.type"], debeziumEnvironment(all).ENABLE_DEBEZIUM_SCRIPTING]).toEqual([
    "unwrap,aggkey,route",
    undefined,
    undefined,
  ]);
  expect(filterCondition({ columns: [] })).toBeUndefined();
  // Database-filtered (15+): no scripting.
  expect(debeziumEnvironment(debeziumProperties(plan)).ENABLE_DEBEZIUM_SCRIPTING).toBeUndefined();
});
