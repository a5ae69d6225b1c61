// IAM Conditions on bucket bindings: the subset of CEL the emulator evaluates, enough to scope a grant to
// a prefix of a bucket (cloud.google.com/iam/docs/conditions-overview, conditions-resource-attributes):
//   resource.name.startsWith("projects/_/buckets/<b>/objects/<prefix>")    objects' names
//   resource.name == "…", resource.type == "storage.googleapis.com/Object" | "…/Bucket"
//   api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("<prefix>")   a listing's prefix
// joined with `||` and `&&`, with parentheses and `!`. Anything else is refused when the policy is set
// (so a condition the emulator cannot judge never silently grants or denies).
import { invalid } from "./errors";

/** What a request offers a condition: the resource's name and type, and the listing's prefix for objects.list. */
export interface RequestAttributes {
  /** `projects/_/buckets/<b>` for bucket-level checks, `projects/_/buckets/<b>/objects/<o>` for an object. */
  resourceName: string;
  resourceType: "storage.googleapis.com/Bucket" | "storage.googleapis.com/Object";
  /** The `prefix` of an objects.list request ("" without one); undefined for any other request. */
  listPrefix?: string;
}

type Node =
  | { op: "or" | "and"; a: Node; b: Node }
  | { op: "not"; a: Node }
  | { op: "test"; subject: "name" | "type" | "listPrefix"; fn: "startsWith" | "eq"; value: string };

const TOKEN = /\s*(\|\||&&|!|\(|\)|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_][A-Za-z0-9_.]*|\.[A-Za-z_][A-Za-z0-9_]*|,|==)/y;

function tokenize(text: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) throw new Error(`cannot read the condition at "${text.slice(pos, pos + 20)}"`);
    out.push(m[1]);
    pos = TOKEN.lastIndex;
  }
  return out;
}

const literal = (t: string | undefined): string => {
  if (!t || !/^["']/.test(t)) throw new Error(`expected a string, found ${t ?? "the end"}`);
  return JSON.parse(`"${t.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`);
};

/** Parses a condition expression into the evaluable subset, or throws naming what it cannot read. */
export function parseCondition(expression: string): Node {
  const t = tokenize(expression);
  let i = 0;
  const take = (want?: string) => {
    const v = t[i++];
    if (want !== undefined && v !== want) throw new Error(`expected ${want}, found ${v ?? "the end"}`);
    return v;
  };
  const primary = (): Node => {
    if (t[i] === "(") {
      take("(");
      const n = or();
      take(")");
      return n;
    }
    if (t[i] === "!") {
      take("!");
      return { op: "not", a: primary() };
    }
    const head = take();
    let subject: "name" | "type" | "listPrefix";
    let fn: "startsWith" | "eq";
    if (head === "resource.name.startsWith" || head === "resource.type.startsWith") {
      subject = head.startsWith("resource.name") ? "name" : "type";
      fn = "startsWith";
    } else if (head === "resource.name" || head === "resource.type") {
      subject = head === "resource.name" ? "name" : "type";
      take("==");
      return { op: "test", subject, fn: "eq", value: literal(take()) };
    } else if (head === "api.getAttribute") {
      take("(");
      const attribute = literal(take());
      take(",");
      const fallback = literal(take());
      take(")");
      if (attribute !== "storage.googleapis.com/objectListPrefix" || fallback !== "")
        throw new Error(`api.getAttribute("${attribute}", "${fallback}") is not one the emulator knows`);
      const method = take();
      if (method !== ".startsWith") throw new Error(`expected .startsWith after api.getAttribute, found ${method}`);
      take("(");
      const value = literal(take());
      take(")");
      return { op: "test", subject: "listPrefix", fn: "startsWith", value };
    } else {
      throw new Error(`${head} is not part of the condition language the emulator evaluates`);
    }
    take("(");
    const value = literal(take());
    take(")");
    return { op: "test", subject, fn, value };
  };
  const and = (): Node => {
    let n = primary();
    while (t[i] === "&&") {
      take();
      n = { op: "and", a: n, b: primary() };
    }
    return n;
  };
  const or = (): Node => {
    let n = and();
    while (t[i] === "||") {
      take();
      n = { op: "or", a: n, b: and() };
    }
    return n;
  };
  const n = or();
  if (i !== t.length) throw new Error(`unexpected ${t[i]}`);
  return n;
}

/** A policy binding's condition checked when the policy is set: 400 naming what the emulator cannot evaluate. */
export function checkCondition(condition: unknown): void {
  const c = condition as { expression?: unknown; title?: unknown };
  if (typeof c?.title !== "string" || c.title === "") throw invalid("A condition needs a title.");
  if (typeof c.expression !== "string") throw invalid("A condition needs an expression.");
  try {
    parseCondition(c.expression);
  } catch (e) {
    throw invalid(`The condition "${c.title}" cannot be evaluated by this emulator: ${(e as Error).message}.`); // own words
  }
}

/** Does the condition hold for this request? A listing's prefix attribute is "" outside objects.list (the fallback). */
export function conditionHolds(condition: unknown, attrs: RequestAttributes): boolean {
  const eval_ = (n: Node): boolean => {
    switch (n.op) {
      case "or":
        return eval_(n.a) || eval_(n.b);
      case "and":
        return eval_(n.a) && eval_(n.b);
      case "not":
        return !eval_(n.a);
      case "test": {
        const v = n.subject === "name" ? attrs.resourceName : n.subject === "type" ? attrs.resourceType : (attrs.listPrefix ?? "");
        return n.fn === "eq" ? v === n.value : v.startsWith(n.value);
      }
    }
  };
  return eval_(parseCondition(String((condition as { expression: string }).expression)));
}
