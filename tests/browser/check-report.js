#!/usr/bin/env node
// Opens a taskfarm HTML report in headless Chromium and checks what a person
// relies on: it loads with no console error and no network request; the
// timeline has exactly one bar per task; every chart has a title and both
// axes labelled; every histogram counts each task once, in bins drawn from
// the data's own range; on a compare page every timeline and histogram
// names the mode it shows. Optionally saves a full-page screenshot.
//
// usage: node check-report.js REPORT.html EXPECTED_BARS [options]
//   --screenshot PNG   save a full-page screenshot
//   --argv-file FILE   the coordinator's argv, NUL-separated: the header's
//                      command, read back by /bin/sh, must be exactly it
//   --table TITLE      a table captioned TITLE with rows (repeatable)
//   --narrow KIND      KIND's histogram has every bin narrower than 1 ms
// env:   CHROMIUM=/path/to/chromium (default /usr/bin/chromium)
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL } = require('url');

const { CHROMIUM_ARGS } = require('./chromium-args');
const TIMEOUT_MS = 60000;

function fail(message) {
  console.error(`check-report: FAIL: ${message}`);
  process.exitCode = 1;
}

async function main() {
  const usage = 'usage: node check-report.js REPORT.html EXPECTED_BARS [--screenshot PNG] [--argv-file FILE]' +
    ' [--table TITLE]... [--narrow KIND]';
  const [reportArg, expectedArg, ...rest] = process.argv.slice(2);
  if (!reportArg || expectedArg === undefined || !/^\d+$/.test(expectedArg)) {
    console.error(usage);
    return 2;
  }
  const options = { screenshot: null, argvFile: null, tables: [], narrow: [] };
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (value === undefined) {
      console.error(usage);
      return 2;
    }
    if (flag === '--screenshot') options.screenshot = value;
    else if (flag === '--argv-file') options.argvFile = value;
    else if (flag === '--table') options.tables.push(value);
    else if (flag === '--narrow') options.narrow.push(value);
    else {
      console.error(`check-report: unknown option ${flag}\n${usage}`);
      return 2;
    }
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

    const facts = await page.evaluate(readFacts);
    const charts = checkCharts(facts);
    const histograms = checkHistograms(facts, options.narrow);
    checkTables(facts, options.tables);
    if (options.argvFile) checkCommand(facts.command, options.argvFile);

    if (options.screenshot) {
      const screenshot = path.resolve(options.screenshot);
      fs.mkdirSync(path.dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`check-report: screenshot written to ${screenshot}`);
    }
    if (!process.exitCode) {
      console.log(
        `check-report: OK: "${stats.title}": ${bars} task bars, ${charts} charts titled with labelled axes, ` +
          `${histograms} histograms counting every task once` +
          (options.tables.length ? `, tables ${options.tables.join(', ')}` : '') +
          (options.argvFile ? ', the real command line' : '') +
          ', no console error, no network request',
      );
    }
    return process.exitCode || 0;
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

// Runs in the page: what the checks below judge, as plain data.
function readFacts() {
  const text = (el) => (el ? el.textContent.trim() : '');
  const charts = Array.from(document.querySelectorAll('svg.bars, svg.sweep-chart, svg.timeline-chart, svg.histogram'))
    .map((svg) => {
      const box = svg.closest('.sweep') || svg.closest('.timeline') || svg.closest('figure');
      return {
        kind: svg.getAttribute('class'),
        title: text(box && box.querySelector('h3')),
        x: Array.from(svg.querySelectorAll('text.axis-label[data-axis="x"]')).map(text),
        y: Array.from(svg.querySelectorAll('text.axis-label[data-axis="y"]')).map(text),
      };
    });
  const histograms = Array.from(document.querySelectorAll('svg.histogram')).map((svg) => ({
    kind: svg.dataset.kind,
    scale: svg.dataset.scale,
    total: Number(svg.dataset.total),
    min: Number(svg.dataset.minMs),
    max: Number(svg.dataset.maxMs),
    bins: Array.from(svg.querySelectorAll('rect.bin')).map((r) => ({
      lo: Number(r.dataset.loMs),
      hi: Number(r.dataset.hiMs),
      count: Number(r.dataset.count),
      width: r.getBBox().width,
    })),
  }));
  const tables = Array.from(document.querySelectorAll('table.tt')).map((t) => ({
    caption: text(t.querySelector('caption')),
    rows: t.querySelectorAll('tbody tr').length,
    // Numbers right-aligned, as the terminal prints them.
    numLeft: Array.from(t.querySelectorAll('td.num')).filter((td) => getComputedStyle(td).textAlign !== 'right')
      .length,
  }));
  const meta = Array.from(document.querySelectorAll('header .meta div')).find(
    (d) => text(d.querySelector('dt')) === 'command',
  );
  return {
    charts,
    histograms,
    tables,
    command: meta ? text(meta.querySelector('dd code')) : null,
    // The mode's name, without a "failed" badge.
    modes: Array.from(document.querySelectorAll('#comparison td.mode')).map((td) =>
      td.childNodes[0].textContent.trim(),
    ),
  };
}

function checkCharts(facts) {
  for (const c of facts.charts) {
    if (!c.title) fail(`a ${c.kind} chart has no title`);
    if (c.x.length !== 1 || !c.x[0]) fail(`${c.kind} "${c.title}": x axis label ${JSON.stringify(c.x)}`);
    if (c.y.length !== 1 || !c.y[0]) fail(`${c.kind} "${c.title}": y axis label ${JSON.stringify(c.y)}`);
    // Units where the axis has them.
    const wantX = { bars: /\(s\)/, 'timeline-chart': /\(s\)/, histogram: /\(ms/ }[c.kind];
    if (wantX && !wantX.test(c.x[0] || '')) fail(`${c.kind} "${c.title}": x label "${c.x[0]}" has no unit`);
    if (c.kind === 'histogram' && c.y[0] !== 'tasks') fail(`histogram "${c.title}": y label "${c.y[0]}"`);
    // A compare page shows several modes: each run's chart says which.
    if (facts.modes.length && (c.kind === 'histogram' || c.kind === 'timeline-chart')) {
      if (!facts.modes.some((m) => c.title.includes(m))) fail(`${c.kind} "${c.title}" names none of the modes`);
    }
  }
  if (!facts.charts.length) fail('the page has no chart');
  return facts.charts.length;
}

function checkHistograms(facts, narrow) {
  for (const h of facts.histograms) {
    const name = `histogram of ${h.kind}`;
    const counted = h.bins.reduce((sum, b) => sum + b.count, 0);
    if (counted !== h.total) fail(`${name}: bins hold ${counted} tasks, the run had ${h.total}`);
    if (!h.bins.length) continue;
    // From the data's own range: the first bar holds the fastest task, the last the slowest.
    const first = h.bins[0];
    const last = h.bins[h.bins.length - 1];
    if (!(first.lo <= h.min && h.min < first.hi)) {
      fail(`${name}: min ${h.min} is not in the first bar ${first.lo}-${first.hi}`);
    }
    if (!(last.lo <= h.max && h.max <= last.hi)) {
      fail(`${name}: max ${h.max} is not in the last bar ${last.lo}-${last.hi}`);
    }
    if (h.scale === 'linear' && h.max > h.min) {
      const widest = Math.max(...h.bins.map((b) => b.hi - b.lo));
      if (widest > (h.max - h.min) / 4) fail(`${name}: a bin ${widest} ms wide for durations ${h.min}-${h.max} ms`);
    }
    for (const b of h.bins) {
      if (!(b.hi > b.lo) || !(b.width > 0)) fail(`${name}: bin ${b.lo}-${b.hi} is not drawn (${b.width} px)`);
    }
  }
  for (const kind of narrow) {
    const h = facts.histograms.find((x) => x.kind === kind);
    if (!h) {
      fail(`no histogram of ${kind}`);
      continue;
    }
    const wide = h.bins.filter((b) => !(b.hi - b.lo < 1));
    if (wide.length) fail(`histogram of ${kind}: ${wide.length} bins 1 ms or wider, e.g. ${wide[0].lo}-${wide[0].hi}`);
    if (h.bins.length < 4) fail(`histogram of ${kind}: ${h.bins.length} bars for ${h.min}-${h.max} ms`);
  }
  return facts.histograms.length;
}

function checkTables(facts, wanted) {
  for (const t of facts.tables) {
    if (t.numLeft) fail(`table "${t.caption}": ${t.numLeft} number cells are not right-aligned`);
  }
  for (const title of wanted) {
    const t = facts.tables.find((x) => x.caption === title);
    if (!t) fail(`no table captioned "${title}" (have: ${facts.tables.map((x) => x.caption).join(', ')})`);
    else if (!t.rows) fail(`table "${title}" has no rows`);
  }
}

// The header's command, read back by /bin/sh, must be the argv it ran with.
function checkCommand(command, argvFile) {
  const want = fs.readFileSync(argvFile, 'utf8').split('\0').slice(0, -1);
  if (command === null) {
    fail('the header shows no command');
    return;
  }
  const got = execFileSync('/bin/sh', ['-c', `set -- ${command}; printf '%s\\0' "$@"`], { encoding: 'utf8' })
    .split('\0')
    .slice(0, -1);
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    const [shown, read, ran] = [command, got, want].map((x) => JSON.stringify(x));
    fail(`header command ${shown} reads back as ${read}, ran as ${ran}`);
  }
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
