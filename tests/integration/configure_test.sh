#!/usr/bin/env bash
# Configuring a build tree again changes no compile or link command, so
# running scripts/setup a second time (scripts/demo and scripts/test both
# do, and the README test runs scripts/demo while other tests use the
# binaries) rebuilds nothing. It configures a scratch tree of the source
# twice, with the options scripts/setup uses, and compares every target's
# flags.make and link.txt. Nothing is compiled.
#   tests/integration/configure_test.sh SOURCE_DIR
set -uo pipefail
source=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

commands() {  # every target's compile flags and link line, in a stable order
  (cd "$tmp/build" && find . \( -name flags.make -o -name link.txt \) -print0 | sort -z |
    xargs -0 -I{} sh -c 'echo "== {}"; cat "{}"')
}
for round in 1 2; do
  if ! cmake -S "$source" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release >"$tmp/configure$round.log" 2>&1; then
    cat "$tmp/configure$round.log"
    echo "FAIL - configure $round of $source"
    exit 1
  fi
  commands >"$tmp/commands$round"
done
if [[ ! -s $tmp/commands1 ]]; then
  echo "FAIL - no flags.make or link.txt found under the build tree: the check would see nothing"
  exit 1
fi
if ! diff -u "$tmp/commands1" "$tmp/commands2"; then
  echo "FAIL - the second configure changed the commands above: every file they name would be rebuilt"
  exit 1
fi
echo "ok   - a second configure left $(grep -c '^== ' "$tmp/commands1") targets' compile and link commands as they were"
