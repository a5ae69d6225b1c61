#!/usr/bin/env bash
# Installs Debezium Server (Maven Central io.debezium:debezium-server-dist:3.6.1.Final, tar.gz) into
# <repo>/.cache/debezium/debezium-server-3.6.1.Final (or $DEBEZIUM_HOME), the server behind the
# PostgreSQL source (docs/postgres-source.md, docs/debezium-server.md).
#
# - Idempotent: when <install dir>/.installed names this version and <install dir>/java-home names a
#   Java >= 21, nothing is done (a few file tests, no java or mvn is started).
# - The 781 MB archive is cached outside the repository, in Maven's local repository
#   ($MAVEN_REPO_LOCAL, default ~/.m2/repository), so a fresh clone on the same machine only unpacks it.
#   It is fetched with `mvn dependency:get -Dtransitive=false` (just the one file: no POM is served for this
#   artifact, so without the flag Maven only adds a 404 and a "Missing POM" warning) and checked
#   against the sha256 pinned below (the registry serves no .sha1/.md5 for it, so mvn -C fails).
# - The archive is unpacked into a temporary folder beside the install dir and renamed into place;
#   the marker .installed is written last, so an interrupted install is redone from scratch.
# - Debezium 3.x needs Java >= 21 (class file 65). Taken from $JAVA_HOME when that is >= 21, else
#   /usr/lib/jvm/*temurin*25*, else the newest /usr/lib/jvm/* with major >= 21. Its path is written to
#   <install dir>/java-home (one line). run.sh uses relative paths, so callers start it from the install
#   dir: cd <install dir> && JAVA_HOME=$(cat java-home) ./run.sh (see docs/debezium-server.md).
# - Needs mvn (Maven 3) on PATH and Maven Central, unless the archive is already in the Maven repository.
set -euo pipefail

version=3.6.1.Final
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
home=${DEBEZIUM_HOME:-$root/.cache/debezium/debezium-server-$version}
m2=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
archive=$m2/io/debezium/debezium-server-dist/$version/debezium-server-dist-$version.tar.gz
marker=$home/.installed
# sha256 of debezium-server-dist-3.6.1.Final.tar.gz (781529954 bytes) as downloaded on 2026-12-07.
sha256=f95567c7107e5ae0a778dce850c36e86487b2c49e131dfc9bbb72c7ac2feb944

log() { echo "debezium: $*" >&2; }

