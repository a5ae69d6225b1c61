// Recognizes and parses the CockroachDB-only statements the twin answers itself (the grammar
// subsets of cockroach-changefeeds.md §1.1, §5, §6, §7); everything else goes to PGlite.
import { SqlError } from "./wire";

export type Value =
  | { kind: "string"; value: string }
  | { kind: "placeholder"; index: number }
  | { kind: "word"; value: string }
  | { kind: "number"; value: string };

export interface KvOption {
  name: string;
  value?: Value;
}

export type Statement =
  | { kind: "showSetting"; name: string }
  | { kind: "setSetting"; name: string; value: Value | null }
  | { kind: "createChangefeed"; sink?: Value; options: KvOption[]; select: string; selectOffset: number }
  | { kind: "showChangefeedJobs"; job?: Value; select?: string }
  | { kind: "controlJob"; action: "PAUSE" | "RESUME" | "CANCEL"; job: Value }
  | { kind: "controlJobs"; action: "PAUSE" | "RESUME" | "CANCEL"; select: string }
  | { kind: "alterChangefeed"; job: Value; set: KvOption[]; unset: string[]; targetChange: boolean }
  | { kind: "version" }
  | { kind: "showZone"; target: string }
  | { kind: "configureZone"; target: string; gcTtlSeconds: number };

interface Token {
  t: "word" | "string" | "placeholder" | "number" | "punct" | "qident";
  v: string;
  pos: number;
}

function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      while (i < sql.length && sql[i] !== "\n") i++;
    } else if (c === "'") {
      const start = i;
      let v = "";
      i++;
      for (;;) {
        if (i >= sql.length) throw new SqlError("42601", `at or near "${sql.slice(start, start + 20)}": syntax error: unterminated string`);
        if (sql[i] === "'" && sql[i + 1] === "'") {
          v += "'";
          i += 2;
        } else if (sql[i] === "'") {
          i++;
          break;
        } else v += sql[i++];
      }
      out.push({ t: "string", v, pos: start });
    } else if (c === '"') {
      const start = i;
      const end = sql.indexOf('"', i + 1);
      if (end < 0) throw new SqlError("42601", `at or near "${sql.slice(start, start + 20)}": syntax error: unterminated identifier`);
      out.push({ t: "qident", v: sql.slice(i + 1, end), pos: start });
      i = end + 1;
    } else if (c === "$" && /\d/.test(sql[i + 1] ?? "")) {
      const m = /^\$(\d+)/.exec(sql.slice(i))!;
      out.push({ t: "placeholder", v: m[1], pos: i });
      i += m[0].length;
    } else if (/\d/.test(c)) {
      const m = /^\d+(\.\d+)?/.exec(sql.slice(i))!;
      out.push({ t: "number", v: m[0], pos: i });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.$]*/.exec(sql.slice(i))!;
      out.push({ t: "word", v: m[0], pos: i });
      i += m[0].length;
    } else {
      out.push({ t: "punct", v: c, pos: i });
      i++;
    }
  }
  return out;
}

