// The run's numbers for Prometheus (`--metrics`: /metrics) and the live
// page: counters the coordinator's loop bumps in place, copied into an
// immutable MetricsSnapshot a few times a second for the HTTP thread, which
// renders it (RenderPrometheus).
//
//   Metrics metrics;
//   metrics.CountRecord("url", result);          // each record written
//   if (metrics.Due(now_ms)) server.Publish(metrics.Snapshot(gauges, now_ms));
//
// Why plain counters and a published copy rather than atomics: the loop is
// one thread and counts per record; a plain add costs it nothing, and the
// copy (a few hundred numbers, the hosts capped) is made at most 4 times a
// second, so a scrape never touches what the loop is changing and a run
// nobody scrapes pays four small copies a second. A scrape sees the run as
// it was up to 250 ms ago. Not thread-safe: the loop's thread drives it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/frame_codec.h"
#include "coordinator/scheduler.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

// Upper bounds (seconds) of the task duration histogram: 1 ms to 10 min.
inline constexpr std::array<double, 18> kTaskDurationBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300, 600};
// Of the journal's fdatasync: 100 µs to 2.5 s.
inline constexpr std::array<double, 14> kJournalSyncBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                               0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};

// Hosts shown one by one, each keeping its series for the whole run; the
// rest are summed in taskfarm_other_hosts_* (a metric of its own, so no
// host name can collide with it), and 1,000 workers on 1,000 machines
// still make a small scrape.
inline constexpr size_t kMaxMetricHosts = 32;
// Failures the live page lists (the newest).
inline constexpr size_t kRecentFailures = 10;

template <size_t N>
struct Histogram {
  std::array<uint64_t, N + 1> counts{};  // per bucket, not cumulative; [N]: above the last bound
  double sum = 0;
  double min = 0, max = 0;  // of the values observed (0, 0: none yet)
  uint64_t count = 0;
  void Observe(const std::array<double, N>& bounds, double value) {
    // A bucket's bound is inclusive (`le`): the first bound >= value.
    size_t i = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
    ++counts[i];
    sum += value;
    min = count == 0 ? value : std::min(min, value);
    max = std::max(max, value);
    ++count;
  }
};

struct KindMetrics {
  std::string kind;
  uint64_t ok = 0, failed = 0, cancelled = 0;  // failed: not ok and not cancelled
  uint64_t retries = 0;                        // attempts past the first, of finished tasks
  Histogram<kTaskDurationBuckets.size()> duration;
};

struct HostMetrics {
  std::string host;      // as its label shows it: valid UTF-8 (hosts that read alike are one)
  uint32_t workers = 0;  // connected now
  uint64_t tasks = 0;    // records its workers produced, gone ones' too
};

// Cumulative counts at one moment, kept for the live page's rates over
// the last minute.
struct MetricsTotals {
  double t_s = 0;  // Clock seconds
  uint64_t done = 0;
  std::vector<std::pair<std::string, uint64_t>> kinds;  // records by kind
  std::vector<uint64_t> hosts;                          // records by host, in MetricsSnapshot::hosts' order (fixed)
  uint64_t other_hosts = 0;

  [[nodiscard]] uint64_t Kind(const std::string& kind) const;
  [[nodiscard]] uint64_t Host(size_t slot) const { return slot < hosts.size() ? hosts[slot] : 0; }
};

struct FailureNote {
  uint32_t id = 0;
  std::string kind;
  std::string task;  // the task line, header values and URL userinfo as ***, cut to 200 bytes
  std::string error_code;
  std::string error;  // URL userinfo as ***, cut to 300 bytes
};

// What the loop knows without counting: read when a snapshot is made.
struct MetricsGauges {
  uint64_t in_flight = 0;
  uint64_t queued = 0;       // read, not leased (waiting, parked or to be retried)
  uint64_t input_tasks = 0;  // this run's share of the input (0: a stream not yet ended)
  uint64_t replaced = 0;     // local workers started again after one ended
  uint64_t starts = 0;       // leases handed out, retries included
  uint64_t late_results = 0;
  DropCounts drops;
  const std::map<WorkerId, WorkerStats>* workers = nullptr;
  size_t connected = 0;
  double run_s = 0;  // since the first dispatch
};

