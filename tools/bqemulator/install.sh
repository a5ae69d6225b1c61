#!/usr/bin/env bash
# Installs bqemulator (PyPI, the query engine behind the GCP emulator's BigQuery subset,
# stand-ins/gcp/bigquery-engine.ts) into <repo>/.cache/bqemulator/venv.
#
# - Idempotent: when the venv's bqemulator runs (--version) and imports, nothing is done.
# - Pinned versions, as probed in docs/bigquery-research.md: bqemulator 1.4.0 runs on DuckDB 1.5.5;
#   numpy is needed by duckdb's create_function; the spatial extension is copied from the
#   duckdb-extension-spatial wheel into ~/.duckdb/extensions/ so that start-up never downloads it.
# - Needs python3 (>= 3.10) with venv, and PyPI (or a pip mirror configured the usual way).
# The emulator looks for the venv at $BQEMULATOR_VENV, else at the path below.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${BQEMULATOR_VENV:-$root/.cache/bqemulator/venv}
python=${PYTHON:-python3}
packages=(bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 duckdb-extensions==1.5.5 numpy)

log() { echo "bqemulator: $*" >&2; }

works() {
  [ -x "$venv/bin/bqemulator" ] &&
    "$venv/bin/bqemulator" --version >/dev/null 2>&1 &&
    "$venv/bin/python" -c "import bqemulator, duckdb, numpy; from duckdb_extensions import import_extension" >/dev/null 2>&1
}

if works; then
  log "found $venv/bin/bqemulator ($("$venv/bin/bqemulator" --version 2>&1 | head -n1)); nothing to do"
  exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
  log "no $python on PATH; install Python 3.11 (with venv) or set PYTHON"
  exit 1
fi

start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
  log "creating the venv $venv ($("$python" --version 2>&1))"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
else
  log "reusing the venv $venv"
fi
log "pip install ${packages[*]}"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet "${packages[@]}"
log "installing DuckDB's spatial extension from its wheel (start-up would otherwise download it)"
"$venv/bin/python" -c "from duckdb_extensions import import_extension; import_extension('spatial')"
if ! works; then
  log "installed, but $venv/bin/bqemulator --version or the imports still fail"
  exit 1
fi
log "installed $("$venv/bin/bqemulator" --version 2>&1 | head -n1) in $(( $(date +%s) - start ))s"
