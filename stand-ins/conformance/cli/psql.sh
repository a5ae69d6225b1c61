#!/usr/bin/env bash
# psql (libpq) against the CockroachDB twin.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v psql >/dev/null 2>&1; then
  result SKIP psql "psql is not installed (looked on PATH)"
  exit 0
fi
url=${CONF_COCKROACH_URL:?}
export PSQLRC=/dev/null

run 30 psql "$url" -X -v ON_ERROR_STOP=1 -c 'SELECT 1'
if [ "$RC" != 0 ]; then
  result FAIL psql.connect "exit $RC: $(tail_out)"
  exit 0
fi
result PASS psql.connect "$(psql --version)"

# Column names as CockroachDB v24.3 returns them (SHOW CHANGEFEED JOBS delegate,
# pkg/sql/delegate/show_changefeed_jobs.go; readable_high_water_timestamptz only from v25.1).
want_cols="job_id|description|user_name|status|running_status|created|started|finished|modified|high_water_timestamp|error|sink_uri|full_table_names|topics|format"
run 30 psql "$url" -X -v ON_ERROR_STOP=1 -A -F '|' -P footer=off -c 'SHOW CHANGEFEED JOBS;'
if [ "$RC" != 0 ]; then
  result FAIL psql.show-changefeed-jobs "exit $RC: $(tail_out)"
else
  header=$(head -n1 <<<"$OUT")
  if [ "$header" = "$want_cols" ]; then
    result PASS psql.show-changefeed-jobs "$(($(wc -l <<<"$OUT") - 1)) row(s); columns $header"
  else
    result FAIL psql.show-changefeed-jobs "columns: $header; want $want_cols (CockroachDB v24.3, as the twin's SELECT version() claims)"
  fi
  # running_status of a running changefeed: "running: resolved=" + hlc.Timestamp (seconds.nanoseconds,logical),
  # e.g. "running: resolved=1741616141.951323000,0" (CockroachDB docs, SHOW CHANGEFEED JOBS example;
  # pkg/ccl/changefeedccl/changefeed_processors.go: fmt.Sprintf("running: resolved=%s", frontier)).
  # (grep -E for the check: mawk, Debian's default awk, has no {n} intervals.)
  bad=$(awk -F'|' 'NR>1 && $5 ~ /^running: resolved=/ {print $5}' <<<"$OUT" | grep -v -E '^running: resolved=[0-9]+\.[0-9]{9},[0-9]+$' | head -n1 || true)
  if [ -n "$bad" ]; then
    result FAIL psql.changefeed-running-status "running_status \"$bad\"; want running: resolved=<seconds>.<9-digit nanos>,<logical>"
  elif awk -F'|' 'NR>1 && $5 ~ /^running: resolved=/' <<<"$OUT" | grep -q .; then
    result PASS psql.changefeed-running-status "$(awk -F'|' 'NR>1 && $5 ~ /^running: resolved=/ {print $5; exit}' <<<"$OUT")"
  else
    result SKIP psql.changefeed-running-status "no job with a resolved timestamp yet"
  fi
fi

run 30 psql "$url" -X -v ON_ERROR_STOP=1 -A -t -c 'SET CLUSTER SETTING kv.rangefeed.enabled = true;' -c 'SHOW CLUSTER SETTING kv.rangefeed.enabled;'
if [ "$RC" = 0 ] && [ "$(tail -n1 <<<"$OUT")" = t ]; then
  result PASS psql.show-cluster-setting "kv.rangefeed.enabled = t after SET ... = true"
else
  result FAIL psql.show-cluster-setting "exit $RC; got \"$(tail_out)\", want t after SET CLUSTER SETTING kv.rangefeed.enabled = true"
fi

run 30 psql "$url" -X -v ON_ERROR_STOP=1 -A -t -c 'SELECT version();'
if [ "$RC" = 0 ] && grep -q '^CockroachDB CCL v[0-9]' <<<"$OUT"; then
  result PASS psql.version "$OUT"
else
  result FAIL psql.version "exit $RC: $(tail_out)"
fi

exit 0
