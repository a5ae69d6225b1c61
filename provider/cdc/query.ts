// The SELECT of a CDC query (`CREATE CHANGEFEED ... AS SELECT ...`) over ZITADEL's events2.
// Structured options are rendered from allow-listed pieces; a raw query is accepted only after the
// real PostgreSQL parser (libpg-query) shows it keeps to CockroachDB's CDC-query rules
// (cockroach-changefeeds.md §1.1, §1.3).
import { z } from "zod";
import { ALLOWED_CDC_FUNCTIONS, CDC_HIDDEN_COLUMNS, calledFunction } from "./functions";
import { DEFAULT_TABLE, EVENTS2_COLUMN_NAMES, Events2Column, GUIDE_COLUMNS, PLAIN_IDENTIFIER, quoteIdent, sqlString } from "./events2";
import { FieldProblem, ValidationError, parseOrThrow } from "../validation";

/** Most values one IN list may hold; a longer allow-list belongs in a WHERE over a pattern or a raw query. */
export const MAX_LIST = 500;

const listOf = (item: z.ZodString, what: string, whenEmpty = "leave the option out to select all") =>
  z
    .array(item)
    .min(1, `${what} must name at least one value (${whenEmpty})`)
    .max(MAX_LIST, `${what} can hold at most ${MAX_LIST} values`)
    .superRefine((values, ctx) => {
      const seen = new Set<string>();
      values.forEach((v, i) => {
        if (seen.has(v)) ctx.addIssue({ code: "custom", path: [i], message: `"${v}" is listed twice` });
        seen.add(v);
      });
    });

