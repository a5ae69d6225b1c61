# Helpers for the command-line checks (sourced). Every check prints one line:
# "PASS|FAIL|SKIP name: detail" (detail flattened to one line, capped).

result() { # STATUS NAME DETAIL...
  local status=$1 name=$2
  shift 2
  local detail
  detail=$(printf '%s' "$*" | tr '\n\r\t' '   ' | tr -s ' ' | cut -c1-600)
  printf '%s %s: %s\n' "$status" "$name" "$detail"
}

# run NAME TIMEOUT_SECONDS CMD... → sets OUT (stdout+stderr) and RC; prints nothing.
run() {
  local secs=$1
  shift
  set +e
  OUT=$(timeout "$secs" "$@" 2>&1)
  RC=$?
  set -e
  if [ "$RC" = 124 ]; then OUT="timed out after ${secs}s: $OUT"; fi
}

# The last few meaningful lines of OUT (progress bars and blank lines dropped).
tail_out() {
  printf '%s' "$OUT" | tr '\r' '\n' | grep -v -E '^\s*$|^\s*[/|\\-] \[|^Copying |^Operation completed|^Creating ' | tail -n "${1:-4}"
}
