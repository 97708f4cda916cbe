// The end-of-run summary, computed once (RunSummary) and shown three ways:
// the terminal's "== Summary ==" (Text), the --json file of a run (Json),
// and the HTML run report, which shows the same cells (KindTable,
// WorkerTable, HostTable). Its last line is the tutorials' own "Completed N
// tasks in X.XX seconds".
//
//   RunStats stats;                      // during the run
//   stats.Add(kind, result);
//   RunSummary s = stats.Summary(scheduler.worker_stats(), extras);
//   std::fputs(s.Text().c_str(), out);
//   Status written = WriteWholeFile(path, s.Json(argv));
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/frame_codec.h"
#include "coordinator/report/text_table.h"
#include "coordinator/scheduler.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

// Everything the summary says, in numbers. Times in the units the names
// say. Two clocks: `wait_ms` from the local workers' start (a stream's:
// its first line) to the first task sent (waiting for --min-workers),
// `run_ms` from then to the last record; the
// "wall time", the throughput, busy% and "Completed ... in" are over
// `run_ms`, so a wait for workers does not read as slow work.
struct RunSummary {
  uint64_t ok = 0;
  uint64_t failed = 0;     // not counting the cancelled ones
  uint64_t cancelled = 0;  // before or while running
  uint64_t resumed = 0;    // of ok + failed, records taken from the journal
  [[nodiscard]] uint64_t completed() const { return ok + failed; }
  // Tasks this run finished (not resumed, not cancelled) per second of run_ms.
  double throughput_per_s = 0;

  double wait_ms = 0;
  double run_ms = 0;
  [[nodiscard]] double elapsed_ms() const { return wait_ms + run_ms; }

  // --rate (0: none) and what the run did under it: task starts (leases
  // handed out, retries included) and their measured rate, the starts after
  // the first over the time from the first to the last (0: fewer than two).
  double rate_limit_per_s = 0;
  uint64_t starts = 0;
  double measured_rate_per_s = 0;
  // --per-host (0: none): the most url tasks one host had in flight at once,
  // over how many hosts.
  uint32_t per_host_limit = 0;
  uint32_t host_peak_in_flight = 0;
  uint64_t hosts = 0;

  // --shard K/N ("": none) and the whole input's tasks, of which this run
  // took its share.
  std::string shard;
  uint64_t input_tasks = 0;

  // One row per kind that ran (cancelled tasks are not in it: a task cut
  // short has no latency). Percentiles are nearest-rank (common/stats.h)
  // over the records' duration_ms.
  struct Kind {
    std::string kind;
    uint64_t tasks = 0;
    double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
    double cpu_ms = 0;            // user + sys, summed
    double wall_ms = 0;           // duration_ms, summed
    double cpu_wall_percent = 0;  // 100 * cpu_ms / wall_ms
    std::string verdict;          // "CPU-bound", "I/O-bound", "mixed"; "" for noop (nothing to judge)
  };
  std::vector<Kind> kinds;  // by kind name

  // Every worker the scheduler kept stats for (all that registered, but
  // for remote ones that left having done nothing); the JSON holds them
  // all, the terminal those that did something or left, capped (see
  // WorkerTable).
  struct Worker {
    std::string name;
    std::string host;
    uint64_t tasks = 0;       // records it produced
    double busy_ms = 0;       // time with at least one task leased
    double busy_percent = 0;  // of run_ms
    bool gone = false;
    std::string gone_reason;
  };
  std::vector<Worker> workers;  // by registration order

  uint64_t workers_replaced = 0;
  DropCounts drops;
  uint64_t late_results = 0;
  std::vector<std::string> write_failures;  // "PATH: cannot write: WHY"
  uint64_t unjournalled = 0;                // finished, but not durable: not counted above
  uint64_t bad_input_lines = 0;             // a stream's lines skipped as bad
  uint64_t peak_rss_kb = 0;                 // the coordinator's
  bool interrupted = false;

  // The terminal shows the wait only past this: a local run's workers take
  // a few tens of milliseconds to start, which is not worth a line.
  static constexpr double kNoticeableWaitMs = 500;
  // kind, tasks, p50/p90/p99/max ms (one decimal), cpu/wall, verdict ("-"
  // for noop).
  [[nodiscard]] TextTable KindTable() const;
  // worker, host, tasks, busy s, busy%, and "gone: WHY". At most
  // kMaxWorkerRows workers: past that, the kBusiestAndIdlest busiest and
  // idlest (a "..." row between them) and a note saying how many more.
  // Cells are clipped so a line fits 100 columns. Empty when no worker did
  // anything.
  [[nodiscard]] TextTable WorkerTable() const;
  // host, workers, tasks, busy% (of the host's workers' time): only when
  // WorkerTable leaves workers out and they ran on more than one host;
  // else empty. At most kMaxWorkerRows hosts, the busiest.
  [[nodiscard]] TextTable HostTable() const;
  // The terminal summary, from "\n== Summary ==" to "Completed ...".
  [[nodiscard]] std::string Text() const;
  // The --json of a run: every number Text shows, under snake_case names
  // (docs/PROTOCOL.md, "Run summary"), and `command`, the argv.
  [[nodiscard]] std::string Json(const std::vector<std::string>& command) const;
};

// Collects the finished records of a run as they come.
class RunStats {
 public:
  void Add(std::string_view kind, const pb::Result& r);
  void AddResumed(bool ok) {
    ++resumed_;
    ok ? ++ok_ : ++failed_;
  }

  uint64_t ok() const { return ok_; }
  uint64_t failed() const { return failed_; }  // cancelled included
  uint64_t cancelled() const { return cancelled_; }
  uint64_t done() const { return ok_ + failed_; }

  // What the coordinator knows beside the records.
  struct Extras {
    double wait_ms = 0;  // start to the first dispatch
    double run_ms = 0;   // first dispatch to the end
    DropCounts drops = {};
    uint64_t late_results = 0;
    uint64_t workers_replaced = 0;
    bool interrupted = false;
    uint64_t peak_rss_kb = 0;
    uint64_t unjournalled = 0;                     // finished, but not durable: not counted above
    uint64_t bad_input_lines = 0;                  // a stream's lines skipped as bad
    std::vector<std::string> write_failures = {};  // "PATH: cannot write: WHY"
    double rate_limit_per_s = 0;                   // --rate; 0: none
    uint64_t starts = 0;                           // leases handed out, retries included
    double starts_span_ms = 0;                     // from the first to the last
    uint32_t per_host_limit = 0;                   // --per-host; 0: none
    uint32_t host_peak_in_flight = 0;
    uint64_t hosts = 0;
    std::string shard = "";    // --shard K/N; "": the whole input
    uint64_t input_tasks = 0;  // with a shard: the whole input's tasks
  };
  [[nodiscard]] RunSummary Summary(const std::map<WorkerId, WorkerStats>& workers, const Extras& extras);

 private:
  struct KindStats {
    std::vector<float> latency_ms;
    double cpu_ms = 0;   // user + sys, summed
    double wait_ms = 0;  // run-queue wait, summed
    double wall_ms = 0;  // durations, summed
    uint64_t count = 0;
  };
  uint64_t ok_ = 0, failed_ = 0, cancelled_ = 0, resumed_ = 0;
  std::map<std::string, KindStats, std::less<>> kinds_;
};

}  // namespace taskfarm
