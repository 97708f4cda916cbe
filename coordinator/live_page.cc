// The live page and its /state.json. The page builds every element with
// textContent, never innerHTML: task lines, errors and host names come from
// the input and the workers.
#include "coordinator/live_page.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace taskfarm {

double HistogramQuantile(const Histogram<kTaskDurationBuckets.size()>& h, double q) {
  if (h.count == 0) return 0;
  double rank = q * static_cast<double>(h.count);
  uint64_t below = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    if (static_cast<double>(below + h.counts[i]) >= rank && h.counts[i] > 0) {
      // Within the bucket, narrowed to the values seen: sleeps of 0.5 to
      // 1.5 s have their p90 between 1 and 1.5 s, not 1 and 2.5.
      double lo = std::max(h.min, i == 0 ? 0 : kTaskDurationBuckets[i - 1]);
      double hi = std::min(h.max, i < kTaskDurationBuckets.size() ? kTaskDurationBuckets[i] : h.max);
      return lo + (hi - lo) * (rank - static_cast<double>(below)) / static_cast<double>(h.counts[i]);
    }
    below += h.counts[i];
  }
  return h.max;
}

std::string RenderStateJson(const MetricsSnapshot& s) {
  using nlohmann::json;
  const MetricsGauges& g = s.gauges;
  double window_s = s.now.t_s - s.minute_ago.t_s;
  auto rate = [&](uint64_t now, uint64_t before) {
    return window_s > 0 && now >= before ? static_cast<double>(now - before) / window_s : 0.0;
  };
  json j;
  uint64_t ok = 0, failed = 0, cancelled = 0, retries = 0;
  json kinds = json::array();
  for (const KindMetrics& k : s.kinds) {
    ok += k.ok;
    failed += k.failed;
    cancelled += k.cancelled;
    retries += k.retries;
    if (k.duration.count == 0) continue;
    kinds.push_back({{"kind", k.kind},
                     {"done", k.duration.count},
                     {"ok", k.ok},
                     {"failed", k.failed},
                     {"cancelled", k.cancelled},
                     {"retries", k.retries},
                     {"rate", rate(k.duration.count, s.minute_ago.Kind(k.kind))},
                     {"mean_ms", 1000 * k.duration.sum / static_cast<double>(k.duration.count)},
                     {"p50_ms", 1000 * HistogramQuantile(k.duration, 0.5)},
                     {"p90_ms", 1000 * HistogramQuantile(k.duration, 0.9)},
                     {"p99_ms", 1000 * HistogramQuantile(k.duration, 0.99)}});
  }
  json hosts = json::array();
  for (size_t i = 0; i < s.hosts.size(); ++i) {
    const HostMetrics& h = s.hosts[i];
    hosts.push_back(
        {{"host", h.host}, {"workers", h.workers}, {"tasks", h.tasks}, {"rate", rate(h.tasks, s.minute_ago.Host(i))}});
  }
  const HostMetrics& o = s.other_hosts;
  if (o.workers > 0 || o.tasks > 0) {
    // Past the first 32: one row, marked so the page cannot take it for a
    // host of that name.
    hosts.push_back({{"host", "other hosts"},
                     {"other", true},
                     {"workers", o.workers},
                     {"tasks", o.tasks},
                     {"rate", rate(o.tasks, s.minute_ago.other_hosts)}});
  }
  json failures = json::array();
  for (auto it = s.failures.rbegin(); it != s.failures.rend(); ++it) {
    failures.push_back(
        {{"id", it->id}, {"kind", it->kind}, {"task", it->task}, {"code", it->error_code}, {"error", it->error}});
  }
  uint64_t drops = 0;
  for (uint64_t n : g.drops.by_reason) drops += n;
  j["finished"] = s.finished;
  j["run_s"] = g.run_s;
  j["input"] = g.input_tasks;
  j["done"] = s.now.done;
  j["ok"] = ok;
  j["failed"] = failed;
  j["cancelled"] = cancelled;
  j["retries"] = retries;
  j["in_flight"] = g.in_flight;
  j["queued"] = g.queued;
  j["rate"] = rate(s.now.done, s.minute_ago.done);
  j["window_s"] = window_s;
  j["workers"] = {{"connected", g.connected},
                  {"registered", s.workers_registered},
                  {"lost", s.workers_lost},
                  {"left", s.workers_left},
                  {"replaced", g.replaced}};
  j["fetched_bytes"] = s.fetched_bytes;
  j["dropped_messages"] = drops;
  j["kinds"] = std::move(kinds);
  j["hosts"] = std::move(hosts);
  j["failures"] = std::move(failures);
  j["summary"] = s.summary;
  j["report"] = !s.report_path.empty();
  // Task lines and errors may hold bytes that are not UTF-8: replaced, not thrown.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view LivePageHtml() {
  static constexpr std::string_view kPage = R"PAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskfarm: live</title>
<style>
  :root { --fg: #1d232b; --muted: #5d6773; --line: #d9dee4; --bg: #f6f7f9; --ok: #2f855a; --bad: #c53030;
          --accent: #2b6cb0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
         background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #fff;
           border-bottom: 1px solid var(--line); }
  h1 { font-size: 18px; margin: 0; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  main { padding: 16px 24px; max-width: 1200px; }
  #state { font-weight: 600; padding: 2px 8px; border-radius: 10px; background: #e6f0fa; color: var(--accent); }
  #state.finished { background: #e3f4ea; color: var(--ok); }
  .muted { color: var(--muted); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px;
            margin-bottom: 14px; }
  .bar { height: 14px; background: #e8ebef; border-radius: 7px; overflow: hidden; margin: 8px 0; }
  .bar > div { height: 100%; background: var(--accent); width: 0; transition: width 0.4s; }
  .bar > div.failed { background: var(--bad); float: right; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
  .card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
  .card .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .card .k { color: var(--muted); font-size: 12px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; }
  td.num, th.num { text-align: right; }
  td.task, td.err { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
  .tag { font-size: 11px; padding: 1px 6px; border-radius: 8px; margin-left: 6px; }
  .busiest { background: #e3f4ea; color: var(--ok); }
  .idlest { background: #fdecec; color: var(--bad); }
  pre { background: var(--bg); padding: 10px; border-radius: 4px; overflow-x: auto; font-size: 12px; }
  .empty { color: var(--muted); font-style: italic; }
</style>
</head>
<body>
<header>
  <h1>taskfarm</h1><span id="state">connecting</span>
  <span id="elapsed" class="muted"></span><span id="updated" class="muted"></span>
</header>
<main>
  <section id="final" hidden>
    <h2>The run has ended</h2>
    <p id="report" hidden><a href="report">Open the run's report</a></p>
    <pre id="summary"></pre>
  </section>
  <section>
    <h2>Progress</h2>
    <div id="progress-text"></div>
    <div class="bar"><div id="bar-failed" class="failed"></div><div id="bar-done"></div></div>
    <div class="cards" id="cards"></div>
  </section>
  <section>
    <h2>By kind <span class="muted">(latency estimated from the histogram's buckets)</span></h2>
    <table id="kinds"></table>
  </section>
  <section>
    <h2>Workers by host <span class="muted">(rates over the last minute)</span></h2>
    <table id="hosts"></table>
  </section>
  <section>
    <h2>Last failures</h2>
    <table id="failures"></table>
  </section>
</main>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
const int = (n) => Math.round(n).toLocaleString('en-US');
const rate = (n) => (n >= 100 ? int(n) : n.toFixed(n >= 10 ? 1 : 2));
const ms = (n) => (n >= 100 ? int(n) : n.toFixed(n >= 10 ? 1 : 2));
function duration(s) {
  if (!isFinite(s) || s < 0) return '';
  if (s < 60) return s.toFixed(1) + ' s';
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  return h > 0 ? `${h} h ${m % 60} min` : `${m} min ${Math.floor(s % 60)} s`;
}
function bytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; ++i; }
  return (i ? n.toFixed(1) : int(n)) + ' ' + units[i];
}
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
// columns: [title, (row) => text, numeric?]
function fill(table, columns, rows, emptyText) {
  table.replaceChildren();
  if (!rows.length) {
    const tr = el('tr');
    tr.append(el('td', emptyText, 'empty'));
    table.append(tr);
    return;
  }
  const head = el('tr');
  for (const [title, , num] of columns) head.append(el('th', title, num ? 'num' : ''));
  table.append(head);
  for (const row of rows) {
    const tr = el('tr');
    for (const [, cell, num, cls] of columns) {
      const value = cell(row);
      const td = el('td', undefined, num ? 'num' : cls || '');
      if (value instanceof Node) td.append(value); else td.textContent = value;
      tr.append(td);
    }
    table.append(tr);
  }
}
function render(s) {
  $('state').textContent = s.finished ? 'finished' : 'running';
  $('state').className = s.finished ? 'finished' : '';
  $('elapsed').textContent = s.run_s > 0 ? 'run time ' + duration(s.run_s) : 'waiting for workers';
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB');
  const total = s.input || 0;
  const pct = total ? (100 * s.done) / total : 0;
  let text = `${int(s.done)} of ${total ? int(total) : '?'} tasks done` + (total ? ` (${pct.toFixed(1)}%)` : '') +
      ` · ${int(s.failed)} failed` + (s.cancelled ? ` · ${int(s.cancelled)} cancelled` : '');
  if (!s.finished && total && s.rate > 0) text += ` · about ${duration((total - s.done) / s.rate)} left`;
  $('progress-text').textContent = text;
  $('bar-done').style.width = (total ? (100 * s.ok) / total : 0) + '%';
  $('bar-failed').style.width = (total ? (100 * (s.failed + s.cancelled)) / total : 0) + '%';
  const cards = [
    [rate(s.rate) + '/s', `tasks done, last ${Math.round(s.window_s)} s`],
    [int(s.in_flight), 'running'],
    [int(s.queued), 'waiting'],
    [int(s.workers.connected), `workers (${int(s.workers.lost)} lost, ${int(s.workers.replaced)} replaced)`],
    [int(s.retries), 'retries'],
    [bytes(s.fetched_bytes), 'fetched'],
    [int(s.dropped_messages), 'messages dropped'],
  ];
  $('cards').replaceChildren(...cards.map(([v, k]) => {
    const c = el('div', undefined, 'card');
    c.append(el('div', v, 'v'), el('div', k, 'k'));
    return c;
  }));
  fill($('kinds'), [
    ['kind', (k) => k.kind], ['done', (k) => int(k.done), 1], ['ok', (k) => int(k.ok), 1],
    ['failed', (k) => int(k.failed), 1], ['cancelled', (k) => int(k.cancelled), 1],
    ['retries', (k) => int(k.retries), 1], ['tasks/s', (k) => rate(k.rate), 1],
    ['mean ms', (k) => ms(k.mean_ms), 1], ['p50 ms', (k) => ms(k.p50_ms), 1],
    ['p90 ms', (k) => ms(k.p90_ms), 1], ['p99 ms', (k) => ms(k.p99_ms), 1],
  ], s.kinds, 'no task has finished yet');
  // Busiest and idlest: tasks per second per connected worker.
  const live = s.hosts.filter((h) => h.workers > 0);
  const per = (h) => h.rate / h.workers;
  let busiest = null, idlest = null;
  if (live.length > 1) {
    busiest = live.reduce((a, b) => (per(b) > per(a) ? b : a));
    idlest = live.reduce((a, b) => (per(b) < per(a) ? b : a));
  }
  fill($('hosts'), [
    ['host', (h) => {
      const span = el('span', h.host, h.other ? 'muted' : undefined);
      if (h === busiest) span.append(el('span', 'busiest', 'tag busiest'));
      if (h === idlest) span.append(el('span', 'idlest', 'tag idlest'));
      return span;
    }],
    ['workers', (h) => int(h.workers), 1], ['tasks', (h) => int(h.tasks), 1],
    ['tasks/s', (h) => rate(h.rate), 1], ['per worker /s', (h) => (h.workers ? rate(per(h)) : '—'), 1],
  ], s.hosts, 'no worker has connected yet');
  fill($('failures'), [
    ['id', (f) => String(f.id), 1], ['kind', (f) => f.kind], ['task', (f) => f.task, 0, 'task'],
    ['code', (f) => f.code], ['error', (f) => f.error, 0, 'err'],
  ], s.failures, 'none');
  $('final').hidden = !s.finished;
  $('summary').textContent = s.summary;
  $('report').hidden = !s.report;
}
async function poll() {
  try {
    const response = await fetch('state.json', { cache: 'no-store' });
    const s = await response.json();
    render(s);
    if (s.finished) return;  // the numbers are final: nothing more to ask
  } catch (e) {
    $('state').textContent = 'not reachable';
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)PAGE";
  return kPage;
}

}  // namespace taskfarm
