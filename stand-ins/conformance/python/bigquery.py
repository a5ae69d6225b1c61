"""BigQuery checks with google-cloud-bigquery (python-bigquery) against the GCP emulator.

Pointing: client_options={"api_endpoint": CONF_GCP_ENDPOINT} with explicit service-account
credentials, as conformance.py does for Cloud Storage; the client then calls
<endpoint>/bigquery/v2/... (google/cloud/bigquery/_http.py). The NDJSON files under the external
tables are uploaded into the emulator's Cloud Storage with google-cloud-storage.

Every call the client makes runs with the client's own default retry predicate, cut to a 20 s
deadline (BigQuery's default is 10 minutes, and an emulator's 500 would be retried that long).

Prints one line per check: "PASS|FAIL|SKIP name: detail". Exit status 0 when it ran to the end.
"""

import datetime
import json
import os
import secrets
import sys
from decimal import Decimal

from google.api_core import exceptions
from google.auth.transport.requests import AuthorizedSession
from google.cloud import bigquery, storage
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY
from google.oauth2 import service_account

from checks import REQUESTS, check, report, requests_since

ENDPOINT = os.environ["CONF_GCP_ENDPOINT"]
KEY_FILE = os.environ["CONF_ADMIN_KEY_FILE"]
PROJECT = os.environ["CONF_PROJECT"]

RETRY = DEFAULT_RETRY.with_deadline(20)
JOB_RETRY = DEFAULT_JOB_RETRY.with_deadline(30)


def log_response(response, *args, **kwargs):
    req = response.request
    path = req.url.split("?", 1)
    line = f"{req.method} {path[0].replace(ENDPOINT, '').replace('/bigquery/v2', '')}"
    if len(path) > 1:
        for p in ("uploadType", "maxResults", "deleteContents"):
            if f"{p}=" in path[1]:
                line += f" {p}=" + path[1].split(f"{p}=", 1)[1].split("&", 1)[0]
    if req.headers.get("If-Match"):
        line += " [If-Match]"
    line += f" -> {response.status_code}"
    REQUESTS.append(line)


def reason(e):
    """BigQuery's reason for an error (errors[0].reason of the JSON body)."""
    errs = getattr(e, "errors", None) or []
    return errs[0].get("reason") if errs and isinstance(errs[0], dict) else None


def expect_error(fn, kind, want_reason=None, contains=None):
    """Runs fn, which must raise `kind` (with BigQuery reason `want_reason`, message holding `contains`)."""
    try:
        got = fn()
    except kind as e:
        problems = []
        if want_reason and reason(e) != want_reason:
            problems.append(f"reason {reason(e)!r}, want {want_reason!r}")
        if contains and contains not in str(e):
            problems.append(f"message does not name {contains!r}")
        if problems:
            raise AssertionError(f"{type(e).__name__}: {'; '.join(problems)}: {e}")
        return e
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"raised {type(e).__name__} (reason {reason(e)!r}), want {kind.__name__}: {e}") from e
    raise AssertionError(f"no error, want {kind.__name__}; got {got!r}")


