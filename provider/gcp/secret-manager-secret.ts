// SecretManagerSecret: a Secret Manager secret holding one value, and the members that may read it
// (roles/secretmanager.secretAccessor on this secret only: the lowest grant level, docs/cloud-run-runtime.md
// §1.3). It carries the engine's database password to Cloud Run, which reads it as the runtime account
// before an instance starts. A new value is a new version (`version` output: pin it, versions are read
// by number, §1.3 consistency); the version before the previous one is then destroyed, so a rollout
// that fails keeps the previous one readable and nothing older lingers (billed per version, §5).
// Replace-only: project, secretId; the value, the readers and labels change in place.
//
// The provider stored in state is `require(".../provider/stored/secret-manager-secret.js")`
// (provider/operations-provider.ts): this file's path and its `secretManagerSecretOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { Gcp, clientsWithProject, clientsFor, restCalls } from "./client";
import { PROJECT_DEFAULT, ProjectArgs, identitySchema, labels, member, projectId } from "./fields";
import { changeMember } from "./iam-policy";
import { createOrAdopt, deleteIfOwned, identityOf, labelTag } from "./ownership";
import { notFound } from "./recovery";
import { ownerLabels, userLabels } from "../ownership";
import { defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, Outputs, Permissions, TypedOperations } from "../engine";
import { OWNED } from "../stream-identity";

export const SECRET_ACCESSOR = "roles/secretmanager.secretAccessor";

export interface SecretManagerSecretArgs extends ProjectArgs {
  /** The secret's id: letters, digits, '_' and '-', at most 255. */
  secretId: pulumi.Input<string>;
  /** The value (UTF-8, at most 64 KiB). */
  data: pulumi.Input<string>;
  /** Members that may read the value, e.g. "serviceAccount:engine@p.iam.gserviceaccount.com". */
  accessors?: pulumi.Input<pulumi.Input<string>[]>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export const secretManagerSecretInputs = z.strictObject({
  project: projectId.optional(),
  secretId: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, "must be 1-255 letters, digits, '_' and '-'"),
  data: z
    .string()
    .min(1, "must not be empty")
    .refine((s) => Buffer.byteLength(s, "utf8") <= 65_536, "is at most 64 KiB"),
  accessors: z.array(member).default([]),
  labels: labels.default({}),
  ...identitySchema,
});
true satisfies ArgsInSchema<SecretManagerSecretArgs, typeof secretManagerSecretInputs>;

export type SecretManagerSecretInputs = z.output<typeof secretManagerSecretInputs> & { project: string };

/** What it keeps in state: the inputs, its full name (with the project's number, as Secret Manager answers) and the value's version. */
export type SecretManagerSecretState = SecretManagerSecretInputs & { name: string; version: string; takenOverFrom: string };

export const SECRET_MANAGER_SECRET_PERMISSIONS: Permissions = {
  create: [
    "secretmanager.secrets.create",
    "secretmanager.secrets.get",
    "secretmanager.secrets.update",
    "secretmanager.versions.add",
    "secretmanager.secrets.getIamPolicy",
    "secretmanager.secrets.setIamPolicy",
  ],
  update: [
    "secretmanager.secrets.update",
    "secretmanager.versions.add",
    "secretmanager.versions.list",
    "secretmanager.versions.destroy",
    "secretmanager.secrets.getIamPolicy",
    "secretmanager.secrets.setIamPolicy",
  ],
  "read (refresh)": ["secretmanager.secrets.get"],
  delete: ["secretmanager.secrets.get", "secretmanager.secrets.delete"],
};

const SM = restCalls((gcp) => gcp.secretmanager);
const RULES = inputRules({
  schema: secretManagerSecretInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: ["project", "secretId"],
  update: ["data", "accessors", "labels"],
});

const pathOf = (i: { project: string; secretId: string }) => `/projects/${i.project}/secrets/${i.secretId}`;
const body = (i: SecretManagerSecretInputs) => ({ replication: { automatic: {} }, labels: { ...i.labels, ...ownerLabels(identityOf(i)) } });

async function addVersion(gcp: Gcp, i: SecretManagerSecretInputs): Promise<string> {
  const v = await SM.call(gcp, "POST", `${pathOf(i)}:addVersion`, `add a version to secret ${i.secretId}`, {
    payload: { data: Buffer.from(i.data, "utf8").toString("base64") },
  });
  return String(v.name).split("/").pop()!;
}

/** Adds or removes readers: one member of the accessor binding at a time, the policy's other bindings kept. */
async function setAccessors(gcp: Gcp, i: SecretManagerSecretInputs, before: string[]): Promise<void> {
  const access = {
    get: () => SM.orUndefined(gcp, `${pathOf(i)}:getIamPolicy`, `read the policy of secret ${i.secretId}`),
    set: async (policy: any) => void (await SM.call(gcp, "POST", `${pathOf(i)}:setIamPolicy`, `set the policy of secret ${i.secretId}`, { policy })),
  };
  for (const m of i.accessors.filter((m) => !before.includes(m)))
    await changeMember(access, SECRET_ACCESSOR, m, "add", `grant ${m} access to secret ${i.secretId}`);
  for (const m of before.filter((m) => !i.accessors.includes(m)))
    await changeMember(access, SECRET_ACCESSOR, m, "remove", `revoke ${m}'s access to secret ${i.secretId}`);
}