class Parser {
  i = 0;
  constructor(
    readonly sql: string,
    readonly toks: Token[],
  ) {}
  peek(k = 0): Token | undefined {
    return this.toks[this.i + k];
  }
  is(word: string, k = 0): boolean {
    const t = this.peek(k);
    return !!t && t.t === "word" && t.v.toUpperCase() === word;
  }
  accept(word: string): boolean {
    if (this.is(word)) {
      this.i++;
      return true;
    }
    return false;
  }
  punct(p: string): boolean {
    const t = this.peek();
    if (t?.t === "punct" && t.v === p) {
      this.i++;
      return true;
    }
    return false;
  }
  fail(): never {
    const t = this.peek();
    throw new SqlError("42601", t ? `at or near "${t.v.toLowerCase()}": syntax error` : "at or near EOF: syntax error");
  }
  expect(word: string): void {
    if (!this.accept(word)) this.fail();
  }
  name(): string {
    const t = this.peek();
    if (!t || (t.t !== "word" && t.t !== "qident" && t.t !== "string")) this.fail();
    this.i++;
    return t.t === "word" ? t.v.toLowerCase() : t.v;
  }
  value(): Value {
    const t = this.peek();
    if (!t) this.fail();
    this.i++;
    if (t.t === "string") return { kind: "string", value: t.v };
    if (t.t === "placeholder") return { kind: "placeholder", index: Number(t.v) };
    if (t.t === "number") return { kind: "number", value: t.v };
    if (t.t === "word") return { kind: "word", value: t.v };
    if (t.t === "punct" && t.v === "-" && this.peek()?.t === "number") {
      const n = this.peek()!;
      this.i++;
      return { kind: "number", value: "-" + n.v };
    }
    this.i--;
    this.fail();
  }
  kvList(stopWords: string[]): KvOption[] {
    const opts: KvOption[] = [];
    do {
      const name = this.name();
      let value: Value | undefined;
      if (this.punct("=")) value = this.value();
      opts.push({ name, value });
    } while (this.punct(",") && !stopWords.some((w) => this.is(w)));
    return opts;
  }
  end(): void {
    this.punct(";");
    if (this.peek()) this.fail();
  }
}

