// The CPU-bound / I/O-bound verdict.
#include "coordinator/verdict.h"

#include <algorithm>

namespace taskfarm {

Boundness Judge(double cpu_ms, double wall_ms, double avg_parallel, unsigned cores) {
  Boundness b;
  if (wall_ms <= 0) {
    b.verdict = "mixed";
    return b;
  }
  // With 5 CPU-hungry tasks on 2 cores each gets 2/5 of a core: its wall
  // time stretches, yet it kept its share of a core busy the whole time.
  double core_share = std::min(1.0, static_cast<double>(std::max(1u, cores)) / std::max(1.0, avg_parallel));
  b.cpu_share = std::min(1.0, cpu_ms / (wall_ms * core_share));
  if (b.cpu_share >= 0.6) {
    b.verdict = "CPU-bound";
  } else if (b.cpu_share <= 0.25) {
    b.verdict = "I/O-bound";
  } else {
    b.verdict = "mixed";
  }
  return b;
}

}  // namespace taskfarm
