#!/usr/bin/env bash
# ctest report_in_chromium: writes the sample report (and a 6,000-task stress
# page) with report_test, runs `coordinator run --report` (2 workers x 32 at
# once) and a small `coordinator compare --report`, then opens each page in
# headless Chromium with check-report.js. Exit 77 (skipped) when chromium or
# node is missing.
#
# usage: run-check.sh REPORT_TEST_BINARY OUT_DIR [SCREENSHOT_DIR]
#   SCREENSHOT_DIR gets report-sample.png, run-report-screenshot.png (the
#   one in docs/) and compare-small.png; default OUT_DIR.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
report_test="${1:?usage: run-check.sh REPORT_TEST_BINARY OUT_DIR [SCREENSHOT_DIR]}"
out="${2:?usage: run-check.sh REPORT_TEST_BINARY OUT_DIR [SCREENSHOT_DIR]}"
shots="${3:-$out}"
# shellcheck source=preflight.sh
source "$here/preflight.sh"
mkdir -p "$out" "$shots"

check_page() {  # check_page PAGE EXPECTED_BARS [check-report.js options...]
  CHROMIUM="$chromium" node "$here/check-report.js" "$@"
}

sample() {  # sample NAME [check-report.js options...] (env passed through to report_test)
  local page="$out/$1.html"
  shift
  rm -f "$page" "$page.spans"
  REPORT_SAMPLE_OUT="$page" "$report_test" --gtest_filter=ReportSample.Write --gtest_brief=1 >/dev/null
  [[ -s "$page" && -s "$page.spans" ]] || { echo "FAIL: report_test wrote no $page"; exit 1; }
  check_page "$page" "$(cat "$page.spans")" "$@"
}

# 500 sleeps of 1000-1004 ms among them: bins narrower than 1 ms.
sample sample --narrow sleep --screenshot "$shots/report-sample.png"
REPORT_SAMPLE_SPANS=6000 sample stress

# Real runs; the header must show the very argv each ran with.
coordinator="$(dirname "$report_test")/coordinator"
[[ -x "$coordinator" ]] || { echo "FAIL: no coordinator beside $report_test"; exit 1; }
run() {  # run ARGV_FILE EXPECTED_EXIT COMMAND...: runs it, keeps its argv
  local argv_file="$1" want="$2"
  shift 2
  printf '%s\0' "$@" >"$argv_file"
  local rc=0
  "$@" >"$argv_file.log" 2>&1 || rc=$?
  [[ "$rc" == "$want" ]] || { echo "FAIL: exit $rc, not $want: $*"; cat "$argv_file.log"; exit 1; }
}

# A single run at the default 32 in flight per worker: 160 sleeps, 16 prime
# counts and a URL nobody serves (so one task fails, exit 1).
tasks="$out/run-tasks.txt"
{
  for i in $(seq 160); do echo "sleep $((i * 37 % 350 + 50))"; done
  for i in $(seq 16); do echo "cpu primes 300000"; done
  echo "url http://127.0.0.1:1/nobody-serves-this"
} >"$tasks"
run "$out/run.argv" 1 "$coordinator" run --workers 2 --concurrency 32 --tasks "$tasks" --quiet \
  --report "$out/run.html"
check_page "$out/run.html" 177 --argv-file "$out/run.argv" --table "by kind" --table "by worker" \
  --screenshot "$shots/run-report-screenshot.png"

# A small comparison: two modes, one run each; its timeline is the faster mode's.
cmp_tasks="$out/compare-tasks.txt"
for i in $(seq 20); do echo "sleep 30"; done >"$cmp_tasks"
run "$out/compare.argv" 0 "$coordinator" compare --tasks "$cmp_tasks" --modes sequential,processes --runs 1 \
  --report "$out/compare.html" --json "$out/compare.json"
check_page "$out/compare.html" 20 --argv-file "$out/compare.argv" --screenshot "$shots/compare-small.png"