/** The statement if the twin answers it itself, else undefined (PGlite's turn). */
export function parseCockroachStatement(sql: string): Statement | undefined {
  const text = sql.trim();
  if (/^select\s+version\s*\(\s*\)\s*;?$/i.test(text)) return { kind: "version" };
  // Zone configurations of a table (sql.y show_zone_stmt, alter_zone_table_stmt): the twin knows one
  // variable, gc.ttlseconds (cockroach-changefeeds.md §2.2 cursor; docs "SHOW ZONE CONFIGURATIONS").
  const show = /^show\s+zone\s+configuration\s+(?:from|for)\s+table\s+([a-z_][a-z0-9_.]*)\s*;?$/i.exec(text);
  if (show) return { kind: "showZone", target: show[1] };
  const alter = /^alter\s+table\s+([a-z_][a-z0-9_.]*)\s+configure\s+zone\s+using\s+gc\.ttlseconds\s*=\s*(\d+)\s*;?$/i.exec(text);
  if (alter) return { kind: "configureZone", target: alter[1], gcTtlSeconds: Number(alter[2]) };
  if (!/^(show|set|reset|create\s+changefeed|pause|resume|cancel|alter\s+changefeed)\b/i.test(text)) return undefined;
  if (/^(set|show|reset)\b/i.test(text) && !/^(set|show|reset)\s+(cluster\s+setting|changefeed)\b/i.test(text)) return undefined;
  if (/^(pause|resume|cancel)\b/i.test(text) && !/^(pause|resume|cancel)\s+jobs?\b/i.test(text)) return undefined;
  const p = new Parser(text, tokenize(text));
  const first = p.name().toUpperCase();

  if (first === "SHOW" && p.accept("CLUSTER")) {
    p.expect("SETTING");
    const name = p.name();
    p.end();
    return { kind: "showSetting", name };
  }
  if ((first === "SET" || first === "RESET") && p.accept("CLUSTER")) {
    p.expect("SETTING");
    const name = p.name();
    if (first === "RESET") {
      p.end();
      return { kind: "setSetting", name, value: null };
    }
    if (!p.punct("=") && !p.accept("TO")) p.fail();
    const value = p.accept("DEFAULT") ? null : p.value();
    p.end();
    return { kind: "setSetting", name, value };
  }
  if (first === "SHOW" && p.accept("CHANGEFEED")) {
    if (p.accept("JOBS")) {
      // psql sends the statement with its ';'.
      p.punct(";");
      // SHOW CHANGEFEED JOBS <select>: the jobs whose ids the query returns (sql.y show_changefeed_jobs_stmt).
      const rest = p.peek();
      if (rest) return { kind: "showChangefeedJobs", select: selectText(text, rest.pos) };
      return { kind: "showChangefeedJobs" };
    }
    p.expect("JOB");
    const job = p.value();
    p.end();
    return { kind: "showChangefeedJobs", job };
  }
  if (first === "PAUSE" || first === "RESUME" || first === "CANCEL") {
    if (p.accept("JOBS")) {
      // PAUSE/RESUME/CANCEL JOBS <select>: every job whose id the query returns (sql.y pause_jobs_stmt and friends).
      const rest = p.peek();
      if (!rest) p.fail();
      return { kind: "controlJobs", action: first, select: selectText(text, rest!.pos) };
    }
    p.expect("JOB");
    const job = p.value();
    if (p.accept("WITH")) {
      p.expect("REASON");
      if (!p.punct("=")) p.fail();
      p.value();
    }
    p.end();
    return { kind: "controlJob", action: first, job };
  }
  if (first === "CREATE") {
    p.expect("CHANGEFEED");
    if (p.is("FOR")) throw new SqlError("0A000", "the twin implements CDC-query changefeeds only: CREATE CHANGEFEED INTO … AS SELECT …");
    let sink: Value | undefined;
    if (p.accept("INTO")) {
      const t = p.peek();
      if (t?.t !== "string" && t?.t !== "placeholder") p.fail();
      sink = p.value();
    }
    let options: KvOption[] = [];
    if (p.accept("WITH")) {
      if (p.accept("OPTIONS")) {
        if (!p.punct("(")) p.fail();
        options = p.kvList([]);
        if (!p.punct(")")) p.fail();
      } else options = p.kvList(["AS"]);
    }
    if (!p.is("AS")) p.fail();
    p.i++;
    const start = p.peek();
    if (!start || !(start.t === "word" && start.v.toUpperCase() === "SELECT")) return p.fail();
    const select = text.slice(start.pos).replace(/;\s*$/, "");
    return { kind: "createChangefeed", sink, options, select, selectOffset: start.pos };
  }
  if (first === "ALTER") {
    p.expect("CHANGEFEED");
    const job = p.value();
    const set: KvOption[] = [];
    const unset: string[] = [];
    let targetChange = false;
    while (p.peek() && !(p.peek()!.t === "punct" && p.peek()!.v === ";")) {
      if (p.accept("SET")) set.push(...p.kvList(["SET", "UNSET", "ADD", "DROP"]));
      else if (p.accept("UNSET")) {
        do unset.push(p.name());
        while (p.punct(",") && !["SET", "UNSET", "ADD", "DROP"].some((w) => p.is(w)));
      } else if (p.accept("ADD") || p.accept("DROP")) {
        targetChange = true;
        while (p.peek() && !["SET", "UNSET", "ADD", "DROP"].some((w) => p.is(w)) && !(p.peek()!.t === "punct" && p.peek()!.v === ";")) p.i++;
      } else p.fail();
    }
    if (!set.length && !unset.length && !targetChange) p.fail();
    p.end();
    return { kind: "alterChangefeed", job, set, unset, targetChange };
  }
  return undefined;
}

/** Resolves a literal or placeholder to text; `params` are the Bind values. */
export function valueText(v: Value | undefined, params: (string | null)[]): string | undefined {
  if (!v) return undefined;
  if (v.kind === "placeholder") {
    if (v.index < 1 || v.index > params.length) throw new SqlError("08P01", `no value provided for placeholder: $${v.index}`);
    return params[v.index - 1] ?? undefined;
  }
  return v.value;
}

/** The query of `… JOBS <select>`: from `pos`, without a trailing ';' or one pair of enclosing parentheses. */
function selectText(text: string, pos: number): string {
  let q = text.slice(pos).trim().replace(/;\s*$/, "").trim();
  if (q.startsWith("(") && q.endsWith(")")) q = q.slice(1, -1).trim();
  return q;
}

/** `[SHOW CHANGEFEED JOBS]` / `[SHOW CHANGEFEED JOB <n>]` in a query: CockroachDB's statement sources (sql.y `'[' preparable_stmt ']'`). */
export const STATEMENT_SOURCE = /\[\s*SHOW\s+CHANGEFEED\s+JOB(S?)\b([^\]]*)\]/gi;
