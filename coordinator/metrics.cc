// Counting a run for Prometheus, and its text exposition format (0.0.4):
// https://prometheus.io/docs/instrumenting/exposition_formats/
#include "coordinator/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/clock.h"
#include "common/quote.h"
#include "common/status.h"
#include "common/task_kind.h"
#include "common/task_parser.h"
#include "common/utf8.h"

namespace taskfarm {

uint64_t MetricsTotals::Kind(const std::string& kind) const {
  for (const auto& [k, n] : kinds) {
    if (k == kind) return n;
  }
  return 0;
}

Metrics::Metrics() : start_unix_s_(UnixMs() / 1000) {
  // Every kind a run may have, at zero from the start: a series that
  // appears with its first record would hide that first increase from
  // Prometheus' rate(). The test-only kinds appear when used.
  for (const TaskKind* kind : AllKinds()) {
    if (!kind->test_only) Kind(kind->name);
  }
}

KindMetrics& Metrics::Kind(std::string_view kind) {
  for (KindMetrics& k : kinds_) {
    if (k.kind == kind) return k;
  }
  kinds_.emplace_back().kind = std::string(kind);
  return kinds_.back();
}

namespace {

// The live page has no authentication, so what it shows of a task hides
// what grants access: a URL's user:password@ and the values of the
// headers (-H 'Authorization: Bearer ...'; the names stay, to tell
// the tasks apart). Anywhere in `text`: errors quote the URL too.
std::string RedactUserinfo(std::string text) {
  for (size_t at = text.find("://"); at != std::string::npos; at = text.find("://", at + 3)) {
    size_t begin = at + 3;
    size_t end = text.find_first_of("/?# '\"", begin);
    size_t sign = text.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (sign == std::string::npos || sign < begin) continue;
    text.replace(begin, sign - begin, "***");
  }
  return text;
}

std::string ShownTask(const pb::TaskSpec& spec) {
  if (!spec.has_url()) return RedactUserinfo(FormatTask(spec));
  pb::TaskSpec shown = spec;
  pb::UrlTask& url = *shown.mutable_url();
  for (std::string& header : *url.mutable_headers()) {
    size_t colon = header.find(':');
    if (colon != std::string::npos) header = header.substr(0, colon) + ": ***";
  }
  return RedactUserinfo(FormatTask(shown));
}

}  // namespace

void Metrics::WorkerRegistered(WorkerId worker, std::string_view host) {
  ++registered_;
  // Hosts are told apart as their labels show them: two names that differ
  // only in invalid bytes are one series, not two with one label.
  std::string label = ValidUtf8(host);
  auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const HostMetrics& h) { return h.host == label; });
  int slot = -1;
  if (it != hosts_.end()) {
    slot = static_cast<int>(it - hosts_.begin());
  } else if (hosts_.size() < kMaxMetricHosts) {
    slot = static_cast<int>(hosts_.size());
    hosts_.push_back(HostMetrics{std::move(label)});
  }
  ++Slot(slot).workers;
  workers_[worker] = Registration{slot};
}

void Metrics::WorkerGone(WorkerId worker, bool left) {
  auto it = workers_.find(worker);
  if (it == workers_.end() || !it->second.live) return;
  it->second.live = false;
  ++(left ? left_ : lost_);
  --Slot(it->second.slot).workers;
  if (it->second.tasks == 0) workers_.erase(it);
}

void Metrics::CountRecord(std::string_view kind, const pb::Result& r, const pb::TaskSpec& spec, WorkerId worker) {
  if (auto it = workers_.find(worker); it != workers_.end()) {
    ++it->second.tasks;
    ++Slot(it->second.slot).tasks;
  }
  KindMetrics& k = Kind(kind);
  bool cancelled = r.error_code() == CodeName(Code::kCancelled);
  if (r.ok()) {
    ++k.ok;
  } else if (cancelled) {
    ++k.cancelled;
  } else {
    ++k.failed;
  }
  if (r.attempts() > 1) k.retries += r.attempts() - 1;
  // Every record is observed, cancelled ones too, so the histogram's count
  // is the number of records (a record cancelled before it ran: 0 s).
  k.duration.Observe(kTaskDurationBuckets, std::max(0.0, r.duration_ms() / 1000));
  fetched_bytes_ += r.bytes();
  if (r.ok() || cancelled) return;
  FailureNote note{r.id(), std::string(kind), Excerpt(ShownTask(spec), 200), r.error_code(),
                   Excerpt(RedactUserinfo(r.error()), 300)};
  if (failures_.size() < kRecentFailures) {
    failures_.push_back(std::move(note));
  } else {
    failures_[next_failure_] = std::move(note);
  }
  next_failure_ = (next_failure_ + 1) % kRecentFailures;
}

