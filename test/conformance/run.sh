#!/usr/bin/env bash
# Conformance suite for the project's stand-ins (test/twin/gcp, test/twin/cockroach), driven by
# real third-party clients: cloud.google.com/go/storage (configured as CockroachDB's GCS sink),
# google.golang.org/api/iam/v1, pgx v5, python google-cloud-storage and google-cloud-bigquery, gcloud
# storage, gsutil, psql.
#
# Usage: test/conformance/run.sh            (from anywhere; needs node_modules or network for npm ci)
# Env:   CONF_SKIP_BUILD=1   do not run `npm run build` (use the dist/ that is there)
#        CONF_GO_P=N         go build parallelism (default 1: the CI machines have 2 cores)
#        CONF_ONLY="go py gcloud gsutil psql"   run only these suites
#        TWIN_GCP_PORT / TWIN_COCKROACH_PORT     fixed ports for the stand-ins
# Prints one line per check ("PASS|FAIL|SKIP name: detail"; XFAIL/XPASS for known-differences.txt),
# then a summary; exits 1 if any FAIL or XPASS.
# Results are also written to test/conformance/.work/results.txt. Each suite is cut at 300 s, each
# check has its own timeout (20-180 s), so a hung stand-in cannot hold a CI job for long.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$here/.work
rm -rf "$work"
mkdir -p "$work" "$here/.bin"
results=$work/results.txt
: >"$results"
only=${CONF_ONLY:-go py gcloud gsutil psql}
wants() { [[ " $only " == *" $1 "* ]]; }

t_start=$(date +%s)
# Which stand-ins are under test (another engineer changes them): the commit, and uncommitted files.
if git -C "$root" rev-parse HEAD >/dev/null 2>&1; then
  dirty=$(git -C "$root" status --porcelain -- test/twin | awk '{print $2}' | tr '\n' ' ')
  printf 'INFO stand-ins from %s%s\n' "$(git -C "$root" rev-parse --short HEAD)" "${dirty:+ plus uncommitted changes to: $dirty}" | tee -a "$results"
fi
now() { date +%s; }
say() { printf '%s\n' "$*" | tee -a "$results"; }
info() { printf 'INFO %s\n' "$*" | tee -a "$results"; }

# ------------------------------------------------------------------ installs
export PATH=$root/node_modules/.bin:$PATH
t0=$(now)
if [ ! -d "$root/node_modules" ]; then
  info "npm ci (no node_modules)"
  (cd "$root" && npm ci --no-audit --no-fund >"$work/npm-ci.log" 2>&1) || { say "FAIL install.npm: npm ci failed, see $work/npm-ci.log"; exit 1; }
fi
if [ "${CONF_SKIP_BUILD:-}" != 1 ] || [ ! -f "$root/dist/test/twin/run.js" ]; then
  (cd "$root" && npm run --silent build >"$work/npm-build.log" 2>&1) || { say "FAIL install.build: npm run build failed: $(tail -n 5 "$work/npm-build.log" | tr '\n' ' ')"; exit 1; }
fi
t_node=$(($(now) - t0))

go_ok=0
t0=$(now)
if wants go || wants gsutil; then
  gobin=$(command -v go || true)
  [ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
  if [ -z "$gobin" ]; then
    say "SKIP go: no go toolchain (looked on PATH and /usr/local/go/bin)"
  elif (cd "$here/go" && GOFLAGS=-p=${CONF_GO_P:-1} "$gobin" mod download >"$work/go-mod.log" 2>&1 &&
    GOFLAGS=-p=${CONF_GO_P:-1} "$gobin" build -o "$here/.bin/conformance" . >"$work/go-build.log" 2>&1); then
    go_ok=1
  else
    say "FAIL install.go: $(cat "$work/go-mod.log" "$work/go-build.log" 2>/dev/null | tail -n 5 | tr '\n' ' ')"
  fi
fi
t_go=$(($(now) - t0))

py_ok=0
t0=$(now)
if wants py; then
  py=$(command -v python3.11 || command -v python3 || true)
  if [ -z "$py" ]; then
    say "SKIP py: no python3"
  else
    if [ ! -x "$here/.venv/bin/python" ]; then "$py" -m venv "$here/.venv" >"$work/venv.log" 2>&1 || true; fi
    if [ -x "$here/.venv/bin/python" ] &&
      "$here/.venv/bin/pip" install --disable-pip-version-check -q -r "$here/python/requirements.txt" >"$work/pip.log" 2>&1; then
      py_ok=1
    else
      say "FAIL install.python: $(cat "$work/venv.log" "$work/pip.log" 2>/dev/null | tail -n 5 | tr '\n' ' ')"
    fi
  fi
fi
t_py=$(($(now) - t0))
info "installs: node build ${t_node}s, go mod download + build ${t_go}s, python venv + pip ${t_py}s"

# ------------------------------------------------------------------ stand-ins
twin_pid=""
stop_twin() {
  if [ -n "$twin_pid" ] && kill -0 "$twin_pid" 2>/dev/null; then
    kill -TERM "$twin_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$twin_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$twin_pid" 2>/dev/null && kill -KILL "$twin_pid" 2>/dev/null || true
  fi
  twin_pid=""
}
trap stop_twin EXIT INT TERM

t0=$(now)
(cd "$root" && exec node dist/test/twin/run.js) >"$work/twin.out" 2>"$work/twin.err" &
twin_pid=$!
for _ in $(seq 600); do
  [ -s "$work/twin.out" ] && break
  kill -0 "$twin_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$work/twin.out" ]; then
  say "FAIL twin.start: no JSON line from node dist/test/twin/run.js within 60 s: $(tail -n 5 "$work/twin.err" | tr '\n' ' ')"
  exit 1
