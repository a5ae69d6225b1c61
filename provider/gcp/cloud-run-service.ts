// CloudRunService: a Cloud Run (Admin API v2) service running one long-lived container, the way the
// CDC engine runs (docs/engine-runtime.md §4): manual scaling to exactly `instances` (default 1), CPU
// always allocated (cpuIdle false), internal ingress only, an HTTP startup and liveness probe (a failed
// liveness probe restarts the container), its runtime service account, plain env and env from Secret
// Manager pinned to a version. Facts and citations: docs/cloud-run-runtime.md §2–3.
//
// Every create, update and delete is a long-running operation that ends only when the revision is
// ready or failed; it is polled (GET, every 2 s, as gcloud waits on it) up to `timeoutSeconds`, with a
// line of progress every 30 s. A failed create leaves the service behind in Cloud Run (§2.1): it is
// deleted again, so nothing half-made is left running or billed, and the error says why the revision
// failed. A failed update leaves the last ready revision serving and says so. A create that meets a
// service of the name adopts it only when its label says this instance made it (a create cut short);
// another is refused by name. Replace-only: project, location, name; the rest rolls out a new revision.
//
// The provider stored in state is `require(".../provider/stored/cloud-run-service.js")`
// (provider/operations-provider.ts): this file's path and its `cloudRunServiceOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { Gcp, clientsWithProject, clientsFor, restCalls } from "./client";
import { PROJECT_DEFAULT, ProjectArgs, identitySchema, labels, projectId, serviceAccountEmail } from "./fields";
import { createOrAdopt, deleteIfOwned, identityOf, labelTag } from "./ownership";
import { notFound } from "./recovery";
import { ownerLabels, userLabels } from "../ownership";
import { defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, Outputs, Permissions, TypedOperations } from "../engine";
import { OWNED } from "../stream-identity";

export interface CloudRunProbe {
  path: string;
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}

export interface CloudRunServiceArgs extends ProjectArgs {
  /** The region, e.g. "europe-west1". */
  location: pulumi.Input<string>;
  /** The service id: lowercase letters, digits and '-', starting with a letter, at most 49. */
  name: pulumi.Input<string>;
  /** An image Cloud Run can pull: Artifact Registry (a remote repository for quay.io), Docker Hub (docs/engine-runtime.md §2). */
  image: pulumi.Input<string>;
  /** The runtime identity (always set: the default is the project's compute account). */
  serviceAccount: pulumi.Input<string>;
  env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Env vars read from Secret Manager as the runtime account before the container starts: name → secret and version (pin a number). */
  secretEnv?: pulumi.Input<Record<string, pulumi.Input<{ secret: pulumi.Input<string>; version: pulumi.Input<string> }>>>;
  /** The port the container listens on, given to it as PORT. Default 8080. */
  port?: pulumi.Input<number>;
  /** Default "1" vCPU and "1Gi". */
  cpu?: pulumi.Input<string>;
  memory?: pulumi.Input<string>;
  startupProbe?: pulumi.Input<CloudRunProbe>;
  livenessProbe?: pulumi.Input<CloudRunProbe>;
  /**
   * Direct VPC egress, to reach a database on a private address (docs/cloud-run-runtime.md §4): the VPC
   * network and subnetwork, and which traffic goes through it (default PRIVATE_RANGES_ONLY: Google's APIs
   * stay on the public route).
   */
  vpc?: pulumi.Input<{ network: pulumi.Input<string>; subnetwork?: pulumi.Input<string>; egress?: pulumi.Input<"PRIVATE_RANGES_ONLY" | "ALL_TRAFFIC"> }>;
  /** How many instances run, exactly (manual scaling). Default 1; 0 stops it without deleting it. */
  instances?: pulumi.Input<number>;
  /** How long a rollout may take before `pulumi up` gives up waiting (the rollout goes on). Default 600. */
  timeoutSeconds?: pulumi.Input<number>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

const probe = z.strictObject({
  path: z.string().regex(/^\//, "must start with /"),
  periodSeconds: z.number().int().min(1).max(240).default(10),
  failureThreshold: z.number().int().min(1).max(1000).default(3),
  timeoutSeconds: z.number().int().min(1).max(240).default(1),
});

export const cloudRunServiceInputs = z
  .strictObject({
    project: projectId.optional(),
    location: z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'must be a Cloud Run region such as "europe-west1"'),
    // serviceId: "must begin with letter, and cannot end with hyphen; must contain fewer than 50 characters" (§2.2)
    name: z.string().regex(/^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/, "must be lowercase letters, digits and '-', start with a letter, not end with '-', at most 49"),
    image: z.string().min(1),
    serviceAccount: serviceAccountEmail,
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "env names are letters, digits and '_'"), z.string().max(32_768)).default({}),
    secretEnv: z.record(z.string(), z.strictObject({ secret: z.string().min(1), version: z.string().regex(/^(\d+|latest)$/) })).default({}),
    port: z.number().int().min(1).max(65_535).default(8080),
    cpu: z.enum(["1", "2", "4", "6", "8"]).default("1"),
    memory: z
      .string()
      .regex(/^\d+(Mi|Gi)$/)
      .default("1Gi"),
    startupProbe: probe.optional(),
    livenessProbe: probe.optional(),
    vpc: z
      .strictObject({
        network: z.string().min(1),
        subnetwork: z.string().min(1).optional(),
        egress: z.enum(["PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"]).default("PRIVATE_RANGES_ONLY"),
      })
      .optional(),
    instances: z.number().int().min(0).max(1000).default(1),
    timeoutSeconds: z.number().int().min(30).max(3600).default(600),
    labels: labels.default({}),
    ...identitySchema,
  })
  .refine((i) => !Object.keys(i.secretEnv).some((k) => k in i.env), "an env name is given both in env and in secretEnv");
