#!/usr/bin/env bash
# ctest live_page_in_chromium: a 20 s run (2 workers x 4 at once: sleeps,
# prime counts and two URLs nobody serves, so it fails) with --metrics and
# --report, its live page watched in headless Chromium by check-live.js.
# Exit 77 (skipped) when chromium or node is missing.
#
# usage: run-live-check.sh COORDINATOR OUT_DIR [SCREENSHOT_PNG]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
coordinator="${1:?usage: run-live-check.sh COORDINATOR OUT_DIR [SCREENSHOT_PNG]}"
out="${2:?usage: run-live-check.sh COORDINATOR OUT_DIR [SCREENSHOT_PNG]}"
shot="${3:-$out/live-page.png}"
# shellcheck source=preflight.sh
source "$here/preflight.sh"
mkdir -p "$out"

# 8 slots: 150 sleeps of 0.5-1.5 s (about 150 s of sleep, 19 s of wall) and
# prime counts among them; three failures, one a line with markup in it.
markup='<img/src=x/onerror=alert(1)>'
tasks="$out/live-tasks.txt"
{
  for i in $(seq 150); do
    echo "sleep $((i * 211 % 1000 + 500))"
    if ((i % 15 == 0)); then echo "cpu primes 200000"; fi
    if ((i == 10 || i == 40)); then echo "url http://127.0.0.1:1/nobody-serves-this?try=$i"; fi
    if ((i == 70)); then echo "url http://127.0.0.1:1/nobody-serves-this?q=$markup"; fi
  done
} >"$tasks"
log="$out/coordinator.log"
rm -f "$log" "$out/run.html"
"$coordinator" --tasks "$tasks" --workers 2 --concurrency 4 --quiet --report "$out/run.html" \
  --metrics 127.0.0.1:0 --metrics-linger 60s >"$log" 2>&1 &
pid=$!
stop() { kill -INT "$pid" 2>/dev/null || true; }
trap stop EXIT
url=""
for _ in $(seq 100); do
  url="$(grep -o 'metrics: http://[^ ]*/metrics' "$log" | head -1 | sed 's|metrics: ||; s|/metrics$|/|')" || true
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { echo "FAIL: the coordinator said no metrics address"; cat "$log"; exit 1; }

rc=0
CHROMIUM="$chromium" node "$here/check-live.js" "$url" --screenshot "$shot" --expect-report \
  --expect-markup "$markup" || rc=$?
# Ctrl-C ends the linger; the run itself ended (exit 1: three tasks failed).
kill -INT "$pid"
trap - EXIT
code=0
wait "$pid" || code=$?
if [[ "$code" != 1 ]]; then
  echo "FAIL: the coordinator exited $code, not 1"
  cat "$log"
  exit 1
fi
exit "$rc"