struct MetricsSnapshot {
  std::vector<KindMetrics> kinds;
  MetricsGauges gauges;  // `workers` is null here: its numbers are below
  uint64_t workers_registered = 0, workers_left = 0, workers_lost = 0;
  std::vector<HostMetrics> hosts;  // in the order their first worker registered
  HostMetrics other_hosts;         // the hosts past kMaxMetricHosts, summed (host: "")
  uint64_t fetched_bytes = 0;
  uint64_t journal_syncs = 0;
  Histogram<kJournalSyncBuckets.size()> journal_sync;
  std::vector<FailureNote> failures;  // newest last
  MetricsTotals now;                  // the numbers above, as totals
  MetricsTotals minute_ago;           // the oldest totals kept, at most 60 s before `now`
  double start_unix_s = 0;
  // The run has ended: the numbers are final. The summary as the terminal
  // showed it, and the report's path if one was written.
  bool finished = false;
  std::string summary;
  std::string report_path;
};

class Metrics {
 public:
  Metrics();

  // A record written (the ones --output gets, cancelled ones included);
  // `worker`: who ran its last attempt (-1: none).
  void CountRecord(std::string_view kind, const pb::Result& r, const pb::TaskSpec& spec, WorkerId worker = -1);
  // A Hello accepted, and a registered worker gone (it said Goodbye: `left`;
  // else lost). Each worker counts once either way, so the counters only
  // grow. A worker the scheduler removed itself (silent, stalled) is found
  // gone in `gauges.workers` at the next Snapshot.
  void WorkerRegistered(WorkerId worker, std::string_view host);
  void WorkerGone(WorkerId worker, bool left);
  void CountJournalSync(double seconds);

  // Whether a snapshot is due (every 250 ms).
  [[nodiscard]] bool Due(double now_ms) const { return now_ms - last_snapshot_ms_ >= 250; }
  [[nodiscard]] std::shared_ptr<const MetricsSnapshot> Snapshot(const MetricsGauges& gauges, double now_ms);
  // The last snapshot: the run's end (see MetricsSnapshot::finished).
  [[nodiscard]] std::shared_ptr<const MetricsSnapshot> Final(const MetricsGauges& gauges, double now_ms,
                                                             std::string summary, std::string report_path);

 private:
  KindMetrics& Kind(std::string_view kind);
  HostMetrics& Slot(int slot) { return slot < 0 ? other_hosts_ : hosts_[slot]; }

  struct Registration {
    int slot = -1;  // in hosts_; -1: other_hosts_
    bool live = true;
    uint64_t tasks = 0;
  };

  std::vector<KindMetrics> kinds_;
  std::vector<HostMetrics> hosts_;  // at most kMaxMetricHosts; a host keeps its slot
  HostMetrics other_hosts_;
  // Live workers, and gone ones that produced records (those may still be
  // counted; one that did nothing is dropped, so a Hello flood stays small).
  std::unordered_map<WorkerId, Registration> workers_;
  uint64_t registered_ = 0, left_ = 0, lost_ = 0;
  uint64_t fetched_bytes_ = 0;
  uint64_t journal_syncs_ = 0;
  Histogram<kJournalSyncBuckets.size()> journal_sync_;
  std::vector<FailureNote> failures_;  // a ring of kRecentFailures
  std::deque<MetricsTotals> history_;  // one a second, the last minute's
  size_t next_failure_ = 0;
  double start_unix_s_;
  double last_snapshot_ms_ = -1e18;
};

// The snapshot in Prometheus' text exposition format, version 0.0.4.
[[nodiscard]] std::string RenderPrometheus(const MetricsSnapshot& s);

}  // namespace taskfarm
