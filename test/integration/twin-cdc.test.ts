// The CockroachDB twin through the real `pg` driver: the guide's statements, the changefeed job
// surface, and the engine writing into the emulated bucket.
import * as net from "net";
import { Client, QueryConfig } from "pg";
import { CdcFixture, cdcFixture } from "../helpers/cdc-fixture";
import { account, insertEvents, makeEvents, readDelivered, waitFor } from "../helpers/events";
import { buildChangefeedQuery, buildCreateChangefeedStatement, buildSinkUri } from "../../provider";
import { ALLOWED_CDC_FUNCTIONS, sampleCall } from "../../provider/cdc/functions";

jest.setTimeout(120_000);

const GUIDE_FIRST =
  "CREATE CHANGEFEED INTO 'gs://gc-storage-zitadel-data/events?partition_format=flat&AUTH=specified&CREDENTIALS=base64encodedkey' AS SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at FROM eventstore.events2;";
const GUIDE_SECOND =
  "CREATE CHANGEFEED INTO 'gs://gc-storage-zitadel-data/events?partition_format=flat&AUTH=specified&CREDENTIALS=base64encodedkey' AS SELECT instance_id, aggregate_type, aggregate_id, owner, event_type, sequence, created_at CASE WHEN event_type IN ('instance.domain.added', 'instance.domain.removed', 'instance.domain.primary.set' ) THEN payload END AS payload FROM eventstore.events2;";

let f: CdcFixture;
beforeAll(async () => {
  f = await cdcFixture({}, "gc-storage-zitadel-data");
});
afterAll(() => f?.stop());

const sqlError = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return { code: (e as any).code as string, message: (e as Error).message };
  }
  throw new Error("expected an error");
};
/** A raw PostgreSQL-protocol connection to the twin: what a client library would hide. */
class Raw {
  private buf = Buffer.alloc(0);
  private constructor(private readonly socket: net.Socket) {}

  /** Connects and sends the StartupMessage; resolves with the server's answer up to ReadyForQuery. */
  static async open(url: string, params: Record<string, string> = {}): Promise<{ raw: Raw; startup: Buffer[] }> {
    const u = new URL(url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise((r) => socket.once("connect", r));
    const raw = new Raw(socket);
    const body = Buffer.concat([
      ...Object.entries({ user: "root", database: "defaultdb", ...params }).flatMap(([k, v]) => [Raw.cstr(k), Raw.cstr(v)]),
      Raw.cstr(""),
    ]);
    const startup = Buffer.concat([Buffer.alloc(4), Buffer.from([0, 3, 0, 0]), body]);
    startup.writeInt32BE(startup.length, 0);
    socket.write(startup);
    return { raw, startup: await raw.until("Z") };
  }

  static cstr = (s: string) => Buffer.from(`${s}\0`);
  static msg(type: string, ...parts: Buffer[]): Buffer {
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(5);
    head.write(type, 0, "latin1");
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  }
  static int16 = (...ns: number[]) => Buffer.concat(ns.map((n) => Buffer.from([(n >> 8) & 255, n & 255])));
  static int32 = (n: number) => Buffer.from([24, 16, 8, 0].map((shift) => (n >> shift) & 255));

  /** Sends messages and collects the answers up to (and with) the first of type `type`. */
  send(messages: Buffer[], type = "Z"): Promise<Buffer[]> {
    this.socket.write(Buffer.concat(messages));
    return this.until(type);
  }

  until(type: string): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const found: Buffer[] = [];
      const take = () => {
        while (this.buf.length >= 5 && 1 + this.buf.readInt32BE(1) <= this.buf.length) {
          const m = this.buf.subarray(0, 1 + this.buf.readInt32BE(1));
          this.buf = this.buf.subarray(m.length);
          found.push(m);
          if (String.fromCharCode(m[0]) === type) {
            this.socket.off("data", onData);
            resolve(found);
            return;
          }
        }
      };
      const onData = (d: Buffer) => {
        this.buf = Buffer.concat([this.buf, d]);
        take();
      };
      this.socket.on("data", onData);
      this.socket.once("error", reject);
      take();
    });
  }

  close(): void {
    this.socket.end(Raw.msg("X"));
  }
}

const typeOf = (m: Buffer) => String.fromCharCode(m[0]);
/** The values of a DataRow message, as raw bytes (null for SQL NULL). */
function dataRowValues(m: Buffer): (Buffer | null)[] {
  const out: (Buffer | null)[] = [];
  let at = 7;
  for (let i = 0; i < m.readInt16BE(5); i++) {
    const len = m.readInt32BE(at);
    at += 4;
    out.push(len < 0 ? null : m.subarray(at, at + len));
    at += Math.max(len, 0);
  }
  return out;
}

/** Parse + Describe(statement) + Sync on a raw connection: the parameter type OIDs the server reports. */
async function describeParams(sql: string): Promise<number[]> {
  const { raw } = await Raw.open(f.twin.url);
  const replies = await raw.send([Raw.msg("P", Raw.cstr(""), Raw.cstr(sql), Raw.int16(0)), Raw.msg("D", Buffer.from("S"), Raw.cstr("")), Raw.msg("S")]);
  raw.close();
  const t = replies.find((m) => typeOf(m) === "t");
  if (!t) throw new Error(`no ParameterDescription: ${replies.map(typeOf).join("")}`);
  return Array.from({ length: t.readInt16BE(5) }, (_, i) => t.readInt32BE(7 + 4 * i));
}

const job = async (id: string) => (await f.pg.query("SHOW CHANGEFEED JOB $1", [id])).rows[0];
const rangefeedsOn = () => f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");

describe("kv.rangefeed.enabled", () => {
  test("is a BOOL column named after the setting, off by default, and CREATE fails while it is off", async () => {
    const show = await f.pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled");
    expect(show.fields[0].name).toBe("kv.rangefeed.enabled");
    expect(show.rows).toEqual([{ "kv.rangefeed.enabled": false }]);
    const e = await sqlError(f.pg.query(buildCreateChangefeedStatement(), [buildSinkUri({ bucket: f.bucket, credentials: f.keyBase64 })]));
    expect(e.message).toBe(
      "rangefeeds require the kv.rangefeed.enabled setting. See https://www.cockroachlabs.com/docs/v24.3/create-and-configure-changefeeds.html#enable-rangefeeds",
    );
    await f.pg.query("SET CLUSTER SETTING kv.rangefeed.enabled = true");
    expect((await f.pg.query("SHOW CLUSTER SETTING kv.rangefeed.enabled")).rows[0]["kv.rangefeed.enabled"]).toBe(true);
  });
});

