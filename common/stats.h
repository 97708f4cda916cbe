// Latency statistics for the summary: exact percentiles over kept samples.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace taskfarm {

struct LatencySummary {
  size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// Nearest-rank percentiles (p in [0,100]) of `samples` (reordered in place).
[[nodiscard]] LatencySummary Summarize(std::vector<float>& samples);

// Nearest-rank percentile (p in [0,100]) of sorted data: the smallest value
// with at least p% of the data at or below it; 0 for empty input. The one
// percentile of the project: the summary's float samples and the report's
// double durations (T defaults to float for a braced list).
template <typename T = float>
[[nodiscard]] double Percentile(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

// Median of a small set of numbers (copies); 0 for empty input.
[[nodiscard]] double Median(std::vector<double> values);

}  // namespace taskfarm
