// ServiceAccountKey: a user-managed key of a service account. Every input replaces (gcp-apis.md
// §7.5); `rotationTrigger` exists only to ask for a new key. Replacement creates the new key first
// and deletes the old one after everything depending on it was updated (Pulumi's default order),
// so a consumer such as a changefeed switches keys before the old one stops working.
// The key file comes back only from create, as secret outputs (`privateKeyJson`, `privateKeyBase64`).
//
// The provider stored in state is an OperationsProvider pointing at this module and at
// `serviceAccountKeyOperations` (see provider/operations-provider.ts): this file's path and that export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { clientsFor, gcpCall, gcpDelete, gcpError } from "./client";
import { accountNotYetVisible, iamPropagation, keyGone, messageOf, notFound, withRetry } from "./recovery";
import { z } from "zod";
import { serviceAccountEmail } from "./fields";
import { collectionPermissions, defineResource, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs } from "../engine";

export interface ServiceAccountKeyArgs {
  serviceAccountEmail: pulumi.Input<string>;
  /** Default "KEY_ALG_RSA_2048". */
  keyAlgorithm?: pulumi.Input<"KEY_ALG_RSA_2048" | "KEY_ALG_RSA_1024">;
  /** Change it (a date, a counter) to rotate: a new key is made, then the old one deleted. */
  rotationTrigger?: pulumi.Input<string>;
}

const SECRETS = ["privateKeyJson", "privateKeyBase64"];

/** `projects/<project>/serviceAccounts/<email>` from the email's domain. */
function accountName(email: string): string {
  const project = email.split("@")[1].replace(/\.iam\.gserviceaccount\.com$/, "");
  return `projects/${project}/serviceAccounts/${email}`;
}

export const serviceAccountKeyInputs = z.strictObject({
  serviceAccountEmail,
  // RSA-1024 is below NIST SP 800-131A's 2048-bit minimum for RSA signatures; IAM still offers it.
  keyAlgorithm: z
    .enum(["KEY_ALG_RSA_2048"], { error: 'must be "KEY_ALG_RSA_2048" (1024-bit RSA keys are too weak for credentials that sign audit writes)' })
    .default("KEY_ALG_RSA_2048"),
  /** Any value; changing it creates a new key, then deletes the old one. */
  rotationTrigger: z.string().max(256, "rotationTrigger is at most 256 characters").default(""),
});
true satisfies ArgsInSchema<ServiceAccountKeyArgs, typeof serviceAccountKeyInputs>;

export type ServiceAccountKeyInputs = z.output<typeof serviceAccountKeyInputs>;

/** What a ServiceAccountKey keeps in state. */
export type ServiceAccountKeyState = ServiceAccountKeyInputs & {
  name: string;
  keyId: string;
  validAfterTime: string;
  /** The key file, base64 (what CockroachDB's CREDENTIALS takes before URL-encoding). Secret. */ privateKeyBase64: string;
  /** The key file (JSON). Secret. */ privateKeyJson: string;
};

// Every change makes a new key (create before delete: the feed switches before the old key goes).
const RULES = inputRules({ schema: serviceAccountKeyInputs, replace: ["serviceAccountEmail", "keyAlgorithm", "rotationTrigger"], update: [] });

export const SERVICE_ACCOUNT_KEY_PERMISSIONS = collectionPermissions("iam.serviceAccountKeys", { update: false });

export const serviceAccountKeyOperations: TypedOperations<ServiceAccountKeyInputs, ServiceAccountKeyState> = engineFacing("ServiceAccountKey", {
  ...RULES.handlers,

  async create(config, i) {
    const gcp = await clientsFor(config);
    const what = `create a key for ${i.serviceAccountEmail}`;
    // A just-created account may not be visible yet: 404/403 are retried for a while.
    const key = (
      await gcpCall(
        what,
        () =>
          gcp.iam.projects.serviceAccounts.keys.create({
            name: accountName(i.serviceAccountEmail),
            requestBody: { keyAlgorithm: i.keyAlgorithm, privateKeyType: "TYPE_GOOGLE_CREDENTIALS_FILE" },
          }),
        { retryIf: accountNotYetVisible, deadlineMs: iamPropagation.deadlineMs, baseDelayMs: 300 },
      )
    ).data;
    // Keys are eventually consistent too: wait until a read sees it (gcp-apis.md §2.3).
    await withRetry(() => gcp.iam.projects.serviceAccounts.keys.get({ name: key.name! }), {
      what: `wait for key ${key.name}`,
      retryIf: notFound,
      deadlineMs: iamPropagation.deadlineMs,
      baseDelayMs: 200,
    }).catch(async (e) => {
      // Not recorded in state, so it must not stay live: delete it (and say whether that worked).
      const removed = await withRetry(() => gcp.iam.projects.serviceAccounts.keys.delete({ name: key.name! }), { what: `delete key ${key.name}` }).then(
        () => "it was deleted again",
        (d) =>
          notFound(d)
            ? "it was deleted again"
            : `deleting it failed too (${messageOf(d)}); the next Changefeed update of an AuditStream deletes unused keys of its account`,
      );
      throw new Error(`${gcpError(e, `read back key ${key.name}`).message} The key is not in state: ${removed}.`);
    });
    return {
      id: key.name!,
      outs: {
        serviceAccountEmail: i.serviceAccountEmail,
        keyAlgorithm: i.keyAlgorithm,
        rotationTrigger: i.rotationTrigger,
        name: key.name!,
        keyId: key.name!.split("/").pop()!,
        validAfterTime: key.validAfterTime ?? "",
        privateKeyBase64: key.privateKeyData!,
        privateKeyJson: Buffer.from(key.privateKeyData!, "base64").toString("utf8"),
      },
    };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const gone = await withRetry(() => gcp.iam.projects.serviceAccounts.keys.get({ name: id }), { what: `read key ${id}` }).then(
      () => false,
      (e) => {
        // IAM answers 403 for keys of deleted accounts (Terraform treats it as gone, gcp-apis.md §2.3).
        if (keyGone(e)) return true;
        throw gcpError(e, `read key ${id}`);
      },
    );
    return gone ? { id: "" } : { id, props };
  },

  async update(_config, _id, olds) {
    // Only a new provider text gets here (every field replaces): keep the key as it is.
    return { outs: withoutProvider(olds) };
  },

  async delete(config, id) {
    const gcp = await clientsFor(config);
    await gcpDelete(`delete key ${id}`, () => gcp.iam.projects.serviceAccounts.keys.delete({ name: id }), keyGone);
  },
});

export interface ServiceAccountKey
  extends Outputs<Pick<ServiceAccountKeyState, "name" | "keyId" | "serviceAccountEmail" | "validAfterTime" | "privateKeyJson" | "privateKeyBase64">> {}

/** A service account key; its key file is a secret output. */
export class ServiceAccountKey extends defineResource<ServiceAccountKeyArgs>(__filename, {
  operations: { serviceAccountKeyOperations },
  outputs: ["name", "keyId", "validAfterTime", "privateKeyJson", "privateKeyBase64"],
  secretOutputs: SECRETS,
  importInstead:
    "declare a new ServiceAccountKey: Google returns a key's private part only when it is created; delete the old key yourself once nothing uses it",
}) {}