describe("the guide's statements", () => {
  beforeAll(rangefeedsOn);
  test("the second statement as written is a syntax error (42601); the builder's version is accepted", async () => {
    const guide = GUIDE_SECOND.replace("base64encodedkey", encodeURIComponent(f.keyBase64));
    const e = await sqlError(f.pg.query(guide));
    expect(e.code).toBe("42601");
    expect(e.message).toMatch(/^at or near "case": syntax error/); // the missing comma before CASE
    const fixed = buildCreateChangefeedStatement({
      query: { payload: { eventTypes: ["instance.domain.added", "instance.domain.removed", "instance.domain.primary.set"] } },
    });
    const ok = await f.pg.query(fixed, [buildSinkUri({ bucket: f.bucket, prefix: "allowlisted", partitionFormat: "flat", credentials: f.keyBase64 })]);
    expect(ok.rows[0].job_id).toMatch(/^\d{16,19}$/);
    await f.pg.query(`CANCEL JOB ${ok.rows[0].job_id}`);
  });

  test("the first statement with a real key, URL-encoded, creates a job whose files reach the bucket", async () => {
    const stmt = GUIDE_FIRST.replace("base64encodedkey", encodeURIComponent(f.keyBase64));
    const created = await f.pg.query(stmt);
    const id: string = created.rows[0].job_id;
    expect(typeof id).toBe("string");
    expect(BigInt(id) > 2n ** 53n).toBe(true);
    const events = makeEvents(12);
    await insertEvents(f.pg, events);
    const got = await waitFor("the events in the bucket", async () => {
      const d = await readDelivered(f.admin, f.bucket, "events/");
      return account(events, d.lines).missing === 0 && d;
    });
    // Flat partitions, CockroachDB's file naming, exactly the projected columns, no payload.
    for (const file of got.files) expect(file).toMatch(/^events\/\d{33}-[0-9a-f]{16}-1-\d+-[0-9a-f]{8}-events2-1\.ndjson$/);
    for (const line of got.lines)
      expect(Object.keys(line)).toEqual(["aggregate_id", "aggregate_type", "created_at", "event_type", "instance_id", "owner", "sequence"]);
    expect(got.lines[0].created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // The frontier follows the flush (files are written ahead of the checkpoint).
    const row = await waitFor("a checkpoint", async () => {
      const r = await job(id);
      return r.high_water_timestamp !== null && r;
    });
    expect(row.status).toBe("running");
    expect(row.sink_uri).toBe("gs://gc-storage-zitadel-data/events?AUTH=specified&CREDENTIALS=redacted&partition_format=flat");
    expect(row.description).toContain("CREDENTIALS=redacted");
    expect(row.description).not.toContain(f.keyBase64.slice(0, 30));
    expect(row.high_water_timestamp).toMatch(/^\d{19}\.\d{10}$/);
    await f.pg.query("CANCEL JOB $1", [id]);
  });

  test("the key pasted without URL-encoding is refused as bad base64 (cockroach #126552)", async () => {
    // Real keys rarely contain '+' in base64; this one is made to (test/helpers/keys.ts).
    const { makeKeyWithAwkwardBase64 } = require("../helpers/keys");
    const awkward = makeKeyWithAwkwardBase64();
    const e = await sqlError(f.pg.query(GUIDE_FIRST.replace("base64encodedkey", awkward.base64)));
    expect(e.message).toMatch(/^error getting credentials from CREDENTIALS: illegal base64 data at input byte \d+$/);
  });
});

describe("CREATE validation", () => {
  beforeAll(rangefeedsOn);
  const sink = () => buildSinkUri({ bucket: f.bucket, prefix: "v", credentials: f.keyBase64 });
  test.each([
    ["unknown option", "CREATE CHANGEFEED INTO $1 WITH foo AS SELECT instance_id FROM eventstore.events2", /^invalid option "foo"$/],
    ["flag with a value", "CREATE CHANGEFEED INTO $1 WITH diff = 'yes' AS SELECT instance_id FROM eventstore.events2", /^option "diff" does not take a value$/],
    ["bad envelope", "CREATE CHANGEFEED INTO $1 WITH envelope = 'nope' AS SELECT instance_id FROM eventstore.events2", /^unknown envelope: nope/],
    [
      "kafka option on gs",
      "CREATE CHANGEFEED INTO $1 WITH kafka_sink_config = '{}' AS SELECT instance_id FROM eventstore.events2",
      /^this sink is incompatible with option kafka_sink_config$/,
    ],
    ["now()", "CREATE CHANGEFEED INTO $1 AS SELECT instance_id, now() AS t FROM eventstore.events2", /^function "now" unsupported by CDC$/],
    ["aggregate", "CREATE CHANGEFEED INTO $1 AS SELECT count(*) FROM eventstore.events2", /unsupported by CDC$/],
    ["sub-query", "CREATE CHANGEFEED INTO $1 AS SELECT (SELECT 1) AS x FROM eventstore.events2", /^sub-query expressions not supported by CDC$/],
    ["two tables", "CREATE CHANGEFEED INTO $1 AS SELECT 1 AS x FROM eventstore.events2, eventstore.events2 AS b", /not supported for more than 1 table$/],
    ["missing table", "CREATE CHANGEFEED INTO $1 AS SELECT x FROM eventstore.nope", /table "nope" does not exist/],
    ["unknown column", "CREATE CHANGEFEED INTO $1 AS SELECT secret FROM eventstore.events2", /column "secret" does not exist/],
    [
      "negative duration",
      "CREATE CHANGEFEED INTO $1 WITH resolved = '-1s' AS SELECT instance_id FROM eventstore.events2",
      /^negative durations are not accepted/,
    ],
  ])("%s", async (_name, sql, message) => {
    expect((await sqlError(f.pg.query(sql, [sink()]))).message).toMatch(message);
  });

  test("function rules from provider/cdc/functions.ts: what the provider allows the twin accepts; volatile and unlisted stable ones are refused as CockroachDB refuses them", async () => {
    // An argument the function may not take fails PostgreSQL's type check, not the CDC rules: either is fine here.
    const refused: string[] = [];
    for (const fn of ALLOWED_CDC_FUNCTIONS) {
      const r = await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH initial_scan = 'no' AS SELECT ${sampleCall(fn)} AS x FROM eventstore.events2`, [sink()]).then(
        (ok) => ({ id: ok.rows[0].job_id as string, message: "" }),
        (e) => ({ id: "", message: (e as Error).message }),
      );
      if (/unsupported by CDC|unknown function/.test(r.message)) refused.push(`${fn}: ${r.message}`);
      if (r.id) await f.pg.query("CANCEL JOB $1", [r.id]);
    }
    expect(refused).toEqual([]);
    for (const fn of ["current_setting", "pg_backend_pid", "random", "cluster_logical_timestamp", "now"]) {
      const e = await sqlError(
        f.pg.query(`CREATE CHANGEFEED INTO $1 AS SELECT ${fn === "current_setting" ? "current_setting('TimeZone')" : `${fn}()`} AS x FROM eventstore.events2`, [
          sink(),
        ]),
      );
      expect([e.code, e.message]).toEqual(["42883", `function "${fn}" unsupported by CDC`]);
    }
    expect((await sqlError(f.pg.query("CREATE CHANGEFEED INTO $1 AS SELECT cdc_is_delete() AS x FROM eventstore.events2", [sink()]))).message).toBe(
      "unknown function: cdc_is_delete()",
    );
  });

  test("sink URI problems are reported as CockroachDB reports them", async () => {
    const q = buildCreateChangefeedStatement();
    expect((await sqlError(f.pg.query(q, [`gs://${f.bucket}?AUTH=specified`]))).message).toBe(
      'CREDENTIALS or BEARER_TOKEN must be set if "AUTH" is "specified"',
    );
    expect((await sqlError(f.pg.query(q, [`gs://${f.bucket}?AUTH=implicit&topic_prefix=x`]))).message).toBe("unknown GS query parameters: topic_prefix");
    expect((await sqlError(f.pg.query(q, [`gs://${f.bucket}?AUTH=implicit&partition_format=weekly`]))).message).toBe("invalid partition_format of weekly");
  });

  test("a cursor in the future, or older than the GC window, is refused", async () => {
    const q = buildCreateChangefeedStatement({ options: { cursor: "9999999999999999999.0000000000" } });
    expect((await sqlError(f.pg.query(q, [sink()]))).message).toBe("cannot specify timestamp in the future");
    const old = buildCreateChangefeedStatement({ options: { cursor: "1000000000000000000.0000000000" } });
    expect((await sqlError(f.pg.query(old, [sink()]))).message).toMatch(/^could not create changefeed: cursor .* is older than the GC threshold/);
  });
});

describe("jobs", () => {
  let id: string;
  beforeAll(async () => {
    await rangefeedsOn();
    id = (
      await f.pg.query(buildCreateChangefeedStatement({ options: { initial_scan: "no" } }), [
        buildSinkUri({ bucket: f.bucket, prefix: "jobs", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
  });

  test("SHOW CHANGEFEED JOB has CockroachDB's columns and types", async () => {
    const res = await f.pg.query("SHOW CHANGEFEED JOB $1", [id]);
    expect(res.fields.map((x) => x.name)).toEqual([
      "job_id",
      "description",
      "user_name",
      "status",
      "running_status",
      "created",
      "started",
      "finished",
      "modified",
      "high_water_timestamp",
      "error",
      "sink_uri",
      "full_table_names",
      "topics",
      "format",
    ]);
    expect(res.fields.find((x) => x.name === "high_water_timestamp")!.dataTypeID).toBe(1700);
    expect(res.fields.find((x) => x.name === "job_id")!.dataTypeID).toBe(20);
    expect((await f.pg.query("SHOW CHANGEFEED JOB $1", ["42"])).rows).toEqual([]);
  });

  test("pause → pause-requested → paused; idempotent; ALTER only while paused; resume; cancel", async () => {
    expect((await sqlError(f.pg.query(`ALTER CHANGEFEED ${id} SET resolved = '10s'`))).message).toBe(`job ${id} is not paused`);
    await f.pg.query("PAUSE JOB $1", [id]);
    expect(["pause-requested", "paused"]).toContain((await job(id)).status);
    await f.pg.query("PAUSE JOB $1", [id]);
    await waitFor("paused", async () => (await job(id)).status === "paused");
    expect((await sqlError(f.pg.query(`ALTER CHANGEFEED ${id} SET cursor = '1'`))).message).toBe('cannot alter option "cursor"');
    expect((await sqlError(f.pg.query(`ALTER CHANGEFEED ${id} UNSET sink`))).message).toBe('cannot unset option "sink"');
    expect((await sqlError(f.pg.query(`ALTER CHANGEFEED ${id} ADD eventstore.other`))).message).toMatch(
      /^cannot modify targets when using CDC query changefeed/,
    );
    expect((await sqlError(f.pg.query(`ALTER CHANGEFEED ${id} SET sink = 'kafka://broker:9092'`))).message).toMatch(
      /^New sink type "kafka" does not match original sink type "gs"/,
    );
    const altered = await f.pg.query(`ALTER CHANGEFEED ${id} SET sink = $1, SET resolved = '10s'`, [
      buildSinkUri({ bucket: f.bucket, prefix: "jobs2", credentials: f.keyBase64 }),
    ]);
    expect(altered.rows[0].job_description).toContain("gs://gc-storage-zitadel-data/jobs2?AUTH=specified&CREDENTIALS=redacted");
    expect(altered.rows[0].job_description).toContain("AS SELECT instance_id"); // the query survives ALTER on this version
    await f.pg.query("RESUME JOB $1", [id]);
    expect((await job(id)).status).toBe("running");
    await f.pg.query("RESUME JOB $1", [id]);
    expect((await sqlError(f.pg.query("RESUME JOB 42"))).message).toBe("job with ID 42 does not exist");
    await f.pg.query("CANCEL JOB $1", [id]);
    await f.pg.query("CANCEL JOB $1", [id]);
    await waitFor("canceled", async () => (await job(id)).status === "canceled");
    expect((await sqlError(f.pg.query("PAUSE JOB $1", [id]))).message).toBe(`job ${id}: job with state canceled cannot be requested to be paused`);
  });
});

describe("the engine", () => {
  beforeAll(rangefeedsOn);
  test("a sink without permission keeps the job running with the error shown, and the high-water waits", async () => {
    await f.revoke();
    try {
      const id = (
        await f.pg.query(buildCreateChangefeedStatement({ options: { initial_scan: "no" } }), [
          buildSinkUri({ bucket: f.bucket, prefix: "denied", credentials: f.keyBase64 }),
        ])
      ).rows[0].job_id;
      const events = makeEvents(3, 1000);
      await insertEvents(f.pg, events);
      const stuck = await waitFor("a retryable error", async () => {
        const r = await job(id);
        return /^retryable error: .*403/.test(r.running_status ?? "") && r;
      });
      expect(stuck.status).toBe("running");
      // An empty checkpoint may have come before the events; past them, the high-water must not move.
      const held: string | null = stuck.high_water_timestamp;
      await new Promise((r) => setTimeout(r, 2500));
      const later = await job(id);
      expect(later.high_water_timestamp).toBe(held);
      expect(later.running_status).toMatch(/^retryable error: .*403/);
      await f.grant();
      await waitFor("delivery after the grant", async () => account(events, (await readDelivered(f.admin, f.bucket, "denied/")).lines).missing === 0);
      // Files are flushed before the frontier advances (as CockroachDB does), so the high-water
      // may pass the held one a moment after the delivery: wait for it rather than read it once.
      await waitFor("the high-water to move past the held one", async () => {
        const moved: string | null = (await job(id)).high_water_timestamp;
        return moved !== null && (held === null || BigInt(moved.split(".")[0]) > BigInt(held.split(".")[0]));
      });
      await f.pg.query("CANCEL JOB $1", [id]);
    } finally {
      await f.grant();
    }
  });

  test("events written while a job is paused arrive after it resumes, from the high-water: no gap", async () => {
    const prefix = "pause-resume/";
    const id = (
      await f.pg.query(buildCreateChangefeedStatement({ options: { initial_scan: "no" } }), [
        buildSinkUri({ bucket: f.bucket, prefix: "pause-resume", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    const before = makeEvents(5, 2000);
    await insertEvents(f.pg, before);
    await waitFor("first events", async () => account(before, (await readDelivered(f.admin, f.bucket, prefix)).lines).missing === 0);
    await f.pg.query("PAUSE JOB $1", [id]);
    await waitFor("paused", async () => (await job(id)).status === "paused");
    const during = makeEvents(5, 3000);
    await insertEvents(f.pg, during);
    await new Promise((r) => setTimeout(r, 1500));
    expect(account(during, (await readDelivered(f.admin, f.bucket, prefix)).lines).delivered).toBe(0);
    await f.pg.query("RESUME JOB $1", [id]);
    await waitFor("events from the pause", async () => account([...before, ...during], (await readDelivered(f.admin, f.bucket, prefix)).lines).missing === 0);
    await f.pg.query("CANCEL JOB $1", [id]);
  });

  test("a new feed WITH cursor = the old high-water emits exactly what came after it", async () => {
    const a = (
      await f.pg.query(buildCreateChangefeedStatement({ options: { initial_scan: "no" } }), [
        buildSinkUri({ bucket: f.bucket, prefix: "cursor-a", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    const first = makeEvents(4, 4000);
    await insertEvents(f.pg, first);
    await waitFor("a delivered", async () => account(first, (await readDelivered(f.admin, f.bucket, "cursor-a/")).lines).missing === 0);
    // The frontier follows the flush; once it moved past the delivery the first events are below it.
    const hw0 = (await job(a)).high_water_timestamp;
    await waitFor("a checkpoint past them", async () => (await job(a)).high_water_timestamp !== hw0);
    await f.pg.query("PAUSE JOB $1", [a]);
    await waitFor("paused", async () => (await job(a)).status === "paused");
    const hw: string = (await job(a)).high_water_timestamp;
    const second = makeEvents(4, 5000);
    await insertEvents(f.pg, second);
    const b = (
      await f.pg.query(buildCreateChangefeedStatement({ query: { payload: "all" }, options: { cursor: hw } }), [
        buildSinkUri({ bucket: f.bucket, prefix: "cursor-b", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    const got = await waitFor("b delivered", async () => {
      const d = await readDelivered(f.admin, f.bucket, "cursor-b/");
      return account(second, d.lines).missing === 0 && d;
    });
    expect(account(first, got.lines).delivered).toBe(0);
    expect(got.lines.every((l) => "payload" in l)).toBe(true);
    await f.pg.query("CANCEL JOB $1", [a]);
    await f.pg.query("CANCEL JOB $1", [b]);
  });

  test("the payload allow-list delivers payload only for the listed event types", async () => {
    const q = buildChangefeedQuery({ payload: { eventTypes: ["instance.domain.added"] } });
    const id = (
      await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH initial_scan = 'no' AS ${q}`, [
        buildSinkUri({ bucket: f.bucket, prefix: "allow", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    const events = makeEvents(16, 6000);
    await insertEvents(f.pg, events);
    const got = await waitFor("delivered", async () => {
      const d = await readDelivered(f.admin, f.bucket, "allow/");
      return account(events, d.lines).missing === 0 && d;
    });
    for (const l of got.lines) {
      if (l.event_type === "instance.domain.added") expect(l.payload).toMatchObject({ domain: expect.stringMatching(/example\.com$/) });
      else expect(l.payload).toBeNull();
    }
    await f.pg.query("CANCEL JOB $1", [id]);
  });

  test("Describe types a job id placeholder as INT8 (SHOW CHANGEFEED JOB $1, PAUSE JOB $1), a sink as TEXT", async () => {
    expect(await describeParams("SHOW CHANGEFEED JOB $1")).toEqual([20]);
    expect(await describeParams("PAUSE JOB $1")).toEqual([20]);
    expect(await describeParams("CREATE CHANGEFEED INTO $1 AS SELECT instance_id FROM eventstore.events2")).toEqual([25]);
  });

  test("[SHOW CHANGEFEED JOBS] as a statement source, SHOW CHANGEFEED JOBS <select> and PAUSE/RESUME/CANCEL JOBS (<select>) work on the selected jobs", async () => {
    await rangefeedsOn();
    const make = async () =>
      (
        await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH initial_scan = 'no' AS SELECT aggregate_id FROM eventstore.events2 WHERE aggregate_id = 'sources'`, [
          buildSinkUri({ bucket: f.bucket, prefix: "sources", credentials: f.keyBase64 }),
        ])
      ).rows[0].job_id as string;
    const [a, b] = [await make(), await make()];
    const running = (await f.pg.query("SELECT job_id, status FROM [SHOW CHANGEFEED JOBS] WHERE status = 'running' ORDER BY job_id")).rows;
    expect(running.map((r) => String(r.job_id))).toEqual(expect.arrayContaining([a, b]));
    expect((await f.pg.query(`SELECT description, full_table_names FROM [SHOW CHANGEFEED JOB ${a}]`)).rows).toHaveLength(1);
    expect((await f.pg.query(`SHOW CHANGEFEED JOBS SELECT ${b}::INT8`)).rows.map((r) => r.job_id)).toEqual([b]);
    const { raw } = await Raw.open(f.twin.url);
    const tag = async (sql: string) =>
      (await raw.send([Raw.msg("Q", Raw.cstr(sql))])).filter((m) => typeOf(m) === "C").map((m) => m.subarray(5, m.length - 1).toString())[0];
    expect(await tag(`PAUSE JOBS (SELECT job_id FROM [SHOW CHANGEFEED JOBS] WHERE job_id IN (${a}, ${b}))`)).toBe("PAUSE JOBS 2");
    await waitFor("both paused", async () => (await job(a)).status === "paused" && (await job(b)).status === "paused");
    expect(await tag(`CANCEL JOBS SELECT job_id FROM [SHOW CHANGEFEED JOBS] WHERE job_id = ${a} OR job_id = ${b}`)).toBe("CANCEL JOBS 2");
    raw.close();
    await waitFor("both canceled", async () => (await job(a)).status === "canceled" && (await job(b)).status === "canceled");
  });

  test("SHOW CHANGEFEED JOBS; as psql sends it (with the semicolon) lists the jobs", async () => {
    const withSemicolon = (await f.pg.query("SHOW CHANGEFEED JOBS;")).rows;
    const without = (await f.pg.query("SHOW CHANGEFEED JOBS")).rows;
    expect(withSemicolon.map((j) => j.job_id)).toEqual(without.map((j) => j.job_id));
  });

  test("INT8 above 2^53 and DECIMAL with a fraction land in the files digit for digit (initial scan and changes)", async () => {
    const insert = (seq: string, position: string, agg: string) =>
      f.pg.query(
        `INSERT INTO eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
         VALUES ('262800396467273985', 'user', $3, 'user.human.added', $1::INT8, 1, now(), '{"n": 12345678901234567890.5}', 'SYSTEM', '1', $2::DECIMAL, 0)`,
        [seq, position, agg],
      );
    await insert("9007199254740995", "1795884811137001570.0000000001", "big-before");
    const select = "SELECT aggregate_id, sequence, position, payload FROM eventstore.events2 WHERE aggregate_type = 'user' AND aggregate_id LIKE 'big-%'";
    const id = (
      await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH min_checkpoint_frequency = '200ms' AS ${select}`, [
        buildSinkUri({ bucket: f.bucket, prefix: "digits", partitionFormat: "flat", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    await waitFor("the scanned row", async () => (await readDelivered(f.admin, f.bucket, "digits/")).lines.length >= 1);
    await insert("9223372036854775807", "1795884811137001571.0000000002", "big-after");
    const files = await waitFor("both rows", async () => {
      const d = await readDelivered(f.admin, f.bucket, "digits/");
      return d.lines.length >= 2 && d;
    });
    // The raw text: JSON.parse here would round the very digits under test.
    const text = (
      await Promise.all(
        files.files.map(async (name) =>
          String((await f.admin.storage.objects.get({ bucket: f.bucket, object: name, alt: "media" }, { responseType: "text" })).data),
        ),
      )
    ).join("");
    expect(text).toContain('"sequence": 9007199254740995');
    expect(text).toContain('"position": 1795884811137001570.0000000001');
    expect(text).toContain('"sequence": 9223372036854775807');
    expect(text).toContain('"position": 1795884811137001571.0000000002');
    expect(text).toContain('"n": 12345678901234567890.5');
    await f.pg.query("CANCEL JOB $1", [id]);
  });

  test("the CDC functions and crdb_internal_mvcc_timestamp give each event's values (cdceval): operation, MVCC time, creation and schema time", async () => {
    await rangefeedsOn();
    const select =
      "SELECT aggregate_id, event_op(), event_op() AS op2, crdb_internal_mvcc_timestamp, statement_timestamp() AS st, changefeed_creation_timestamp() AS ct, event_schema_timestamp() AS schema_ts FROM eventstore.events2 WHERE aggregate_id = 'fn-1' AND event_op() <> 'nothing'";
    const id = (
      await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH min_checkpoint_frequency = '200ms', initial_scan = 'no' AS ${select}`, [
        buildSinkUri({ bucket: f.bucket, prefix: "fn", partitionFormat: "flat", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    await insertEvents(
      f.pg,
      makeEvents(1, 51_000).map((e) => ({ ...e, aggregateId: "fn-1" })),
    );
    await f.pg.query("UPDATE eventstore.events2 SET creator = 'x' WHERE aggregate_id = 'fn-1'");
    await f.pg.query("DELETE FROM eventstore.events2 WHERE aggregate_id = 'fn-1'");
    const files = await waitFor("three events", async () => {
      const d = await readDelivered(f.admin, f.bucket, "fn/");
      return d.lines.length >= 3 && d;
    });
    const text = (
      await Promise.all(
        files.files.map(async (name) =>
          String((await f.admin.storage.objects.get({ bucket: f.bucket, object: name, alt: "media" }, { responseType: "text" })).data),
        ),
      )
    ).join("");
    const lines = text.trim().split("\n");
    expect(lines).toHaveLength(3);
    const parsed = files.lines;
    expect(parsed.map((l) => [l.event_op, l.op2])).toEqual([
      ["upsert", "upsert"],
      ["upsert", "upsert"],
      ["delete", "delete"],
    ]);
    const mvcc = lines.map((l) => /"crdb_internal_mvcc_timestamp": (\d+\.\d{10})[,}]/.exec(l)![1]);
    expect(new Set(mvcc).size).toBe(3);
    parsed.forEach((l, i) => {
      expect(Math.abs(Date.parse(l.st) - Number(BigInt(mvcc[i].split(".")[0]) / 1_000_000n))).toBeLessThanOrEqual(1);
      expect(String(l.st)).toMatch(/Z$/);
    });
    const ct = lines.map((l) => /"ct": (\d+\.\d{10})[,}]/.exec(l)![1]);
    expect(new Set(ct).size).toBe(1);
    expect(BigInt(ct[0].split(".")[0]) < BigInt(mvcc[0].split(".")[0])).toBe(true);
    expect(lines.every((l) => /"schema_ts": \d+\.\d{10}[,}]/.test(l))).toBe(true);
    await f.pg.query("CANCEL JOB $1", [id]);
  });

  test("lines are written as CockroachDB's json.Format writes them: keys sorted at every level, a space after : and ,; key_in_value and topic_in_value fill __crdb__", async () => {
    await rangefeedsOn();
    const select = "SELECT aggregate_id, sequence, payload FROM eventstore.events2 WHERE aggregate_id = 'format-1'";
    const id = (
      await f.pg.query(`CREATE CHANGEFEED INTO $1 WITH min_checkpoint_frequency = '200ms', initial_scan = 'no', key_in_value, topic_in_value AS ${select}`, [
        buildSinkUri({ bucket: f.bucket, prefix: "format", partitionFormat: "flat", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    await f.pg.query(
      `INSERT INTO eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
       VALUES ('i1', 'user', 'format-1', 'user.human.added', 7, 1, now(), $1, 'SYSTEM', '1', cluster_logical_timestamp(), 0)`,
      [JSON.stringify({ zeta: 1, b: { yy: [1, { d: 2, c: "2026-01-01T00:00:00+00:00" }], a: null }, aa: "x" })],
    );
    const files = await waitFor("the line", async () => {
      const d = await readDelivered(f.admin, f.bucket, "format/");
      return d.lines.length >= 1 && d;
    });
    const text = String((await f.admin.storage.objects.get({ bucket: f.bucket, object: files.files[0], alt: "media" }, { responseType: "text" })).data);
    expect(text).toBe(
      '{"__crdb__": {"key": ["i1", "user", "format-1", 7], "topic": "events2"}, "aggregate_id": "format-1", ' +
        '"payload": {"aa": "x", "b": {"a": null, "yy": [1, {"c": "2026-01-01T00:00:00+00:00", "d": 2}]}, "zeta": 1}, "sequence": 7}\n',
    );
    await f.pg.query("CANCEL JOB $1", [id]);
  });

  test("a pause between a flush and its checkpoint re-emits the flushed rows on resume: duplicates, never a gap (at-least-once)", async () => {
    await rangefeedsOn();
    const id: string = (
      await f.pg.query(
        `CREATE CHANGEFEED INTO $1 WITH min_checkpoint_frequency = '200ms', initial_scan = 'no' AS SELECT * FROM eventstore.events2 WHERE aggregate_type = 'dups'`,
        [buildSinkUri({ bucket: f.bucket, prefix: "dups", partitionFormat: "flat", credentials: f.keyBase64 })],
      )
    ).rows[0].job_id;
    await waitFor("a first checkpoint", async () => (await job(id)).high_water_timestamp as string | null);
    await f.pg.query("SET CLUSTER SETTING twin.frontier_delay = '60s'");
    // Once a flush made under the old delay has been checkpointed, the frontier holds.
    let seen: string | null = null;
    const first = await waitFor("the frontier to hold", async () => {
      const hw = (await job(id)).high_water_timestamp as string;
      const held = hw === seen;
      seen = hw;
      if (!held) await new Promise((r) => setTimeout(r, 400));
      return held && hw;
    });
    try {
      const events = makeEvents(5, 61_000).map((e) => ({ ...e, aggregateType: "dups" }));
      await insertEvents(f.pg, events);
      await waitFor("the flush", async () => account(events, (await readDelivered(f.admin, f.bucket, "dups/")).lines).missing === 0);
      expect((await job(id)).high_water_timestamp).toBe(first); // flushed, not yet checkpointed
      await f.pg.query("PAUSE JOB $1", [id]);
      await waitFor("paused", async () => (await job(id)).status === "paused");
      await f.pg.query("SET CLUSTER SETTING twin.frontier_delay = '100ms'");
      await f.pg.query("RESUME JOB $1", [id]);
      const again = await waitFor("the rows again", async () => {
        const a = account(events, (await readDelivered(f.admin, f.bucket, "dups/")).lines);
        return a.duplicates >= events.length && a;
      });
      expect([again.missing, again.duplicates]).toEqual([0, events.length]);
    } finally {
      await f.pg.query("SET CLUSTER SETTING twin.frontier_delay = '100ms'");
      await f.pg.query("CANCEL JOB $1", [id]);
    }
  });

  test("file names as flushFile writes them: a flush's files share the frontier's lower bound; a resumed job is a new sink (session, sink id); a sink's names never go back", async () => {
    await rangefeedsOn();
    const id: string = (
      await f.pg.query(
        `CREATE CHANGEFEED INTO $1 WITH min_checkpoint_frequency = '300ms', initial_scan = 'no', mvcc_timestamp AS SELECT instance_id, aggregate_type, aggregate_id, sequence FROM eventstore.events2 WHERE aggregate_type = 'names'`,
        [buildSinkUri({ bucket: f.bucket, prefix: "names", partitionFormat: "flat", credentials: f.keyBase64, fileSize: "256B" })],
      )
    ).rows[0].job_id;
    const before = makeEvents(6, 71_000).map((e) => ({ ...e, aggregateType: "names" }));
    await insertEvents(f.pg, before);
    await waitFor("the first flush", async () => account(before, (await readDelivered(f.admin, f.bucket, "names/")).lines).missing === 0);
    await f.pg.query("PAUSE JOB $1", [id]);
    await waitFor("paused", async () => (await job(id)).status === "paused");
    await f.pg.query("RESUME JOB $1", [id]);
    const after = makeEvents(6, 72_000).map((e) => ({ ...e, aggregateType: "names" }));
    await insertEvents(f.pg, after);
    const { files } = await waitFor("the second flush", async () => {
      const d = await readDelivered(f.admin, f.bucket, "names/");
      return account(after, d.lines).missing === 0 && d;
    });
    await f.pg.query("CANCEL JOB $1", [id]);
    const parts = files.map((name) => {
      const m = /^names\/(\d{33})-([0-9a-f]{16})-1-(\d+)-([0-9a-f]{8})-events2-1\.ndjson$/.exec(name)!;
      return { name, ts: m[1], session: m[2], sink: Number(m[3]), file: parseInt(m[4], 16) };
    });
    // Two sinks (before and after the resume), each with its own session; file ids count from 0 per sink.
    // (A resumed sink starts again at the high-water, so its names may sort among the first sink's:
    // the session id keeps them apart; within one sink names only grow.)
    const sinks = [...new Set(parts.map((p) => p.sink))].sort((a, b) => a - b);
    expect(sinks).toHaveLength(2);
    for (const sink of sinks) {
      const own = parts.filter((p) => p.sink === sink).sort((a, b) => a.file - b.file);
      expect(own.map((p) => p.file)).toEqual(own.map((_, i) => i));
      expect(own.map((p) => p.name)).toEqual([...own.map((p) => p.name)].sort());
    }
    expect(new Set(parts.map((p) => p.session)).size).toBe(2);
    // Every row's MVCC time is at or after its file's timestamp (the lower bound), and several files share one.
    for (const p of parts) {
      const text = String((await f.admin.storage.objects.get({ bucket: f.bucket, object: p.name, alt: "media" }, { responseType: "text" })).data);
      const t = p.ts;
      const fileWall =
        BigInt(Date.UTC(+t.slice(0, 4), +t.slice(4, 6) - 1, +t.slice(6, 8), +t.slice(8, 10), +t.slice(10, 12), +t.slice(12, 14))) * 1_000_000n +
        BigInt(t.slice(14, 23));
      const fileTs = fileWall * 10_000_000_000n + BigInt(t.slice(23));
      for (const m of text.matchAll(/"mvcc_timestamp": "(\d+)\.(\d{10})"/g)) expect(BigInt(m[1]) * 10_000_000_000n + BigInt(m[2]) >= fileTs).toBe(true);
    }
    expect(new Set(parts.map((p) => p.ts)).size).toBeLessThan(parts.length);
  });

  test("files are uploaded as Go's storage Writer uploads them: multipart under a chunk, resumable in chunks above; content type sniffed", async () => {
    await rangefeedsOn();
    // Only this test's feed writes while the uploads are counted.
    await f.pg.query("CANCEL JOBS (SELECT job_id FROM [SHOW CHANGEFEED JOBS] WHERE status = 'running')");
    await f.pg.query("SET CLUSTER SETTING cloudstorage.write_chunk.size = '1 KiB'");
    const mark = f.emu.calls.length;
    const id = (
      await f.pg.query(
        `CREATE CHANGEFEED INTO $1 WITH min_checkpoint_frequency = '300ms', initial_scan = 'no' AS SELECT * FROM eventstore.events2 WHERE aggregate_type = 'chunked'`,
        [buildSinkUri({ bucket: f.bucket, prefix: "chunked", partitionFormat: "flat", credentials: f.keyBase64 })],
      )
    ).rows[0].job_id;
    const events = makeEvents(12, 41_000).map((e) => ({ ...e, aggregateType: "chunked" }));
    await insertEvents(f.pg, events);
    const delivered = await waitFor("the events", async () => {
      const d = await readDelivered(f.admin, f.bucket, "chunked/");
      return account(events, d.lines).missing === 0 && d;
    });
    await f.pg.query("CANCEL JOB $1", [id]);
    await f.pg.query("SET CLUSTER SETTING cloudstorage.write_chunk.size = '5 MiB'");
    const uploads = f.emu.calls.slice(mark).filter((c) => c.path.startsWith(`/upload/storage/v1/b/${f.bucket}/o`));
    const sizes = await Promise.all(delivered.files.map(async (o) => Number((await f.admin.storage.objects.get({ bucket: f.bucket, object: o })).data.size)));
    // Every file over 1 KiB went resumable (a POST, then PUTs of 1 KiB), every smaller one multipart.
    const big = sizes.filter((n) => n >= 1024);
    expect(big.length).toBeGreaterThan(0);
    expect(uploads.filter((c) => c.method === "POST" && /uploadType=resumable/.test(c.query))).toHaveLength(big.length);
    expect(uploads.filter((c) => c.method === "PUT")).toHaveLength(big.reduce((n, size) => n + Math.ceil(size / 1024), 0));
    expect(uploads.filter((c) => c.method === "POST" && /uploadType=multipart/.test(c.query))).toHaveLength(sizes.length - big.length);
    expect(uploads.some((c) => /uploadType=media/.test(c.query))).toBe(false);
    for (const o of delivered.files)
      expect((await f.admin.storage.objects.get({ bucket: f.bucket, object: o })).data.contentType).toBe("text/plain; charset=utf-8");
  });

  test("the default initial scan emits rows that existed before the feed; resolved writes RESOLVED files", async () => {
    const existing = makeEvents(4, 8000);
    await insertEvents(f.pg, existing);
    const id = (
      await f.pg.query(buildCreateChangefeedStatement({ options: { resolved: "1s", min_checkpoint_frequency: "500ms" } }), [
        buildSinkUri({ bucket: f.bucket, prefix: "scan", partitionFormat: "hourly", credentials: f.keyBase64 }),
      ])
    ).rows[0].job_id;
    const got = await waitFor("the initial scan", async () => {
      const d = await readDelivered(f.admin, f.bucket, "scan/");
      return account(existing, d.lines).missing === 0 && d;
    });
    // Hourly partitions: <prefix>/YYYY-MM-DD/HH/<file>.
    for (const file of got.files) expect(file).toMatch(/^scan\/\d{4}-\d\d-\d\d\/\d\d\/\d{33}-/);
    const resolved = await waitFor("a RESOLVED file", async () => {
      const items = (await f.admin.storage.objects.list({ bucket: f.bucket, prefix: "scan/" })).data.items ?? [];
      return items.find((o) => o.name!.endsWith(".RESOLVED"));
    });
    expect(resolved.name).toMatch(/^scan\/\d{4}-\d\d-\d\d\/\d\d\/\d{33}\.RESOLVED$/);
    const body = JSON.parse(
      String((await f.admin.storage.objects.get({ bucket: f.bucket, object: resolved.name!, alt: "media" }, { responseType: "text" })).data),
    );
    expect(body).toEqual({ __crdb__: { resolved: expect.stringMatching(/^\d{19}\.\d{10}$/) } });
    await f.pg.query("CANCEL JOB $1", [id]);
  });
});

describe("connections and the wire protocol, as CockroachDB answers them", () => {
  const clients: Client[] = [];
  const connect = async () => {
    const c = new Client({ connectionString: f.twin.url });
    await c.connect();
    clients.push(c);
    return c;
  };
  afterAll(() => Promise.all(clients.map((c) => c.end())));

  test("startup reports CockroachDB's session parameters (pgwire conn.go statusReportParams) and a cancel key", async () => {
    const { raw, startup } = await Raw.open(f.twin.url, { application_name: "conformance" });
    raw.close();
    expect(startup.map(typeOf).join("")).toMatch(/^RS+KZ$/);
    const status = Object.fromEntries(
      startup
        .filter((m) => typeOf(m) === "S")
        .map((m) => {
          const [k, v] = m.subarray(5).toString("utf8").split("\0");
          return [k, v];
        }),
    );
    expect(status).toMatchObject({
      application_name: "conformance",
      client_encoding: "UTF8",
      DateStyle: "ISO, MDY",
      IntervalStyle: "postgres",
      is_superuser: "on",
      server_encoding: "UTF8",
      server_version: "13.0.0",
      standard_conforming_strings: "on",
      TimeZone: "UTC",
      integer_datetimes: "on",
    });
    expect(status.crdb_version).toMatch(/^CockroachDB CCL v\d+\.\d+\.\d+ /);
  });

  test("a session's SET stays in its connection: another connection, and the files, stay in UTC", async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query("SET TimeZone = 'America/New_York'");
    for (let i = 0; i < 3; i++) {
      expect((await b.query("SHOW TimeZone")).rows[0].TimeZone).toBe("UTC");
      expect((await a.query("SHOW TimeZone")).rows[0].TimeZone).toBe("America/New_York");
    }
    expect((await a.query("SELECT '2026-01-01 12:00:00+00'::timestamptz::text AS t")).rows[0].t).toBe("2026-01-01 07:00:00-05");
    expect((await b.query("SELECT '2026-01-01 12:00:00+00'::timestamptz::text AS t")).rows[0].t).toBe("2026-01-01 12:00:00+00");
    // Rows written by the New York session land in the bucket with UTC timestamps (CockroachDB's encoder: tree.AsJSON in UTC).
    await rangefeedsOn();
    const id = (
      await a.query(
        `CREATE CHANGEFEED INTO $1 WITH min_checkpoint_frequency = '200ms', initial_scan = 'no' AS SELECT aggregate_id, created_at FROM eventstore.events2 WHERE aggregate_id LIKE 'tz-%'`,
        [buildSinkUri({ bucket: f.bucket, prefix: "tz", partitionFormat: "flat", credentials: f.keyBase64 })],
      )
    ).rows[0].job_id;
    await insertEvents(
      a,
      makeEvents(2, 31_000).map((e, i) => ({ ...e, aggregateId: `tz-${i}` })),
    );
    const lines = await waitFor("the New York session's rows", async () => {
      const d = await readDelivered(f.admin, f.bucket, "tz/");
      return d.lines.length >= 2 && d.lines;
    });
    for (const l of lines) expect(l.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    await a.query("CANCEL JOB $1", [id]);
    await a.query("RESET TimeZone");
    expect((await a.query("SHOW TimeZone")).rows[0].TimeZone).toBe("UTC");
  });

  test("x::STRING casts as in CockroachDB (its STRING is TEXT): the HLC as exact text", async () => {
    const t: string = (await f.pg.query("SELECT cluster_logical_timestamp()::STRING AS t")).rows[0].t;
    expect(t).toMatch(/^\d{19}\.\d{10}$/);
  });

  test("a checkpointed job's running_status prints the HLC as hlc.Timestamp.String does; PAUSE/RESUME/CANCEL tags carry the row count", async () => {
    await rangefeedsOn();
    const id: string = (
      await f.pg.query(
        `CREATE CHANGEFEED INTO $1 WITH initial_scan = 'no', min_checkpoint_frequency = '200ms' AS SELECT aggregate_id FROM eventstore.events2 WHERE aggregate_id = 'tags'`,
        [buildSinkUri({ bucket: f.bucket, prefix: "tags", credentials: f.keyBase64 })],
      )
    ).rows[0].job_id;
    const j = await waitFor("a checkpoint", async () => {
      const row = await job(id);
      return row.high_water_timestamp !== null && row;
    });
    expect(j.running_status).toMatch(/^running: resolved=\d{10}\.\d{9},\d+$/);
    const { raw } = await Raw.open(f.twin.url);
    const tags: string[] = [];
    let paused: Awaited<ReturnType<typeof job>> | undefined;
    let resumed: Awaited<ReturnType<typeof job>> | undefined;
    for (const verb of ["PAUSE", "RESUME", "CANCEL"]) {
      if (verb === "RESUME")
        paused = await waitFor("paused", async () => {
          const r = await job(id);
          return r.status === "paused" && r;
        });
      const replies = await raw.send([Raw.msg("Q", Raw.cstr(`${verb} JOB ${id}`))]);
      tags.push(replies.filter((m) => typeOf(m) === "C").map((m) => m.subarray(5, m.length - 1).toString())[0]);
      if (verb === "RESUME") resumed = await job(id);
    }
    raw.close();
    expect(tags).toEqual(["PAUSE JOBS 1", "RESUME JOBS 1", "CANCEL JOBS 1"]);
    // Pause and resume change the status only: the paused job still reads its last checkpoint's
    // "running: resolved=…" (pkg/jobs paused/unpaused update the status alone), and so does the
    // resumed one until its next checkpoint.
    expect(paused?.running_status).toMatch(/^running: resolved=\d{10}\.\d{9},\d+$/);
    expect(resumed?.status).toBe("running");
    expect(resumed?.running_status).toBe(paused?.running_status);
  });

  test("a prepared statement's name belongs to its connection (pgx's statement cache on two connections)", async () => {
    const [a, b] = [await connect(), await connect()];
    for (let i = 0; i < 3; i++) {
      expect((await a.query({ name: "stmtcache_1", text: "SELECT $1::int + 1 AS n", values: [i] })).rows[0].n).toBe(i + 1);
      expect((await b.query({ name: "stmtcache_1", text: "SELECT $1::text || '!' AS s", values: [`b${i}`] })).rows[0].s).toBe(`b${i}!`);
    }
  });

  test("results in binary where Bind asks for it, parameters in binary by their type (CockroachDB honours format codes)", async () => {
    await rangefeedsOn();
    const c = await connect();
    // node-pg's `binary` asks for every result column in binary and decodes them with pg-types' binary parsers.
    // (`binary` is node-pg's query option; @types/pg does not declare it.)
    const setting = await c.query({ text: "SHOW CLUSTER SETTING kv.rangefeed.enabled", binary: true } as QueryConfig);
    expect(setting.rows[0]["kv.rangefeed.enabled"]).toBe(true);
    const id: string = (
      await c.query(
        `CREATE CHANGEFEED INTO $1 WITH initial_scan = 'no', min_checkpoint_frequency = '200ms' AS SELECT aggregate_id FROM eventstore.events2 WHERE aggregate_id = 'binary'`,
        [buildSinkUri({ bucket: f.bucket, prefix: "binary", credentials: f.keyBase64 })],
      )
    ).rows[0].job_id;
    await waitFor("a high-water", async () => (await job(id)).high_water_timestamp !== null);
    // Paused, so that its high-water cannot move between the text and the binary reads below.
    await c.query("PAUSE JOB $1", [id]);
    await waitFor("the job paused", async () => (await job(id)).status === "paused");
    const { raw } = await Raw.open(f.twin.url);
    /** One row through Parse/Bind/Execute: parameters as given (typed by `types`), every result column in `format`. */
    const row = async (sql: string, params: Buffer[], types: number[], paramFormat: number, format: number) => {
      const replies = await raw.send([
        Raw.msg("P", Raw.cstr(""), Raw.cstr(sql), Raw.int16(types.length), ...types.map(Raw.int32)),
        Raw.msg(
          "B",
          Raw.cstr(""),
          Raw.cstr(""),
          Raw.int16(1, paramFormat),
          Raw.int16(params.length),
          ...params.flatMap((p) => [Raw.int32(p.length), p]),
          Raw.int16(1, format),
        ),
        Raw.msg("D", Buffer.from("P"), Raw.cstr("")),
        Raw.msg("E", Raw.cstr(""), Buffer.alloc(4)),
        Raw.msg("S"),
      ]);
      const desc = replies.find((m) => typeOf(m) === "T")!;
      const names: string[] = [];
      let at = 7;
      for (let i = 0; i < desc.readInt16BE(5); i++) {
        const end = desc.indexOf(0, at);
        names.push(desc.toString("utf8", at, end));
        expect(desc.readInt16BE(end + 1 + 16)).toBe(format); // the column's format code, as bound
        at = end + 1 + 18;
      }
      const values = dataRowValues(replies.find((m) => typeOf(m) === "D")!);
      return Object.fromEntries(names.map((n, i) => [n, values[i]]));
    };
    // The job's row in text, then in binary with the job id sent as an 8-byte INT8 (as pgx sends it once Describe says INT8).
    const idBytes = Buffer.alloc(8);
    idBytes.writeBigInt64BE(BigInt(id));
    const text = await row("SHOW CHANGEFEED JOB $1", [Buffer.from(id)], [0], 0, 0);
    const binary = await row("SHOW CHANGEFEED JOB $1", [idBytes], [20], 1, 1);
    // What real PostgreSQL (PGlite, through the twin) sends in binary for the same values: the reference.
    const cols = ["job_id", "created", "high_water_timestamp", "full_table_names", "status"] as const;
    const reference = await row(
      "SELECT $1::int8 AS job_id, $2::timestamptz AS created, $3::numeric AS high_water_timestamp, $4::text[] AS full_table_names, $5::text AS status",
      cols.map((k) => text[k]!),
      [0, 0, 0, 0, 0],
      0,
      1,
    );
    raw.close();
    expect(binary.job_id!.readBigInt64BE().toString()).toBe(id);
    for (const k of cols) expect([k, binary[k]!.toString("hex")]).toEqual([k, reference[k]!.toString("hex")]);
    await c.query("CANCEL JOB $1", [id]);
  });
});
