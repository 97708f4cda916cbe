// How both page checks (check-report.js, check-live.js) launch headless
// Chromium: no sandbox (CI runs as root), no GPU, and nothing that would
// make a network request of its own, so "no request outside the page" is
// the page's doing alone.
'use strict';

module.exports.CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
