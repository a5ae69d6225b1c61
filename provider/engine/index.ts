// What a resource file takes from the engine, in one import: `import { defineResource, … } from "../engine"`.
// (watchdog.ts and secrets.ts are the engine's own; tests import the modules directly.)
export type { ArgsInSchema, CheckFailure, ConfigLike, DeepInput, Operations, Outputs, Permissions, ResourceOperations } from "./contract";
export { UNKNOWN, containsUnknown, defined, validate, withoutProvider } from "./check";
export { DiffResult, classifyDiff, sameValue } from "./diff";
export { generateName, physicalName, prefixFrom, previewName } from "./naming";
export type { NoImport } from "./no-import";
export { TypedOperations, defineResource, engineFacing, forEngine } from "./define";
export { inputRules } from "./rules";
export { collectionPermissions } from "./permissions";
