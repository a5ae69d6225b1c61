// CustomRole: a project-level IAM custom role. Replace-only: roleId, project; title, description,
// permissions and stage update in place (gcp-apis.md §7.3). Deleted roles are soft-deleted and their
// id stays taken for up to 37 days (gcp-apis.md §3), so create undeletes and patches a deleted role of the same
// id instead of failing, as Terraform does.
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `customRoleOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor, gcpCall, gcpDelete, gcpError } from "./client";
import { unlessNotFound, withRetry } from "./recovery";
import { z } from "zod";
import { MARKER_ROOM, PROJECT_DEFAULT, ProjectArgs, identitySchema, projectId, utf8Max } from "./fields";
import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs } from "../engine";
import { deleteIfOwned, identityOf } from "./ownership";
import { adoptDecision, markerIn, stripMarker, withMarker } from "../ownership";

import { OWNED } from "../stream-identity";

export interface CustomRoleArgs extends ProjectArgs {
  /** Exact role id. Default: `roleIdPrefix` (default: the resource name) plus a random suffix. */
  roleId?: pulumi.Input<string>;
  /** Up to 57 letters, digits, '_' and '.'; a random suffix is added. */
  roleIdPrefix?: pulumi.Input<string>;
  /** Default: the role id. At most 100 bytes (UTF-8). */
  title?: pulumi.Input<string>;
  /** At most 256 bytes less the room the stream's marker takes (it is kept in the description). */
  description?: pulumi.Input<string>;
  permissions: pulumi.Input<pulumi.Input<string>[]>;
  /** Default "GA". */
  stage?: pulumi.Input<"ALPHA" | "BETA" | "GA" | "DEPRECATED" | "DISABLED" | "EAP">;
}

export const permissionName = z.string().regex(/^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2}$/, 'must be a permission name such as "storage.objects.create"');

export const customRoleInputs = z
  .strictObject({
    roleId: z
      .string()
      .regex(/^[a-zA-Z0-9_.]{3,64}$/, "roleId is 3 to 64 letters, digits, '_' and '.'")
      .optional(),
    roleIdPrefix: z
      .string()
      .regex(/^[a-zA-Z0-9_.]{1,57}$/, "must be up to 57 letters, digits, '_' and '.'")
      .optional(),
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
  })
  .refine((r) => r.roleId !== undefined || r.roleIdPrefix !== undefined, { path: ["roleId"], message: "give roleId or roleIdPrefix" });
true satisfies ArgsInSchema<CustomRoleArgs, typeof customRoleInputs>;

export type CustomRoleInputs = z.output<typeof customRoleInputs> & { roleId: string; autoNamed: boolean; project: string; title: string };

/** What a CustomRole keeps in state. */
export type CustomRoleState = CustomRoleInputs & { /** `projects/<project>/roles/<roleId>`, the form a binding needs. */ name: string; takenOverFrom: string };

const REPLACE = ["roleId", "project"];
const UPDATE = ["title", "description", "permissions", "stage"];
const MASK: Record<string, string> = { title: "title", description: "description", permissions: "includedPermissions", stage: "stage" };

const RULES = inputRules({
  schema: customRoleInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: REPLACE,
  update: UPDATE,
  name: {
    nameKey: "roleId",
    prefixKey: "roleIdPrefix",
    separator: "_",
    maxLength: 64,
    replaceKeys: ["project"],
    prefix: { disallowed: /[^a-zA-Z0-9_.]+/g, max: 57, joiner: "_", lower: false },
  },
  // The title defaults to the role's id.
  finish: (i) => ({ title: i.title ?? i.roleId }),
});

export const CUSTOM_ROLE_PERMISSIONS = collectionPermissions("iam.roles", { create: ["iam.roles.get"] });

export const customRoleOperations: TypedOperations<CustomRoleInputs, CustomRoleState> = engineFacing("CustomRole", {
  ...RULES.handlers,

  async create(config, i) {
    const gcp = await clientsFor(config);
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
          () =>
            gcp.iam.projects.roles.create({
              parent: `projects/${project}`,
              requestBody: {
                roleId: i.roleId,
                role: { title: i.title, description: withMarker(i.description, identityOf(i)), includedPermissions: i.permissions, stage: i.stage },
              },
            }),
          { what },
        ).catch((e) => {
          throw gcpError(e, what);
        })
      ).data;
    }
    return { id: name, outs: outputs({ ...i, project, takenOverFrom }, role) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const r = await unlessNotFound(() => gcp.iam.projects.roles.get({ name: id }), `read ${id}`);
    // A soft-deleted role grants nothing: report it gone, and the next `up` undeletes it.
    if (!r || r.data.deleted) return { id: "" };
    const d = r.data;
    return {
      id,
      props: outputs(
        {
          ...props,
          title: d.title ?? "",
          description: stripMarker(d.description ?? "") ?? "",
          permissions: [...(d.includedPermissions ?? [])].sort(),
          stage: d.stage ?? "ALPHA",
        },
        d,
      ),
    };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news, {}) };
    const gcp = await clientsFor(config);
    return { outs: outputs(news, await patch(gcp, id, news, updates)) };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    const r = await unlessNotFound(() => gcp.iam.projects.roles.get({ name: id }), `read ${id}`).catch((e) => {
      throw gcpError(e, `read ${id}`);
    });
    if (!r || r.data.deleted) return;
    await deleteIfOwned(`custom role ${id}`, props ?? {}, {
      read: async () => r.data,
      tag: (found) => markerIn(found?.description ?? undefined),
      del: () => gcpDelete(`delete ${id}`, () => gcp.iam.projects.roles.delete({ name: id })),
    });
  },
});

async function patch(gcp: any, name: string, i: any, fields: string[]): Promise<any> {
  const res: any = await gcpCall(`update custom role ${name}`, () =>
    gcp.iam.projects.roles.patch({
      name,
      updateMask: fields.map((f) => MASK[f]).join(","),
      requestBody: { title: i.title, description: withMarker(i.description, identityOf(i)), includedPermissions: i.permissions, stage: i.stage },
    }),
  );
  return res.data;
}

function outputs(i: any, role: any): CustomRoleState {
  const rest = withoutProvider(i);
  return defined({ ...rest, name: role?.name ?? `projects/${rest.project}/roles/${rest.roleId}`, takenOverFrom: rest.takenOverFrom ?? "" }) as CustomRoleState;
}

export interface CustomRole extends Outputs<Pick<CustomRoleState, "roleId" | "project" | "name" | "permissions">> {}

/** A project-level IAM custom role. */
export class CustomRole extends defineResource<CustomRoleArgs>(__filename, {
  operations: { customRoleOperations },
  ...OWNED,
  outputs: ["roleId", "project", "name", "takenOverFrom"],
  importInstead:
    "declare it without `import`; a role this stack made is adopted by its derived id; a role made elsewhere can be granted by its name (BucketIamMember's role)",
}) {}
