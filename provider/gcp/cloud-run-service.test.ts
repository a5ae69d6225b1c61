import { cloudRunServiceInputs, serviceBody } from "./cloud-run-service";

const base = {
  project: "my-project",
  location: "europe-west1",
  name: "zas-engine",
  image: "europe-west1-docker.pkg.dev/p/quay/debezium/server:3.6.1.Final",
  serviceAccount: "engine-1@my-project.iam.gserviceaccount.com",
};
const body = (extra: Record<string, unknown> = {}) => serviceBody({ ...(cloudRunServiceInputs.parse({ ...base, ...extra }) as any), owner: "p/s/n" }) as any;

test("one always-on instance with CPU always allocated, internal ingress, the owner's label", () => {
  const b = body();
  expect(b.scaling).toEqual({ scalingMode: "MANUAL", manualInstanceCount: 1 });
  expect(b.ingress).toBe("INGRESS_TRAFFIC_INTERNAL_ONLY");
  expect(b.template.containers[0].resources).toEqual({ limits: { cpu: "1", memory: "1Gi" }, cpuIdle: false });
  expect(b.template.containers[0].ports).toEqual([{ containerPort: 8080 }]);
  expect(b.template.serviceAccount).toBe(base.serviceAccount);
  expect(Object.keys(b.labels)).toContain("zitadel-audit-stream");
  expect(b.template.vpcAccess).toBeUndefined();
  expect(b.template.containers[0].startupProbe).toBeUndefined();
});

test("env, secret env pinned to a version, probes on the container's port, Direct VPC egress", () => {
  const b = body({
    env: { A: "1" },
    secretEnv: { PASSWORD: { secret: "projects/1/secrets/pw", version: "3" } },
    port: 9090,
    livenessProbe: { path: "/q/health/live", periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 30 },
    vpc: { network: "default", subnetwork: "run" },
  });
  expect(b.template.containers[0].env).toEqual([
    { name: "A", value: "1" },
    { name: "PASSWORD", valueSource: { secretKeyRef: { secret: "projects/1/secrets/pw", version: "3" } } },
  ]);
  // The timeout must be shorter than the period (docs/cloud-run-runtime.md §2.2): held to it.
  expect(b.template.containers[0].livenessProbe).toEqual({
    httpGet: { path: "/q/health/live", port: 9090 },
    periodSeconds: 10,
    failureThreshold: 3,
    timeoutSeconds: 10,
  });
  expect(b.template.vpcAccess).toEqual({ networkInterfaces: [{ network: "default", subnetwork: "run" }], egress: "PRIVATE_RANGES_ONLY" });
});

test.each([
  ["a service id with capitals", { name: "Zas" }, /lowercase/],
  ["a name both in env and secretEnv", { env: { P: "x" }, secretEnv: { P: { secret: "s", version: "1" } } }, /both in env and in secretEnv/],
  ["a secret version that is not a number or latest", { secretEnv: { P: { secret: "s", version: "v1" } } }, /version/],
  ["an egress Cloud Run does not have", { vpc: { network: "n", egress: "ALL" } }, /egress/],
])("refused: %s", (_, extra, reason) => {
  const r = cloudRunServiceInputs.safeParse({ ...base, ...extra });
  expect(r.success).toBe(false);
  expect(JSON.stringify(r.error?.issues)).toMatch(reason);
});
