#!/usr/bin/env bash
# Makes a working Pulumi CLI available at $PULUMI_HOME/versions/<version>/bin/pulumi,
# the path Automation API's PulumiCommand and the npm `pulumi` wrapper look in.
#
# Order:
#   1. $PULUMI_CLI, if set and it runs: nothing to do.
#   2. $PULUMI_HOME/versions/<version>/bin/pulumi already built: nothing to do.
#   3. Otherwise build it from the published Go module (github.com/pulumi/pulumi/pkg/v3)
#      with the wrapper module beside this script. Needs Go >= 1.25 and the Go module proxy.
#      The Go build and module caches are reused when the machine still has them.
# A machine with internet can skip all of this: install the CLI the ordinary way
# (https://www.pulumi.com/docs/install/) and export PULUMI_CLI=$(command -v pulumi).
#
# In every case two plugins end up next to the binary, where the engine looks for bundled
# plugins (pulumi-dynamic.md §3.1), as the release archive lays them out:
#   - the dynamic-provider launcher `pulumi-resource-pulumi-nodejs`, which ships inside
#     @pulumi/pulumi (copied);
#   - the Node language host `pulumi-language-nodejs`, which runs `runtime: nodejs` projects for
#     `pulumi up` in a folder. A CLI installed the ordinary way ships it; for the CLI built here it
#     is built from Pulumi's own source of the same version, ../shared/vendor/pulumi-language-nodejs
#     (its ORIGIN.md says why: the Go module proxy refuses that module), or from the folder named
#     by $PULUMI_LANGUAGE_NODEJS_SRC.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's#.*github.com/pulumi/pulumi/pkg/v3 v\([0-9][0-9.]*\).*#\1#p' "$here/go.mod" | head -n1)
[ -n "$version" ] || { echo "pulumi-cli: cannot read the pkg/v3 version from $here/go.mod" >&2; exit 1; }
pulumi_home=${PULUMI_HOME:-$HOME/.pulumi}
bindir="$pulumi_home/versions/$version/bin"
target="$bindir/pulumi"
launcher_src="$root/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"

log() { echo "pulumi-cli: $*" >&2; }
host_src=${PULUMI_LANGUAGE_NODEJS_SRC:-$root/../shared/vendor/pulumi-language-nodejs}

works() { # $1 = candidate binary; prints its version when it runs
  [ -x "$1" ] && [ -s "$1" ] && PULUMI_SKIP_UPDATE_CHECK=true "$1" version 2>/dev/null
}

place_launcher() { # $1 = directory of the CLI binary
  if [ ! -f "$launcher_src" ]; then
    log "no $launcher_src; run 'npm ci' first"
    exit 1
  fi
  if [ -w "$1" ] && ! cmp -s "$launcher_src" "$1/pulumi-resource-pulumi-nodejs"; then
    install -m 0755 "$launcher_src" "$1/pulumi-resource-pulumi-nodejs"
  fi
}

host_works() { # $1 = directory of the CLI binary
  [ -x "$1/pulumi-language-nodejs" ] && [ -s "$1/pulumi-language-nodejs" ] &&
    "$1/pulumi-language-nodejs" -version >/dev/null 2>&1
}

build_host() { # $1 = directory of the CLI binary (built here, so writable)
  if host_works "$1"; then
    return 0
  fi
  if [ ! -f "$host_src/main.go" ] || [ ! -f "$host_src/go.mod" ]; then
    log "no Node language host next to $1/pulumi and no source to build it from at $host_src."
    log "Set PULUMI_LANGUAGE_NODEJS_SRC to Pulumi's sdk/nodejs/cmd/pulumi-language-nodejs for v$version,"
    log "or install the Pulumi CLI the ordinary way and set PULUMI_CLI to it."
    exit 1
  fi
  local hv
  hv=$(sed -n 's#.*github.com/pulumi/pulumi/sdk/v3 v\([0-9][0-9.]*\).*#\1#p' "$host_src/go.mod" | head -n1)
  if [ "$hv" != "$version" ]; then
    log "warning: $host_src builds against sdk v${hv:-?}, the CLI is v$version"
  fi
  log "building the Node language host from $host_src"
  local work start
  # The source folder may be read-only (CI gets shared/ without write bits) and go may write go.sum.
  work=$(mktemp -d)
  cp -R "$host_src/." "$work/"
  chmod -R u+w "$work"
  start=$(date +%s)
  (
    cd "$work"
    GOFLAGS="${GOFLAGS:-} -mod=mod" go build -o "$1/.pulumi-language-nodejs.tmp" \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" .
  ) || { rm -rf "$work" "$1/.pulumi-language-nodejs.tmp"; log "building the language host failed"; exit 1; }
  rm -rf "$work"
  mv -f "$1/.pulumi-language-nodejs.tmp" "$1/pulumi-language-nodejs"
  log "built $1/pulumi-language-nodejs in $(( $(date +%s) - start ))s"
}

if [ -n "${PULUMI_CLI:-}" ]; then
  if v=$(works "$PULUMI_CLI"); then
    log "using PULUMI_CLI=$PULUMI_CLI ($v)"
    clidir=$(dirname "$(readlink -f "$PULUMI_CLI")")
    place_launcher "$clidir"
    if host_works "$clidir" || command -v pulumi-language-nodejs >/dev/null 2>&1; then
      log "using the Node language host that ships with it"
    else
      log "warning: no pulumi-language-nodejs next to $PULUMI_CLI or on PATH: 'pulumi up' in a project folder will fail"
    fi
    exit 0
  fi
  log "PULUMI_CLI=$PULUMI_CLI does not run; building $version instead"
fi

if v=$(works "$target"); then
  log "found $target ($v)"
  place_launcher "$bindir"
  build_host "$bindir"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "no Pulumi CLI at $target and no Go toolchain to build one."
  log "Install Go >= 1.25, or install the Pulumi CLI normally and set PULUMI_CLI to it."
  exit 1
fi

log "building the Pulumi CLI v$version from the Go module proxy (first build takes a few minutes on 2 cores)"
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
log "built $target in $(( $(date +%s) - start ))s: $(works "$target")"
place_launcher "$bindir"
build_host "$bindir"
