// The PostgreSQL source's engine on Cloud Run (runtime "cloudRun"; why Cloud Run and not a VM:
// docs/engine-runtime.md §4): the role's password in a Secret Manager secret only the engine's account
// may read, and per slot a Cloud Run service running Debezium Server with exactly the rendered
// configuration as environment variables (cdc/debezium.ts debeziumEnvironment), the password from the
// secret at a pinned version (a rotation rolls out a new revision), one always-on instance, HTTP
// probes on Debezium's /q/health/live (a closed port, Debezium's hang, restarts it:
// docs/debezium-server.md §6), and the engine's account, keyless, as the runtime identity. It listens on
// the PORT Cloud Run injects: the port property is the expression ${PORT:8080}, which Debezium expands
// (docs/debezium-server.md §2). The services are made once every subscription exists: what is
// published before a subscription exists never reaches it.
import * as pulumi from "@pulumi/pulumi";
import { CloudRunService } from "../../gcp/cloud-run-service";
import { SecretManagerSecret } from "../../gcp/secret-manager-secret";
import { PASSWORD_ENV, debeziumEnvironment } from "../../cdc/debezium";
import type { AuditStreamPostgresArgs, StreamContext } from "../args";
import type { PostgresSource } from "./postgres";

export interface CloudRunEngines {
  secret: SecretManagerSecret;
  services: CloudRunService[];
}

/** A Cloud Run service id from the stream's name: lowercase letters, digits, '-', a letter first, at most 49. */
export function serviceId(stream: string, suffix: string): string {
  const base = stream
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^[^a-z]+/, "");
  return `${(base || "zas").slice(0, 49 - suffix.length).replace(/-+$/, "")}${suffix}`;
}

/** The container's environment for Cloud Run: the rendered properties, listening on 0.0.0.0:$PORT, without the password. */
export function cloudRunEnvironment(props: Record<string, string>): Record<string, string> {
  const env = debeziumEnvironment({ ...props, "quarkus.http.host": "0.0.0.0", "quarkus.http.port": "${PORT:8080}" });
  delete env[PASSWORD_ENV];
  return env;
}

export function cloudRunEngines(ctx: StreamContext, pg: AuditStreamPostgresArgs, source: PostgresSource, after: pulumi.Resource[]): CloudRunEngines {
  const { name, args, owned, parent } = ctx;
  const run = pg.cloudRun!;
  const secret = new SecretManagerSecret(
    `${name}-engine-password`,
    { secretId: serviceId(name, "-engine-password"), data: source.role.password, accessors: [source.engineMember], project: args.project, ...owned },
    parent,
  );
  const services = source.parts.map((p, i) => {
    const suffix = p.part === "events" ? "-engine" : "-engine-payload";
    // The part's properties without the password: the only secret among them comes from Secret Manager.
    const env = pulumi.unsecret(source.properties.apply((all) => cloudRunEnvironment(all[i].props)));
    return new CloudRunService(
      `${name}${suffix}`,
      {
        project: args.project,
        location: run.region,
        name: serviceId(name, suffix),
        image: run.image,
        serviceAccount: source.engineAccountEmail as pulumi.Output<string>,
        env,
        secretEnv: { [PASSWORD_ENV]: { secret: secret.name, version: secret.version } },
        port: 8080,
        cpu: run.cpu ?? "1",
        memory: run.memory ?? "1Gi",
        ...(run.vpc ? { vpc: run.vpc } : {}),
        // Debezium starts in about 5 s here (docs/debezium-server.md §6); a cold start and a slow network get 2 minutes.
        startupProbe: { path: "/q/health/live", periodSeconds: 2, failureThreshold: 60 },
        livenessProbe: { path: "/q/health/live", periodSeconds: 10, failureThreshold: 3 },
        instances: 1,
        ...owned,
      },
      { ...parent, dependsOn: [secret, ...after] },
    );
  });
  return { secret, services };
}

/** Problems in the Cloud Run runtime's settings, each named with its fix. */
export function cloudRunProblems(pg: Record<string, unknown>, args: Record<string, unknown>): string[] {
  const run = pg.cloudRun as Record<string, unknown> | undefined;
  if (pg.runtime !== "cloudRun")
    return run === undefined ? [] : ['source.postgres.cloudRun: only with runtime "cloudRun" (the "external" runtime runs where you run it)'];
  const problems: string[] = [];
  const example = '{ region: "europe-west1", image: "europe-west1-docker.pkg.dev/<project>/quay/debezium/server:3.6.1.Final" }';
  if (!run || typeof run !== "object") return [`source.postgres.cloudRun: runtime "cloudRun" needs ${example}`];
  const known = ["region", "image", "cpu", "memory", "vpc"];
  for (const k of Object.keys(run)) if (!known.includes(k)) problems.push(`source.postgres.cloudRun.${k}: not a Cloud Run option (known: ${known.join(", ")})`);
  if (typeof run.region !== "string" || !/^[a-z]+-[a-z]+\d+$/.test(run.region))
    problems.push(`source.postgres.cloudRun.region: a Cloud Run region such as "europe-west1", not ${JSON.stringify(run.region)}`);
  if (typeof run.image !== "string" || !run.image) problems.push(`source.postgres.cloudRun.image: Debezium Server's image, e.g. ${example}`);
  // Cloud Run pulls from Artifact Registry and Docker Hub only; quay.io through a remote repository (docs/engine-runtime.md §2.1).
  else if (/^quay\.io\//.test(run.image))
    problems.push(
      `source.postgres.cloudRun.image: Cloud Run cannot pull ${run.image} from quay.io: make an Artifact Registry remote repository of https://quay.io and give its path, e.g. "europe-west1-docker.pkg.dev/<project>/quay/debezium/server:3.6.1.Final" (README, "Running the engine")`,
    );
  if (run.cpu !== undefined && !["1", "2", "4"].includes(run.cpu as string))
    problems.push(`source.postgres.cloudRun.cpu: "1", "2" or "4", not ${JSON.stringify(run.cpu)}`);
  if (run.memory !== undefined && !/^\d+(Mi|Gi)$/.test(String(run.memory)))
    problems.push(`source.postgres.cloudRun.memory: such as "1Gi" or "768Mi", not ${JSON.stringify(run.memory)}`);
  const vpc = run.vpc as Record<string, unknown> | undefined;
  if (vpc !== undefined) {
    if (typeof vpc !== "object" || vpc === null || typeof vpc.network !== "string" || !vpc.network)
      problems.push('source.postgres.cloudRun.vpc: { network: "<VPC network>", subnetwork?: "<subnet>", egress?: "PRIVATE_RANGES_ONLY" | "ALL_TRAFFIC" }');
    else {
      for (const k of Object.keys(vpc))
        if (!["network", "subnetwork", "egress"].includes(k))
          problems.push(`source.postgres.cloudRun.vpc.${k}: not a VPC option (network, subnetwork, egress)`);
      if (vpc.egress !== undefined && vpc.egress !== "PRIVATE_RANGES_ONLY" && vpc.egress !== "ALL_TRAFFIC")
        problems.push(`source.postgres.cloudRun.vpc.egress: "PRIVATE_RANGES_ONLY" (default) or "ALL_TRAFFIC", not ${JSON.stringify(vpc.egress)}`);
    }
  }
  if (args.credentials !== undefined)
    problems.push('credentials: with runtime "cloudRun" the engine runs as its own service account, with no key: leave credentials out');
  return problems;
}
