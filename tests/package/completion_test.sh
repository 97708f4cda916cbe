#!/usr/bin/env bash
# The bash completion (packaging/taskfarm.bash-completion) against the real
# programs' --help: what <TAB> offers after a prefix, after an option that
# takes a value, and that every option the help lists is offered.
#   tests/package/completion_test.sh COMPLETION_FILE COORDINATOR WORKER
# COORDINATOR and WORKER are what the user types (a path, or a name on PATH).
# Run by tests/package/install_tree_test.sh and tests/package/package_test.sh; prints
# "ok"/"FAIL" lines and exits 1 on any failure.
set -uo pipefail
completion=$1 coordinator=$2 worker=$3
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/tasks-one.txt" "$work/tasks-two.txt"

# What <TAB> offers for the words given, the last being the one completed:
# a fresh bash that has read only the completion file, as a login shell
# with bash-completion would have.
complete_words() {
  bash --norc --noprofile -c 'source "$1" || exit 1; shift
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _taskfarm
    printf "%s\n" "${COMPREPLY[@]}"' completion "$completion" "$@" | sort | tr '\n' ' ' | sed 's/ $//'
}

expect() {  # expect WHAT WANTED WORD...
  local what=$1 wanted=$2
  shift 2
  local got
  got=$(complete_words "$@")
  if [[ $got == "$wanted" ]]; then
    echo "ok   - $what"
  else
    echo "FAIL - $what: '$*' offered '$got', not '$wanted'"
    failed=1
  fi
}

# The options of a (sub)command's help, found another way than the
# completion does: every -x and --name that starts an option line.
help_options() {
  "$@" --help | grep -E '^  -' | grep -oE '^  (-[a-zA-Z],)?--[a-z0-9-]+' | tr ',' '\n' | sed 's/^ *//' |
    sort | tr '\n' ' ' | sed 's/ $//'
}

expect "$coordinator --wor offers --workers (and the other --wor... options)" \
  "--workdir --worker-bin --workers" "$coordinator" --wor
expect "$coordinator --worke offers --workers and --worker-bin" "--worker-bin --workers" "$coordinator" --worke
expect "the coordinator's subcommands after the program name" "compare keygen merge run" "$coordinator" ""
expect "a subcommand after an option's value" "merge" "$coordinator" --workers 3 mer
expect "--save-name offers the words its help lists" "id url" "$coordinator" --save-name ""
expect "--save-name=u (bash splits at =) offers url" "url" "$coordinator" --save-name = u
expect "--tasks offers files" "$work/tasks-one.txt $work/tasks-two.txt" "$coordinator" --tasks "$work/tasks-"
expect "--workers (a number) offers nothing" "" "$coordinator" --workers ""
expect "compare --wo offers compare's --workload" "--workload" "$coordinator" compare --wo
expect "$worker --con offers --concurrency and --connect" "--concurrency --connect" "$worker" --con
expect "$worker --forever --cur offers --curve-secret" "--curve-secret" "$worker" --forever --cur
expect "every option of $coordinator --help" "$(help_options "$coordinator")" "$coordinator" -
expect "every option of $coordinator merge --help" "$(help_options "$coordinator" merge)" "$coordinator" merge -
expect "every option of $worker --help" "$(help_options "$worker")" "$worker" -
registered=$(bash --norc --noprofile -c 'source "$1" && complete -p taskfarm-coordinator taskfarm-worker' \
  x "$completion")
if [[ $registered == *"-F _taskfarm taskfarm-coordinator"*"-F _taskfarm taskfarm-worker"* ]]; then
  echo "ok   - the file registers _taskfarm for taskfarm-coordinator and taskfarm-worker"
else
  echo "FAIL - complete -p after sourcing $completion: '$registered'"
  failed=1
fi
exit $failed