/** Destroys the versions older than the one before `current` (kept: the current value and the previous one). */
async function destroyOlder(gcp: Gcp, i: SecretManagerSecretInputs, current: string): Promise<void> {
  const listed = await SM.call(gcp, "GET", `${pathOf(i)}/versions`, `list the versions of secret ${i.secretId}`);
  for (const v of listed.versions ?? []) {
    const n = Number(String(v.name).split("/").pop());
    if (n < Number(current) - 1 && v.state !== "DESTROYED")
      await SM.call(gcp, "POST", `${pathOf(i)}/versions/${n}:destroy`, `destroy version ${n} of secret ${i.secretId}`, {});
  }
}

function outputs(i: SecretManagerSecretInputs, name: string, version: string, takenOverFrom: string): SecretManagerSecretState {
  return defined({ ...withoutProvider(i), name, version, takenOverFrom }) as SecretManagerSecretState;
}

export const secretManagerSecretOperations: TypedOperations<SecretManagerSecretInputs, SecretManagerSecretState> = engineFacing(
  "SecretManagerSecret",
  {
    ...RULES.handlers,

    async create(config, given) {
      const { gcp, inputs: i } = await clientsWithProject(config, given);
      const what = `secret ${i.secretId} in project ${i.project}`;
      const made = await createOrAdopt(what, i, "Otherwise choose another secretId.", {
        create: () => SM.call(gcp, "POST", `/projects/${i.project}/secrets?secretId=${encodeURIComponent(i.secretId)}`, `create ${what}`, body(i)),
        read: () => SM.call(gcp, "GET", pathOf(i), `read ${what}`),
        tag: labelTag,
        // A secret this instance made before a crash: re-tagged; a new version holds the value either way.
        adopt: () => SM.call(gcp, "PATCH", `${pathOf(i)}?updateMask=labels`, `update ${what} (adopting it)`, { labels: body(i).labels }),
      });
      const version = await addVersion(gcp, i);
      await setAccessors(gcp, i, []);
      return { id: `projects/${i.project}/secrets/${i.secretId}`, outs: outputs(i, made.made.name, version, made.takenOverFrom) };
    },

    async read(config, id, props) {
      const gcp = await clientsFor(config);
      const found = await SM.orUndefined(gcp, pathOf(props), `read secret ${props.secretId}`);
      if (!found) return { id: "" };
      return { id, props: outputs({ ...props, labels: userLabels(found.labels) }, props.name, props.version, props.takenOverFrom ?? "") };
    },

    async update(config, id, olds, checked) {
      const { news } = RULES.updating(olds, checked);
      const gcp = await clientsFor(config);
      const i = { ...news, owner: news.owner ?? olds.owner } as SecretManagerSecretInputs;
      let version = olds.version;
      if (news.data !== olds.data) {
        version = await addVersion(gcp, i);
        await destroyOlder(gcp, i, version);
      }
      if (JSON.stringify(news.labels) !== JSON.stringify(olds.labels))
        await SM.call(gcp, "PATCH", `${pathOf(i)}?updateMask=labels`, `update the labels of secret ${i.secretId}`, { labels: body(i).labels });
      await setAccessors(gcp, i, olds.accessors ?? []);
      return { outs: outputs(news, olds.name, version, olds.takenOverFrom ?? "") };
    },

    async delete(config, id, props) {
      const gcp = await clientsFor(config);
      await deleteIfOwned(`secret ${props.secretId}`, props, {
        read: () => SM.orUndefined(gcp, pathOf(props), `read secret ${props.secretId}`),
        tag: labelTag,
        del: async () => {
          try {
            await SM.call(gcp, "DELETE", pathOf(props), `delete secret ${props.secretId}`);
          } catch (e) {
            if (!notFound(e)) throw e;
          }
        },
      });
    },
  },
  ["data"],
);

export interface SecretManagerSecret
  extends Outputs<{
    /** `projects/<number>/secrets/<id>`. */
    name: string;
    /** The value's version number ("1", "2", …): pin it where the value is used. */
    version: string;
    project: string;
    takenOverFrom: string;
  }> {}

/** A Secret Manager secret with one value and its readers. */
export class SecretManagerSecret extends defineResource<SecretManagerSecretArgs>(__filename, {
  operations: { secretManagerSecretOperations },
  ...OWNED,
  wrap: (args) => ({ data: pulumi.secret(args.data) }),
  outputs: ["name", "version", "project", "takenOverFrom"],
  secretOutputs: ["data"],
  importInstead: "declare it without `import`: a secret this stack made carries its label and is adopted; one made elsewhere is refused by name",
}) {}
