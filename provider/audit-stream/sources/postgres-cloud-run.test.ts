import { cloudRunEnvironment, cloudRunProblems, serviceId } from "./postgres-cloud-run";
import { PASSWORD_ENV } from "../../cdc/debezium";

test.each([
  ["zitadel-audit", "-engine", "zitadel-audit-engine"],
  ["Zitadel_Audit.Prod", "-engine-payload", "zitadel-audit-prod-engine-payload"],
  ["42-stream", "-engine", "stream-engine"],
  ["a".repeat(60), "-engine", `${"a".repeat(42)}-engine`],
  ["abc-".repeat(15), "-engine", "abc-abc-abc-abc-abc-abc-abc-abc-abc-abc-ab-engine"],
  ["abc-".repeat(15).slice(0, 40) + "--x", "-engine", "abc-abc-abc-abc-abc-abc-abc-abc-abc-abc-x-engine"],
])("serviceId(%j, %j) = %j", (stream, suffix, expected) => {
  const id = serviceId(stream, suffix);
  expect(id).toBe(expected);
  expect(id).toMatch(/^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/);
});

test("the Cloud Run environment listens on 0.0.0.0 at $PORT and carries no password", () => {
  const env = cloudRunEnvironment({
    "debezium.source.database.password": "hunter2",
    "debezium.source.slot.name": "s1",
    "quarkus.http.host": "127.0.0.1",
    "quarkus.http.port": "8080",
  });
  expect(env).toEqual({ DEBEZIUM_SOURCE_SLOT_NAME: "s1", QUARKUS_HTTP_HOST: "0.0.0.0", QUARKUS_HTTP_PORT: "${PORT:8080}" });
  expect(PASSWORD_ENV in env).toBe(false);
});

const image = "europe-west1-docker.pkg.dev/p/quay/debezium/server:3.6.1.Final";
test.each([
  ["external, no cloudRun", { runtime: "external" }, {}, []],
  ["cloudRun complete", { runtime: "cloudRun", cloudRun: { region: "europe-west1", image } }, {}, []],
  ["cloudRun without settings", { runtime: "cloudRun" }, {}, [/needs \{ region: "europe-west1", image:/]],
  ["cloudRun settings without the runtime", { cloudRun: { region: "europe-west1", image } }, {}, [/only with runtime "cloudRun"/]],
  [
    "quay.io directly",
    { runtime: "cloudRun", cloudRun: { region: "europe-west1", image: "quay.io/debezium/server:3.6.1.Final" } },
    {},
    [/cannot pull .* Artifact Registry remote repository/],
  ],
  ["a bad region, cpu and memory", { runtime: "cloudRun", cloudRun: { region: "Europe", image, cpu: "3", memory: "1G" } }, {}, [/region/, /cpu/, /memory/]],
  ["an unknown key", { runtime: "cloudRun", cloudRun: { region: "europe-west1", image, connector: "c" } }, {}, [/cloudRun\.connector: not a Cloud Run option/]],
  [
    "a VPC",
    { runtime: "cloudRun", cloudRun: { region: "europe-west1", image, vpc: { network: "default", subnetwork: "run", egress: "ALL_TRAFFIC" } } },
    {},
    [],
  ],
  [
    "a VPC without its network, and a bad egress",
    { runtime: "cloudRun", cloudRun: { region: "europe-west1", image, vpc: { subnetwork: "x" } } },
    {},
    [/vpc: \{ network:/],
  ],
  ["a bad egress", { runtime: "cloudRun", cloudRun: { region: "europe-west1", image, vpc: { network: "n", egress: "ALL" } } }, {}, [/vpc\.egress/]],
  ["credentials with Cloud Run", { runtime: "cloudRun", cloudRun: { region: "europe-west1", image } }, { credentials: "key" }, [/^credentials: .* no key/]],
])("cloudRunProblems: %s", (_, pg, args, expected) => {
  const problems = cloudRunProblems(pg, args);
  expect(problems).toHaveLength(expected.length);
  expected.forEach((re, i) => expect(problems[i]).toMatch(re));
});