# java_major DIR: prints the major version of the JDK/JRE at DIR (from its release file, else java -version).
java_major() {
  local dir=$1 v=
  [ -x "$dir/bin/java" ] || return 1
  if [ -r "$dir/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\(.*\)"$/\1/p' "$dir/release")
  fi
  if [ -z "$v" ]; then
    v=$("$dir/bin/java" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1)
  fi
  v=${v#1.} # 1.8.0_x -> 8.0_x
  v=${v%%[.+_-]*}
  [[ $v =~ ^[0-9]+$ ]] || return 1
  echo "$v"
}

java_ok() { local m; m=$(java_major "$1") && [ "$m" -ge 21 ]; }

find_java() {
  local d best= best_major=0 m
  if [ -n "${JAVA_HOME:-}" ] && java_ok "$JAVA_HOME"; then
    echo "$JAVA_HOME"
    return 0
  fi
  for d in /usr/lib/jvm/*temurin*25*; do
    if [ -d "$d" ] && java_ok "$d"; then
      echo "$d"
      return 0
    fi
  done
  for d in /usr/lib/jvm/*; do
    [ -d "$d" ] && [ ! -L "$d" ] || continue
    m=$(java_major "$d") || continue
    if [ "$m" -ge 21 ] && [ "$m" -gt "$best_major" ]; then
      best=$d
      best_major=$m
    fi
  done
  [ -n "$best" ] && echo "$best"
}

# complete: the unpacked server is there (marker written last) and java-home names a Java >= 21.
complete() {
  [ -f "$marker" ] && [ "$(head -n1 "$marker")" = "debezium-server-dist-$version" ] &&
    [ -x "$home/run.sh" ] && [ -d "$home/lib" ] && [ -s "$home/java-home" ] &&
    java_ok "$(head -n1 "$home/java-home")"
}

if complete; then
  log "found $home (Debezium Server $version, java $(head -n1 "$home/java-home")); nothing to do"
  exit 0
fi

java_home=$(find_java || true)
if [ -z "$java_home" ]; then
  log "no Java >= 21 (JAVA_HOME=${JAVA_HOME:-unset}, /usr/lib/jvm/*); install one (e.g. Temurin 25 into /usr/lib/jvm) or set JAVA_HOME to it"
  exit 1
fi

# Only java-home is missing or stale: the unpacked server is fine.
if [ -f "$marker" ] && [ "$(head -n1 "$marker")" = "debezium-server-dist-$version" ] &&
  [ -x "$home/run.sh" ] && [ -d "$home/lib" ]; then
  echo "$java_home" >"$home/java-home"
  log "found $home; wrote java-home ($java_home, Java $(java_major "$java_home"))"
  exit 0
fi

parent=$(dirname "$home")
mkdir -p "$parent"
# One install at a time per install dir; the one that waited finds the work done.
exec 9>"$parent/.install.lock"
if ! flock -w 1800 9; then
  log "timed out waiting for another install ($parent/.install.lock)"
  exit 1
fi
if complete; then
  log "found $home (installed meanwhile by another run); nothing to do"
  exit 0
fi
# Leftovers of an install killed with SIGKILL.
find "$parent" -maxdepth 1 -name '.unpack.*' -exec rm -rf {} +

start=$(date +%s)

# archive_ok: the cached archive is there and matches the pinned sha256 (else says why on stderr).
archive_ok() {
  [ -s "$archive" ] || return 1
  local got
  got=$(sha256sum "$archive" | cut -c1-64)
  [ "$got" = "$sha256" ] && return 0
  log "$archive has sha256 $got, expected $sha256"
  return 1
}

if archive_ok; then
  log "reusing the cached archive $archive ($(($(stat -c %s "$archive") / 1000000)) MB)"
else
  if ! command -v mvn >/dev/null 2>&1; then
    log "no mvn on PATH and no cached $archive; install Maven 3 (apt-get install maven) with access to Maven Central"
    exit 1
  fi
  rm -f "$archive"
  log "mvn dependency:get io.debezium:debezium-server-dist:$version:tar.gz into $m2 (about 781 MB)"
  mvnlog=$(mktemp)
  if ! mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$m2" dependency:get \
    -Dartifact="io.debezium:debezium-server-dist:$version:tar.gz" -Dtransitive=false >"$mvnlog" 2>&1; then
    grep -v '^\s*$' "$mvnlog" | tail -n 20 >&2 || true
    rm -f "$mvnlog"
    log "mvn dependency:get io.debezium:debezium-server-dist:$version:tar.gz failed (output above); it needs Maven Central (or a mirror in ~/.m2/settings.xml)"
    exit 1
  fi
  rm -f "$mvnlog"
  if ! archive_ok; then
    rm -f "$archive"
    log "mvn finished, but $archive was missing or did not match the pinned sha256 (deleted)"
    exit 1
  fi
  log "downloaded $archive ($(($(stat -c %s "$archive") / 1000000)) MB) in $(($(date +%s) - start))s"
fi

tmp=$(mktemp -d "$parent/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP
log "unpacking into $home"
tar -xzf "$archive" -C "$tmp"
# The archive holds one folder, debezium-server/.
if [ ! -x "$tmp/debezium-server/run.sh" ] || [ ! -d "$tmp/debezium-server/lib" ]; then
  log "$archive did not unpack to debezium-server/run.sh and debezium-server/lib; delete it and rerun"
  exit 1
fi
rm -rf "$home"
mv "$tmp/debezium-server" "$home"
echo "$java_home" >"$home/java-home"
printf 'debezium-server-dist-%s\n%s files, unpacked %s from %s\n' "$version" \
  "$(find "$home" -type f | wc -l)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$archive" >"$marker"
log "installed Debezium Server $version at $home (java-home $java_home, Java $(java_major "$java_home")) in $(($(date +%s) - start))s"