/** Event types are dotted ASCII names such as `user.human.added` (cockroach-changefeeds.md §11.2). */
const eventType = z
  .string()
  .max(200, "event types are at most 200 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/, 'must be a dotted event type such as "user.human.added"');
const aggregateType = z
  .string()
  .max(200, "aggregate types are at most 200 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/, 'must be an aggregate type such as "user" or "org"');
const instanceId = z
  .string()
  .max(200, "instance ids are at most 200 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, "must be a ZITADEL instance id (letters, digits, '-' and '_')");

const column = z.enum(EVENTS2_COLUMN_NAMES as [Events2Column, ...Events2Column[]], {
  error: (issue) => `unknown column ${JSON.stringify(issue.input)}; eventstore.events2 has ${EVENTS2_COLUMN_NAMES.join(", ")}`,
});

const tableName = z
  .string()
  .refine((t) => {
    const parts = t.split(".");
    return parts.length >= 1 && parts.length <= 3 && parts.every((p) => PLAIN_IDENTIFIER.test(p));
  }, 'must be [database.]schema.table in plain lower-case identifiers, e.g. "eventstore.events2"')
  // The builder's columns, filters and BigQuery schema are events2's: another table would not have them.
  .refine(
    (t) => /(^|\.)eventstore\.events2$/.test(t),
    "must be ZITADEL's eventstore.events2 (optionally with its database, \"zitadel.eventstore.events2\"): the builder's columns are events2's; for another table write a raw query",
  );

const payloadOption = z.union(
  [z.literal("none"), z.literal("all"), z.strictObject({ eventTypes: listOf(eventType, "payload.eventTypes", 'use payload "none" for no payload') })],
  { error: 'must be "none", "all", or { eventTypes: [...] }' },
);

const filterOption = z.strictObject({
  instanceIds: listOf(instanceId, "filter.instanceIds").optional(),
  aggregateTypes: listOf(aggregateType, "filter.aggregateTypes").optional(),
  eventTypes: listOf(eventType, "filter.eventTypes").optional(),
});

export const changefeedQueryOptionsSchema = z
  .strictObject({
    table: tableName.optional(),
    columns: z
      .array(column)
      .min(1, "columns must name at least one column")
      .superRefine((cols, ctx) => {
        const seen = new Set<string>();
        cols.forEach((c, i) => {
          if (c === "payload") {
            ctx.addIssue({
              code: "custom",
              path: [i],
              message: 'payload is chosen by the "payload" option ("none", "all" or { eventTypes }), not by columns',
            });
          }
          if (seen.has(c)) ctx.addIssue({ code: "custom", path: [i], message: `column "${c}" is listed twice` });
          seen.add(c);
        });
      })
      .optional(),
    payload: payloadOption.optional(),
    filter: filterOption.optional(),
    query: z.string().optional(),
  })
  .superRefine((o, ctx) => {
    if (o.query !== undefined) {
      for (const k of ["table", "columns", "payload", "filter"] as const) {
        if (o[k] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [k],
            message: `"query" replaces table, columns, payload and filter; give either a raw query or "${k}"`,
          });
        }
      }
    }
  });

export type ChangefeedQueryOptions = z.input<typeof changefeedQueryOptionsSchema>;

/**
 * Renders the SELECT of a CDC query. Defaults reproduce the guide's first statement:
 * `SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at FROM eventstore.events2`.
 *
 * A raw `opts.query` needs the SQL parser: `await loadSqlParser()` once before calling this.
 */
export function buildChangefeedQuery(opts: ChangefeedQueryOptions = {}): string {
  const o = parseOrThrow("buildChangefeedQuery", changefeedQueryOptionsSchema, opts ?? {});
  if (o.query !== undefined) return validateRawQuery(o.query);

  const select: string[] = (o.columns ?? GUIDE_COLUMNS).map(quoteIdent);
  const payload = o.payload ?? "none";
  if (payload === "all") {
    select.push("payload");
  } else if (payload !== "none") {
    select.push(`CASE WHEN event_type IN (${payload.eventTypes.map(sqlString).join(", ")}) THEN payload END AS payload`);
  }

  const { table, where } = feedRows(o)!;
  return `SELECT ${select.join(", ")} FROM ${table}${where.length ? ` WHERE ${where.join(" AND ")}` : ""}`;
}

/**
 * Which rows a builder-made feed emits: its table and WHERE conditions (plain SQL over events2's
 * columns, usable outside a changefeed too). Undefined for a raw query, whose WHERE may use CDC-only
 * functions.
 */
export function feedRows(opts: ChangefeedQueryOptions = {}): { table: string; where: string[] } | undefined {
  const o = parseOrThrow("feedRows", changefeedQueryOptionsSchema, opts ?? {});
  if (o.query !== undefined) return undefined;
  const where: string[] = [];
  const inList = (col: Events2Column, values?: string[]) => {
    if (values) where.push(`${quoteIdent(col)} IN (${values.map(sqlString).join(", ")})`);
  };
  inList("instance_id", o.filter?.instanceIds);
  inList("aggregate_type", o.filter?.aggregateTypes);
  inList("event_type", o.filter?.eventTypes);
  return { table: (o.table ?? DEFAULT_TABLE).split(".").map(quoteIdent).join("."), where };
}

// ---------------------------------------------------------------------------------------------
// Raw queries

type PgQuery = typeof import("libpg-query");
let parser: PgQuery | undefined;

/** Loads the WebAssembly PostgreSQL parser that validates raw queries. Safe to call more than once. */
export async function loadSqlParser(): Promise<void> {
  if (parser) return;
  const mod: PgQuery = require("libpg-query");
  await mod.loadModule();
  parser = mod;
}

/** AST node types that CDC queries cannot contain, with the reason shown to the user. */
const FORBIDDEN_NODES: Record<string, string> = {
  SubLink: "sub-queries are not supported by CDC queries",
  JoinExpr: "CDC queries read exactly one table: no joins",
  RangeSubselect: "CDC queries read exactly one table: no sub-selects in FROM",
  RangeFunction: "CDC queries read exactly one table: no functions in FROM",
  RangeTableSample: "TABLESAMPLE is not supported by CDC queries",
  SQLValueFunction: "current_timestamp, now() and similar are not supported by CDC queries; statement_timestamp() gives the event's time",
  ParamRef: "placeholders ($1) are not supported inside a CDC query; inline the values",
  GroupingFunc: "aggregates are not supported by CDC queries",
  WindowDef: "window functions are not supported by CDC queries",
  XmlExpr: "XML functions are not supported by CockroachDB",
  CurrentOfExpr: "cursors are not supported by CDC queries",
  NextValueExpr: "sequences are volatile and not supported by CDC queries",
  CollateClause: "COLLATE is not supported here",
};

const SELECT_CLAUSES_REFUSED: Record<string, string> = {
  withClause: "CTEs (WITH ...) are not supported by CDC queries",
  distinctClause: "DISTINCT is not supported by CDC queries",
  intoClause: "SELECT INTO is not a CDC query",
  groupClause: "GROUP BY is not supported by CDC queries",
  havingClause: "HAVING is not supported by CDC queries",
  windowClause: "window functions are not supported by CDC queries",
  sortClause: "ORDER BY is not supported by CDC queries",
  limitCount: "LIMIT is not supported by CDC queries",
  limitOffset: "OFFSET is not supported by CDC queries",
  lockingClause: "FOR UPDATE/SHARE is not supported by CDC queries",
  valuesLists: "VALUES is not a CDC query",
};

function refuse(problems: FieldProblem[]): never {
  throw new ValidationError("buildChangefeedQuery", problems);
}

/** Returns the query, trimmed and without a trailing semicolon, or throws naming what breaks the CDC rules. */
export function validateRawQuery(raw: string): string {
  if (!parser) {
    throw new Error(
      "buildChangefeedQuery: a raw query needs the SQL parser; call `await loadSqlParser()` once first " + "(the Changefeed resource does this for you)",
    );
  }
  const bad = (reason: string) => refuse([{ field: "query", reason }]);
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(raw)) bad("contains control characters");
  if (/[^\x00-\x7f]/.test(raw)) bad("contains non-ASCII characters; write identifiers and literals in ASCII");
  if (raw.length > 20_000) bad("is longer than 20000 characters");
  const text = raw.trim().replace(/;\s*$/, "").trim();
  if (!text) bad("is empty");

  // Comments would hide text from a reader of the stored statement; refuse them outright.
  for (const tok of parser.scanSync(text).tokens) {
    if (tok.tokenName === "SQL_COMMENT" || tok.tokenName === "C_COMMENT") bad("must not contain SQL comments");
    if (tok.text === ";") bad("must be a single statement (found ';')");
  }

  let ast: any;
  try {
    ast = parser.parseSync(text);
  } catch (e) {
    bad(`is not valid SQL: ${(e as Error).message}`);
  }
  if (!ast.stmts || ast.stmts.length !== 1) bad("must be exactly one SELECT statement");
  const sel = ast.stmts[0].stmt?.SelectStmt;
  if (!sel) bad("must be a SELECT statement");
  if (sel.op && sel.op !== "SETOP_NONE") bad("UNION, INTERSECT and EXCEPT are not supported by CDC queries");

  const problems: FieldProblem[] = [];
  const add = (reason: string) => problems.push({ field: "query", reason });
  for (const [clause, reason] of Object.entries(SELECT_CLAUSES_REFUSED)) {
    if (sel[clause] !== undefined && !(Array.isArray(sel[clause]) && sel[clause].length === 0)) add(reason);
  }
  if (!sel.targetList?.length) add("must select at least one column");
  if (!sel.fromClause || sel.fromClause.length !== 1) add("CDC queries read exactly one table: FROM must name one table");
  const isEvents2 = sel.fromClause?.length === 1 && sel.fromClause[0].RangeVar?.relname === "events2";
  // Catalogs hold credentials and cluster internals (pg_authid, system.users); they are never an audit stream.
  // Catalogs hold credentials and cluster internals (pg_authid, system.users): never an audit stream,
  // whether named as the database (system.public.users) or as the schema (pg_catalog.pg_authid).
  const from = sel.fromClause?.length === 1 ? sel.fromClause[0].RangeVar : undefined;
  if (from) {
    const parts = [from.catalogname, from.schemaname, from.relname].filter((p: unknown) => typeof p === "string" && p !== "") as string[];
    if (parts.slice(0, -1).some((p) => ["pg_catalog", "information_schema", "crdb_internal", "system", "pg_extension"].includes(p.toLowerCase()))) {
      add(`reads ${parts.join(".")}: system catalogs are not streamed; read eventstore.events2`);
    }
  }

  walk(sel, (type, node) => {
    if (FORBIDDEN_NODES[type]) add(FORBIDDEN_NODES[type]);
    if (type === "FuncCall") {
      const name = calledFunction(node as { funcname: any[] });
      if (node.agg_star || node.agg_distinct || node.agg_order || node.agg_filter || node.agg_within_group) {
        problems.push({ field: "query", reason: `aggregate ${name}() is not supported by CDC queries` });
      } else if (node.over) {
        problems.push({ field: "query", reason: `window function ${name}() is not supported by CDC queries` });
      } else if (!ALLOWED_CDC_FUNCTIONS.has(name)) {
        problems.push({
          field: "query",
          reason: `function ${name}() is not on the list of immutable or CDC-safe functions; volatile and aggregate functions fail in a changefeed`,
        });
      }
    }
    if (type === "ColumnRef" && isEvents2) {
      const fields = node.fields as any[];
      const last = fields[fields.length - 1];
      const col = last.String?.sval as string | undefined;
      if (col && !(EVENTS2_COLUMN_NAMES as string[]).includes(col) && !(CDC_HIDDEN_COLUMNS as readonly string[]).includes(col)) {
        problems.push({ field: "query", reason: `unknown column "${col}" of eventstore.events2` });
      }
    }
  });
  if (problems.length) refuse(dedupe(problems));
  return text;
}

function dedupe(problems: FieldProblem[]): FieldProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => !seen.has(p.reason) && (seen.add(p.reason), true));
}

function walk(node: unknown, visit: (type: string, node: any) => void): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, visit);
  } else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (/^[A-Z]/.test(key) && value && typeof value === "object" && !Array.isArray(value)) visit(key, value);
      walk(value, visit);
    }
  }
}
