// The live page at `--metrics ADDR`'s `/`: one self-contained HTML page (no
// external script, font or fetch: it works on a machine without internet,
// like the report) that reads `/state.json` from the same address every
// second and redraws the run's progress, rates over the last minute, the
// per-kind latency table, the workers by host and the last failures; at
// the run's end it shows the final summary and links `/report` if one was
// written, and stops asking.
#pragma once

#include <string>
#include <string_view>

#include "coordinator/metrics.h"

namespace taskfarm {

// The page itself (the same bytes every time).
[[nodiscard]] std::string_view LivePageHtml();

// What the page draws, as JSON, from one snapshot. Latency percentiles are
// estimated from the histogram's buckets, as Prometheus' histogram_quantile
// does (linear within a bucket), within the smallest and largest values seen.
[[nodiscard]] std::string RenderStateJson(const MetricsSnapshot& s);

// The q-quantile (0..1) of a duration histogram, in seconds; 0 if empty.
[[nodiscard]] double HistogramQuantile(const Histogram<kTaskDurationBuckets.size()>& h, double q);

}  // namespace taskfarm
