#!/usr/bin/env bash
# Finds, or else builds, the Pulumi CLI the tests, the demo and the bench run, and records the choice
# in $SETUP_CACHE_DIR/pulumi-cli/cli (default <repo>/.cache; test/harness/engine.ts reads it).
#
# Candidates, in this order; the first usable one wins and nothing is built:
#   1. $PULUMI_CLI, when set and not empty (set but empty: skip 1 and 2 and use or build the pinned version);
#   2. `pulumi` on PATH (symlinks resolved: Homebrew, asdf and the installer's ~/.pulumi/bin all work);
#   3. $PULUMI_HOME/versions/<pinned>/bin/pulumi, where an earlier run built it.
# Usable means: it runs, its version is in the range the package supports (the @pulumi/pulumi peer range
# of package.json, ^3.249.0: the SDK and the CLI are released together, and the package's dynamic
# providers use what that SDK asks of the engine), and the Node language host `pulumi-language-nodejs`
# runs beside it (every release archive ships it there; `pulumi up` in a project folder needs it).
#
# A candidate found but unusable (too old, no language host) stops set-up, named with the reason and the
# ways out, before anything is built. With no candidate at all the pinned version is built from the Go
# module proxy (github.com/pulumi/pulumi/pkg/v3, a few minutes on 2 cores) and its language host from
# Pulumi's own source (../shared/vendor/pulumi-language-nodejs, or $PULUMI_LANGUAGE_NODEJS_SRC; the proxy
# refuses that module, see its ORIGIN.md). Everything a build needs (Go, that source) is checked first:
# a missing piece stops set-up within seconds, never after the build.
#
# The dynamic-provider launcher `pulumi-resource-pulumi-nodejs` (a five-line sh script that ships in
# @pulumi/pulumi and in every release archive, pulumi-dynamic.md §3.1, §5.4) is placed beside a CLI built
# here; for a CLI found without it, a copy goes to $SETUP_CACHE_DIR/pulumi-cli/plugins, which the harness
# puts on PATH (the engine looks for bundled plugins on PATH first). A found CLI's folder is never written.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's#.*github.com/pulumi/pulumi/pkg/v3 v\([0-9][0-9.]*\).*#\1#p' "$here/go.mod" | head -n1)
[ -n "$version" ] || { echo "pulumi-cli: cannot read the pkg/v3 version from $here/go.mod" >&2; exit 1; }
# The supported range: the peer range of @pulumi/pulumi in package.json, "^<min>".
min=$(sed -n 's#.*"@pulumi/pulumi": *"\^\([0-9][0-9.]*\)".*#\1#p' "$root/package.json" | head -n1)
[ -n "$min" ] || { echo "pulumi-cli: cannot read the @pulumi/pulumi peer range from $root/package.json" >&2; exit 1; }
major=${min%%.*}
range=">= $min, < $((major + 1)).0.0"
pulumi_home=${PULUMI_HOME:-$HOME/.pulumi}
bindir="$pulumi_home/versions/$version/bin"
target="$bindir/pulumi"
cache=${SETUP_CACHE_DIR:-$root/.cache}/pulumi-cli
launcher_src="$root/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"
host_src=${PULUMI_LANGUAGE_NODEJS_SRC:-$root/../shared/vendor/pulumi-language-nodejs}
install_page="https://www.pulumi.com/docs/install/"

log() { echo "pulumi-cli: $*" >&2; }
die() { for line in "$@"; do log "$line"; done; exit 1; }

[ -f "$launcher_src" ] || die "no $launcher_src; run 'npm ci' first"

cli_version() { # $1 = binary; prints e.g. 3.259.0 when it runs (at most 20 s: a hung binary is not a CLI)
  local out
  [ -x "$1" ] && [ -s "$1" ] || return 1
  out=$(PULUMI_SKIP_UPDATE_CHECK=true timeout 20 "$1" version 2>/dev/null) || return 1
  sed -n 's/^v\{0,1\}\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' <<<"$out" | head -n1 | grep .
}

in_range() { # $1 = x.y.z; true when $min <= $1 < major+1
  local a b c m1 m2 m3
  IFS=. read -r a b c <<<"$1"
  IFS=. read -r m1 m2 m3 <<<"$min"
  [ "$a" -eq "$m1" ] || return 1
  [ "$b" -gt "$m2" ] || { [ "$b" -eq "$m2" ] && [ "$c" -ge "$m3" ]; }
}

host_works() { # $1 = directory of the CLI binary
  [ -x "$1/pulumi-language-nodejs" ] && [ -s "$1/pulumi-language-nodejs" ] &&
    timeout 20 "$1/pulumi-language-nodejs" -version >/dev/null 2>&1
}

record() { # $1 = the chosen CLI; $2 = how it was chosen
  local dir v
  dir=$(dirname "$1")
  v=$(cli_version "$1")
  mkdir -p "$cache"
  rm -rf "$cache/plugins"
  if [ ! -x "$dir/pulumi-resource-pulumi-nodejs" ]; then
    if [ "$dir" = "$bindir" ]; then
      install -m 0755 "$launcher_src" "$dir/pulumi-resource-pulumi-nodejs"
    else
      mkdir -p "$cache/plugins"
      install -m 0755 "$launcher_src" "$cache/plugins/pulumi-resource-pulumi-nodejs"
    fi
  fi
  printf '%s\n' "$1" >"$cache/cli.tmp" && mv -f "$cache/cli.tmp" "$cache/cli"
  echo "pulumi-cli: using $1 (v$v, $2)"
}