fi
read -r CONF_GCP_ENDPOINT CONF_ADMIN_KEY_FILE CONF_PROJECT CONF_COCKROACH_URL < <(node -e '
  const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]);
  console.log([j.gcpEndpoint, j.adminKeyFile, j.project, j.cockroachUrl].join(" "));' "$work/twin.out")
export CONF_GCP_ENDPOINT CONF_ADMIN_KEY_FILE CONF_PROJECT CONF_COCKROACH_URL CONF_WORK=$work CONF_BIN=$here/.bin
info "stand-ins up in $(($(now) - t0))s: gcp $CONF_GCP_ENDPOINT, cockroach $CONF_COCKROACH_URL"

# ------------------------------------------------------------------ checks
# suite NAME CMD...: runs one suite, copies its lines, and turns a crash or silence into a FAIL.
suite() {
  local name=$1
  shift
  local t=$(now) rc=0
  timeout 300 "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  # Known, documented differences (known-differences.txt): FAIL → XFAIL, PASS → XPASS (a failure: the list is stale).
  grep -E '^(PASS|FAIL|SKIP) ' "$work/$name.out" | awk -F'\t' -v known="$here/known-differences.txt" '
    BEGIN { while ((getline line < known) > 0) if (line !~ /^#/ && line != "") { split(line, kv, "\t"); why[kv[1]] = kv[2] } }
    { n = $0; sub(/^[A-Z]+ /, "", n); sub(/:.*/, "", n) }
    /^FAIL / && (n in why) { sub(/^FAIL /, "XFAIL "); print $0 " (known difference: " why[n] ")"; next }
    /^PASS / && (n in why) { sub(/^PASS /, "XPASS "); print $0 " (listed in known-differences.txt but passes: remove it there)"; next }
    { print }' | tee -a "$results" || true
  if [ "$rc" != 0 ]; then
    say "FAIL $name.run: exited $rc: $(tail -n 5 "$work/$name.err" | tr '\n' ' ' | cut -c1-400)"
  elif ! grep -qE '^(PASS|FAIL|SKIP|XFAIL|XPASS) ' "$work/$name.out"; then
    say "FAIL $name.run: no results: $(tail -n 5 "$work/$name.err" | tr '\n' ' ' | cut -c1-400)"
  fi
  info "$name took $(($(now) - t))s"
}

if wants go && [ "$go_ok" = 1 ]; then
  # CockroachDB reaches an emulator only through STORAGE_EMULATOR_HOST (see go/storage.go).
  STORAGE_EMULATOR_HOST=$CONF_GCP_ENDPOINT suite go-storage "$here/.bin/conformance" storage
  suite go-iam "$here/.bin/conformance" iam
  STORAGE_EMULATOR_HOST=$CONF_GCP_ENDPOINT suite go-pgx "$here/.bin/conformance" pgx
fi
if wants psql; then suite psql bash "$here/cli/psql.sh"; fi
if wants py && [ "$py_ok" = 1 ]; then
  suite python "$here/.venv/bin/python" "$here/python/conformance.py"
  # The emulator's BigQuery runs its queries on bqemulator, started by the twin on the first BigQuery call.
  bqvenv=${BQEMULATOR_VENV:-$root/.cache/bqemulator/venv}
  if [ -x "$bqvenv/bin/bqemulator" ]; then
    suite python-bigquery "$here/.venv/bin/python" "$here/python/bigquery.py"
  else
    say "SKIP python-bigquery: bqemulator is not installed at $bqvenv (npm run setup, or bash tools/bqemulator/install.sh)"
  fi
fi
if wants gcloud; then suite gcloud bash "$here/cli/gcloud.sh"; fi
if wants gsutil; then
  if [ "$go_ok" = 1 ]; then suite gsutil bash "$here/cli/gsutil.sh"; else say "SKIP gsutil: needs the Go-built TLS front (go build failed or skipped)"; fi
fi

t0=$(now)
stop_twin
info "stand-ins stopped in $(($(now) - t0))s"

# ------------------------------------------------------------------ summary
p=$(grep -c '^PASS ' "$results" || true)
f=$(grep -cE '^(FAIL|XPASS) ' "$results" || true)
s=$(grep -c '^SKIP ' "$results" || true)
x=$(grep -c '^XFAIL ' "$results" || true)
info "summary: $p PASS, $f FAIL, $x XFAIL (known differences), $s SKIP in $(($(now) - t_start))s (results: $results)"
[ "$f" = 0 ]
