#!/usr/bin/env node
// Opens a taskfarm HTML report in headless Chromium and checks what a person
// relies on: it loads with no console error and no network request, and the
// timeline has exactly one bar per task. Optionally saves a full-page screenshot.
//
// usage: node check-report.js REPORT.html EXPECTED_BARS [SCREENSHOT.png]
// env:   CHROMIUM=/path/to/chromium (default /usr/bin/chromium)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL } = require('url');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TIMEOUT_MS = 60000;

function fail(message) {
  console.error(`check-report: FAIL: ${message}`);
  process.exitCode = 1;
}

async function main() {
  const [reportArg, expectedArg, screenshotArg] = process.argv.slice(2);
  if (!reportArg || expectedArg === undefined || !/^\d+$/.test(expectedArg)) {
    console.error('usage: node check-report.js REPORT.html EXPECTED_BARS [SCREENSHOT.png]');
    return 2;
  }
  const reportPath = path.resolve(reportArg);
  if (!fs.existsSync(reportPath)) {
    console.error(`check-report: FAIL: no such report: ${reportPath}`);
    return 1;
  }
  const expected = Number(expectedArg);
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    console.error(`check-report: FAIL: no Chromium at ${executablePath}`);
    return 1;
  }

  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    console.error('check-report: FAIL: playwright-core is not installed: run `npm ci --prefix tests/browser`');
    return 1;
  }

  const reportUrl = pathToFileURL(reportPath).href;
  // A fresh profile each time: nothing cached or remembered between runs.
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskfarm-report-chromium-'));
  const consoleErrors = [];
  const requests = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
      timeout: TIMEOUT_MS,
    });
    // Requests from any page or worker of this browser, not just the report.
    context.on('request', (request) => {
      if (request.url() !== reportUrl) requests.push(`${request.method()} ${request.url()}`);
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));

    const response = await page.goto(reportUrl, { waitUntil: 'load' });
    if (response && !response.ok()) fail(`loading ${reportUrl} gave status ${response.status()}`);
    // Let anything late (a lazy resource, a CSP report) show up before judging.
    await page.waitForTimeout(300);

    const bars = await page.locator('rect.task-bar').count();
    const stats = await page.evaluate(() => {
      const rects = Array.from(document.querySelectorAll('rect.task-bar'));
      return {
        untitled: rects.filter((r) => !r.querySelector('title')).length,
        invisible: rects.filter((r) => {
          const box = r.getBBox();
          return !(box.width > 0 && box.height > 0);
        }).length,
        scripts: document.querySelectorAll('script').length,
        title: document.title,
      };
    });

    if (bars !== expected) fail(`timeline has ${bars} rect.task-bar elements, expected ${expected}`);
    if (stats.untitled) fail(`${stats.untitled} task bars have no <title> tooltip`);
    if (stats.invisible) fail(`${stats.invisible} task bars have an empty box`);
    if (stats.scripts) fail(`the page has ${stats.scripts} <script> elements`);
    for (const text of consoleErrors) fail(`console error: ${text}`);
    for (const request of requests) fail(`network request: ${request}`);

    if (screenshotArg) {
      const screenshot = path.resolve(screenshotArg);
      fs.mkdirSync(path.dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`check-report: screenshot written to ${screenshot}`);
    }
    if (!process.exitCode) {
      console.log(`check-report: OK: "${stats.title}": ${bars} task bars, no console error, no network request`);
    }
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  return process.exitCode || 0;
}

const watchdog = setTimeout(() => {
  console.error(`check-report: FAIL: no verdict within ${(TIMEOUT_MS * 2) / 1000} s`);
  process.exit(1);
}, TIMEOUT_MS * 2);

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exit(code);
  },
  (error) => {
    clearTimeout(watchdog);
    console.error(`check-report: FAIL: ${error && error.stack ? error.stack : error}`);
    process.exit(1);
  },
);
