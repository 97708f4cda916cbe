# Sourced by the browser tests' runners (run-check.sh, run-live-check.sh):
# exits 77 (skipped) unless Chromium, node and the playwright-core modules
# are there. Nothing is downloaded inside ctest: scripts/setup installs the
# modules (npm ci) beforehand. Sets $chromium. Needs $here (tests/browser).
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "SKIP: no Chromium at $chromium (apt-get install -y chromium)"
  exit 77
fi
if ! command -v node >/dev/null; then
  echo "SKIP: node not found (apt-get install -y nodejs npm)"
  exit 77
fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  echo "SKIP: no $here/node_modules (npm ci --prefix $here, as scripts/setup does)"
  exit 77
fi
