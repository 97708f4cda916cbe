// The report of a comparison or of a single run: one self-contained HTML page
// (inline CSS and SVG, nothing fetched, no script) and JSON with the same numbers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace taskfarm {

// One task as it ran, for the timeline and the histograms.
struct TaskSpan {
  uint32_t id = 0;
  std::string worker;
  std::string kind;        // url | cpu | sleep | noop | fault | ...
  double start_ms = 0;     // since the run started
  double duration_ms = 0;  // of the last attempt
  bool ok = true;
  uint32_t attempts = 1;
  std::string error;  // why it failed; appended to the bar's tooltip
};

struct RunTimeline {
  std::string title;
  double wall_ms = 0;
  std::vector<TaskSpan> spans;
};

// One mode of `coordinator compare` on one workload, over all its runs.
struct ModeRow {
  std::string workload;     // "I/O: 90 pages, 100 ms delay" ...
  std::string mode;         // sequential, session, threads-5, threads-100, async, processes, hybrid, oversubscribed
  std::string description;  // "1 worker, 1 at a time, new connection per URL"
  int workers = 1, concurrency = 1, threads = 1, processes = 1;
  double parallelism = 1;      // what the mode could overlap at best
  std::vector<double> wall_s;  // one per run
  double median_s = 0, min_s = 0, max_s = 0;
  double tasks_per_s = 0, speedup = 0, efficiency = 0;
  double cpu_s = 0, cpu_over_wall = 0;  // CPU time summed over tasks / wall
  std::string verdict;                  // "I/O-bound" | "CPU-bound" | "mixed"
  bool ok = true;                       // every task succeeded in every run
};

struct SweepPoint {
  int value = 0;
  double median_s = 0, speedup = 0, efficiency = 0, ideal = 0, amdahl = 0;
};

struct SweepResult {
  std::string workload;
  std::string param;  // "workers" | "concurrency"
  std::vector<SweepPoint> points;
  double serial_fraction = 0;  // Amdahl's s, fitted
  std::string note;            // e.g. where adding more stops paying
};

// counts[i] holds durations in (bucket_upper_ms[i-1], bucket_upper_ms[i]]; the
// first bucket also holds everything below its bound, the last everything above.
struct LatencyHistogram {
  std::string kind;
  std::vector<double> bucket_upper_ms;
  std::vector<uint64_t> counts;
  // Exact figures from the durations; left 0 when only buckets are known.
  uint64_t total = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

struct ReportData {
  std::string title;
  std::string generated_at;
  std::string machine;
  std::string command;
  std::vector<ModeRow> rows;
  std::vector<std::string> conclusions;  // one paragraph each
  std::vector<SweepResult> sweeps;
  std::vector<RunTimeline> timelines;
  std::vector<LatencyHistogram> histograms;
};

// One histogram per kind (sorted by kind) over log-spaced buckets sized to the
// kind's range, about 16 of them, so narrow and wide spreads both show a shape.
std::vector<LatencyHistogram> BuildHistograms(const std::vector<TaskSpan>& spans);

// One self-contained HTML document; sections without data are left out.
std::string RenderHtmlReport(const ReportData& data);

// The same numbers as JSON (an object; field names as in the structs above).
std::string RenderReportJson(const ReportData& data);

// Text made safe for HTML element content and quoted attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace taskfarm
