// Predefined roles the emulator knows, and the permissions a custom role may hold.
// Role contents follow Google's predefined-role reference for Cloud Storage (subset this project touches).

export const STORAGE_BUCKET_PERMISSIONS = [
  "storage.buckets.create",
  "storage.buckets.delete",
  "storage.buckets.get",
  "storage.buckets.getIamPolicy",
  "storage.buckets.list",
  "storage.buckets.setIamPolicy",
  "storage.buckets.update",
];
export const STORAGE_OBJECT_PERMISSIONS = [
  "storage.objects.create",
  "storage.objects.delete",
  "storage.objects.get",
  "storage.objects.getIamPolicy",
  "storage.objects.list",
  "storage.objects.setIamPolicy",
  "storage.objects.update",
  "storage.managedFolders.list",
];
export const IAM_PERMISSIONS = [
  "iam.roles.create",
  "iam.roles.delete",
  "iam.roles.get",
  "iam.roles.list",
  "iam.roles.undelete",
  "iam.roles.update",
  "iam.serviceAccountKeys.create",
  "iam.serviceAccountKeys.delete",
  "iam.serviceAccountKeys.get",
  "iam.serviceAccountKeys.list",
  "iam.serviceAccounts.create",
  "iam.serviceAccounts.delete",
  "iam.serviceAccounts.disable",
  "iam.serviceAccounts.enable",
  "iam.serviceAccounts.get",
  "iam.serviceAccounts.list",
  "iam.serviceAccounts.undelete",
  "iam.serviceAccounts.update",
];

/** Permissions a project-level custom role may include (others: 400 "Permission X is not valid."). */
export const KNOWN_PERMISSIONS = new Set([
  ...STORAGE_BUCKET_PERMISSIONS,
  ...STORAGE_OBJECT_PERMISSIONS,
  ...IAM_PERMISSIONS,
  "resourcemanager.projects.get",
]);

export const PREDEFINED_ROLES: Record<string, string[]> = {
  "roles/storage.admin": [...STORAGE_BUCKET_PERMISSIONS, ...STORAGE_OBJECT_PERMISSIONS],
  "roles/storage.objectAdmin": [
    "storage.managedFolders.list",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.update",
    "storage.objects.getIamPolicy",
    "storage.objects.setIamPolicy",
  ],
  "roles/storage.objectUser": [
    "storage.managedFolders.list",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.update",
  ],
  "roles/storage.objectCreator": ["storage.objects.create"],
  "roles/storage.objectViewer": ["storage.objects.get", "storage.objects.list", "storage.managedFolders.list"],
  "roles/storage.legacyBucketOwner": [
    "storage.buckets.get",
    "storage.buckets.update",
    "storage.buckets.getIamPolicy",
    "storage.buckets.setIamPolicy",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.list",
  ],
  "roles/storage.legacyBucketWriter": [
    "storage.buckets.get",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.list",
  ],
  "roles/storage.legacyBucketReader": ["storage.buckets.get", "storage.objects.list"],
  "roles/storage.legacyObjectOwner": ["storage.objects.get", "storage.objects.update"],
  "roles/storage.legacyObjectReader": ["storage.objects.get"],
};

/** Member prefixes IAM accepts in a binding (gcp-apis.md §1.5). */
export const MEMBER_PATTERN =
  /^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|projectOwner|projectEditor|projectViewer|deleted:serviceAccount|deleted:user|deleted:group):.+|principal(Set)?:\/\/.+)$/;
