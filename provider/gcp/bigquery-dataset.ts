// BigQueryDataset: a BigQuery dataset for the audit events, with read access for the given
// members. Replace-only: datasetId, project, location (BigQuery cannot move a dataset);
// description, labels and readers update in place.
//
// Access: a dataset created without `access` gets BigQuery's defaults (owners, writers, readers
// of the project; datasets#resource-dataset `access`), and a given list replaces them. So create
// leaves it out and then adds the readers to what BigQuery made; updates add and remove only the
// READER entries this resource manages, under the dataset's etag (If-Match), so entries others
// added stay.
//
// Delete never drops tables this stack did not create: the dataset is deleted only when empty
// (no deleteContents); one that still holds tables is kept, and the message says so.
//
// The provider stored in state is `require(".../provider/stored/bigquery-dataset.js")`
// (provider/operations-provider.ts): this file's path and its `bigQueryDatasetOperations` export are stable API.
import * as pulumi from "@pulumi/pulumi";
import { Gcp, clientsFor } from "./client";
import { z } from "zod";
import { PROJECT_DEFAULT, ProjectArgs, datasetId, datasetReader, identitySchema, labels, projectId, utf8Max } from "./fields";
import { bq, bqOrUndefined, datasetPath } from "./bigquery-common";
import { OWNER_LABEL, createOrAdopt, identityOf, labelTag } from "./ownership";
import { mayDelete, ownerLabels, tagOf } from "../ownership";

import { collectionPermissions, defineResource, defined, engineFacing, inputRules, withoutProvider } from "../engine";
import type { ArgsInSchema, TypedOperations, Outputs } from "../engine";
import { notFound } from "./recovery";
import { OWNED } from "../stream-identity";

export interface BigQueryDatasetArgs extends ProjectArgs {
  datasetId: pulumi.Input<string>;
  /** Default "US". */
  location?: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Members who may read the dataset's tables: "user:…", "serviceAccount:…", "group:…". */
  readers?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Members who may write the dataset's tables (WRITER, i.e. roles/bigquery.dataEditor), e.g. the
   * project's Pub/Sub service agent for a BigQuery subscription (docs/pubsub-exports.md §5).
   */
  writers?: pulumi.Input<pulumi.Input<string>[]>;
}

export const bigQueryDatasetInputs = z.strictObject({
  datasetId,
  project: projectId.optional(),
  /** BigQuery locations are case-insensitive multi-regions ("US", "EU") or regions ("europe-west1"). */
  location: z
    .string()
    .regex(/^[A-Za-z0-9-]{2,40}$/, 'must be a BigQuery location such as "US", "EU" or "europe-west1"')
    .default("US"),
  description: utf8Max(16384, "description").default(""),
  labels: labels.default({}),
  readers: z
    .array(datasetReader)
    .max(100)
    .default([])
    .transform((r) => [...new Set(r)].sort()),
  // Absent rather than [] by default: state written before this input existed diffs as unchanged.
  writers: z
    .array(datasetReader)
    .max(100)
    .transform((r) => [...new Set(r)].sort())
    .optional(),
  ...identitySchema,
});
true satisfies ArgsInSchema<BigQueryDatasetArgs, typeof bigQueryDatasetInputs>;

export type BigQueryDatasetInputs = z.output<typeof bigQueryDatasetInputs> & { project: string };

/** What a BigQueryDataset keeps in state. */
export type BigQueryDatasetState = BigQueryDatasetInputs & { fullId: string; etag: string; takenOverFrom: string };

const REPLACE = ["datasetId", "project", "location"];
const UPDATE = ["description", "labels", "readers", "writers"];

type AccessRole = "READER" | "WRITER";

/** A dataset access entry for a member (legacy role name, as BigQuery returns them). */
function accessEntry(member: string, role: AccessRole): Record<string, string> {
  const [kind, email] = [member.slice(0, member.indexOf(":")), member.slice(member.indexOf(":") + 1)];
  return kind === "group" ? { role, groupByEmail: email } : { role, userByEmail: email };
}