true satisfies ArgsInSchema<CloudRunServiceArgs, typeof cloudRunServiceInputs>;

export type CloudRunServiceInputs = z.output<typeof cloudRunServiceInputs> & { project: string };

export type CloudRunServiceState = CloudRunServiceInputs & {
  /** `projects/<p>/locations/<l>/services/<name>`. */
  fullName: string;
  uri: string;
  /** The revision serving now. */
  latestReadyRevision: string;
  takenOverFrom: string;
};

export const CLOUD_RUN_SERVICE_PERMISSIONS: Permissions = {
  "create, update": ["run.services.create", "run.services.get", "run.services.update", "run.operations.get", "iam.serviceAccounts.actAs"],
  "read (refresh)": ["run.services.get"],
  delete: ["run.services.get", "run.services.delete", "run.operations.get"],
};

const RUN = restCalls((gcp) => gcp.run);
const RULES = inputRules({
  schema: cloudRunServiceInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: ["project", "location", "name"],
  update: [
    "image",
    "serviceAccount",
    "env",
    "secretEnv",
    "port",
    "cpu",
    "memory",
    "startupProbe",
    "livenessProbe",
    "vpc",
    "instances",
    "timeoutSeconds",
    "labels",
  ],
});

const servicePath = (i: { project: string; location: string; name: string }) => `/projects/${i.project}/locations/${i.location}/services/${i.name}`;

/** The Service body (sent whole on update, as Terraform does: §3). */
export function serviceBody(i: CloudRunServiceInputs): Record<string, unknown> {
  const httpProbe = (p: z.output<typeof probe>) => ({
    httpGet: { path: p.path, port: i.port },
    periodSeconds: p.periodSeconds,
    failureThreshold: p.failureThreshold,
    timeoutSeconds: Math.min(p.timeoutSeconds, p.periodSeconds),
  });
  return {
    labels: { ...i.labels, ...ownerLabels(identityOf(i)) },
    // Probes are sent from inside Cloud Run; nothing outside the project needs to reach the engine.
    ingress: "INGRESS_TRAFFIC_INTERNAL_ONLY",
    scaling: { scalingMode: "MANUAL", manualInstanceCount: i.instances },
    template: {
      serviceAccount: i.serviceAccount,
      ...(i.vpc ? { vpcAccess: { networkInterfaces: [defined({ network: i.vpc.network, subnetwork: i.vpc.subnetwork })], egress: i.vpc.egress } } : {}),
      containers: [
        defined({
          image: i.image,
          env: [
            ...Object.entries(i.env).map(([name, value]) => ({ name, value })),
            ...Object.entries(i.secretEnv).map(([name, ref]) => ({ name, valueSource: { secretKeyRef: { secret: ref.secret, version: ref.version } } })),
          ],
          ports: [{ containerPort: i.port }],
          // cpuIdle must be given once resources are (§2.2): false keeps the CPU allocated between requests.
          resources: { limits: { cpu: i.cpu, memory: i.memory }, cpuIdle: false },
          startupProbe: i.startupProbe ? httpProbe(i.startupProbe) : undefined,
          livenessProbe: i.livenessProbe ? httpProbe(i.livenessProbe) : undefined,
        }),
      ],
    },
  };
}

