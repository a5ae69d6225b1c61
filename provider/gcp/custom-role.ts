// CustomRole: a project-level IAM custom role. Replace-only: roleId, project; title, description,
// permissions and stage update in place (gcp-apis.md §7.3). Deleted roles are soft-deleted and their
// id stays taken for up to 37 days (gcp-apis.md §3), so create undeletes and patches a deleted role of the same
// id instead of failing, as Terraform does.
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `customRoleOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { gcpClients, gcpConfigFrom, gcpError } from "./client";
import { notFound, unlessNotFound, withRetry } from "./recovery";
import { z } from "zod";
import { MARKER_ROOM, projectId, utf8Max, identitySchema, PROJECT_DEFAULT } from "./fields";
import type { ArgsInSchema, ConfigLike, Operations } from "../engine/contract";
import { defined, withoutProvider } from "../engine/check";
import { engineFacing, defineResource } from "../engine/define";
import { prefixFrom } from "../engine/naming";
import { deleteIfOwned, identityOf } from "./ownership";
import { adoptDecision, markerIn, stripMarker, withMarker } from "../ownership";
import { stackIdentity } from "../stream-identity";
import { noImport } from "../engine/no-import";
import type { Permissions } from "../engine/contract";
import { inputRules } from "../engine/rules";

const NO_IMPORT = noImport("CustomRole", "declare it without `import`; a role this stack made is adopted by its derived id; a role made elsewhere can be granted by its name (BucketIamMember's role)");

/** What the deploying identity needs, by operation (permissions.ts assembles these). */
export const CUSTOM_ROLE_PERMISSIONS: Permissions = {
  create: ["iam.roles.create", "iam.roles.get"],
  "read (refresh)": ["iam.roles.get"],
  update: ["iam.roles.update"],
  delete: ["iam.roles.delete"],
};

export interface CustomRoleArgs {
  /** Exact role id. Default: `roleIdPrefix` (default: the resource name) plus a random suffix. */
  roleId?: pulumi.Input<string>;
  roleIdPrefix?: pulumi.Input<string>;
  project?: pulumi.Input<string>;
  /** Default: the role id. */
  title?: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  permissions: pulumi.Input<pulumi.Input<string>[]>;
  /** Default "GA". */
  stage?: pulumi.Input<"ALPHA" | "BETA" | "GA" | "DEPRECATED" | "DISABLED" | "EAP">;
  /** The stream's identity (StreamIdentity.deployment), carried in the role's description. Default: the stack's. */
  deployment?: pulumi.Input<string>;
  /** Adopt a role of this id made by another deployment (the one the error names, or "legacy"): the recovery after a lost state. */
  takeOver?: pulumi.Input<string>;
}

export const permissionName = z
  .string()
  .regex(/^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2}$/, 'must be a permission name such as "storage.objects.create"');

export const customRoleInputs = z.strictObject({
  roleId: z.string().regex(/^[a-zA-Z0-9_.]{3,64}$/, "roleId is 3 to 64 letters, digits, '_' and '.'").optional(),
  roleIdPrefix: z.string().regex(/^[a-zA-Z0-9_.]{1,57}$/, "must be up to 57 letters, digits, '_' and '.'").optional(),
  project: projectId.optional(),
  title: utf8Max(100, "title").optional(),
  description: utf8Max(256 - MARKER_ROOM, "description").default(""),
  permissions: z
    .array(permissionName)
    .min(1, "a custom role needs at least one permission")
    .max(3000, "at most 3000 permissions")
    .transform((p) => [...new Set(p)].sort()),
  stage: z.enum(["ALPHA", "BETA", "GA", "DEPRECATED", "DISABLED", "EAP"], { error: "must be ALPHA, BETA, GA, DEPRECATED, DISABLED or EAP" }).default("GA"),
  ...identitySchema,
}).refine((r) => r.roleId !== undefined || r.roleIdPrefix !== undefined, { path: ["roleId"], message: "give roleId or roleIdPrefix" });
true satisfies ArgsInSchema<CustomRoleArgs, typeof customRoleInputs>;

export type CustomRoleInputs = z.output<typeof customRoleInputs> & { roleId: string; autoNamed: boolean; project: string; title: string };

const REPLACE = ["roleId", "project"];
const UPDATE = ["title", "description", "permissions", "stage"];
const MASK: Record<string, string> = { title: "title", description: "description", permissions: "includedPermissions", stage: "stage" };

const RULES = inputRules({
  schema: customRoleInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: REPLACE,
  update: UPDATE,
  name: { nameKey: "roleId", prefixKey: "roleIdPrefix", separator: "_", maxLength: 64, replaceKeys: ["project"] },
  // The title defaults to the role's id.
  finish: (i) => ({ title: i.title ?? i.roleId }),
});

export const customRoleOperations: Operations = engineFacing({
  check: RULES.check,
  diff: RULES.diff,

  async create(config: ConfigLike | undefined, i: CustomRoleInputs) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const project = i.project ?? gcp.project;
    const name = `projects/${project}/roles/${i.roleId}`;
    const existing = await unlessNotFound(() => gcp.iam.projects.roles.get({ name }), `read ${name}`).catch((e) => {
      throw gcpError(e, `check whether ${name} exists`);
    });
    let role: any;
    let takenOverFrom = "";
    if (existing?.data.deleted) {
      // Soft-deleted: its id cannot be created again, but it can be undeleted and reshaped.
      await withRetry(() => gcp.iam.projects.roles.undelete({ name, requestBody: { etag: existing.data.etag } }), { what: `undelete ${name}` }).catch((e) => {
        throw gcpError(e, `undelete ${name} (it was deleted earlier)`);
      });
      role = await patch(gcp, name, i, UPDATE);
    } else if (existing) {
      // Adopted only when it carries this resource's identity (an earlier create of ours whose answer
      // was lost, a replacement, a parent move) or takeOver names its maker; re-tagged by the patch.
      const d = adoptDecision(markerIn(existing.data.description ?? undefined), identityOf(i), i.takeOver);
      if (!d.adopt) throw new Error(`custom role ${name} already exists: ${d.why}. Otherwise choose another roleId (or roleIdPrefix).`);
      takenOverFrom = d.takenOverFrom;
      role = await patch(gcp, name, i, UPDATE);
    } else {
      const what = `create custom role ${name}`;
      role = (
        await withRetry(
          () => gcp.iam.projects.roles.create({ parent: `projects/${project}`, requestBody: { roleId: i.roleId, role: { title: i.title, description: withMarker(i.description, identityOf(i)), includedPermissions: i.permissions, stage: i.stage } } }),
          { what },
        ).catch((e) => {
          throw gcpError(e, what);
        })
      ).data;
    }
    return { id: name, outs: outputs({ ...i, project, takenOverFrom }, role) };
  },

  async read(config: ConfigLike | undefined, id: string, props?: any) {
    if (!props) throw new Error(NO_IMPORT.refusal(id));
    const gcp = await gcpClients(gcpConfigFrom(config));
    const r = await unlessNotFound(() => gcp.iam.projects.roles.get({ name: id }), `read ${id}`);
    // A soft-deleted role grants nothing: report it gone, and the next `up` undeletes it.
    if (!r || r.data.deleted) return { id: "" };
    const d = r.data;
    return {
      id,
      props: outputs({ ...props, title: d.title ?? "", description: stripMarker(d.description ?? "") ?? "", permissions: [...(d.includedPermissions ?? [])].sort(), stage: d.stage ?? "ALPHA" }, d),
    };
  },

  async update(config: ConfigLike | undefined, id: string, olds: any, checked: any) {
    const news = RULES.withSticky(olds, checked);
    const { updates } = RULES.changes(olds, news);
    if (updates.length === 0) return { outs: outputs(news, {}) };
    const gcp = await gcpClients(gcpConfigFrom(config));
    return { outs: outputs(news, await patch(gcp, id, news, updates)) };
  },

  async delete(config: ConfigLike | undefined, id: string, props: any) {
    const gcp = await gcpClients(gcpConfigFrom(config));
    const r = await unlessNotFound(() => gcp.iam.projects.roles.get({ name: id }), `read ${id}`).catch((e) => {
      throw gcpError(e, `read ${id}`);
    });
    if (!r || r.data.deleted) return;
    await deleteIfOwned(`custom role ${id}`, props ?? {}, {
      read: async () => r.data,
      tag: (found) => markerIn(found?.description ?? undefined),
      del: () =>
        withRetry(() => gcp.iam.projects.roles.delete({ name: id }), { what: `delete ${id}` }).then(
          () => undefined,
          (e) => {
            if (!notFound(e)) throw gcpError(e, `delete ${id}`);
          },
        ),
    });
  },
});

async function patch(gcp: any, name: string, i: any, fields: string[]): Promise<any> {
  const what = `update custom role ${name}`;
  const res: any = await withRetry(
    () =>
      gcp.iam.projects.roles.patch({
        name,
        updateMask: fields.map((f) => MASK[f]).join(","),
        requestBody: { title: i.title, description: withMarker(i.description, identityOf(i)), includedPermissions: i.permissions, stage: i.stage },
      }),
    { what },
  ).catch((e) => {
    throw gcpError(e, what);
  });
  return res.data;
}

function outputs(i: any, role: any) {
  const rest = withoutProvider(i);
  return defined({ ...rest, name: role?.name ?? `projects/${rest.project}/roles/${rest.roleId}`, takenOverFrom: rest.takenOverFrom ?? "" });
}

export interface CustomRole {
  readonly roleId: pulumi.Output<string>;
  readonly project: pulumi.Output<string>;
  /** `projects/<project>/roles/<roleId>`, the form a binding needs. */
  readonly name: pulumi.Output<string>;
  readonly permissions: pulumi.Output<string[]>;
}

/** A project-level IAM custom role. */
export class CustomRole extends defineResource<CustomRoleArgs>("gcp", __filename, { customRoleOperations }, NO_IMPORT, {
  owner: true,
  defaultDeployment: () => stackIdentity().deployment,
  defaults: (name) => ({ roleIdPrefix: prefixFrom(name, /[^a-zA-Z0-9_.]+/g, 57, { joiner: "_", lower: false }) }),
  outputs: ["roleId", "project", "name", "takenOverFrom"],
}) {}
