// Latency statistics for the summary: exact percentiles over kept samples.
#pragma once

#include <cstddef>
#include <vector>

namespace taskfarm {

struct LatencySummary {
  size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// Nearest-rank percentiles (p in [0,100]) of `samples` (reordered in place).
[[nodiscard]] LatencySummary Summarize(std::vector<float>& samples);

// Nearest-rank percentile of sorted data; 0 for empty input.
[[nodiscard]] double Percentile(const std::vector<float>& sorted, double p);

// Median of a small set of numbers (copies); 0 for empty input.
[[nodiscard]] double Median(std::vector<double> values);

}  // namespace taskfarm
