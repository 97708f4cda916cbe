#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, as any user: the installed
# names (and nothing else) in bin/, the demo run by the installed
# coordinator with the installed worker, the man pages (one per subcommand
# the help lists), the systemd unit pointing at this prefix's worker, the
# docs, and the bash completion against the installed programs. The
# system-wide .deb is tests/package/package_test.sh.
#   tests/package/install_tree_test.sh BUILD_DIR SOURCE_DIR VERSION
# Prints "ok"/"FAIL" lines; exit 0, 1 on a failure, 77 when all else passed
# but the build has no man pages (help2man missing when it was configured).
set -uo pipefail
build=$1 source=$2 version=$3
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

check() {  # check WHAT COMMAND...: ok when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then echo "ok   - $what"; else echo "FAIL - $what" && failed=1; fi
}

if ! cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL - cmake --install $build --prefix $prefix"
  exit 1
fi
echo "ok   - cmake --install $build --prefix $prefix"

check "bin/ holds taskfarm-coordinator and taskfarm-worker, nothing else" \
  test "$(ls "$prefix/bin" | tr '\n' ' ')" = "taskfarm-coordinator taskfarm-worker "
check "taskfarm-worker --version says the version" \
  test "$("$prefix/bin/taskfarm-worker" --version)" = "worker (taskfarm) $version"

# The demo, from a directory of its own, with only the installed programs
# on PATH: the coordinator must find taskfarm-worker beside itself.
mkdir "$tmp/run"
(cd "$tmp/run" && PATH=$prefix/bin:/usr/bin:/bin taskfarm-coordinator >"$tmp/demo.out" 2>&1)
rc=$?
check "the installed coordinator's demo exits 0 (exit $rc)" test $rc -eq 0
check "the demo says 'Completed 110 tasks'" grep -q "Completed 110 tasks" "$tmp/demo.out"
[[ $failed -eq 0 ]] || tail -20 "$tmp/demo.out"

unit=$prefix/lib/systemd/system/taskfarm-worker@.service
check "the unit's ExecStart is this prefix's taskfarm-worker" \
  grep -q "^ExecStart=$prefix/bin/taskfarm-worker --forever " "$unit"
check "the docs: README.md and docs/DEPLOY.md in share/doc/taskfarm" \
  test -f "$prefix/share/doc/taskfarm/README.md" -a -f "$prefix/share/doc/taskfarm/docs/DEPLOY.md"
check "the bash completion is installed under both names" \
  cmp -s "$prefix/share/bash-completion/completions/taskfarm-coordinator" \
  "$prefix/share/bash-completion/completions/taskfarm-worker"
PATH=$prefix/bin:$PATH "$source/tests/package/completion_test.sh" \
  "$prefix/share/bash-completion/completions/taskfarm-coordinator" taskfarm-coordinator taskfarm-worker ||
  failed=1

man_dir=$prefix/share/man/man1
if ! grep -q '^HELP2MAN:FILEPATH=/' "$build/CMakeCache.txt"; then
  check "no man pages installed without help2man" test ! -e "$man_dir"
  ((failed)) && exit 1
  echo "SKIP: the man pages (help2man was missing when $build was configured; scripts/setup installs it)"
  exit 77
fi
pages=(taskfarm-coordinator taskfarm-worker)
for subcommand in $("$prefix/bin/taskfarm-coordinator" --help |
  sed -n '/^Subcommands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'); do
  # run is the default: its help is the coordinator's own.
  [[ $subcommand == run ]] || pages+=("taskfarm-coordinator-$subcommand")
done
check "five man pages (the programs, compare, merge, keygen)" test ${#pages[@]} -eq 5
for page in "${pages[@]}"; do
  file=$man_dir/$page.1.gz
  if [[ ! -f $file ]]; then
    echo "FAIL - $file is missing"
    failed=1
    continue
  fi
  check "$page.1.gz is titled ${page^^} and says taskfarm $version" \
    grep -q "^\.TH ${page^^} \"1\" \".*\" \"taskfarm $version\"" <(zcat "$file")
  if command -v man >/dev/null; then
    check "man -l $page.1.gz renders 'NAME $page - ...' without a warning" \
      bash -c 'out=$(MANWIDTH=100 man -l "$1" 2>&1 >/dev/null) && test -z "$out" &&
               MANWIDTH=100 man -l "$1" 2>/dev/null | grep -A1 "^NAME" | grep -qE "^ *$2 +- "' x "$file" "$page"
  fi
done
exit $failed
