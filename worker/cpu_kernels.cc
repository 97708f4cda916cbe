// Trial-division prime counting.
#include "worker/cpu_kernels.h"

namespace taskfarm {

std::optional<uint64_t> CountPrimesBelow(uint64_t n, const std::atomic<bool>* cancel) {
  if (n <= 2) return 0;
  uint64_t count = 1;  // 2
  for (uint64_t candidate = 3; candidate < n; candidate += 2) {
    // Check the flag every 4096 candidates: cheap, and still prompt.
    if (cancel && (candidate & 0x1fff) == 1 && cancel->load(std::memory_order_relaxed)) {
      return std::nullopt;
    }
    bool prime = true;
    for (uint64_t d = 3; d * d <= candidate; d += 2) {
      if (candidate % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime;
  }
  return count;
}

}  // namespace taskfarm
