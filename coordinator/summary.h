// The end-of-run summary: counts, wall time, throughput, latency per kind,
// work per worker, dropped input; its last line is the tutorials' own
// "Completed N tasks in X.XX seconds".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/frame_codec.h"
#include "coordinator/scheduler.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

class RunStats {
 public:
  void Add(std::string_view kind, const pb::Result& r);
  void AddResumed(bool ok) {
    ++resumed_;
    ok ? ++ok_ : ++failed_;
  }

  uint64_t ok() const { return ok_; }
  uint64_t failed() const { return failed_; }
  uint64_t cancelled() const { return cancelled_; }
  uint64_t done() const { return ok_ + failed_; }

  struct KindStats {
    std::vector<float> latency_ms;
    double cpu_ms = 0;   // user + sys, summed
    double wait_ms = 0;  // run-queue wait, summed
    double wall_ms = 0;  // durations, summed
    uint64_t count = 0;
    double first_start_ms = 1e300, last_end_ms = 0;  // span of this kind's tasks
  };
  const std::map<std::string, KindStats, std::less<>>& kinds() const { return kinds_; }

  struct Extras {
    double wall_ms = 0;
    DropCounts drops;
    uint64_t late_results = 0;
    uint64_t workers_replaced = 0;
    bool interrupted = false;
    uint64_t peak_rss_kb = 0;
    uint64_t unjournalled = 0;                // finished, but not durable: not counted above
    std::vector<std::string> write_failures;  // "PATH: cannot write: WHY"
    uint64_t bad_input_lines = 0;             // a stream's lines skipped as bad
  };
  // Writes the summary to `out`.
  void Print(std::FILE* out, const std::map<WorkerId, WorkerStats>& workers, Extras extras);

 private:
  uint64_t ok_ = 0, failed_ = 0, cancelled_ = 0, resumed_ = 0;
  std::map<std::string, KindStats, std::less<>> kinds_;
};

}  // namespace taskfarm
