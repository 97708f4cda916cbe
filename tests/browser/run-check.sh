#!/usr/bin/env bash
# ctest report_in_chromium: writes the sample report (and a 6,000-task stress
# page) with report_test, then opens each in headless Chromium with
# check-report.js. Exit 77 (skipped) when chromium or node is missing.
#
# usage: run-check.sh REPORT_TEST_BINARY OUT_DIR [SCREENSHOT.png]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
report_test="${1:?usage: run-check.sh REPORT_TEST_BINARY OUT_DIR [SCREENSHOT.png]}"
out="${2:?usage: run-check.sh REPORT_TEST_BINARY OUT_DIR [SCREENSHOT.png]}"
screenshot="${3:-$out/report-screenshot.png}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$chromium" ]]; then
  echo "SKIP: no Chromium at $chromium (apt-get install -y chromium)"
  exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node/npm not found (apt-get install -y nodejs npm)"
  exit 77
fi

mkdir -p "$out"
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  # Exactly the versions in package-lock.json; playwright-core downloads no browser.
  npm ci --prefix "$here" --no-audit --no-fund
fi

check() {  # check NAME [SCREENSHOT] (env passed through to report_test)
  local page="$out/$1.html"
  rm -f "$page" "$page.spans"
  REPORT_SAMPLE_OUT="$page" "$report_test" --gtest_filter=ReportSample.Write --gtest_brief=1 >/dev/null
  [[ -s "$page" && -s "$page.spans" ]] || { echo "FAIL: report_test wrote no $page"; exit 1; }
  CHROMIUM="$chromium" node "$here/check-report.js" "$page" "$(cat "$page.spans")" ${2:+"$2"}
}

check sample "$screenshot"
REPORT_SAMPLE_SPANS=6000 check stress

# And a real one: `coordinator run --report` over a small mixed task list.
coordinator="$(dirname "$report_test")/coordinator"
if [[ -x "$coordinator" ]]; then
  tasks="$out/run-tasks.txt"
  { for i in $(seq 40); do echo "sleep $((i % 7 * 10))"; done; for i in $(seq 10); do echo "cpu primes 100000"; done; } >"$tasks"
  "$coordinator" run --workers 3 --concurrency 4 --tasks "$tasks" --quiet --report "$out/run.html" >/dev/null
  CHROMIUM="$chromium" node "$here/check-report.js" "$out/run.html" 50
fi