void Metrics::CountJournalSync(double seconds) {
  ++journal_syncs_;
  journal_sync_.Observe(kJournalSyncBuckets, seconds);
}

std::shared_ptr<const MetricsSnapshot> Metrics::Snapshot(const MetricsGauges& gauges, double now_ms) {
  last_snapshot_ms_ = now_ms;
  auto s = std::make_shared<MetricsSnapshot>();
  s->kinds = kinds_;
  s->gauges = gauges;
  s->gauges.workers = nullptr;
  s->fetched_bytes = fetched_bytes_;
  s->journal_syncs = journal_syncs_;
  s->journal_sync = journal_sync_;
  s->start_unix_s = start_unix_s_;
  // The ring, oldest first.
  for (size_t i = 0; i < failures_.size(); ++i) {
    size_t at = failures_.size() < kRecentFailures ? i : (next_failure_ + i) % kRecentFailures;
    s->failures.push_back(failures_[at]);
  }
  if (gauges.workers) {
    // Workers the scheduler removed on its own (no heartbeat, stalled).
    std::vector<std::pair<WorkerId, bool>> gone;
    for (const auto& [wid, reg] : workers_) {
      if (!reg.live) continue;
      auto w = gauges.workers->find(wid);
      if (w == gauges.workers->end()) {
        gone.emplace_back(wid, false);
      } else if (w->second.gone) {
        gone.emplace_back(wid, w->second.gone_reason == "left");
      }
    }
    for (auto [wid, left] : gone) WorkerGone(wid, left);
  }
  s->workers_registered = registered_;
  s->workers_left = left_;
  s->workers_lost = lost_;
  s->hosts = hosts_;
  s->other_hosts = other_hosts_;
  MetricsTotals& t = s->now;
  t.t_s = now_ms / 1000;
  for (const KindMetrics& k : kinds_) {
    t.kinds.emplace_back(k.kind, k.duration.count);
    t.done += k.duration.count;
  }
  for (const HostMetrics& h : s->hosts) t.hosts.push_back(h.tasks);
  t.other_hosts = s->other_hosts.tasks;
  if (history_.empty() || t.t_s - history_.back().t_s >= 1) history_.push_back(t);
  while (t.t_s - history_.front().t_s > 60) history_.pop_front();
  s->minute_ago = history_.front();
  return s;
}

std::shared_ptr<const MetricsSnapshot> Metrics::Final(const MetricsGauges& gauges, double now_ms, std::string summary,
                                                      std::string report_path) {
  auto s = std::const_pointer_cast<MetricsSnapshot>(Snapshot(gauges, now_ms));
  s->finished = true;
  s->summary = std::move(summary);
  s->report_path = std::move(report_path);
  return s;
}

namespace {

// A label value as the format wants it: UTF-8, with \\, \" and \n escaped.
// Host names come from the workers' Hellos (cut to 256 bytes, perhaps
// inside a character): anything may be in them.
std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : ValidUtf8(v)) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest text that reads back as `v` (0.0025, not 0.0025000000000000001).
std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}