const isEntryOf = (entry: any, members: string[], role: AccessRole) =>
  entry?.role === role &&
  members.some((m) => {
    const e = accessEntry(m, role);
    return (e.userByEmail !== undefined && e.userByEmail === entry.userByEmail) || (e.groupByEmail !== undefined && e.groupByEmail === entry.groupByEmail);
  });

const RULES = inputRules({
  schema: bigQueryDatasetInputs,
  ...PROJECT_DEFAULT,
  identity: true,
  replace: REPLACE,
  update: UPDATE,
  deleteBeforeReplace: () => true,
});

export const BIGQUERY_DATASET_PERMISSIONS = collectionPermissions("bigquery.datasets", {
  create: ["bigquery.datasets.get", "bigquery.datasets.update"],
  update: ["bigquery.datasets.get"],
});

export const bigQueryDatasetOperations: TypedOperations<BigQueryDatasetInputs, BigQueryDatasetState> = engineFacing("BigQueryDataset", {
  check: RULES.check,

  async diff(_config, _id, olds, news) {
    // BigQuery locations are case-insensitive.
    const upper = (v: any) => ({ ...v, location: typeof v.location === "string" ? v.location.toUpperCase() : v.location });
    return RULES.changes(upper(olds), upper(news));
  },

  async create(config, i) {
    const gcp = await clientsFor(config);
    const project = i.project ?? gcp.project;
    const name = `${project}:${i.datasetId}`;
    const body = {
      datasetReference: { projectId: project, datasetId: i.datasetId },
      location: i.location,
      description: i.description,
      labels: { ...i.labels, ...ownerLabels(identityOf(i)) },
    };
    const { made, takenOverFrom } = await createOrAdopt(`dataset ${name}`, i, "Otherwise choose another datasetId.", {
      create: () => bq(gcp, "POST", `/projects/${encodeURIComponent(project)}/datasets`, `create dataset ${name}`, body),
      read: () => bq(gcp, "GET", datasetPath(project, i.datasetId), `read dataset ${name}`),
      tag: labelTag,
      adopt: async (found) => {
        if (String(found.location).toUpperCase() !== i.location.toUpperCase()) {
          throw new Error(
            `dataset ${name} exists in ${found.location}, not ${i.location}: BigQuery cannot move a dataset. Give a new datasetId for the new location.`,
          );
        }
        return undefined; // brought to the inputs below
      },
    });
    // Readers are added to the access BigQuery made (and an adopted dataset is brought to the inputs).
    const final =
      made && i.readers.length === 0 && (i.writers ?? []).length === 0
        ? made
        : await updateDataset(gcp, project, i, { readers: [], writers: [] }, { description: i.description, labels: body.labels });
    return { id: name, outs: outputs({ ...i, project, takenOverFrom }, final) };
  },

  async read(config, id, props) {
    const gcp = await clientsFor(config);
    const d = await bqOrUndefined(gcp, datasetPath(props.project, props.datasetId), `read dataset ${id}`);
    if (!d) return { id: "" };
    const holding = (members: string[] | undefined, role: AccessRole) =>
      (members ?? []).filter((m) => (d.access ?? []).some((a: any) => isEntryOf(a, [m], role)));
    const readers = holding(props.readers, "READER");
    const writers = props.writers === undefined ? undefined : holding(props.writers, "WRITER");
    const { [OWNER_LABEL]: _mine, ...labels } = d.labels ?? {};
    void _mine;
    return { id, props: outputs({ ...props, description: d.description ?? "", labels, readers, writers, location: d.location ?? props.location }, d) };
  },

  async update(config, id, olds, checked) {
    const { news, updates } = RULES.updating(olds, checked);
    if (updates.length === 0) return { outs: outputs(news, olds) };
    const gcp = await clientsFor(config);
    const d = await updateDataset(
      gcp,
      news.project,
      news,
      { readers: olds.readers ?? [], writers: olds.writers ?? [] },
      { description: news.description, labels: { ...news.labels, ...ownerLabels(identityOf({ ...news, owner: news.owner ?? olds.owner })) } },
      olds.labels ?? {},
    );
    return { outs: outputs(news, d) };
  },

  async delete(config, id, props) {
    const gcp = await clientsFor(config);
    if (tagOf(identityOf(props)) !== undefined) {
      const found = await bqOrUndefined(gcp, datasetPath(props.project, props.datasetId), `read dataset ${id}`);
      if (!found) return;
      const d = mayDelete(labelTag(found), identityOf(props));
      if (!d.delete) return console.log(`dataset ${id} is not deleted: ${d.why}`);
    }
    try {
      await bq(gcp, "DELETE", datasetPath(props.project, props.datasetId), `delete dataset ${id}`);
    } catch (e) {
      if (notFound(e)) return;
      if ((e as any).reason === "resourceInUse") {
        // Tables this stack did not create (ours were deleted before, in dependency order): kept.
        console.log(`dataset ${id} still holds tables this stack did not create: it is kept, with them (delete it yourself when they are no longer needed)`);
        return;
      }
      throw e;
    }
  },
});

