// The CPU-bound / I/O-bound verdict.
#include "coordinator/verdict.h"

#include <algorithm>

namespace taskfarm {

Boundness Judge(double cpu_ms, double wall_ms, double wait_ms) {
  Boundness b;
  double wanted = wall_ms - std::clamp(wait_ms, 0.0, wall_ms);
  if (wall_ms <= 0) {
    b.verdict = "mixed";
    return b;
  }
  b.cpu_share = wanted > 0 ? std::min(1.0, cpu_ms / wanted) : 1.0;
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
