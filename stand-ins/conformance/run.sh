#!/usr/bin/env bash
# Conformance suite for the project's stand-ins (stand-ins/gcp, stand-ins/cockroach), driven by
# real third-party clients: cloud.google.com/go/storage (configured as CockroachDB's GCS sink),
# google.golang.org/api/iam/v1, pgx v5, python google-cloud-storage, google-cloud-bigquery,
# google-cloud-secret-manager and google-cloud-run (python/runtime.py), gcloud
# storage, gsutil, psql; and, for Pub/Sub, Google's own Pub/Sub emulator (a differential REST suite,
# python/pubsub.py) and Google's Node Pub/Sub client @google-cloud/pubsub (node/pubsub-client.js).
#
# Usage: stand-ins/conformance/run.sh            (from anywhere; needs node_modules or network for npm ci)
# Env:   CONF_SKIP_BUILD=1   do not run `npm run build` (use the dist/ that is there)
#        CONF_GO_P=N         go build parallelism (default 1: the CI machines have 2 cores)
#        CONF_ONLY="go py gcloud gsutil psql pubsub"   run only these suites
#        TWIN_GCP_PORT / TWIN_COCKROACH_PORT     fixed ports for the stand-ins
# Prints one line per check ("PASS|FAIL|SKIP name: detail"; XFAIL/XPASS for known-differences.txt),
# then a summary; exits 1 if any FAIL or XPASS.
# Results are also written to stand-ins/conformance/.work/results.txt. Each suite is cut at 300 s, each
# check has its own timeout (20-180 s), so a hung stand-in cannot hold a CI job for long.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$here/.work
rm -rf "$work"
mkdir -p "$work" "$here/.bin"
results=$work/results.txt
: >"$results"
only=${CONF_ONLY:-go py gcloud gsutil psql pubsub}
wants() { [[ " $only " == *" $1 "* ]]; }

t_start=$(date +%s)
# Which stand-ins are under test (another engineer changes them): the commit, and uncommitted files.
if git -C "$root" rev-parse HEAD >/dev/null 2>&1; then
  dirty=$(git -C "$root" status --porcelain -- stand-ins | awk '{print $2}' | tr '\n' ' ')
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
if [ "${CONF_SKIP_BUILD:-}" != 1 ] || [ ! -f "$root/dist/stand-ins/run.js" ]; then
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
if wants py || wants pubsub; then
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

# Google's Pub/Sub emulator (the pubsub suites' reference): the Cloud SDK's platform/pubsub-emulator, run
# through its own start script, which execs java (so its pid is the JVM's). `gcloud beta emulators pubsub
# start` runs the same script, behind a Python gcloud process: a second or two slower, and a process
# tree to stop instead of one pid. Plus Google's Node client, in its own folder (node/), never in the root
# package.json: `npm ci --prefix`, skipped while node_modules holds the same package-lock.json.
gps_script="" gps_skip="" node_ok=0
t0=$(now)
if wants pubsub; then
  gcloud_sdk=""
  if command -v gcloud >/dev/null 2>&1; then gcloud_sdk=$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")"); fi
  for sdk in "${CLOUDSDK_ROOT_DIR:-}" "$gcloud_sdk" /usr/lib/google-cloud-sdk /usr/share/google-cloud-sdk /opt/google-cloud-sdk "$HOME/google-cloud-sdk"; do
    if [ -n "$sdk" ] && [ -x "$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator" ]; then gps_script=$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator; break; fi
  done
  if [ -z "$gps_script" ]; then
    gps_skip="Google's Pub/Sub emulator is not installed (gcloud components install pubsub-emulator, or the google-cloud-cli-pubsub-emulator package)"
  elif [ -z "${JAVA_HOME:-}" ] && ! command -v java >/dev/null 2>&1; then
    gps_skip="Google's Pub/Sub emulator needs java (none on PATH, no JAVA_HOME)"; gps_script=""
  fi
  if [ -n "$gps_skip" ]; then
    say "SKIP pubsub: $gps_skip"
  else
    lock=$here/node/package-lock.json stamp=$here/node/node_modules/.conformance-package-lock.json
    if [ -f "$stamp" ] && cmp -s "$lock" "$stamp"; then
      node_ok=1
    elif npm ci --prefix "$here/node" --no-audit --no-fund >"$work/npm-ci-node.log" 2>&1 && cp "$lock" "$stamp"; then
      node_ok=1
    else
      say "FAIL install.node-pubsub: npm ci --prefix node failed: $(tail -n 5 "$work/npm-ci-node.log" | tr '\n' ' ')"
    fi
  fi
