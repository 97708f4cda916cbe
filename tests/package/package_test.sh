#!/usr/bin/env bash
# The Debian package on this machine, as a user gets it: builds
# taskfarm_VERSION_ARCH.deb with cpack, `apt-get install`s it (offline: the
# dependencies are there already, scripts/setup installed them), runs the
# installed coordinator's demo from PATH, opens the man pages, completes
# with the installed bash completion, then `apt-get remove --purge`s it and
# checks that every path the package put on the machine is gone.
#   tests/package/package_test.sh BUILD_DIR SOURCE_DIR VERSION
#
# Safe on a CI machine, which is a developer's machine too:
#  * it runs only as root with apt-get, dpkg and cpack (exit 77 otherwise);
#  * it refuses (exit 1, touching nothing) when a taskfarm package is
#    installed, or configured files of one are left, or a file the package
#    would install is already there (a `cmake --install --prefix /usr`,
#    say): the purge at the end would take those away with it. Removing a
#    package the test did not install would change the machine silently,
#    and skipping would hide that an earlier run left one behind;
#  * from the install on, a trap purges the package on any exit (a failed
#    check, Ctrl-C, SIGTERM). Only SIGKILL gets past it, and then the next
#    run refuses and says how to clean up;
#  * apt-get installs nothing else (checked first with --simulate), so it
#    fetches nothing, and no package list is updated.
set -uo pipefail
build=$1 source=$2 version=$3
skip() {
  echo "SKIP: $*"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "not root: installing a package needs root (the package itself: scripts/package)"
for tool in apt-get dpkg dpkg-deb dpkg-query dpkg-shlibdeps cpack man; do
  command -v $tool >/dev/null || skip "$tool missing (scripts/setup installs dpkg-dev and man-db)"
done
grep -q '^HELP2MAN:FILEPATH=/' "$build/CMakeCache.txt" ||
  skip "no man pages in $build (help2man was missing when it was configured), so no package"
if grep -qsE '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
  skip "this machine's dpkg drops man pages (path-exclude in /etc/dpkg/dpkg.cfg.d)"
fi

status=$(dpkg-query -W -f='${Status}' taskfarm 2>/dev/null)
if [[ -n $status && $status != *not-installed* ]]; then
  echo "FAIL - a taskfarm package is on this machine ($status): this test installs and purges its"
  echo "       own and will not remove that one. Remove it first: apt-get remove --purge taskfarm"
  exit 1
fi

failed=0
tmp=$(mktemp -d)
installed=0
cleanup() {
  if ((installed)); then
    echo "cleanup: apt-get remove --purge taskfarm"
    DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq taskfarm </dev/null >/dev/null 2>&1 ||
      dpkg --purge taskfarm >/dev/null 2>&1 ||
      echo "cleanup FAILED: taskfarm is still installed; remove it with apt-get remove --purge taskfarm"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

check() {  # check WHAT COMMAND...: ok when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then echo "ok   - $what"; else echo "FAIL - $what" && failed=1; fi
}

if ! nice -n 19 cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/deb" >"$tmp/cpack.log" 2>&1; then
  cat "$tmp/cpack.log"
  echo "FAIL - cpack -G DEB"
  exit 1
fi
deb=$tmp/deb/taskfarm_${version}_$(dpkg --print-architecture).deb
check "cpack made $(basename "$deb")" test -f "$deb"
((failed)) && exit 1
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
check "Depends (from dpkg-shlibdeps) names libzmq5, libcurl4 and libprotobuf32" \
  test "$depends" != "${depends/libzmq5/}" -a "$depends" != "${depends/libcurl4/}" \
  -a "$depends" != "${depends/libprotobuf32/}"

# What is there before: every path of the package, and whether it exists.
dpkg-deb -x "$deb" "$tmp/root"
(cd "$tmp/root" && find . -mindepth 1 | sed 's/^\.//' | sort) >"$tmp/paths"
while read -r path; do
  if [[ -e $path && ! -d $path ]]; then
    echo "FAIL - $path is already on this machine, not from a package: the test would overwrite"
    echo "       and then purge it. Move it away first."
    exit 1
  fi
  [[ -e $path ]] && echo "$path" >>"$tmp/there-before"
done <"$tmp/paths"
touch "$tmp/there-before"

# Offline: apt-get would install nothing but the package (its simulation
# says so), so it fetches nothing.
apt_install=(apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=120 "$deb")
others=$("${apt_install[@]}" --simulate 2>&1 | grep '^Inst ' | grep -v '^Inst taskfarm ')
if [[ -n $others ]]; then
  echo "FAIL - installing the package would also install (download) these; scripts/setup installs them:"
  echo "$others"
  exit 1
fi
installed=1
if ! DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" -qq </dev/null >"$tmp/apt.log" 2>&1; then
  cat "$tmp/apt.log"
  echo "FAIL - ${apt_install[*]}"
  exit 1
fi
echo "ok   - apt-get install $(basename "$deb") (nothing else to install)"
dpkg -L taskfarm | grep -v '^/\.$' | sort >"$tmp/listed"
check "dpkg -L lists what the .deb holds" cmp -s "$tmp/listed" "$tmp/paths"

# From PATH, in a directory of its own, with nothing of the build tree around.
mkdir "$tmp/run"
check "taskfarm-coordinator on PATH is /usr/bin/taskfarm-coordinator" \
  test "$(PATH=/usr/bin:/bin command -v taskfarm-coordinator)" = /usr/bin/taskfarm-coordinator
(cd "$tmp/run" && env -i PATH=/usr/bin:/bin HOME="$tmp/run" taskfarm-coordinator >"$tmp/demo.out" 2>&1)
rc=$?
check "taskfarm-coordinator (the built-in demo) exits 0 (exit $rc)" test $rc -eq 0
check "the demo says 'Completed 110 tasks'" grep -q "Completed 110 tasks" "$tmp/demo.out"
((failed)) && tail -20 "$tmp/demo.out"
check "taskfarm-worker --version says the version" \
  test "$(taskfarm-worker --version)" = "worker (taskfarm) $version"

for page in taskfarm-coordinator taskfarm-coordinator-compare taskfarm-coordinator-merge \
  taskfarm-coordinator-keygen taskfarm-worker; do
  check "man -w $page finds /usr/share/man/man1/$page.1.gz" \
    test "$(man -w "$page" 2>&1)" = "/usr/share/man/man1/$page.1.gz"
done
MANWIDTH=100 man taskfarm-worker 2>&1 | head -8 >"$tmp/man.out"
check "man taskfarm-worker | head renders its NAME" \
  grep -qE "^ +taskfarm-worker +- connect to a taskfarm coordinator" "$tmp/man.out"
cat "$tmp/man.out"

"$source/tests/package/completion_test.sh" \
  /usr/share/bash-completion/completions/taskfarm-coordinator \
  taskfarm-coordinator taskfarm-worker || failed=1
if [[ -f /usr/share/bash-completion/bash_completion ]]; then
  # bash-completion loads the file itself at the first <TAB> after the name.
  check "bash-completion finds the completion of taskfarm-worker by its name" \
    bash --norc --noprofile -c 'source /usr/share/bash-completion/bash_completion &&
      __load_completion taskfarm-worker && complete -p taskfarm-worker | grep -q "_taskfarm"'
fi
check "the unit runs /usr/bin/taskfarm-worker" \
  grep -q '^ExecStart=/usr/bin/taskfarm-worker --forever ' /usr/lib/systemd/system/taskfarm-worker@.service

if ! DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq -o DPkg::Lock::Timeout=120 taskfarm \
  </dev/null >"$tmp/apt.log" 2>&1; then
  cat "$tmp/apt.log"
  echo "FAIL - apt-get remove --purge taskfarm"
  exit 1
fi
installed=0
echo "ok   - apt-get remove --purge taskfarm"
status=$(dpkg-query -W -f='${Status}' taskfarm 2>/dev/null)
check "dpkg knows no taskfarm any more (${status:-no such package})" \
  test -z "$status" -o "$status" = "unknown ok not-installed"
left=0
while read -r path; do
  if grep -qxF "$path" "$tmp/there-before"; then
    [[ -e $path ]] || { echo "FAIL - $path was there before and is gone" && left=1; }
  elif [[ -e $path || -L $path ]]; then
    echo "FAIL - left behind: $path"
    left=1
  fi
done <"$tmp/listed"
check "every path the package installed is gone ($(wc -l <"$tmp/listed") listed by dpkg -L)" test $left -eq 0
exit $failed