# NDJSON as CockroachDB's changefeeds write it: bare INT8 and DECIMAL numbers (exact beyond 2^53 and
# float64), a field the schema does not have (ignore_unknown_values), the partition folder in the name.
BIG_INT = 9007199254740995
BIG_DEC = "1795884811137001570.0000000001"
AT = datetime.datetime(2026, 11, 28, 19, 20, 16, 672134, tzinfo=datetime.timezone.utc)
PAYLOAD = {"userName": "ada", "roles": ["owner", "reader"], "n": 1}
LINE_A = (
    '{"__crdb__": {"updated": "1764358816672134000.0000000000"}, "id": "a", "seq": %d, "f": 1.5, "ok": true, '
    '"pos": %s, "created_at": "2026-11-28T19:20:16.672134Z", "payload": %s}\n' % (BIG_INT, BIG_DEC, json.dumps(PAYLOAD))
)
LINE_B = '{"id": "b", "seq": 1, "ok": false, "extra": "x"}\n'
SCHEMA = [
    bigquery.SchemaField("id", "STRING"),
    bigquery.SchemaField("seq", "INT64"),
    bigquery.SchemaField("f", "FLOAT64"),
    bigquery.SchemaField("ok", "BOOL"),
    bigquery.SchemaField("pos", "BIGNUMERIC"),
    bigquery.SchemaField("created_at", "TIMESTAMP"),
    bigquery.SchemaField("payload", "JSON"),
]
# What tables.get answers: the legacy names for INT64, FLOAT64, BOOL; mode NULLABLE when none was given.
WANT_SCHEMA = [
    ("id", "STRING", "NULLABLE"),
    ("seq", "INTEGER", "NULLABLE"),
    ("f", "FLOAT", "NULLABLE"),
    ("ok", "BOOLEAN", "NULLABLE"),
    ("pos", "BIGNUMERIC", "NULLABLE"),
    ("created_at", "TIMESTAMP", "NULLABLE"),
    ("payload", "JSON", "NULLABLE"),
]


def check_rows(rows):
    """The two rows of the events table (ORDER BY id), with exact Python values."""
    problems = []
    if [r["id"] for r in rows] != ["a", "b"]:
        raise AssertionError(f"ids {[r['id'] for r in rows]}, want ['a', 'b'] (feed/*.ndjson across the date folders, notes.txt not matched)")
    a, b = rows
    if type(a["seq"]) is not int or a["seq"] != BIG_INT:
        problems.append(f"seq {a['seq']!r}, want int {BIG_INT}")
    if type(a["pos"]) is not Decimal or a["pos"] != Decimal(BIG_DEC):
        problems.append(f"pos {a['pos']!r}, want Decimal('{BIG_DEC}')")
    at = a["created_at"]
    if not isinstance(at, datetime.datetime) or at != AT or at.utcoffset() != datetime.timedelta(0):
        problems.append(f"created_at {at!r}, want {AT!r}")
    if a["payload"] != PAYLOAD:
        problems.append(f"payload {a['payload']!r}, want {PAYLOAD!r}")
    if a["f"] != 1.5 or a["ok"] is not True:
        problems.append(f"f {a['f']!r} ok {a['ok']!r}, want 1.5 True")
    want_b = {"seq": 1, "f": None, "ok": False, "pos": None, "created_at": None, "payload": None}
    got_b = {k: b[k] for k in want_b}
    if got_b != want_b:
        problems.append(f"row b {got_b!r}, want {want_b!r}")
    if problems:
        raise AssertionError("; ".join(problems))
    return f"seq {a['seq']!r}, pos {a['pos']!r}, created_at {at.isoformat()}, payload {a['payload']!r}, row b nulls"