# Why a candidate is not usable, or nothing when it is. $1 = binary.
unusable() {
  local v
  if ! v=$(cli_version "$1"); then echo "it does not run ('$1 version' failed)"; return; fi
  if ! in_range "$v"; then echo "its version v$v is outside the supported range ($range)"; return; fi
  if ! host_works "$(dirname "$1")"; then
    echo "v$v has no working Node language host beside it ($(dirname "$1")/pulumi-language-nodejs), which 'pulumi up' needs for a TypeScript project"
  fi
}

refuse() { # $1 = what was found, $2 = why
  die "$1 cannot be used: $2." \
    "Either install or upgrade Pulumi the ordinary way ($install_page; it ships pulumi-language-nodejs beside pulumi)" \
    "and run 'npm run setup' again, or set PULUMI_CLI= (empty) to build the pinned v$version here instead" \
    "(needs Go >= 1.25 and the Node language host's source, about 10 minutes the first time)."
}

# 1. $PULUMI_CLI
if [ -n "${PULUMI_CLI:-}" ]; then
  found=$(command -v "$PULUMI_CLI" 2>/dev/null || echo "$PULUMI_CLI")
  [ -e "$found" ] && found=$(readlink -f "$found")
  why=$(unusable "$found")
  [ -z "$why" ] || refuse "PULUMI_CLI=$PULUMI_CLI" "$why"
  record "$found" "from PULUMI_CLI"
  exit 0
fi

# 2. pulumi on PATH, unless PULUMI_CLI is set and empty
if [ -z "${PULUMI_CLI+set}" ] && on_path=$(command -v pulumi 2>/dev/null); then
  found=$(readlink -f "$on_path")
  why=$(unusable "$found")
  [ -z "$why" ] || refuse "the pulumi on PATH ($on_path)" "$why"
  record "$found" "found on PATH"
  exit 0
fi

# 3. the pinned version, built here earlier (its language host is built below if missing)
if v=$(cli_version "$target") && host_works "$bindir"; then
  record "$target" "built here earlier"
  exit 0
fi

# 4. build: check everything the build needs first.
cli_ok=$(cli_version "$target" || true)
if ! host_works "$bindir" && { [ ! -f "$host_src/main.go" ] || [ ! -f "$host_src/go.mod" ]; }; then
  if [ -n "$cli_ok" ]; then found_what="the pinned CLI at $target has no Node language host beside it,"
  else found_what="no Pulumi CLI was found (PULUMI_CLI is ${PULUMI_CLI+set but empty}${PULUMI_CLI-not set}; no pulumi on PATH; nothing at $target),"; fi
  die "$found_what" \
    "and the Node language host cannot be built: its source is not at $host_src." \
    "Either install Pulumi the ordinary way ($install_page; pulumi and pulumi-language-nodejs land on PATH)" \
    "and run 'npm run setup' again, or point PULUMI_LANGUAGE_NODEJS_SRC at the source of pulumi-language-nodejs v$version" \
    "(github.com/pulumi/pulumi at tag v$version, folder sdk/nodejs/cmd/pulumi-language-nodejs, with its go.mod's replace lines" \
    "for pkg/v3 and sdk/v3 removed and both required at v$version)."
fi
if ! command -v go >/dev/null 2>&1; then
  die "no Pulumi CLI was found and there is no Go toolchain to build v$version." \
    "Either install Pulumi the ordinary way ($install_page) and run 'npm run setup' again, or install Go >= 1.25."
fi

if [ -z "$cli_ok" ]; then
  log "no usable Pulumi CLI found; building v$version from the Go module proxy (first build takes about 10 minutes on 2 cores)"
  mkdir -p "$bindir"
  tmp=$(mktemp "$bindir/.pulumi.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  start=$(date +%s)
  (
    cd "$here"
    # -mod=mod lets go fill go.sum from the proxy if a fresh clone lacks an entry.
    GOFLAGS="${GOFLAGS:-} -mod=mod" go build -o "$tmp" \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  )
  mv -f "$tmp" "$target"
  trap - EXIT
  log "built $target in $(($(date +%s) - start))s"
fi

if ! host_works "$bindir"; then
  hv=$(sed -n 's#.*github.com/pulumi/pulumi/sdk/v3 v\([0-9][0-9.]*\).*#\1#p' "$host_src/go.mod" | head -n1)
  [ "$hv" = "$version" ] || log "warning: $host_src builds against sdk v${hv:-?}, the CLI is v$version"
  log "building the Node language host from $host_src"
  # The source folder may be read-only (CI gets shared/ without write bits) and go may write go.sum.
  work=$(mktemp -d)
  cp -R "$host_src/." "$work/"
  chmod -R u+w "$work"
  start=$(date +%s)
  (
    cd "$work"
    GOFLAGS="${GOFLAGS:-} -mod=mod" go build -o "$bindir/.pulumi-language-nodejs.tmp" \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" .
  ) || { rm -rf "$work" "$bindir/.pulumi-language-nodejs.tmp"; die "building the language host failed"; }
  rm -rf "$work"
  mv -f "$bindir/.pulumi-language-nodejs.tmp" "$bindir/pulumi-language-nodejs"
  log "built $bindir/pulumi-language-nodejs in $(($(date +%s) - start))s"
fi

record "$target" "built here from the Go module proxy"
