// The report of a comparison or of a single run: one self-contained HTML page
// (inline CSS and SVG, nothing fetched, no script), and for a comparison JSON
// with the same numbers (a run's --json is its RunSummary, summary.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/report/text_table.h"

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
  // What the url records of all its runs say about connections (none of
  // these when url_records is 0). Medians; "opened" is new_connections > 0.
  uint64_t url_records = 0;
  double new_connections = 0;  // connections a run opened (the median run's)
  double connect_ms = 0;       // connect_ms of the records that opened one
  double tls_ms = 0;           // tls_ms (appconnect: TCP and TLS handshakes done) of those
  double wait_ms = 0;          // every record's first_byte_ms less its handshake: the request's wait
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

// Task durations of one kind, binned over their own range (min..max) with
// edges at round values: linear bins of 1, 2 or 5 x 10^k ms, about 20 of
// them, so 500 tasks within 1000-1004 ms get 0.2 ms bins; when the
// durations span more than a factor of 20, bins on a log scale at
// 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k (or 1-2-5, or powers of ten
// when that would make too many).
struct LatencyHistogram {
  std::string kind;
  std::string title;             // what the chart shows; "" for "<kind>: duration of each task"
  std::vector<double> edges_ms;  // counts.size() + 1, ascending
  // counts[i]: durations in [edges_ms[i], edges_ms[i + 1]); the last bin
  // also holds its upper edge. Every duration is in exactly one bin.
  std::vector<uint64_t> counts;
  bool log_scale = false;  // edges (and the chart's axis) by ratio, not by difference
  // Exact figures from the durations.
  uint64_t total = 0;
  double min_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

struct ReportData {
  std::string title;
  std::string generated_at;
  std::string machine;
  std::string command;  // the command line as typed, shell-quoted; "" leaves it out
  // Tables as the terminal prints them (the run's per-kind and per-worker
  // tables), shown as HTML tables: the title as caption, numbers right-aligned,
  // the note under the table.
  std::vector<TextTable> tables;
  std::vector<ModeRow> rows;
  std::vector<std::string> conclusions;  // one paragraph each
  std::vector<SweepResult> sweeps;
  std::vector<RunTimeline> timelines;
  std::vector<LatencyHistogram> histograms;
};

// One histogram per kind (sorted by kind), binned as LatencyHistogram says.
[[nodiscard]] std::vector<LatencyHistogram> BuildHistograms(const std::vector<TaskSpan>& spans);

// Tick values for an axis over [lo, hi], all inside it, at round values: on
// a linear axis multiples of a 1, 2 or 5 x 10^k step (about `target` of
// them); on a log axis (lo > 0) powers of ten, or 1, 2 and 5 x 10^k when
// the range holds fewer than three powers of ten.
[[nodiscard]] std::vector<double> AxisTicks(double lo, double hi, bool log_scale, int target = 6);

// The numbers of one mode as the terminal table and the page both show them,
// in the same units: seconds with two decimals, speedup as "4.93x",
// efficiency and CPU/wall in percent ("99%", "194%").
struct ModeCells {
  std::string median_s, range_s;  // "9.15", "9.14-9.16" ("" for one run)
  std::string tasks_per_s, speedup, efficiency, cpu_s, cpu_over_wall;
};
[[nodiscard]] ModeCells CellsOf(const ModeRow& row);

// A sweep's points as the terminal prints them and the page shows them.
[[nodiscard]] TextTable SweepTable(const SweepResult& sweep);

// One self-contained HTML document; sections without data are left out.
std::string RenderHtmlReport(const ReportData& data);

// The same numbers as JSON (an object; field names as in the structs above).
std::string RenderReportJson(const ReportData& data);

// Text made safe for HTML element content and quoted attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace taskfarm