def main():
    creds = service_account.Credentials.from_service_account_file(
        KEY_FILE,
        scopes=["https://www.googleapis.com/auth/bigquery", "https://www.googleapis.com/auth/devstorage.full_control"],
    )
    session = AuthorizedSession(creds)
    session.hooks["response"].append(log_response)
    client = bigquery.Client(
        project=PROJECT,
        credentials=creds,
        client_options={"api_endpoint": ENDPOINT},
        _http=session,
    )
    gcs = storage.Client(project=PROJECT, credentials=creds, client_options={"api_endpoint": ENDPOINT}, _http=session)
    suffix = secrets.token_hex(4)
    ds_id = f"{PROJECT}.conf_py_{suffix}"
    bucket_name = f"conf-py-bq-{suffix}"
    events = f"{ds_id}.events"
    bad = f"{ds_id}.events_bad"
    view = f"{ds_id}.events_view"
    group = "audit-readers@example.com"
    state = {}

    def create_dataset():
        ds = bigquery.Dataset(ds_id)
        ds.location = "europe-west3"
        ds.labels = {"team": "audit", "suite": "conformance"}
        got = client.create_dataset(ds, retry=RETRY)
        if got.location != "europe-west3" or got.labels != ds.labels or not got.etag:
            raise AssertionError(f"location {got.location!r} labels {got.labels!r} etag {got.etag!r}")
        return f"{got.full_dataset_id} in {got.location}, labels {got.labels}"

    if not check("py.bigquery.dataset-create", create_dataset):
        return

    def get_dataset():
        ds = client.get_dataset(ds_id, retry=RETRY)
        state["dataset"] = ds
        problems = []
        if ds.location != "europe-west3" or ds.labels != {"team": "audit", "suite": "conformance"}:
            problems.append(f"location {ds.location!r} labels {ds.labels!r}")
        if not isinstance(ds.created, datetime.datetime):
            problems.append(f"created {ds.created!r}")
        # Without access in the insert, BigQuery gives the project's basic roles and the creator OWNER.
        entries = {(e.role, e.entity_type, e.entity_id) for e in ds.access_entries}
        if ("OWNER", "userByEmail", creds.service_account_email) not in entries or ("OWNER", "specialGroup", "projectOwners") not in entries:
            problems.append(f"access {sorted(entries)}")
        if problems:
            raise AssertionError("; ".join(problems))
        return f"etag {ds.etag}, {len(entries)} default access entries"

    check("py.bigquery.dataset-get", get_dataset)

    def update_access():
        mark = len(REQUESTS)
        ds = state.get("dataset") or client.get_dataset(ds_id, retry=RETRY)
        old_etag = ds.etag
        entries = list(ds.access_entries)
        entries.append(bigquery.AccessEntry("READER", "groupByEmail", group))
        ds.access_entries = entries
        got = client.update_dataset(ds, ["access_entries"], retry=RETRY)
        reqs = REQUESTS[mark:]
        if not any(r.startswith("PATCH ") and "[If-Match]" in r for r in reqs):
            raise AssertionError(f"no PATCH with If-Match; requests: {'; '.join(reqs)}")
        if not any(e.role == "READER" and e.entity_type == "groupByEmail" and e.entity_id == group for e in got.access_entries):
            raise AssertionError(f"access after update: {[(e.role, e.entity_type, e.entity_id) for e in got.access_entries]}")
        if got.etag == old_etag:
            raise AssertionError(f"etag unchanged ({old_etag})")
        state["stale"] = ds
        return f"READER groupByEmail {group} added; requests: {requests_since(mark)}"

    check("py.bigquery.dataset-update-access", update_access)

    def update_stale_etag():
        # The dataset object still carries the etag from before the update: If-Match must fail.
        ds = state["stale"]
        ds.labels = {"team": "audit", "stale": "yes"}
        e = expect_error(lambda: client.update_dataset(ds, ["labels"], retry=RETRY), exceptions.PreconditionFailed)
        return f"{type(e).__name__} ({e.code}), reason {reason(e)!r}"

    check("py.bigquery.dataset-update-stale-etag", update_stale_etag)

    def upload():
        bucket = gcs.create_bucket(bucket_name, location="europe-west3")
        files = {
            "feed/2026-11-27/part-1.ndjson": LINE_A,
            "feed/2026-11-28/part-2.ndjson": LINE_B,
            # Not *.ndjson: outside gs://…/feed/*.ndjson.
            "feed/2026-11-28/notes.txt": "not json\n",
            "bad/2026-11-28/part-1.ndjson": LINE_B + '{"id": "c", "seq": "not-a-number"}\n',
        }
        for name, text in files.items():
            bucket.blob(name).upload_from_string(text.encode(), content_type="application/x-ndjson")
        return f"{len(files)} objects in gs://{bucket_name}"

    if not check("py.bigquery.upload-ndjson", upload):
        return

    def external_table(table_id, uri):
        table = bigquery.Table(table_id, schema=SCHEMA)
        cfg = bigquery.ExternalConfig("NEWLINE_DELIMITED_JSON")
        cfg.source_uris = [uri]
        cfg.ignore_unknown_values = True
        table.external_data_configuration = cfg
        return client.create_table(table, retry=RETRY)

    def create_external():
        uri = f"gs://{bucket_name}/feed/*.ndjson"
        t = external_table(events, uri)
        cfg = t.external_data_configuration
        if t.table_type != "EXTERNAL" or cfg is None or cfg.source_uris != [uri] or cfg.ignore_unknown_values is not True:
            raise AssertionError(f"table_type {t.table_type!r} external {cfg and cfg.to_api_repr()!r}")
        return f"{t.full_table_id} over {uri}"

    if not check("py.bigquery.external-table-create", create_external):
        return

    def get_table():
        t = client.get_table(events, retry=RETRY)
        got = [(f.name, f.field_type, f.mode) for f in t.schema]
        if got != WANT_SCHEMA:
            raise AssertionError(f"schema {got}, want {WANT_SCHEMA}")
        return f"schema {', '.join(f'{n} {ty}' for n, ty, _ in got)}, all NULLABLE"

    check("py.bigquery.get-table-schema", get_table)

    select = f"SELECT id, seq, f, ok, pos, created_at, payload FROM `{events}` ORDER BY id"

    def query_and_wait():
        mark = len(REQUESTS)
        rows = list(client.query_and_wait(select, retry=RETRY, job_retry=JOB_RETRY))
        detail = check_rows(rows)
        return f"{detail}; requests: {requests_since(mark)}"

    check("py.bigquery.query-and-wait", query_and_wait)

    def query_job():
        # client.query's default: jobs.insert, then getQueryResults and jobs.get until DONE, then the rows.
        mark = len(REQUESTS)
        job = client.query(select, retry=RETRY, job_retry=JOB_RETRY)
        rows = list(job.result(retry=RETRY, job_retry=JOB_RETRY))
        detail = check_rows(rows)
        if job.state != "DONE" or job.error_result is not None:
            raise AssertionError(f"job state {job.state!r} error {job.error_result!r}")
        reqs = REQUESTS[mark:]
        used = {
            "jobs.insert": any(r.startswith("POST /projects/") and "/jobs " in r for r in reqs),
            "jobs.get": any(r.startswith("GET /projects/") and "/jobs/" in r for r in reqs),
            "jobs.getQueryResults": any(r.startswith("GET /projects/") and "/queries/" in r for r in reqs),
        }
        if not all(used.values()):
            raise AssertionError(f"not used: {[k for k, v in used.items() if not v]}; requests: {requests_since(mark)}")
        return f"job {job.job_id} {job.state}; {detail}; requests: {requests_since(mark)}"

    check("py.bigquery.query-job", query_job)

    def create_view():
        t = bigquery.Table(view)
        t.view_query = f"SELECT id, seq, pos FROM `{events}` WHERE seq > 1"
        got = client.create_table(t, retry=RETRY)
        if got.table_type != "VIEW" or got.view_use_legacy_sql is not False:
            raise AssertionError(f"table_type {got.table_type!r} view_use_legacy_sql {got.view_use_legacy_sql!r}")
        schema = [(f.name, f.field_type) for f in got.schema]
        want = [("id", "STRING"), ("seq", "INTEGER"), ("pos", "BIGNUMERIC")]
        if schema != want:
            raise AssertionError(f"view schema {schema}, want {want}")
        rows = list(client.query_and_wait(f"SELECT * FROM `{view}`", retry=RETRY, job_retry=JOB_RETRY))
        got_rows = [tuple(r.values()) for r in rows]
        if got_rows != [("a", BIG_INT, Decimal(BIG_DEC))]:
            raise AssertionError(f"rows through the view {got_rows}")
        return f"view (useLegacySql false), schema {schema}, rows {got_rows}"

    check("py.bigquery.view", create_view)

    def query_error():
        sql = f"SELECT no_such_column FROM `{events}`"
        e = expect_error(lambda: client.query_and_wait(sql, retry=RETRY, job_retry=JOB_RETRY), exceptions.BadRequest, "invalidQuery", "no_such_column")
        return f"{type(e).__name__} ({e.code}) reason {reason(e)!r}: {e.message}"

    check("py.bigquery.query-error-unknown-column", query_error)

    def query_error_job():
        sql = f"SELECT no_such_column FROM `{events}`"
        e = expect_error(lambda: client.query(sql, retry=RETRY, job_retry=JOB_RETRY).result(retry=RETRY, job_retry=JOB_RETRY), exceptions.BadRequest, "invalidQuery", "no_such_column")
        return f"{type(e).__name__} ({e.code}) reason {reason(e)!r}: {e.message.splitlines()[0]}"

    check("py.bigquery.query-job-error-unknown-column", query_error_job)

    def bad_line():
        external_table(bad, f"gs://{bucket_name}/bad/*.ndjson")
        bad_file = f"gs://{bucket_name}/bad/2026-11-28/part-1.ndjson"
        e = expect_error(lambda: client.query_and_wait(f"SELECT id FROM `{bad}`", retry=RETRY, job_retry=JOB_RETRY), exceptions.BadRequest, contains=bad_file)
        return f"{type(e).__name__} ({e.code}) reason {reason(e)!r}: {e.message}"

    check("py.bigquery.query-bad-line", bad_line)

    def list_tables():
        got = sorted((t.table_id, t.table_type) for t in client.list_tables(ds_id, retry=RETRY))
        want = [("events", "EXTERNAL"), ("events_bad", "EXTERNAL"), ("events_view", "VIEW")]
        if got != want:
            raise AssertionError(f"list_tables {got}, want {want}")
        return f"{got}"

    check("py.bigquery.list-tables", list_tables)

    def delete_non_empty():
        # BigQuery answers 400 resourceInUse (not 409) for a dataset that still has tables.
        e = expect_error(lambda: client.delete_dataset(ds_id, retry=RETRY), exceptions.BadRequest, "resourceInUse")
        client.get_dataset(ds_id, retry=RETRY)
        return f"{type(e).__name__} ({e.code}) reason {reason(e)!r}: {e.message}; the dataset is still there"

    check("py.bigquery.dataset-delete-non-empty", delete_non_empty)

    def delete_table_twice():
        mark = len(REQUESTS)
        client.delete_table(view, not_found_ok=True, retry=RETRY)
        client.delete_table(view, not_found_ok=True, retry=RETRY)
        deletes = [r for r in REQUESTS[mark:] if r.startswith("DELETE ")]
        if [r.rsplit(" ", 1)[1] for r in deletes] != ["204", "404"]:
            raise AssertionError(f"DELETE answers {deletes}, want 204 then 404")
        expect_error(lambda: client.get_table(view, retry=RETRY), exceptions.NotFound)
        return f"requests: {requests_since(mark)}; get_table then NotFound"

    check("py.bigquery.delete-table-twice", delete_table_twice)

    def cleanup():
        client.delete_dataset(ds_id, delete_contents=True, retry=RETRY)
        expect_error(lambda: client.get_dataset(ds_id, retry=RETRY), exceptions.NotFound)
        bucket = gcs.bucket(bucket_name)
        for b in gcs.list_blobs(bucket_name):
            b.delete()
        bucket.delete()
        return "dataset (delete_contents) and bucket deleted"

    check("py.bigquery.dataset-delete-contents", cleanup)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        report("FAIL", "py.bigquery.setup", f"{type(e).__name__}: {e}")
    sys.exit(0)
