// ServiceAccount: an IAM service account. Replace-only: accountId, project; displayName and
// description update in place (gcp-apis.md §7.2). Create waits until the new account is visible
// (IAM is eventually consistent, gcp-apis.md §2.2) so that the grants after it do not fail.
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `serviceAccountOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor, gcpCall, gcpDelete, gcpError } from "./client";
import { accountNotYetVisible, iamPropagation, statusOf, unlessNotFound, withRetry } from "./recovery";
import { z } from "zod";
import { MARKER_ROOM, PROJECT_DEFAULT, ProjectArgs, identitySchema, projectId, utf8Max } from "./fields";
import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs } from "../engine";
import { createOrAdopt, deleteIfOwned, identityOf } from "./ownership";
import { markerIn, stripMarker, withMarker } from "../ownership";

import { OWNED } from "../stream-identity";

export interface ServiceAccountArgs extends ProjectArgs {
  /** Exact account id (6-30). Default: `namePrefix` (default: the resource name) plus a random suffix. */
  accountId?: pulumi.Input<string>;
  /** Up to 23 lowercase letters, digits and '-', starting with a letter; a 6-character suffix is added. */
  namePrefix?: pulumi.Input<string>;
  /** At most 100 bytes (UTF-8). */
  displayName?: pulumi.Input<string>;
  /** At most 256 bytes less the room the stream's marker takes (it is kept in the description). */
  description?: pulumi.Input<string>;
}

export const serviceAccountInputs = z
  .strictObject({
    accountId: z
      .string()
      .min(6, "accountId is 6 to 30 characters")
      .max(30, "accountId is 6 to 30 characters")
      .regex(/^[a-z]([-a-z0-9]*[a-z0-9])$/, "accountId must match ^[a-z]([-a-z0-9]*[a-z0-9])$ (RFC 1035)")
      .optional(),
    namePrefix: z
      .string()
      .regex(/^[a-z][-a-z0-9]{0,22}$/, "must be up to 23 lowercase letters, digits and '-', starting with a letter")
      .optional(),
    project: projectId.optional(),
    displayName: utf8Max(100, "displayName").default(""),
    description: utf8Max(256 - MARKER_ROOM, "description").default(""),
    ...identitySchema,
  })
  .refine((a) => a.accountId !== undefined || a.namePrefix !== undefined, { path: ["accountId"], message: "give accountId or namePrefix" });
true satisfies ArgsInSchema<ServiceAccountArgs, typeof serviceAccountInputs>;

export type ServiceAccountInputs = z.output<typeof serviceAccountInputs> & { accountId: string; autoNamed: boolean; project: string };

/** What a ServiceAccount keeps in state. */
export type ServiceAccountState = ServiceAccountInputs & {
  email: string;
  /** `projects/<project>/serviceAccounts/<email>` */ name: string;
  uniqueId: string;
  /** `serviceAccount:<email>`, ready for an IAM binding. */ member: string;
  takenOverFrom: string;
  /** IAM did not show the account in time: the next up waits again. */ pendingVisibility?: boolean;
};

const REPLACE = ["accountId", "project"];
const UPDATE = ["displayName", "description"];
/** A new account must be seen this many times in a row before it counts as visible (as Terraform does). */
const VISIBLE_STREAK = 3;

const RULES = inputRules({
  schema: serviceAccountInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: REPLACE,
  update: UPDATE,
  deleteBeforeReplace: (olds, news) => olds.accountId === news.accountId,
  name: {
    nameKey: "accountId",
    prefixKey: "namePrefix",
    separator: "-",
    maxLength: 30,
    replaceKeys: ["project"],
    prefix: { disallowed: /[^a-z0-9-]+/g, max: 23 },
  },
});

export const SERVICE_ACCOUNT_PERMISSIONS = collectionPermissions("iam.serviceAccounts", { create: ["iam.serviceAccounts.get"] });

export const serviceAccountOperations: TypedOperations<ServiceAccountInputs, ServiceAccountState> = engineFacing("ServiceAccount", {
  check: RULES.check,

  async diff(_config, _id, olds, news) {
    const d = RULES.changes(olds, news);
    // An account IAM did not show in time: the next update waits for it again.
    return olds.pendingVisibility === true ? { ...d, changes: true } : d;
  },

  async create(config, i) {
    const gcp = await clientsFor(config);
    const project = i.project ?? gcp.project;
    const email = `${i.accountId}@${project}.iam.gserviceaccount.com`;
    const name = `projects/${project}/serviceAccounts/${email}`;
    const what = `create service account ${email}`;
    const description = withMarker(i.description, identityOf(i)) ?? "";
    // An account of this id is adopted only when it carries this resource's identity (an earlier create
    // of ours whose answer was lost, a replacement, a parent move) or takeOver names its maker.
    const { takenOverFrom } = await createOrAdopt(`service account ${email}`, i, "Otherwise choose another accountId (or namePrefix).", {
      create: () =>
        withRetry(
          () =>
            gcp.iam.projects.serviceAccounts.create({
              name: `projects/${project}`,
              requestBody: { accountId: i.accountId, serviceAccount: { displayName: i.displayName, description } },
            }),
          { what },
        ).catch((e) => {
          throw Object.assign(gcpError(e, what), { status: statusOf(e) });
        }),
      read: () =>
        withRetry(() => gcp.iam.projects.serviceAccounts.get({ name }), {
          what: `read ${name}`,
          retryIf: accountNotYetVisible,
          deadlineMs: iamPropagation.deadlineMs,
        }).then((r) => r.data),
      tag: (found) => markerIn(found?.description ?? undefined),
      adopt: async () => undefined,
    });
    // The account exists from here on: if IAM is slow to show it, state still records it (the
    // host's ErrorResourceInitFailed), and the next `up` waits again instead of making another.
    const sa = await waitUntilVisible(gcp, name).catch((e) => {
      throw Object.assign(new Error(`${(e as Error).message}. The account was created and is recorded in state; the next \`pulumi up\` checks it again.`), {
        id: name,
        properties: { ...outputs({ ...i, project }, { email, name }), pendingVisibility: true, __provider: (i as any).__provider },
      });
    });
    if ((sa.displayName ?? "") !== i.displayName || (sa.description ?? "") !== description) {
      await patch(gcp, name, i, ["displayName", "description"]);
    }
    return { id: name, outs: outputs({ ...i, project, takenOverFrom }, sa) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const sa = await unlessNotFound(() => gcp.iam.projects.serviceAccounts.get({ name: id }), `read ${id}`);
    if (!sa) return { id: "" };
    return { id, props: outputs({ ...props, displayName: sa.data.displayName ?? "", description: stripMarker(sa.data.description ?? "") ?? "" }, sa.data) };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (olds.pendingVisibility === true) {
      const gcp = await clientsFor(config);
      const sa = await waitUntilVisible(gcp, id);
      return { outs: outputs(news, updates.length ? await patch(gcp, id, news, updates) : sa) };
    }
    if (updates.length === 0) return { outs: outputs(news, olds) };
    const gcp = await clientsFor(config);
    return { outs: outputs(news, await patch(gcp, id, news, updates)) };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    await deleteIfOwned(`service account ${id}`, props ?? {}, {
      read: async () => (await unlessNotFound(() => gcp.iam.projects.serviceAccounts.get({ name: id }), `read ${id}`))?.data,
      tag: (found) => markerIn(found?.description ?? undefined),
      del: () => gcpDelete(`delete ${id}`, () => gcp.iam.projects.serviceAccounts.delete({ name: id })),
    });
  },
});

