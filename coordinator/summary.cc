// Summary printing.
#include "coordinator/summary.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "common/stats.h"
#include "coordinator/verdict.h"

namespace taskfarm {

void RunStats::Add(std::string_view kind, const pb::Result& r) {
  if (r.ok()) {
    ++ok_;
  } else {
    ++failed_;
    if (r.error_code() == "cancelled") ++cancelled_;
  }
  if (r.error_code() == "cancelled") return;  // never ran: no latency
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) it = kinds_.emplace(std::string(kind), KindStats{}).first;
  KindStats& k = it->second;
  k.latency_ms.push_back(static_cast<float>(r.duration_ms()));
  k.cpu_ms += r.cpu_user_ms() + r.cpu_sys_ms();
  k.wait_ms += r.cpu_wait_ms();
  k.wall_ms += r.duration_ms();
  ++k.count;
  if (r.has_start_ms()) {
    k.first_start_ms = std::min(k.first_start_ms, r.start_ms());
    k.last_end_ms = std::max(k.last_end_ms, r.start_ms() + r.duration_ms());
  }
}

void RunStats::Print(std::FILE* out, const std::map<WorkerId, WorkerStats>& workers, Extras x) {
  uint64_t total = ok_ + failed_;
  double secs = x.wall_ms / 1000.0;
  std::fprintf(out, "\n== Summary ==\n");
  std::fprintf(out, "tasks: %llu ok, %llu failed", static_cast<unsigned long long>(ok_),
               static_cast<unsigned long long>(failed_ - cancelled_));
  if (cancelled_) std::fprintf(out, ", %llu cancelled", static_cast<unsigned long long>(cancelled_));
  if (resumed_) std::fprintf(out, " (%llu from the journal)", static_cast<unsigned long long>(resumed_));
  std::fprintf(out, "\nwall time: %.2f s, throughput: %.1f tasks/s\n", secs,
               secs > 0 ? static_cast<double>(total - resumed_ - cancelled_) / secs : 0.0);
  if (!kinds_.empty()) {
    std::fprintf(out, "\n%-6s %9s %10s %10s %10s %10s %9s  %s\n", "kind", "tasks", "p50 ms", "p90 ms", "p99 ms",
                 "max ms", "cpu/wall", "verdict");
    for (auto& [kind, k] : kinds_) {
      LatencySummary s = Summarize(k.latency_ms);
      Boundness b = Judge(k.cpu_ms, k.wall_ms, k.wait_ms);
      std::fprintf(out, "%-6s %9llu %10.1f %10.1f %10.1f %10.1f %8.0f%%  %s\n", kind.c_str(),
                   static_cast<unsigned long long>(k.count), s.p50, s.p90, s.p99, s.max,
                   k.wall_ms > 0 ? 100.0 * k.cpu_ms / k.wall_ms : 0.0, kind == "noop" ? "-" : b.verdict.c_str());
    }
  }
  bool any = false;
  for (auto& [id, w] : workers) any |= w.tasks > 0 || w.gone;
  if (any) {
    std::fprintf(out, "\n%-12s %-16s %9s %10s %7s  %s\n", "worker", "host", "tasks", "busy s", "busy%", "");
    for (auto& [id, w] : workers) {
      if (w.tasks == 0 && !w.gone) continue;
      std::fprintf(out, "%-12s %-16s %9llu %10.2f %6.0f%%  %s\n", w.name.c_str(), w.host.c_str(),
                   static_cast<unsigned long long>(w.tasks), w.busy_ms / 1000.0,
                   x.wall_ms > 0 ? 100.0 * w.busy_ms / x.wall_ms : 0.0,
                   w.gone ? ("gone: " + w.gone_reason).c_str() : "");
    }
  }
  if (x.workers_replaced) {
    std::fprintf(out, "\nworkers replaced: %llu\n", static_cast<unsigned long long>(x.workers_replaced));
  }
  if (x.drops.Total() || x.late_results) {
    std::fprintf(out, "\ndropped messages: %s; late results discarded: %llu\n", x.drops.Describe().c_str(),
                 static_cast<unsigned long long>(x.late_results));
  }
  if (!x.write_failures.empty()) {
    std::fprintf(out, "\n");
    for (const std::string& f : x.write_failures) std::fprintf(out, "not written: %s\n", f.c_str());
  }
  if (x.unjournalled) {
    std::fprintf(out, "%llu finished task(s) could not be journalled: --resume will run them again\n",
                 static_cast<unsigned long long>(x.unjournalled));
  }
  if (x.bad_input_lines) {
    std::fprintf(out, "input: %llu bad line(s) skipped\n", static_cast<unsigned long long>(x.bad_input_lines));
  }
  if (x.peak_rss_kb) std::fprintf(out, "\ncoordinator peak RSS: %.1f MB\n", x.peak_rss_kb / 1024.0);
  if (x.interrupted) std::fprintf(out, "Interrupted.\n");
  std::fprintf(out, "Completed %llu tasks in %.2f seconds\n", static_cast<unsigned long long>(total - cancelled_),
               secs);
  std::fflush(out);
}

}  // namespace taskfarm