fi
t_pubsub=$(($(now) - t0))
info "installs: node build ${t_node}s, go mod download + build ${t_go}s, python venv + pip ${t_py}s, pubsub node client ${t_pubsub}s"

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
gps_pid=""
stop_google_pubsub() {
  if [ -n "$gps_pid" ] && kill -0 "$gps_pid" 2>/dev/null; then
    kill -TERM "$gps_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$gps_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$gps_pid" 2>/dev/null && kill -KILL "$gps_pid" 2>/dev/null || true
  fi
  gps_pid=""
}
trap 'stop_google_pubsub; stop_twin' EXIT INT TERM

# Google's Pub/Sub emulator first: its JVM starts (~2 s) while the stand-ins do.
gps_host=""
if [ -n "$gps_script" ]; then
  gps_port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
  CLOUD_PUBSUB_EMULATOR_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" \
    "$gps_script" --host=127.0.0.1 --port="$gps_port" >"$work/google-pubsub.log" 2>&1 &
  gps_pid=$!
  gps_host=127.0.0.1:$gps_port
  gps_t0=$(now)
fi

t0=$(now)
(cd "$root" && exec node dist/stand-ins/run.js) >"$work/twin.out" 2>"$work/twin.err" &
twin_pid=$!
for _ in $(seq 600); do
  [ -s "$work/twin.out" ] && break
  kill -0 "$twin_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$work/twin.out" ]; then
  say "FAIL twin.start: no JSON line from node dist/stand-ins/run.js within 60 s: $(tail -n 5 "$work/twin.err" | tr '\n' ' ')"
  exit 1
fi
read -r CONF_GCP_ENDPOINT CONF_ADMIN_KEY_FILE CONF_PROJECT CONF_COCKROACH_URL CONF_PUBSUB_GRPC < <(node -e '
  const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]);
  console.log([j.gcpEndpoint, j.adminKeyFile, j.project, j.cockroachUrl, j.pubsubGrpc].join(" "));' "$work/twin.out")
export CONF_GCP_ENDPOINT CONF_ADMIN_KEY_FILE CONF_PROJECT CONF_COCKROACH_URL CONF_PUBSUB_GRPC CONF_WORK=$work CONF_BIN=$here/.bin
info "stand-ins up in $(($(now) - t0))s: gcp $CONF_GCP_ENDPOINT, cockroach $CONF_COCKROACH_URL"
if [ -n "$gps_pid" ]; then
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$gps_port") 2>/dev/null && break
    kill -0 "$gps_pid" 2>/dev/null || break
    sleep 0.1
  done
  if (exec 3<>"/dev/tcp/127.0.0.1/$gps_port") 2>/dev/null; then
    info "Google's Pub/Sub emulator ($(basename "$(ls "$(dirname "$gps_script")"/../lib/cloud-pubsub-emulator-*.jar 2>/dev/null | head -n 1)" .jar)) up on $gps_host in $(($(now) - gps_t0))s"
  else
    say "FAIL pubsub.google-emulator: not listening on $gps_host within 60 s: $(tail -n 5 "$work/google-pubsub.log" | tr '\n' ' ' | cut -c1-400)"
    stop_google_pubsub
    gps_host=""
  fi
fi

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
  suite python-runtime "$here/.venv/bin/python" "$here/python/runtime.py"
  # The emulator's BigQuery runs its queries on bqemulator, started by the twin on the first BigQuery call.
  bqvenv=${BQEMULATOR_VENV:-$root/.cache/bqemulator/venv}
  if [ -x "$bqvenv/bin/bqemulator" ]; then
    suite python-bigquery "$here/.venv/bin/python" "$here/python/bigquery.py"
  else
    say "SKIP python-bigquery: bqemulator is not installed at $bqvenv (npm run setup, or bash tools/bqemulator/install.sh)"
  fi
fi
if wants pubsub && [ -n "$gps_host" ]; then
  if [ "$py_ok" = 1 ]; then
    CONF_PUBSUB_GOOGLE=$gps_host suite pubsub "$here/.venv/bin/python" "$here/python/pubsub.py"
  else
    say "SKIP pubsub: needs the python venv (its install failed)"
  fi
  if [ "$node_ok" = 1 ]; then CONF_PUBSUB_GOOGLE=$gps_host suite pubsub-node node "$here/node/pubsub-client.js"; fi
fi
if [ -n "$gps_pid" ]; then
  t0=$(now)
  stop_google_pubsub
  info "Google's Pub/Sub emulator stopped in $(($(now) - t0))s"
fi
if wants gcloud; then suite gcloud bash "$here/cli/gcloud.sh"; fi
if wants gcloud; then
  CONF_AGENT=$(cd "$root" && node -e 'console.log(require("./dist/stand-ins").pubsubServiceAgentOf(process.argv[1]))' "$CONF_PROJECT") \
    suite gcloud-pubsub bash "$here/cli/gcloud-pubsub.sh"
fi
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
