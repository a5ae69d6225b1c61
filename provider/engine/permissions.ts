// Permission rows for the resources whose operations each call the same-named method of one REST
// collection: Google names IAM permissions `<service>.<collection>.<verb>` (e.g. storage.buckets.create
// for buckets.insert), so such a resource needs create, get (refresh), update and delete on its
// collection, plus whatever an operation reads or writes beside it.
import type { Permissions } from "./contract";

export interface Beyond {
  create?: string[];
  read?: string[];
  /** false: the resource has no update (every change replaces it). */
  update?: string[] | false;
  delete?: string[];
}

/** `collection` is "<service>.<collection>", e.g. "storage.buckets". */
export function collectionPermissions(collection: string, beyond: Beyond = {}): Permissions {
  const own = (verb: string, extra: string[] = []) => [`${collection}.${verb}`, ...extra];
  return {
    create: own("create", beyond.create),
    "read (refresh)": own("get", beyond.read),
    ...(beyond.update === false ? {} : { update: own("update", beyond.update) }),
    delete: own("delete", beyond.delete),
  };
}
