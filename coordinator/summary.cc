// The run summary: computed from the records once, then printed, written
// as JSON, or handed to the report as tables.
#include "coordinator/summary.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/rate.h"
#include "common/stats.h"
#include "common/task_kind.h"
#include "coordinator/result_json.h"
#include "coordinator/verdict.h"

namespace taskfarm {
namespace {

std::string Count(uint64_t n) { return std::to_string(n); }

// Widths that keep a worker row within 100 columns: name and host 18
// characters each, "gone: WHY" 32, beside the numbers.
constexpr size_t kNameChars = 18;
constexpr size_t kGoneChars = 32;

// "too large" -> "too_large": the JSON's names for the drop reasons.
std::string SnakeCase(std::string_view words) {
  std::string s(words);
  std::replace(s.begin(), s.end(), ' ', '_');
  return s;
}

// Numbers in the JSON to three decimals: seconds to the millisecond,
// milliseconds to the microsecond (as the records hold their times).
double Thousandths(double v) { return std::round(v * 1000) / 1000; }

std::vector<std::string> WorkerRow(const RunSummary::Worker& w) {
  return {Clip(w.name, kNameChars),
          Clip(w.host, kNameChars),
          Count(w.tasks),
          Format("%.2f", w.busy_ms / 1000),
          Format("%.0f%%", w.busy_percent),
          w.gone ? Clip("gone: " + w.gone_reason, kGoneChars) : ""};
}

}  // namespace

void RunStats::Add(std::string_view kind, const pb::Result& r) {
  bool cancelled = r.error_code() == "cancelled";
  if (r.ok()) {
    ++ok_;
  } else {
    ++failed_;
    cancelled_ += cancelled;
  }
  if (cancelled) return;  // cut short or never ran: no latency
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) it = kinds_.emplace(std::string(kind), KindStats{}).first;
  KindStats& k = it->second;
  // The record's own figure (rounded as --output writes it), so the
  // summary's percentiles are the ones a script computes from the records.
  k.latency_ms.push_back(static_cast<float>(RecordMs(r.duration_ms())));
  k.cpu_ms += r.cpu_user_ms() + r.cpu_sys_ms();
  k.wait_ms += r.cpu_wait_ms();
  k.wall_ms += r.duration_ms();
  ++k.count;
}

RunSummary RunStats::Summary(const std::map<WorkerId, WorkerStats>& workers, const Extras& x) {
  RunSummary s;
  s.ok = ok_;
  s.failed = failed_ - cancelled_;
  s.cancelled = cancelled_;
  s.resumed = resumed_;
  s.wait_ms = x.wait_ms;
  s.run_ms = x.run_ms;
  uint64_t this_run = s.completed() - resumed_;
  s.throughput_per_s = x.run_ms > 0 ? static_cast<double>(this_run) * 1000 / x.run_ms : 0;
  for (auto& [name, k] : kinds_) {
    LatencySummary l = Summarize(k.latency_ms);
    RunSummary::Kind row;
    row.kind = name;
    row.tasks = k.count;
    row.p50_ms = l.p50;
    row.p90_ms = l.p90;
    row.p99_ms = l.p99;
    row.max_ms = l.max;
    row.mean_ms = l.mean;
    row.cpu_ms = k.cpu_ms;
    row.wall_ms = k.wall_ms;
    row.cpu_wall_percent = k.wall_ms > 0 ? 100 * k.cpu_ms / k.wall_ms : 0;
    row.verdict = name == "noop" ? "" : Judge(k.cpu_ms, k.wall_ms, k.wait_ms).verdict;
    s.kinds.push_back(std::move(row));
  }
  for (auto& [id, w] : workers) {
    s.workers.push_back(RunSummary::Worker{.name = w.name,
                                           .host = w.host,
                                           .tasks = w.tasks,
                                           .busy_ms = w.busy_ms,
                                           .busy_percent = x.run_ms > 0 ? 100 * w.busy_ms / x.run_ms : 0,
                                           .gone = w.gone,
                                           .gone_reason = w.gone_reason});
  }
  s.workers_replaced = x.workers_replaced;
  s.drops = x.drops;
  s.late_results = x.late_results;
  s.write_failures = x.write_failures;
  s.unjournalled = x.unjournalled;
  s.bad_input_lines = x.bad_input_lines;
  s.peak_rss_kb = x.peak_rss_kb;
  s.interrupted = x.interrupted;
  s.rate_limit_per_s = x.rate_limit_per_s;
  s.starts = x.starts;
  // n starts evenly spaced span apart are n - 1 intervals: at exactly the
  // limit, this is the limit.
  if (x.starts >= 2 && x.starts_span_ms > 0) {
    s.measured_rate_per_s = static_cast<double>(x.starts - 1) * 1000 / x.starts_span_ms;
  }
  s.per_host_limit = x.per_host_limit;
  s.host_peak_in_flight = x.host_peak_in_flight;
  s.hosts = x.hosts;
  s.shard = x.shard;
  s.input_tasks = x.input_tasks;
  return s;
}

