#!/usr/bin/env node
// Watches a running coordinator's live page (--metrics) in headless
// Chromium: two screenshots taken seconds apart during the run must differ
// (the page updates itself), with no console error and no request outside
// the page's own address; then, when the run ends, the page must say so,
// show the final summary and link the report, which must open from the
// same address.
//
// usage: node check-live.js URL [--screenshot PNG] [--expect-report] [--expect-markup TEXT]
//   URL            the page, e.g. http://127.0.0.1:9464/
//   --screenshot   save a mid-run screenshot there
//   --expect-report  the run writes --report: the page must link it
//   --expect-markup  a failing task's line holds TEXT (HTML): the page must
//                  show it as text, with no img element and no dialog
// env:   CHROMIUM=/path/to/chromium (default /usr/bin/chromium)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const { CHROMIUM_ARGS } = require('./chromium-args');
const TIMEOUT_MS = 90000;

function fail(message) {
  console.error(`check-live: FAIL: ${message}`);
  process.exitCode = 1;
}

async function main() {
  let [url, ...rest] = process.argv.slice(2);
  const options = { screenshot: null, expectReport: false, markup: null };
  for (let i = 0; i < rest.length; ++i) {
    if (rest[i] === '--screenshot' && rest[i + 1]) options.screenshot = rest[++i];
    else if (rest[i] === '--expect-markup' && rest[i + 1]) options.markup = rest[++i];
    else if (rest[i] === '--expect-report') options.expectReport = true;
    else url = undefined;
  }
  if (!url || !/^http:\/\//.test(url)) {
    console.error('usage: node check-live.js URL [--screenshot PNG] [--expect-report] [--expect-markup TEXT]');
    return 2;
  }
  const origin = new URL(url).origin;
  const { chromium } = require('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskfarm-live-chromium-'));
  const consoleErrors = [];
  const foreign = [];
  const dialogs = [];
  let requests = 0;
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
      timeout: TIMEOUT_MS,
    });
    context.on('request', (request) => {
      ++requests;
      if (new URL(request.url()).origin !== origin) foreign.push(`${request.method()} ${request.url()}`);
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()} ${JSON.stringify(dialog.message())}`);
      dialog.dismiss().catch(() => {});
    });

    const response = await page.goto(url, { waitUntil: 'load' });
    if (!response || !response.ok()) fail(`loading ${url} gave status ${response && response.status()}`);
    // Running, with some tasks done: a page worth looking at.
    await page.waitForFunction(() => {
      const state = document.getElementById('state').textContent;
      return state === 'running' && document.querySelectorAll('#kinds td.num').length > 0;
    });
    // The clocks (time since the start, time of the last update) change
    // every second whatever the run does: hidden, so that two screenshots
    // differ only if the run's numbers moved.
    const clocks = (visibility) =>
      page.evaluate((v) => {
        for (const id of ['elapsed', 'updated']) document.getElementById(id).style.visibility = v;
      }, visibility);
    await clocks('hidden');
    const first = await page.screenshot({ fullPage: true });
    const firstText = await page.locator('#progress-text').textContent();
    await page.waitForTimeout(3000);
    const second = await page.screenshot({ fullPage: true });
    const secondText = await page.locator('#progress-text').textContent();
    await clocks('');
    const stillRunning = (await page.locator('#state').textContent()) === 'running';
    if (first.equals(second)) fail('two screenshots 3 s apart during the run (clocks hidden) are the same');
    if (firstText === secondText) fail(`the progress did not move in 3 s: "${firstText}"`);
    if (!stillRunning) fail('the run ended before the second screenshot: make it longer');
    if (options.screenshot) {
      fs.mkdirSync(path.dirname(path.resolve(options.screenshot)), { recursive: true });
      fs.writeFileSync(options.screenshot, await page.screenshot({ fullPage: true }));
      console.log(`check-live: screenshot written to ${options.screenshot}`);
    }
    console.log(`check-live: "${firstText}" -> "${secondText}"`);

    // The end: the page says so by itself, with the summary and the report.
    await page.waitForFunction(() => document.getElementById('state').textContent === 'finished');
    const end = await page.evaluate(() => ({
      finalShown: !document.getElementById('final').hidden,
      summary: document.getElementById('summary').textContent,
      reportShown: !document.getElementById('report').hidden,
      reportHref: document.querySelector('#report a').href,
      failures: document.querySelectorAll('#failures td.task').length,
      tasks: [...document.querySelectorAll('#failures td.task')].map((td) => td.textContent),
      images: document.querySelectorAll('img').length,
    }));
    // A task line is the user's text, shown as text: markup in it is not
    // markup on the page (run-live-check.sh runs one such failing task).
    if (options.markup) {
      if (end.images > 0) fail(`the page has ${end.images} img element(s): a task line was parsed as HTML`);
      if (!end.tasks.some((t) => t.includes(options.markup))) {
        fail(`no failure shows ${JSON.stringify(options.markup)} literally: ${JSON.stringify(end.tasks)}`);
      }
    }
    if (dialogs.length > 0) fail(`the page opened dialogs: ${dialogs.join(', ')}`);
    if (!end.finalShown || !/Completed \d+ tasks/.test(end.summary)) {
      fail(`the ended run shows no final summary: ${JSON.stringify(end.summary)}`);
    }
    if (end.failures < 1) fail('the last failures list is empty, but the run has failed tasks');
    if (options.expectReport) {
      if (!end.reportShown) fail('the page does not link the report the run wrote');
      if (new URL(end.reportHref).origin !== origin) fail(`the report link leaves the page's address: ${end.reportHref}`);
      const report = await page.goto(end.reportHref, { waitUntil: 'load' });
      if (!report || !report.ok()) fail(`the report link gave status ${report && report.status()}`);
      const title = await page.title();
      if (!/taskfarm/.test(title)) fail(`the report link opened "${title}"`);
    }
    for (const text of consoleErrors) fail(`console error: ${text}`);
    for (const request of foreign) fail(`request outside ${origin}: ${request}`);
    if (!process.exitCode) {
      console.log(
        `check-live: OK: the page changed between two screenshots 3 s apart, ended with the summary` +
          (options.expectReport ? ' and a working report link' : '') +
          `, ${requests} requests all to ${origin}, no console error`,
      );
    }
    return process.exitCode || 0;
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`check-live: FAIL: ${error.stack || error}`);
    process.exit(1);
  },
);
