// PubSubServiceAgent: the Pub/Sub service agent of a project, service-<project number>@gcp-sa-pubsub.iam.gserviceaccount.com,
// the Google-managed identity that forwards undeliverable messages to a subscription's dead-letter topic.
// Dead-lettering works only when that agent may publish to the dead-letter topic (roles/pubsub.publisher)
// and consume from the subscription (roles/pubsub.subscriber) — pubsub/docs/dead-letter-topics, "Grant IAM
// roles to use dead-letter topics"; DeadLetterPolicy.dead_letter_topic: "The Pub/Sub service account
// associated with the enclosing subscription's parent project (i.e.,
// service-{project_number}@gcp-sa-pubsub.iam.gserviceaccount.com) must have permission to Publish() to this
// topic". Its email needs the project *number*, which only Cloud Resource Manager tells:
// projects.get (v1 `GET /v1/projects/{projectId}` → `projectNumber`, permission resourcemanager.projects.get).
//
// Nothing is created: the resource reads the number once and keeps it (a project's number never changes),
// so grants to the agent can be declared with PubSubIamMember like any other member.
//
// The provider stored in state is `require(".../provider/stored/pubsub-service-agent.js")`
// (provider/operations-provider.ts): this file's path and its `pubsubServiceAgentOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { Gcp, clientsFor, gcpError } from "./client";
import { statusOf, withRetry } from "./recovery";
import { z } from "zod";
import { projectId, PROJECT_DEFAULT } from "./fields";
import { defineResource, engineFacing, inputRules } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs, Permissions } from "../engine";

/** What the deploying identity needs, by operation (permissions.ts assembles these). Only with dead-lettering (AuditStream pubsub.maxDeliveryAttempts): the agent's email needs the project number. */
export const PUBSUB_SERVICE_AGENT_PERMISSIONS: Permissions = {
  "create, read (refresh)": ["resourcemanager.projects.get"],
};

export interface PubSubServiceAgentArgs {
  /** The project whose agent it is (the subscription's project); default: the provider's project. */
  project?: pulumi.Input<string>;
}

/** The agent's email for a project number. */
export function pubsubServiceAgentEmail(projectNumber: string): string {
  return `service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
}

async function projectNumber(gcp: Gcp, project: string): Promise<string> {
  const what = `read the number of project ${project} (Cloud Resource Manager projects.get)`;
  try {
    const res = await withRetry(() => gcp.resourcemanager.projects.get({ projectId: project }), { what });
    const n = res.data.projectNumber;
    if (!n || !/^\d+$/.test(n)) throw new Error(`${what}: the answer carries no projectNumber`);
    return n;
  } catch (e) {
    if (statusOf(e) === undefined && !(e as any)?.response) throw e;
    // CRM answers 403 both for a missing permission and for a project that does not exist (it does
    // not tell callers which projects exist).
    const hint =
      statusOf(e) === 403 ? ` The deployer needs resourcemanager.projects.get on ${project} (roles/browser holds it), and the project must exist.` : "";
    throw new Error(gcpError(e, what).message + hint);
  }
}

function outputs(project: string, number: string) {
  const email = pubsubServiceAgentEmail(number);
  return { project, projectNumber: number, email, member: `serviceAccount:${email}` };
}

export const pubsubServiceAgentInputs = z.strictObject({
  project: projectId.optional(),
});
true satisfies ArgsInSchema<PubSubServiceAgentArgs, typeof pubsubServiceAgentInputs>;

export type PubSubServiceAgentInputs = z.output<typeof pubsubServiceAgentInputs>;

/** What a PubSubServiceAgent keeps in state. */
export type PubSubServiceAgentState = {
  project: string;
  projectNumber: string;
  /** service-<number>@gcp-sa-pubsub.iam.gserviceaccount.com */ email: string;
  /** `serviceAccount:<email>`, for PubSubIamMember. */ member: string;
};

const RULES = inputRules({ schema: pubsubServiceAgentInputs, ...PROJECT_DEFAULT, replace: ["project"], update: [] });

export const pubsubServiceAgentOperations: TypedOperations<PubSubServiceAgentInputs, PubSubServiceAgentState> = engineFacing("PubSubServiceAgent", {
  ...RULES.handlers,

  async create(config, i) {
    const gcp = await clientsFor(config);
    const project = i.project ?? gcp.project;
    const outs = outputs(project, await projectNumber(gcp, project));
    return { id: outs.email, outs };
  },

  async read(config, id, props) {
    // A deleted project answers 403 here: refresh then fails loudly rather than dropping the grants' member.
    const gcp = await clientsFor(config);
    const outs = outputs(props.project, await projectNumber(gcp, props.project));
    return { id: outs.email, props: outs };
  },

  async update(_config, _id, olds, news) {
    // Only a new provider text gets here (the project replaces); the number stays.
    return { outs: outputs(news.project ?? olds.project, olds.projectNumber) };
  },

  async delete() {
    // Google manages the agent: nothing to remove (its grants are their own resources).
  },
});

export interface PubSubServiceAgent extends Outputs<Pick<PubSubServiceAgentState, "project" | "projectNumber" | "email" | "member">> {}

/** The Pub/Sub service agent of a project (read, never created), for the grants dead-lettering needs. */
export class PubSubServiceAgent extends defineResource<PubSubServiceAgentArgs>(__filename, {
  operations: { pubsubServiceAgentOperations },
  outputs: ["project", "projectNumber", "email", "member"],
  importInstead: "declare it without `import`: it only reads the project's Pub/Sub service agent, and makes nothing",
}) {}