/**
 * Reads the dataset and writes it back whole (datasets.update, under its etag) with `fields` set
 * and its READER and WRITER entries for the managed members made exactly `i.readers` and `i.writers`
 * (removing those of `previous` that are gone); entries and labels others added stay. A concurrent change
 * (412) is read again and re-applied.
 */
async function updateDataset(
  gcp: Gcp,
  project: string,
  i: any,
  previous: { readers: string[]; writers: string[] },
  fields: { description?: string; labels?: Record<string, string> },
  previousLabels: Record<string, string> = {},
): Promise<any> {
  const path = datasetPath(project, i.datasetId);
  for (let attempt = 0; ; attempt++) {
    const current = await bq(gcp, "GET", path, `read dataset ${project}:${i.datasetId}`);
    const kept = (current.access ?? []).filter(
      (a: any) => !isEntryOf(a, [...previous.readers, ...i.readers], "READER") && !isEntryOf(a, [...previous.writers, ...(i.writers ?? [])], "WRITER"),
    );
    const access = [...kept, ...i.readers.map((m: string) => accessEntry(m, "READER")), ...(i.writers ?? []).map((m: string) => accessEntry(m, "WRITER"))];
    const othersLabels = Object.fromEntries(Object.entries(current.labels ?? {}).filter(([k]) => !(k in previousLabels)));
    const labels = fields.labels ? { ...othersLabels, ...fields.labels } : current.labels;
    try {
      return await bq(gcp, "PUT", path, `update dataset ${project}:${i.datasetId}`, defined({ ...current, ...fields, labels, access }), {
        "If-Match": current.etag,
      });
    } catch (e) {
      if ((e as any).status !== 412 || attempt >= 4) throw e;
    }
  }
}

function outputs(i: any, d: any): BigQueryDatasetState {
  const rest = withoutProvider(i);
  return defined({
    ...rest,
    location: d?.location ?? rest.location,
    fullId: `${rest.project}:${rest.datasetId}`,
    etag: d?.etag ?? rest.etag ?? "",
    takenOverFrom: rest.takenOverFrom ?? "",
  }) as BigQueryDatasetState;
}

export interface BigQueryDataset
  extends Outputs<{ datasetId: string; project: string; location: string; /** `project:dataset`. */ fullId: string; readers: string[] }> {}

/** A BigQuery dataset with read access for the given members. */
export class BigQueryDataset extends defineResource<BigQueryDatasetArgs>(__filename, {
  operations: { bigQueryDatasetOperations },
  ...OWNED,
  outputs: ["project", "location", "readers", "fullId", "etag", "takenOverFrom"],
  importInstead:
    "declare it without `import`: a dataset this stack made carries its label and is adopted; one made elsewhere is refused by name (choose another datasetId)",
}) {}
