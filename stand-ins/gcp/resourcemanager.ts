// The emulator's Cloud Resource Manager v1 subset: projects.get, for a project's number (what the
// Pub/Sub service agent's email, service-<number>@gcp-sa-pubsub.iam.gserviceaccount.com, is made of).
// `GET /v1/projects/{projectId}` → Project {projectNumber (a string), projectId, lifecycleState, name,
// createTime}; permission resourcemanager.projects.get (resource-manager/reference/rest/v1/projects/get).
// A project that does not exist answers like one the caller may not see: 403 "The caller does not have
// permission" (the v1 API's wording, googleapis/google-cloud-python#2505), so callers cannot probe ids.
import * as crypto from "crypto";
import { ApiError } from "./errors";
import type { EmulatorHost, Reply, Request, Register } from "./model";

/** A stable 12-digit project number for a project id (real numbers are 12 digits, e.g. 415104041262). */
export function projectNumberOf(project: string): string {
  const n = BigInt("0x" + crypto.createHash("sha256").update(project).digest("hex").slice(0, 15));
  return String(100_000_000_000n + (n % 900_000_000_000n));
}

/** A project named by id or by number (APIs take either), as its id: the project of this emulator with that number. */
export function projectIdOf(emu: Pick<EmulatorHost, "owners">, given: string): string {
  if (!/^\d+$/.test(given)) return given;
  return [...emu.owners.keys()].find((p) => projectNumberOf(p) === given) ?? given;
}

/** The Pub/Sub service agent of a project. */
export function pubsubServiceAgentOf(project: string): string {
  return `service-${projectNumberOf(project)}@gcp-sa-pubsub.iam.gserviceaccount.com`;
}

export class ResourceManagerApi {
  private readonly created = new Map<string, string>();

  constructor(private readonly emu: EmulatorHost) {}

  register(add: Register): void {
    // Only the bare project path: IAM's routes all go on below it (/v1/projects/{p}/serviceAccounts…).
    add("GET", /^\/v1\/projects\/([^/:]+)$/, (r) => this.get(r));
  }

  /** Is `email` the Pub/Sub service agent of a project this emulator has? */
  isServiceAgent(email: string): boolean {
    return [...this.emu.owners.keys()].some((p) => pubsubServiceAgentOf(p) === email);
  }

  private get(r: Request): Reply {
    const [project] = r.params;
    if (!this.emu.owners.has(project) || !this.emu.allowed(r.principal, "resourcemanager.projects.get", { project })) {
      throw new ApiError(403, "The caller does not have permission", { reason: "forbidden" });
    }
    if (!this.created.has(project)) this.created.set(project, new Date().toISOString());
    return {
      json: { projectNumber: projectNumberOf(project), projectId: project, lifecycleState: "ACTIVE", name: project, createTime: this.created.get(project) },
    };
  }
}