class Writer {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // `labels`: already formatted, `a="b",c="d"`, or empty.
  void Sample(std::string_view name, std::string_view labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += Number(value);
    out_ += '\n';
  }
  void One(std::string_view name, std::string_view type, std::string_view help, double value) {
    Family(name, type, help);
    Sample(name, "", value);
  }
  template <size_t N>
  void HistogramSamples(const std::string& name, const std::string& labels, const std::array<double, N>& bounds,
                        const Histogram<N>& h) {
    std::string sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= N; ++i) {
      cumulative += h.counts[i];
      std::string le = i < N ? Number(bounds[i]) : "+Inf";
      Sample(name + "_bucket", labels + sep + "le=\"" + le + "\"", static_cast<double>(cumulative));
    }
    Sample(name + "_sum", labels, h.sum);
    Sample(name + "_count", labels, static_cast<double>(h.count));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string RenderPrometheus(const MetricsSnapshot& s) {
  Writer w;
  w.Family("taskfarm_tasks_total", "counter",
           "Tasks finished (records written), by kind and outcome (ok, failed, cancelled).");
  for (const KindMetrics& k : s.kinds) {
    std::string kind = "kind=\"" + LabelValue(k.kind) + "\"";
    w.Sample("taskfarm_tasks_total", kind + ",outcome=\"ok\"", static_cast<double>(k.ok));
    w.Sample("taskfarm_tasks_total", kind + ",outcome=\"failed\"", static_cast<double>(k.failed));
    w.Sample("taskfarm_tasks_total", kind + ",outcome=\"cancelled\"", static_cast<double>(k.cancelled));
  }
  w.Family("taskfarm_task_retries_total", "counter", "Attempts past the first, of the tasks finished, by kind.");
  for (const KindMetrics& k : s.kinds) {
    w.Sample("taskfarm_task_retries_total", "kind=\"" + LabelValue(k.kind) + "\"", static_cast<double>(k.retries));
  }
  w.Family("taskfarm_task_duration_seconds", "histogram",
           "Wall time of each finished task's last attempt on its worker, by kind (every record).");
  for (const KindMetrics& k : s.kinds) {
    w.HistogramSamples("taskfarm_task_duration_seconds", "kind=\"" + LabelValue(k.kind) + "\"", kTaskDurationBuckets,
                       k.duration);
  }
  const MetricsGauges& g = s.gauges;
  w.One("taskfarm_tasks_in_flight", "gauge", "Tasks leased to workers now.", static_cast<double>(g.in_flight));
  w.One("taskfarm_tasks_queued", "gauge", "Tasks read and waiting to start (or to run again).",
        static_cast<double>(g.queued));
  w.One("taskfarm_tasks_input", "gauge", "Tasks in this run's input (0 while a streamed input has not ended).",
        static_cast<double>(g.input_tasks));
  w.One("taskfarm_task_starts_total", "counter", "Leases handed to workers, retries included.",
        static_cast<double>(g.starts));
  w.One("taskfarm_workers_connected", "gauge", "Workers registered now.", static_cast<double>(g.connected));
  w.One("taskfarm_workers_registered_total", "counter", "Worker registrations (a Hello accepted).",
        static_cast<double>(s.workers_registered));
  w.One("taskfarm_workers_left_total", "counter", "Workers that said Goodbye.", static_cast<double>(s.workers_left));
  w.One("taskfarm_workers_lost_total", "counter",
        "Workers removed without a Goodbye: exited, silent, stalled, or no longer trusted.",
        static_cast<double>(s.workers_lost));
  w.One("taskfarm_workers_replaced_total", "counter", "Local workers started again after one ended.",
        static_cast<double>(g.replaced));
  w.Family("taskfarm_host_workers", "gauge",
           "Workers connected now, by host (the first 32 hosts; the rest in taskfarm_other_hosts_workers).");
  for (const HostMetrics& h : s.hosts) {
    w.Sample("taskfarm_host_workers", "host=\"" + LabelValue(h.host) + "\"", h.workers);
  }
  w.Family("taskfarm_host_tasks_total", "counter", "Records produced by each host's workers (hosts as above).");
  for (const HostMetrics& h : s.hosts) {
    w.Sample("taskfarm_host_tasks_total", "host=\"" + LabelValue(h.host) + "\"", static_cast<double>(h.tasks));
  }
  w.One("taskfarm_other_hosts_workers", "gauge", "Workers connected now on the hosts past the first 32, summed.",
        s.other_hosts.workers);
  w.One("taskfarm_other_hosts_tasks_total", "counter",
        "Records produced by the workers of the hosts past the first 32, summed.",
        static_cast<double>(s.other_hosts.tasks));
  w.One("taskfarm_fetched_bytes_total", "counter", "Body bytes that url tasks fetched (decoded).",
        static_cast<double>(s.fetched_bytes));
  w.Family("taskfarm_dropped_messages_total", "counter", "Messages from workers dropped unread, by reason.");
  for (size_t i = 0; i < g.drops.by_reason.size(); ++i) {
    std::string reason(DropReasonName(static_cast<DropReason>(i)));
    std::replace(reason.begin(), reason.end(), ' ', '_');
    w.Sample("taskfarm_dropped_messages_total", "reason=\"" + LabelValue(reason) + "\"",
             static_cast<double>(g.drops.by_reason[i]));
  }
  w.One("taskfarm_late_results_total", "counter", "Results for a lease that had been given to another worker.",
        static_cast<double>(g.late_results));
  w.One("taskfarm_journal_syncs_total", "counter", "fdatasync calls of the --journal, one per batch of records.",
        static_cast<double>(s.journal_syncs));
  w.Family("taskfarm_journal_sync_seconds", "histogram", "Time each journal append and fdatasync took.");
  w.HistogramSamples("taskfarm_journal_sync_seconds", "", kJournalSyncBuckets, s.journal_sync);
  w.One("taskfarm_run_start_time_seconds", "gauge", "When the coordinator started, in seconds since the epoch.",
        s.start_unix_s);
  w.One("taskfarm_run_duration_seconds", "gauge", "Time since the first task was dispatched.", g.run_s);
  w.One("taskfarm_run_finished", "gauge", "1 once the run has ended and these numbers are final.", s.finished ? 1 : 0);
  return w.Take();
}

}  // namespace taskfarm