/** Polls a long-running operation until done or `timeoutSeconds`; the finished Operation. */
async function settle(gcp: Gcp, op: any, what: string, timeoutSeconds: number): Promise<any> {
  const started = Date.now();
  let told = started;
  while (!op.done) {
    if (Date.now() - started > timeoutSeconds * 1000)
      throw new Error(
        `${what}: not finished within ${timeoutSeconds} s (operation ${op.name}); Cloud Run goes on with it. See its state with \`gcloud run services describe\`, then run \`pulumi up\` again (a service this stack made is adopted), or raise timeoutSeconds.`,
      );
    if (Date.now() - told >= 30_000) {
      told = Date.now();
      console.log(`${what}: waiting for the revision to be ready (${Math.round((told - started) / 1000)} s)`);
    }
    await new Promise((r) => setTimeout(r, 2000));
    op = await RUN.call(gcp, "GET", `/${op.name}`, `${what}: read operation ${op.name}`);
  }
  return op;
}

function outputs(i: CloudRunServiceInputs, found: any, takenOverFrom: string): CloudRunServiceState {
  return defined({
    ...withoutProvider(i),
    fullName: `projects/${i.project}/locations/${i.location}/services/${i.name}`,
    uri: found?.uri ?? "",
    latestReadyRevision: String(found?.latestReadyRevision ?? "")
      .split("/")
      .pop(),
    takenOverFrom,
  }) as CloudRunServiceState;
}

async function deleteService(gcp: Gcp, i: CloudRunServiceInputs, what: string): Promise<void> {
  try {
    await settle(gcp, await RUN.call(gcp, "DELETE", servicePath(i), what), what, i.timeoutSeconds ?? 600);
  } catch (e) {
    if (!notFound(e)) throw e;
  }
}

export const cloudRunServiceOperations: TypedOperations<CloudRunServiceInputs, CloudRunServiceState> = engineFacing("CloudRunService", {
  ...RULES.handlers,

  async create(config, given) {
    const { gcp, inputs: i } = await clientsWithProject(config, given);
    const what = `Cloud Run service ${i.name} in ${i.location}`;
    const parent = `/projects/${i.project}/locations/${i.location}`;
    const made = await createOrAdopt(what, i, "Otherwise choose another name for the service.", {
      create: () => RUN.call(gcp, "POST", `${parent}/services?serviceId=${i.name}`, `create ${what}`, serviceBody(i)),
      read: () => RUN.call(gcp, "GET", servicePath(i), `read ${what}`),
      tag: labelTag,
      // A create cut short (the process died while it rolled out, or the rollout failed): brought to the inputs.
      adopt: () => RUN.call(gcp, "PATCH", servicePath(i), `update ${what} (adopting it)`, serviceBody(i)),
    });
    const op = await settle(gcp, made.made, `create ${what}`, i.timeoutSeconds);
    if (op.error) {
      // Cloud Run keeps a service whose first revision failed (§2.1): this one is ours, so it goes.
      await deleteService(gcp, i, `delete ${what} (its first revision failed)`);
      throw new Error(
        `create ${what}: the revision did not become ready: ${op.error.message} The service was deleted again; fix the cause and run \`pulumi up\`.`,
      );
    }
    return { id: servicePath(i).slice(1), outs: outputs(i, op.response, made.takenOverFrom) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const found = await RUN.orUndefined(gcp, `/${id}`, `read Cloud Run service ${props.name}`);
    if (!found) return { id: "" };
    return { id, props: outputs({ ...props, labels: userLabels(found.labels) }, found, props.takenOverFrom ?? "") };
  },

  async update(config, id, olds, checked) {
    const { news } = RULES.updating(olds, checked);
    const gcp = await clientsFor(config);
    const i = { ...news, owner: news.owner ?? olds.owner } as CloudRunServiceInputs;
    const what = `update Cloud Run service ${i.name}`;
    const op = await settle(gcp, await RUN.call(gcp, "PATCH", servicePath(i), what, serviceBody(i)), what, i.timeoutSeconds);
    if (op.error)
      throw new Error(`${what}: the new revision did not become ready: ${op.error.message} The previous revision (${olds.latestReadyRevision}) keeps running.`);
    return { outs: outputs(news, op.response, olds.takenOverFrom ?? "") };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    await deleteIfOwned(`Cloud Run service ${props.name}`, props, {
      read: () => RUN.orUndefined(gcp, `/${id}`, `read Cloud Run service ${props.name}`),
      tag: labelTag,
      del: () => deleteService(gcp, props, `delete Cloud Run service ${props.name}`),
    });
  },
});

export interface CloudRunService extends Outputs<{ fullName: string; uri: string; latestReadyRevision: string; project: string; takenOverFrom: string }> {}

/** A Cloud Run service running one always-on container. */
export class CloudRunService extends defineResource<CloudRunServiceArgs>(__filename, {
  operations: { cloudRunServiceOperations },
  ...OWNED,
  outputs: ["fullName", "uri", "latestReadyRevision", "project", "takenOverFrom"],
  importInstead: "declare it without `import`: a service this stack made carries its label and is adopted; one made elsewhere is refused by name",
}) {}
