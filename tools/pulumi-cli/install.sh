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
# In every case the dynamic-provider launcher `pulumi-resource-pulumi-nodejs` that ships
# inside @pulumi/pulumi is copied next to the binary, where the engine looks for
# bundled plugins (pulumi-dynamic.md §3.1), exactly as the release tarball lays it out.
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

if [ -n "${PULUMI_CLI:-}" ]; then
  if v=$(works "$PULUMI_CLI"); then
    log "using PULUMI_CLI=$PULUMI_CLI ($v)"
    place_launcher "$(dirname "$(readlink -f "$PULUMI_CLI")")"
    exit 0
  fi
  log "PULUMI_CLI=$PULUMI_CLI does not run; building $version instead"
fi

if v=$(works "$target"); then
  log "found $target ($v)"
  place_launcher "$bindir"
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