/**
 * Reads until IAM shows the new account several times in a row (gcp-apis.md §2.2: Terraform asks for
 * three); 404 and 403 mean "not yet" (accountNotYetVisible) for iamPropagation.deadlineMs.
 */
async function waitUntilVisible(gcp: any, name: string): Promise<any> {
  const limit = iamPropagation.deadlineMs;
  const readInARow = async () => {
    let sa: any;
    for (let n = 0; n < VISIBLE_STREAK; n++) {
      if (n > 0) await new Promise((r) => setTimeout(r, 25));
      sa = (await gcp.iam.projects.serviceAccounts.get({ name })).data;
    }
    return sa;
  };
  return withRetry(readInARow, { what: `wait for IAM to show ${name}`, retryIf: accountNotYetVisible, deadlineMs: limit, baseDelayMs: 200 }).catch((e) => {
    if (!accountNotYetVisible((e as any).lastError ?? e)) throw gcpError(e, `read ${name}`);
    throw new Error(`${name} was created but IAM still does not show it after ${Math.round(limit / 1000)}s`);
  });
}

async function patch(gcp: any, name: string, i: any, fields: string[]): Promise<any> {
  const res: any = await gcpCall(`update service account ${name}`, () =>
    gcp.iam.projects.serviceAccounts.patch({
      name,
      requestBody: {
        serviceAccount: { displayName: i.displayName, description: withMarker(i.description, identityOf(i)) ?? "" },
        updateMask: fields.join(","),
      },
    }),
  );
  return res.data;
}

function outputs(i: any, sa: any): ServiceAccountState {
  const rest = withoutProvider(i);
  const email = sa.email ?? i.email;
  return defined({
    ...rest,
    email,
    name: `projects/${rest.project}/serviceAccounts/${email}`,
    uniqueId: sa.uniqueId ?? i.uniqueId,
    member: `serviceAccount:${email}`,
    takenOverFrom: rest.takenOverFrom ?? "",
  }) as ServiceAccountState;
}

export interface ServiceAccount extends Outputs<Pick<ServiceAccountState, "accountId" | "project" | "email" | "name" | "uniqueId" | "member">> {}

/** An IAM service account. */
export class ServiceAccount extends defineResource<ServiceAccountArgs>(__filename, {
  operations: { serviceAccountOperations },
  ...OWNED,
  outputs: ["accountId", "project", "email", "name", "uniqueId", "member", "takenOverFrom"],
  importInstead:
    "declare it without `import`; an account this stack made is adopted by its derived id, and an account made elsewhere can be used by its email directly (ServiceAccountKey's serviceAccountEmail)",
}) {}
