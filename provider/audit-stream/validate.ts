// AuditStream's arguments, checked in the program (so at preview) and strictly: unknown arguments,
// wrong types and combinations that would silently mis-wire the stream are refused, each named. Each
// part checks what it owns (args.ts ARGUMENTS); values given as Outputs are checked by the resources
// that receive them.
import { ARGUMENTS, plain, unknownKeys } from "./args";
import { writerProblems } from "./writer";
import { cockroachProblems } from "./sources/cockroach";
import { gcsProblems } from "./destinations/gcs";
import { bigQueryProblems } from "./destinations/bigquery";
import { pubsubProblems } from "./destinations/pubsub";
import { sourceProblems } from "./sources/postgres";
import { cloudRunProblems } from "./sources/postgres-cloud-run";

/** Every problem in these arguments, as "<argument>: <what is wrong and what to give>". */
export function auditStreamProblems(args: Record<string, unknown>): string[] {
  const problems = unknownKeys(args, Object.keys(ARGUMENTS), "", "an AuditStream argument");
  if (args.takeOver !== undefined && plain(args.takeOver) && !/^([0-9a-f]{16}|legacy)$/.test(String(args.takeOver)))
    problems.push(`takeOver: must be the deployment an error named (16 hex characters), or "legacy", not ${JSON.stringify(args.takeOver)}`);
  const postgres = typeof args.source === "object" && args.source !== null;
  problems.push(...sourceProblems(args));
  const pg = (args.source as { postgres?: Record<string, unknown> } | undefined)?.postgres;
  if (pg && typeof pg === "object") problems.push(...cloudRunProblems(pg, args));
  if (!postgres) problems.push(...writerProblems(args), ...cockroachProblems(args));
  problems.push(...gcsProblems(args));
  problems.push(...bigQueryProblems(args.bigQuery, args.changefeedOptions as Record<string, unknown> | undefined));
  problems.push(...pubsubProblems(args.pubsub, args.destinations, postgres ? "postgres" : "cockroach"));
  return problems;
}