TextTable RunSummary::KindTable() const {
  TextTable t{.header = {"kind", "tasks", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu/wall", "verdict"},
              .numeric = {false, true, true, true, true, true, true, false}};
  for (const Kind& k : kinds) {
    t.rows.push_back({k.kind, Count(k.tasks), Format("%.1f", k.p50_ms), Format("%.1f", k.p90_ms),
                      Format("%.1f", k.p99_ms), Format("%.1f", k.max_ms), Format("%.0f%%", k.cpu_wall_percent),
                      k.verdict.empty() ? "-" : k.verdict});
  }
  return t;
}

namespace {

// The workers worth a row: they did something, or they left (a worker that
// registered at the very end and got nothing is only in the JSON).
std::vector<const RunSummary::Worker*> Shown(const std::vector<RunSummary::Worker>& workers) {
  std::vector<const RunSummary::Worker*> shown;
  for (const RunSummary::Worker& w : workers) {
    if (w.tasks > 0 || w.gone) shown.push_back(&w);
  }
  return shown;
}

}  // namespace

TextTable RunSummary::WorkerTable() const {
  TextTable t{.header = {"worker", "host", "tasks", "busy s", "busy%", ""},
              .numeric = {false, false, true, true, true, false}};
  std::vector<const Worker*> shown = Shown(workers);
  if (shown.size() <= kMaxWorkerRows) {
    for (const Worker* w : shown) t.rows.push_back(WorkerRow(*w));
    return t;
  }
  // Busiest first; ties by tasks, then by name, so the table is stable.
  std::stable_sort(shown.begin(), shown.end(), [](const Worker* a, const Worker* b) {
    if (a->busy_ms != b->busy_ms) return a->busy_ms > b->busy_ms;
    if (a->tasks != b->tasks) return a->tasks > b->tasks;
    return a->name < b->name;
  });
  t.title =
      Format("the %zu busiest and the %zu idlest of %zu workers:", kBusiestAndIdlest, kBusiestAndIdlest, shown.size());
  for (size_t i = 0; i < kBusiestAndIdlest; ++i) t.rows.push_back(WorkerRow(*shown[i]));
  t.rows.push_back({"..."});
  for (size_t i = shown.size() - kBusiestAndIdlest; i < shown.size(); ++i) t.rows.push_back(WorkerRow(*shown[i]));
  t.note = Format("... and %zu more workers (all of them in --json)", shown.size() - 2 * kBusiestAndIdlest);
  return t;
}

TextTable RunSummary::HostTable() const {
  TextTable t{.header = {"host", "workers", "tasks", "busy%"}, .numeric = {false, true, true, true}};
  std::vector<const Worker*> shown = Shown(workers);
  if (shown.size() <= kMaxWorkerRows) return t;
  struct Host {
    std::string name;
    uint64_t workers = 0, tasks = 0;
    double busy_ms = 0;
  };
  std::map<std::string, Host> by_host;
  for (const Worker* w : shown) {
    Host& h = by_host[w->host];
    h.name = w->host;
    ++h.workers;
    h.tasks += w->tasks;
    h.busy_ms += w->busy_ms;
  }
  if (by_host.size() < 2) return t;
  std::vector<Host> hosts;
  for (auto& [name, h] : by_host) hosts.push_back(h);
  std::stable_sort(hosts.begin(), hosts.end(), [](const Host& a, const Host& b) { return a.tasks > b.tasks; });
  t.title = "by host:";
  for (size_t i = 0; i < hosts.size() && i < kMaxWorkerRows; ++i) {
    const Host& h = hosts[i];
    double share = run_ms > 0 ? 100 * h.busy_ms / (static_cast<double>(h.workers) * run_ms) : 0;
    t.rows.push_back(
        {Clip(h.name.empty() ? "?" : h.name, kNameChars), Count(h.workers), Count(h.tasks), Format("%.0f%%", share)});
  }
  if (hosts.size() > kMaxWorkerRows) t.note = Format("... and %zu more hosts", hosts.size() - kMaxWorkerRows);
  return t;
}

std::string RunSummary::Text() const {
  std::string out = "\n== Summary ==\n";
  out += "tasks: " + Count(ok) + " ok, " + Count(failed) + " failed";
  if (cancelled) out += ", " + Count(cancelled) + " cancelled";
  if (resumed) out += " (" + Count(resumed) + " from the journal)";
  out += "\n";
  if (!shard.empty()) {
    out += "shard " + shard + ": its share of the input's " + Count(input_tasks) +
           " tasks (coordinator merge joins the shards' outputs)\n";
  }
  if (wait_ms > kNoticeableWaitMs) {
    // run_ms is 0 only when no task was ever sent (the wait gave up).
    out += run_ms > 0 ? Format("waited %.1f s for workers before the first task was sent (not in the times below)\n",
                               wait_ms / 1000)
                      : Format("waited %.1f s for workers; no task was sent\n", wait_ms / 1000);
  }
  out += Format("wall time: %.2f s, throughput: %.1f tasks/s\n", run_ms / 1000, throughput_per_s);
  if (rate_limit_per_s > 0) {
    out += "rate: limit " + FormatRate(rate_limit_per_s) + ", ";
    out += measured_rate_per_s > 0 ? "measured " + FormatRate(measured_rate_per_s, 4) : std::string("not measured");
    out += " (" + Count(starts) + (starts == 1 ? " task start" : " task starts") + ", retries included)\n";
  }
  if (per_host_limit > 0) {
    out += Format("per host: at most %u in flight (%llu %s; the busiest had %u at once)\n", per_host_limit,
                  static_cast<unsigned long long>(hosts), hosts == 1 ? "host" : "hosts", host_peak_in_flight);
  }
  if (!kinds.empty()) out += "\n" + RenderText(KindTable());
  if (TextTable hosts = HostTable(); !hosts.rows.empty()) out += "\n" + RenderText(hosts);
  if (TextTable table = WorkerTable(); !table.rows.empty()) out += "\n" + RenderText(table);
  if (workers_replaced) out += "\nworkers replaced: " + Count(workers_replaced) + "\n";
  if (drops.Total() || late_results) {
    out += "\ndropped messages: " + drops.Describe() + "; late results discarded: " + Count(late_results) + "\n";
  }
  if (!write_failures.empty()) {
    out += "\n";
    for (const std::string& f : write_failures) out += "not written: " + f + "\n";
  }
  if (unjournalled) {
    out += Count(unjournalled) + " finished task(s) could not be journalled: --resume will run them again\n";
  }
  if (bad_input_lines) out += "input: " + Count(bad_input_lines) + " bad line(s) skipped\n";
  if (peak_rss_kb) out += Format("\ncoordinator peak RSS: %.1f MB\n", peak_rss_kb / 1024.0);
  if (interrupted) out += "Interrupted.\n";
  out += Format("Completed %llu tasks in %.2f seconds\n", static_cast<unsigned long long>(completed()), run_ms / 1000);
  return out;
}

std::string RunSummary::Json(const std::vector<std::string>& command) const {
  using Json = nlohmann::ordered_json;
  Json j;
  j["taskfarm_run_summary"] = 1;
  j["command"] = command;
  j["tasks"] = {
      {"ok", ok}, {"failed", failed}, {"cancelled", cancelled}, {"resumed", resumed}, {"completed", completed()}};
  j["shard"] = shard.empty() ? Json(nullptr) : Json{{"shard", shard}, {"input_tasks", input_tasks}};
  j["wait_s"] = Thousandths(wait_ms / 1000);
  j["run_s"] = Thousandths(run_ms / 1000);
  j["elapsed_s"] = Thousandths(elapsed_ms() / 1000);
  j["throughput_per_s"] = Thousandths(throughput_per_s);
  j["rate"] =
      rate_limit_per_s <= 0
          ? Json(nullptr)
          : Json{{"limit_per_s", rate_limit_per_s},
                 {"measured_per_s", measured_rate_per_s > 0 ? Json(Thousandths(measured_rate_per_s)) : Json(nullptr)},
                 {"starts", starts}};
  j["per_host"] = per_host_limit == 0
                      ? Json(nullptr)
                      : Json{{"limit", per_host_limit}, {"hosts", hosts}, {"peak_in_flight", host_peak_in_flight}};
  Json ks = Json::array();
  for (const Kind& k : kinds) {
    ks.push_back({{"kind", k.kind},
                  {"tasks", k.tasks},
                  {"p50_ms", Thousandths(k.p50_ms)},
                  {"p90_ms", Thousandths(k.p90_ms)},
                  {"p99_ms", Thousandths(k.p99_ms)},
                  {"max_ms", Thousandths(k.max_ms)},
                  {"mean_ms", Thousandths(k.mean_ms)},
                  {"cpu_ms", Thousandths(k.cpu_ms)},
                  {"wall_ms", Thousandths(k.wall_ms)},
                  {"cpu_wall_percent", Thousandths(k.cpu_wall_percent)},
                  {"verdict", k.verdict.empty() ? Json(nullptr) : Json(k.verdict)}});
  }
  j["kinds"] = std::move(ks);
  Json ws = Json::array();
  for (const Worker& w : workers) {
    ws.push_back({{"name", w.name},
                  {"host", w.host},
                  {"tasks", w.tasks},
                  {"busy_s", Thousandths(w.busy_ms / 1000)},
                  {"busy_percent", Thousandths(w.busy_percent)},
                  {"gone", w.gone ? Json(w.gone_reason) : Json(nullptr)}});
  }
  j["workers"] = std::move(ws);
  j["workers_replaced"] = workers_replaced;
  Json dropped = {{"total", drops.Total()}};
  for (size_t i = 0; i < drops.by_reason.size(); ++i) {
    dropped[SnakeCase(DropReasonName(static_cast<DropReason>(i)))] = drops.by_reason[i];
  }
  j["dropped_messages"] = std::move(dropped);
  j["late_results"] = late_results;
  j["write_failures"] = write_failures;
  j["unjournalled"] = unjournalled;
  j["bad_input_lines"] = bad_input_lines;
  j["coordinator_peak_rss_kb"] = peak_rss_kb;
  j["interrupted"] = interrupted;
  // A remote worker names itself: bytes that are not UTF-8 are replaced,
  // not a reason to lose the summary.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace taskfarm
