// The HTML report is self-contained, escapes what it shows, draws one bar per
// task and leaves out empty sections; the JSON carries every mode's numbers.
// With REPORT_SAMPLE_OUT=FILE.html, ReportSample.Write also writes the sample
// page (and FILE.html.spans, its bar count) for the headless-Chromium check.
#include "coordinator/report/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <regex>
#include <string>
#include <vector>

#include "common/file_writer.h"

namespace taskfarm {
namespace {

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

// Deterministic jitter, so the sample (and its screenshot) is the same every time.
struct Lcg {
  uint64_t state;
  double Next() {  // [0, 1)
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  }
};

ModeRow Mode(std::string workload, std::string mode, std::string description, int workers, int concurrency, int threads,
             double parallelism, std::vector<double> wall_s, int tasks, double cpu_s, std::string verdict) {
  ModeRow r;
  r.workload = std::move(workload);
  r.mode = std::move(mode);
  r.description = std::move(description);
  r.workers = workers;
  r.concurrency = concurrency;
  r.threads = threads;
  r.parallelism = parallelism;
  r.wall_s = wall_s;
  std::sort(wall_s.begin(), wall_s.end());
  r.median_s = wall_s[wall_s.size() / 2];
  r.min_s = wall_s.front();
  r.max_s = wall_s.back();
  r.tasks_per_s = tasks / r.median_s;
  r.cpu_s = cpu_s;
  r.cpu_over_wall = cpu_s / r.median_s;
  r.verdict = std::move(verdict);
  return r;
}

// The demo run: 90 page fetches and 20 prime counts pulled by 5 workers, one
// at a time each; two tasks retried after their worker died, one failed.
RunTimeline SampleTimeline() {
  RunTimeline run;
  run.title = "coordinator run --workers 5 (demo: 90 pages + 20 × primes)";
  Lcg rng{42};
  const int workers = 5;
  std::vector<double> free_at(workers, 0.0);
  std::vector<std::pair<std::string, double>> tasks;  // kind, nominal ms
  const double page_ms[] = {101.5, 103.0, 108.5};     // 11 kB, 108 kB, 608 kB
  for (int i = 0; i < 90; ++i) {
    tasks.push_back({"url", page_ms[i % 3]});
    if (i % 9 == 8) tasks.push_back({"cpu", 236});
  }
  for (int i = 0; i < 10; ++i) tasks.push_back({"cpu", 236});
  double cpu_busy_until[2] = {0, 0};  // two cores: CPU tasks beyond two run slower
  for (size_t id = 0; id < tasks.size(); ++id) {
    int w = static_cast<int>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
    TaskSpan s;
    s.id = static_cast<uint32_t>(id);
    s.worker = "w" + std::to_string(w + 1);
    s.kind = tasks[id].first;
    s.start_ms = free_at[w] + 0.4 + rng.Next() * 0.8;
    s.duration_ms = tasks[id].second * (1 + rng.Next() * 0.06);
    if (s.kind == "cpu") {
      // A third CPU task at once shares a core: it takes longer.
      bool cores_busy = cpu_busy_until[0] > s.start_ms && cpu_busy_until[1] > s.start_ms;
      if (cores_busy) s.duration_ms *= 1.6;
      double& core = cpu_busy_until[0] < cpu_busy_until[1] ? cpu_busy_until[0] : cpu_busy_until[1];
      core = s.start_ms + s.duration_ms;
    }
    if (id == 31 || id == 77) s.attempts = 2;  // first attempt's worker was killed
    if (id == 57) {
      s.ok = false;
      s.attempts = 3;
      s.error = "HTTP 503 from 127.0.0.1 after 3 attempts";
      s.duration_ms = 102.0;  // the server answered 503 after its delay
    }
    free_at[w] = s.start_ms + s.duration_ms;
    run.spans.push_back(s);
  }
  run.wall_ms = *std::max_element(free_at.begin(), free_at.end()) + 3.0;
  return run;
}

SweepResult SampleSweep() {
  SweepResult sweep;
  sweep.workload = "CPU: 20 × primes below 2,000,000";
  sweep.param = "workers";
  const int values[] = {1, 2, 4, 8};
  const double median[] = {4.84, 2.60, 2.51, 2.55};
  // Least-squares fit of Amdahl's law S(n) = 1 / (s + (1 - s) / n), as compare does it.
  double best_s = 0, best_err = 1e300;
  for (int i = 0; i <= 1000; ++i) {
    double s = i / 1000.0, err = 0;
    for (int k = 0; k < 4; ++k) {
      double e = median[0] / median[k] - 1 / (s + (1 - s) / values[k]);
      err += e * e;
    }
    if (err < best_err) best_err = err, best_s = s;
  }
  sweep.serial_fraction = best_s;
  for (int k = 0; k < 4; ++k) {
    SweepPoint p;
    p.value = values[k];
    p.median_s = median[k];
    p.speedup = median[0] / median[k];
    p.efficiency = p.speedup / values[k];
    p.ideal = values[k];
    p.amdahl = 1 / (best_s + (1 - best_s) / values[k]);
    sweep.points.push_back(p);
  }
  sweep.note = "This machine has 2 cores: beyond 2 workers, adding more stops paying (4 workers: 1.93×, 8: 1.90×).";
  return sweep;
}

ReportData SampleReport() {
  ReportData d;
  d.title = "taskfarm compare: I/O-bound vs CPU-bound";
  d.generated_at = "2025-06-02 14:31:07 UTC";
  d.machine = "buildbox · 2 cores · Linux 6.1 x86_64";
  d.command = "coordinator compare --runs 3 --sweep workers=1,2,4,8 --report report.html";
  const std::string io = "I/O: 90 pages, 100 ms delay";
  const std::string cpu = "CPU: 20 × primes below 2,000,000";
  d.rows = {
      Mode(io, "sequential", "1 worker, 1 at a time, new connection per URL", 1, 1, 1, 1, {9.61, 9.55, 9.72}, 90, 0.094,
           "I/O-bound"),
      Mode(io, "session", "1 worker, 1 at a time, one reused connection", 1, 1, 1, 1, {9.38, 9.41, 9.35}, 90, 0.071,
           "I/O-bound"),
      Mode(io, "threads-5", "1 worker, 5 at a time", 1, 5, 5, 5, {1.98, 1.95, 2.04}, 90, 0.074, "I/O-bound"),
      Mode(io, "threads-100", "1 worker, 100 at a time", 1, 100, 100, 90, {0.168, 0.161, 0.183}, 90, 0.079,
           "I/O-bound"),
      Mode(io, "async", "1 worker, one event loop, up to 100 in flight", 1, 100, 1, 90, {0.152, 0.149, 0.171}, 90,
           0.066, "I/O-bound"),
      Mode(io, "processes", "5 workers, 1 at a time each", 5, 1, 1, 5, {2.01, 1.97, 2.06}, 90, 0.112, "I/O-bound"),
      Mode(io, "hybrid", "2 workers (every core), event loop each", 2, 100, 1, 90, {0.171, 0.165, 0.188}, 90, 0.081,
           "I/O-bound"),
      Mode(cpu, "sequential", "1 worker, 1 at a time", 1, 1, 1, 1, {4.84, 4.81, 4.90}, 20, 4.80, "CPU-bound"),
      Mode(cpu, "threads-5", "1 worker, 5 threads", 1, 5, 5, 5, {2.58, 2.55, 2.66}, 20, 4.95, "CPU-bound"),
      Mode(cpu, "threads-100", "1 worker, 100 threads", 1, 100, 100, 20, {2.62, 2.57, 2.71}, 20, 5.02, "CPU-bound"),
      Mode(cpu, "async", "1 worker, one event loop", 1, 100, 1, 1, {4.86, 4.83, 4.95}, 20, 4.82, "CPU-bound"),
      Mode(cpu, "processes", "5 workers, 1 at a time each", 5, 1, 1, 5, {2.61, 2.54, 2.70}, 20, 5.07, "CPU-bound"),
      Mode(cpu, "hybrid", "2 workers (every core), event loop each", 2, 100, 1, 2, {2.49, 2.47, 2.55}, 20, 4.88,
           "CPU-bound"),
  };
  for (ModeRow& r : d.rows) {
    const ModeRow& base = d.rows[r.workload == io ? 0 : 7];
    r.speedup = base.median_s / r.median_s;
    // Efficiency against what the machine could give: 2 cores cap a CPU workload.
    double could = r.workload == io ? r.parallelism : std::min(r.parallelism, 2.0);
    r.efficiency = r.speedup / could;
  }
  d.conclusions = {
      "I/O: 90 pages, 100 ms delay is I/O-bound (CPU/wall 0.01 sequentially): overlapping waits pays. One worker "
      "with up to 100 in flight (async) is 63× faster than sequential; 5 processes are only 4.8× faster, no "
      "better than 5 threads in one worker. Adding processes adds nothing that overlapping does not.",
      "CPU: 20 × primes below 2,000,000 is CPU-bound (CPU/wall 0.99 sequentially): only more cores help. hybrid "
      "(2 workers) is 1.94× faster than sequential, close to the 2 cores this machine has; one event loop (async) "
      "gains nothing, and 100 threads are no faster than 5.",
  };
  d.sweeps.push_back(SampleSweep());
  d.timelines.push_back(SampleTimeline());
  // As compare titles them: which workload, which mode, which run.
  d.timelines[0].title = "Tasks per worker: demo, mode processes (its last run): 5 workers, 1 at a time each";
  d.histograms = BuildHistograms(d.timelines[0].spans);
  for (LatencyHistogram& h : d.histograms) h.title = h.kind + " task durations: demo, mode processes (its last run)";
  return d;
}

TEST(ReportHtml, SelfContainedNoScriptNoExternalResource) {
  std::string html = RenderHtmlReport(SampleReport());
  ASSERT_FALSE(html.empty());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(Count(html, "<script"), 0u);
  EXPECT_EQ(Count(html, "@import"), 0u);
  EXPECT_EQ(Count(html, "<link"), 0u);
  EXPECT_EQ(Count(html, "<img"), 0u);
  EXPECT_EQ(Count(html, "<iframe"), 0u);
  // Every reference the page makes stays inside it: url(#id) only, and no
  // src= or href= at all.
  std::smatch m;
  std::regex url_ref(R"(url\(\s*['"]?([^)'"]*))");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), url_ref); it != std::sregex_iterator(); ++it) {
    EXPECT_EQ((*it)[1].str().rfind("#", 0), 0u) << "non-local url(): " << it->str();
  }
  EXPECT_EQ(Count(html, "src="), 0u);
  EXPECT_EQ(Count(html, "href="), 0u);
  EXPECT_EQ(Count(html, "http://"), 0u);
  EXPECT_EQ(Count(html, "https://"), 0u);
  EXPECT_EQ(Count(html, "xmlns"), 0u);  // inline SVG in HTML needs none
}

TEST(ReportHtml, UrlsInTextAreTextNotResources) {
  ReportData d = SampleReport();
  d.command = "coordinator compare --tasks http://127.0.0.1:8080/list";
  std::string html = RenderHtmlReport(d);
  EXPECT_NE(html.find("http://127.0.0.1:8080/list"), std::string::npos);
  EXPECT_EQ(Count(html, "src="), 0u);
  EXPECT_EQ(Count(html, "href="), 0u);
}

TEST(ReportHtml, EscapesEverythingItShows) {
  ReportData d = SampleReport();
  d.title = "title <i>'x'</i>";
  d.machine = "<machine>";
  d.command = "coordinator --tasks '<x>' && echo \"hi\"";
  d.rows[0].workload = "<b>&\"";
  d.rows[1].workload = "<b>&\"";
  d.rows[0].mode = "<mode>";
  d.rows[0].description = "<script>alert(1)</script>";
  d.rows[0].verdict = "I/O-<bound>";
  d.conclusions.push_back("a < b & c > d");
  d.sweeps[0].param = "<param>";
  d.sweeps[0].note = "<note>";
  d.timelines[0].title = "<run>";
  d.timelines[0].spans[0].worker = "<w&1>";
  d.timelines[0].spans[0].kind = "<kind>";
  d.timelines[0].spans[57].error = "bad \"<reply>\" & more";
  d.histograms = BuildHistograms(d.timelines[0].spans);
  std::string html = RenderHtmlReport(d);

  EXPECT_NE(html.find("&lt;b&gt;&amp;&quot;"), std::string::npos);
  EXPECT_EQ(html.find("<b>&\""), std::string::npos);
  EXPECT_EQ(Count(html, "<script"), 0u);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  for (const char* raw :
       {"<i>", "<machine>", "<x>", "<mode>", "<param>", "<note>", "<run>", "<w&1>", "<kind>", "<reply>", "<bound>"}) {
    EXPECT_EQ(html.find(raw), std::string::npos) << raw;
  }
  EXPECT_NE(html.find("&lt;w&amp;1&gt;"), std::string::npos);
  EXPECT_NE(html.find("a &lt; b &amp; c &gt; d"), std::string::npos);
  EXPECT_NE(html.find("&#39;&lt;x&gt;&#39; &amp;&amp; echo &quot;hi&quot;"), std::string::npos);
  EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape(std::string("a\x01z\x7f", 4)), "a z\x7f");
}

TEST(ReportHtml, OneTaskBarPerSpan) {
  ReportData d = SampleReport();
  RunTimeline second;
  second.title = "async: 1 worker, 100 in flight";
  for (uint32_t i = 0; i < 90; ++i) {
    second.spans.push_back({i, "w1", "url", i * 0.3, 101.0 + i % 7, true, 1, ""});
  }
  second.spans[89].worker = "w01";  // a different worker from "w1", however numbers compare
  second.wall_ms = 140;
  d.timelines.push_back(second);
  size_t spans = d.timelines[0].spans.size() + second.spans.size();
  ASSERT_EQ(d.timelines[0].spans.size(), 110u);
  std::string html = RenderHtmlReport(d);
  EXPECT_EQ(Count(html, "class=\"task-bar\""), spans);
  EXPECT_EQ(Count(html, "<title>task "), spans);
  EXPECT_NE(html.find("<title>task 31 url "), std::string::npos);
  EXPECT_NE(html.find(">w01</text>"), std::string::npos);
  EXPECT_NE(html.find(">w1</text>"), std::string::npos);
  // The tooltip reads "task 57 url 102 ms attempt 3 FAILED: ...".
  EXPECT_NE(html.find("<title>task 57 url 102 ms attempt 3 FAILED: HTTP 503"), std::string::npos);
  // Retried and failed bars sit in their own groups, which CSS marks.
  EXPECT_NE(html.find(" s-retry\">"), std::string::npos);
  EXPECT_NE(html.find(" s-fail\">"), std::string::npos);
}

TEST(ReportHtml, LargeRunStaysLean) {
  ReportData d;
  d.title = "big run";
  RunTimeline run;
  run.title = "20000 tasks";
  // 12 workers: as many lanes as are drawn whole (more draw the busiest and idlest few).
  for (uint32_t i = 0; i < 20000; ++i) {
    run.spans.push_back({i, "w" + std::to_string(i % 12), i % 3 ? "url" : "cpu", (i / 12) * 1.5, 1.2 + (i % 11),
                         i % 997 != 0, i % 1499 == 0 ? 2u : 1u, ""});
  }
  run.wall_ms = 20000 / 12 * 1.5 + 12;
  d.timelines.push_back(run);
  d.histograms = BuildHistograms(run.spans);
  auto t0 = std::chrono::steady_clock::now();
  std::string html = RenderHtmlReport(d);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(Count(html, "class=\"task-bar\""), 20000u);
  EXPECT_LT(html.size(), 20000u * 140) << "bytes per span: " << html.size() / 20000.0;
  EXPECT_LT(ms, 2000);
}

// A thousand workers are not a thousand lanes: the busiest and the idlest
// few are drawn (the summary's worker table's rule), and the page says so.
TEST(ReportHtml, AThousandWorkersDrawTheBusiestAndIdlestFewLanes) {
  ReportData d;
  RunTimeline run;
  run.title = "1000 workers";
  // Worker wN runs N tasks of 1 ms: w1000 is the busiest, w1 the idlest.
  uint32_t id = 0;
  for (int w = 1; w <= 1000; ++w) {
    for (int i = 0; i < w; ++i) run.spans.push_back({id++, "w" + std::to_string(w), "noop", i * 1.0, 1.0, true, 1, ""});
  }
  run.wall_ms = 1001;
  d.timelines.push_back(run);
  std::string html = RenderHtmlReport(d);
  EXPECT_NE(html.find("1000 workers · wall"), std::string::npos);  // the stats count them all
  for (const char* shown : {">w1000</text>", ">w996</text>", ">w5</text>", ">w1</text>"}) {
    EXPECT_NE(html.find(shown), std::string::npos) << shown;
  }
  EXPECT_EQ(html.find(">w995</text>"), std::string::npos);
  EXPECT_EQ(html.find(">w6</text>"), std::string::npos);
  EXPECT_EQ(Count(html, "<rect class=\"lane"), 10u);
  EXPECT_NE(html.find("The 5 busiest and the 5 idlest of 1000 workers"), std::string::npos);
  EXPECT_NE(html.find("the other 990 are not drawn"), std::string::npos);
  // Twelve workers are still twelve lanes.
  d.timelines[0].spans.resize(78);  // w1..w12
  html = RenderHtmlReport(d);
  EXPECT_EQ(Count(html, "<rect class=\"lane"), 12u);
  EXPECT_EQ(html.find("not drawn"), std::string::npos);
}

TEST(ReportHtml, SectionsFollowTheData) {
  ReportData full = SampleReport();
  std::string html = RenderHtmlReport(full);
  for (const char* id : {"comparison", "conclusions", "wall-chart", "sweep", "timeline", "latency"}) {
    EXPECT_NE(html.find(std::string("<section id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_EQ(Count(html, "<svg class=\"bars\""), 2u);  // one bar chart per workload
  EXPECT_EQ(Count(html, "<tbody class=\"grp\""), 2u);
  EXPECT_EQ(Count(html, "<svg class=\"sweep-chart\""), 1u);
  EXPECT_EQ(Count(html, "<svg class=\"histogram\""), 2u);  // cpu, url
  EXPECT_EQ(Count(html, "<svg class=\"timeline-chart\""), 1u);
  EXPECT_NE(html.find("Amdahl fit, serial"), std::string::npos);

  // What `coordinator run --report` has: a timeline and histograms only.
  ReportData run;
  run.title = "run";
  run.timelines = full.timelines;
  run.histograms = full.histograms;
  html = RenderHtmlReport(run);
  for (const char* id : {"comparison", "conclusions", "wall-chart", "sweep"}) {
    EXPECT_EQ(html.find(std::string("<section id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(html.find("<section id=\"timeline\""), std::string::npos);
  EXPECT_NE(html.find("<section id=\"latency\""), std::string::npos);

  // Nothing at all: still a valid page with a header.
  html = RenderHtmlReport(ReportData{});
  EXPECT_NE(html.find("<h1>taskfarm report</h1>"), std::string::npos);
  EXPECT_EQ(Count(html, "<section"), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(ReportHtml, FailedRowsAreMarked) {
  ReportData d = SampleReport();
  d.rows[2].ok = false;
  std::string html = RenderHtmlReport(d);
  EXPECT_EQ(Count(html, "<tr class=\"failed"), 1u);
  EXPECT_EQ(Count(html, "<span class=\"badge\">failed</span>"), 1u);
  EXPECT_EQ(Count(html, "class=\"bar fail\""), 1u);
}

TEST(ReportHtml, NonFiniteNumbersDoNotBreakTheSvg) {
  ReportData d = SampleReport();
  d.rows[0].median_s = 0;
  d.rows[1].speedup = std::numeric_limits<double>::infinity();
  d.rows[2].efficiency = std::nan("");
  d.sweeps[0].points[1].speedup = std::numeric_limits<double>::infinity();
  d.timelines[0].spans[3].duration_ms = std::nan("");
  std::string html = RenderHtmlReport(d);
  std::regex non_finite(R"(\b(nan|inf)\b)", std::regex::icase);
  EXPECT_FALSE(std::regex_search(html, non_finite));
  EXPECT_EQ(Count(html, "class=\"task-bar\""), d.timelines[0].spans.size());
}

// Whether v is m x 10^k for one of the mantissas (within rounding).
bool IsRound(double v, std::initializer_list<double> mantissas) {
  if (v == 0) return true;
  double k = std::floor(std::log10(std::fabs(v)) + 1e-12);
  double m = std::fabs(v) / std::pow(10.0, k);
  for (double want : mantissas) {
    if (std::fabs(m - want) < 1e-9 * want) return true;
  }
  return false;
}

// The bin each value falls in, recounted from the edges alone.
std::vector<uint64_t> Recount(const LatencyHistogram& h, const std::vector<double>& values) {
  std::vector<uint64_t> counts(h.counts.size(), 0);
  for (double v : values) {
    size_t hits = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      bool last = i + 1 == counts.size();
      if (v >= h.edges_ms[i] && (v < h.edges_ms[i + 1] || (last && v <= h.edges_ms[i + 1]))) {
        ++counts[i];
        ++hits;
      }
    }
    EXPECT_EQ(hits, 1u) << "value " << v << " is in " << hits << " bins";
  }
  return counts;
}

TEST(Histograms, FiveHundredSleepsOfAboutOneSecondGetBinsNarrowerThanOneMs) {
  std::vector<TaskSpan> spans;
  std::vector<double> values;
  Lcg rng{7};
  for (uint32_t i = 0; i < 500; ++i) {
    double v = i == 0 ? 1000.0 : i == 1 ? 1004.0 : 1000.0 + 4 * rng.Next();
    values.push_back(v);
    spans.push_back({i, "w1", "sleep", 0, v, true, 1, ""});
  }
  auto hs = BuildHistograms(spans);
  ASSERT_EQ(hs.size(), 1u);
  const LatencyHistogram& h = hs[0];
  EXPECT_FALSE(h.log_scale);
  ASSERT_EQ(h.edges_ms.size(), h.counts.size() + 1);
  // From the data's own range, not from zero: the bins start at 1000 and end at 1004.
  EXPECT_NEAR(h.edges_ms.front(), 1000.0, 1e-9);
  EXPECT_NEAR(h.edges_ms.back(), 1004.0, 1e-9);
  EXPECT_GE(h.counts.size(), 8u);
  EXPECT_LE(h.counts.size(), 25u);
  double width = h.edges_ms[1] - h.edges_ms[0];
  EXPECT_TRUE(IsRound(width, {1, 2, 5})) << width;
  for (size_t i = 0; i + 1 < h.edges_ms.size(); ++i) {
    EXPECT_LT(h.edges_ms[i + 1] - h.edges_ms[i], 1.0) << "bin " << i;
    EXPECT_NEAR(h.edges_ms[i + 1] - h.edges_ms[i], width, 1e-9) << "bin " << i;
    // Every edge a multiple of the width: 1000.2, 1000.4, ...
    double k = h.edges_ms[i] / width;
    EXPECT_NEAR(k, std::round(k), 1e-6) << h.edges_ms[i];
  }
  // Every value counted once, in the bin its edges say.
  EXPECT_EQ(Recount(h, values), h.counts);
  EXPECT_EQ(h.total, 500u);
  EXPECT_EQ(std::accumulate(h.counts.begin(), h.counts.end(), uint64_t{0}), 500u);
  EXPECT_DOUBLE_EQ(h.min_ms, 1000.0);
  EXPECT_DOUBLE_EQ(h.max_ms, 1004.0);
}

TEST(Histograms, WideSpreadsGetALogScaleWithRoundEdges) {
  std::vector<TaskSpan> spans;
  std::vector<double> cpu, url;
  for (uint32_t i = 0; i < 100; ++i) {
    url.push_back(100.0 + i * 0.1);
    spans.push_back({i, "w1", "url", 0, url.back(), true, 1, ""});
  }
  for (uint32_t i = 0; i < 50; ++i) {
    cpu.push_back(5.0 * std::pow(1.1, i));
    spans.push_back({i, "w1", "cpu", 0, cpu.back(), true, 1, ""});
  }
  spans.push_back({999, "w1", "noop", 0, 0.0, true, 1, ""});
  auto hs = BuildHistograms(spans);
  ASSERT_EQ(hs.size(), 3u);
  EXPECT_EQ(hs[0].kind, "cpu");
  EXPECT_EQ(hs[1].kind, "noop");
  EXPECT_EQ(hs[2].kind, "url");
  for (const LatencyHistogram& h : hs) {
    ASSERT_EQ(h.edges_ms.size(), h.counts.size() + 1) << h.kind;
    EXPECT_TRUE(std::is_sorted(h.edges_ms.begin(), h.edges_ms.end())) << h.kind;
    EXPECT_EQ(std::accumulate(h.counts.begin(), h.counts.end(), uint64_t{0}), h.total) << h.kind;
    EXPECT_LE(h.edges_ms.front(), h.min_ms) << h.kind;
    EXPECT_GE(h.edges_ms.back(), h.max_ms) << h.kind;
  }
  // cpu: 5 ms .. 5 x 1.1^49 (533 ms), two decades: log bins at round edges.
  const LatencyHistogram& c = hs[0];
  EXPECT_TRUE(c.log_scale);
  EXPECT_GE(c.counts.size(), 12u);
  EXPECT_LE(c.counts.size(), 32u);
  for (double e : c.edges_ms) EXPECT_TRUE(IsRound(e, {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8})) << e;
  EXPECT_DOUBLE_EQ(c.edges_ms.front(), 5.0);
  EXPECT_DOUBLE_EQ(c.edges_ms.back(), 600.0);
  EXPECT_EQ(Recount(c, cpu), c.counts);
  // url: 100 .. 109.9 ms, narrow: linear bins of 0.5 ms.
  const LatencyHistogram& u = hs[2];
  EXPECT_FALSE(u.log_scale);
  EXPECT_NEAR(u.edges_ms[1] - u.edges_ms[0], 0.5, 1e-9);
  EXPECT_EQ(Recount(u, url), u.counts);
  EXPECT_NEAR(u.p50_ms, 104.9, 1e-9);
  EXPECT_NEAR(u.max_ms, 109.9, 1e-9);
  // noop: one value, one narrow bin among empty ones, none below zero.
  const LatencyHistogram& n = hs[1];
  EXPECT_EQ(n.total, 1u);
  EXPECT_GE(n.edges_ms.front(), 0.0);
  EXPECT_GE(n.counts.size(), 3u);
  EXPECT_EQ(std::count(n.counts.begin(), n.counts.end(), 0u), static_cast<long>(n.counts.size()) - 1);
}

TEST(AxisTicks, LogTicksArePowersOfTenOrOneTwoFive) {
  // Two decades: too few powers of ten, so 1-2-5.
  EXPECT_EQ(AxisTicks(5, 600, true), (std::vector<double>{5, 10, 20, 50, 100, 200, 500}));
  // Five decades: powers of ten alone.
  EXPECT_EQ(AxisTicks(1, 1e5, true), (std::vector<double>{1, 10, 100, 1000, 10000, 100000}));
  EXPECT_EQ(AxisTicks(0.01, 50, true), (std::vector<double>{0.01, 0.1, 1, 10}));
  // Under one decade (what once gave 8.19, 11.1, 14.9): round numbers on a linear step.
  std::vector<double> narrow = AxisTicks(8.19, 14.9, true);
  ASSERT_GE(narrow.size(), 2u);
  for (double t : narrow) {
    EXPECT_GE(t, 8.19);
    EXPECT_LE(t, 14.9);
    EXPECT_DOUBLE_EQ(t, std::round(t)) << t;
  }
  for (auto [lo, hi] : {std::pair{0.3, 7000.0}, {2.0, 45.0}, {0.004, 0.9}, {13.0, 1.3e7}}) {
    std::vector<double> ticks = AxisTicks(lo, hi, true);
    EXPECT_GE(ticks.size(), 2u) << lo << ".." << hi;
    EXPECT_LE(ticks.size(), 12u) << lo << ".." << hi;
    for (double t : ticks) {
      EXPECT_TRUE(IsRound(t, {1, 2, 5})) << t << " in " << lo << ".." << hi;
      EXPECT_GE(t, lo * (1 - 1e-9));
      EXPECT_LE(t, hi * (1 + 1e-9));
    }
  }
  // Linear: multiples of a 1-2-5 step.
  EXPECT_EQ(AxisTicks(1000, 1004, false), (std::vector<double>{1000, 1001, 1002, 1003, 1004}));
  EXPECT_EQ(AxisTicks(0, 10, false, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
}

TEST(ReportHtml, HistogramAxesShowRoundTicksAndUnits) {
  ReportData d;
  std::vector<TaskSpan> spans;
  for (uint32_t i = 0; i < 50; ++i) spans.push_back({i, "w1", "cpu", 0, 5.0 * std::pow(1.1, i), true, 1, ""});
  for (uint32_t i = 0; i < 500; ++i) spans.push_back({i, "w1", "sleep", 0, 1000 + (i % 41) * 0.1, true, 1, ""});
  d.histograms = BuildHistograms(spans);
  std::string html = RenderHtmlReport(d);
  std::regex tick(R"re(<text class="xtick"[^>]*>([^<]*)</text>)re");
  size_t ticks = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), tick); it != std::sregex_iterator(); ++it) {
    double v = std::stod((*it)[1].str());
    EXPECT_TRUE(IsRound(v, {1, 2, 5}) || v == std::round(v)) << (*it)[1].str();
    ++ticks;
  }
  EXPECT_GE(ticks, 6u);
  EXPECT_NE(html.find(">task duration (ms, log scale)</text>"), std::string::npos);
  EXPECT_NE(html.find(">task duration (ms)</text>"), std::string::npos);
  EXPECT_EQ(Count(html, "data-axis=\"y\" text-anchor=\"middle\" transform=\"translate(12.0 97.0) rotate(-90)\">tasks<"),
            2u);
  EXPECT_NE(html.find("<h3>sleep: duration of each task</h3>"), std::string::npos);  // no title given
  // Every bar carries its edges; the sleep bins are 0.2 ms.
  EXPECT_NE(html.find("data-lo-ms=\"1000.2\" data-hi-ms=\"1000.4\""), std::string::npos);
}

TEST(ReportHtml, EveryChartHasATitleAndBothAxesLabelled) {
  std::string html = RenderHtmlReport(SampleReport());
  size_t charts = 0;
  for (const char* cls : {"bars", "sweep-chart", "timeline-chart", "histogram"}) {
    std::string open = std::string("<svg class=\"") + cls + "\"";
    for (size_t pos = html.find(open); pos != std::string::npos; pos = html.find(open, pos + 1)) {
      std::string svg = html.substr(pos, html.find("</svg>", pos) - pos);
      EXPECT_EQ(Count(svg, "class=\"ttl axis-label\" data-axis=\"x\""), 1u) << cls;
      EXPECT_EQ(Count(svg, "class=\"ttl axis-label\" data-axis=\"y\""), 1u) << cls;
      // The chart's own heading comes right before it.
      size_t h3 = html.rfind("<h3>", pos);
      ASSERT_NE(h3, std::string::npos);
      EXPECT_GT(html.find("</h3>", h3) - h3, 8u) << cls;
      ++charts;
    }
  }
  EXPECT_EQ(charts, 2u + 1u + 1u + 2u);
  EXPECT_NE(html.find(">median wall time (s), whiskers: min-max of 3 runs</text>"), std::string::npos);
  EXPECT_NE(html.find(">time since start (s)</text>"), std::string::npos);
  EXPECT_NE(html.find(">worker</text>"), std::string::npos);
  EXPECT_NE(html.find(">mode</text>"), std::string::npos);
  EXPECT_NE(html.find(">speedup over workers=1 (x)</text>"), std::string::npos);
}

TEST(ReportHtml, HeaderShowsTheGivenCommandLine) {
  ReportData d = SampleReport();
  d.command = "/opt/taskfarm/bin/coordinator run --tasks 'my tasks.txt' --report run.html --json run.json";
  std::string html = RenderHtmlReport(d);
  EXPECT_NE(html.find("<dt>command</dt><dd><code>/opt/taskfarm/bin/coordinator run --tasks &#39;my tasks.txt&#39; "
                      "--report run.html --json run.json</code></dd>"),
            std::string::npos);
  d.command.clear();
  EXPECT_EQ(RenderHtmlReport(d).find("<dt>command</dt>"), std::string::npos);
}

TEST(ReportHtml, TablesShowTheTerminalCells) {
  ReportData d;
  TextTable kinds;
  kinds.title = "by kind";
  kinds.header = {"kind", "tasks", "p50 ms", "cpu/wall", "verdict"};
  kinds.numeric = {false, true, true, true, false};
  kinds.rows = {{"url", "90", "101.5", "1%", "I/O-bound"}, {"<cpu>", "20", "236.0", "194%", "CPU-bound"}};
  kinds.note = "noop tasks: no verdict\nsecond line";
  TextTable workers;
  workers.title = "by worker";
  workers.header = {"worker", "tasks"};
  workers.numeric = {false, true};
  workers.rows = {{"w1", "55"}, {"w2"}};  // a short row gets empty cells
  d.tables = {kinds, workers};
  std::string html = RenderHtmlReport(d);
  EXPECT_NE(html.find("<section id=\"tables\">"), std::string::npos);
  EXPECT_EQ(Count(html, "<table class=\"tt summary-table\">"), 2u);
  EXPECT_NE(html.find("<caption>by kind</caption>"), std::string::npos);
  EXPECT_NE(html.find("<caption>by worker</caption>"), std::string::npos);
  EXPECT_NE(html.find("<thead><tr><th>kind</th><th class=\"num\">tasks</th><th class=\"num\">p50 ms</th>"
                      "<th class=\"num\">cpu/wall</th><th>verdict</th></tr></thead>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><td>&lt;cpu&gt;</td><td class=\"num\">20</td><td class=\"num\">236.0</td>"
                      "<td class=\"num\">194%</td><td>CPU-bound</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><td>w2</td><td class=\"num\"></td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<p class=\"note tt-note\">noop tasks: no verdict\nsecond line</p>"), std::string::npos);
  // The note sits under its own table.
  EXPECT_LT(html.find("</table>"), html.find("noop tasks"));
  EXPECT_LT(html.find("noop tasks"), html.find("<caption>by worker</caption>"));
}

TEST(ReportHtml, CompareTableUsesTheTerminalUnits) {
  ReportData d = SampleReport();
  ModeRow& r = d.rows[7];  // CPU sequential: 4.80 CPU s over 4.84 s
  r.cpu_over_wall = 1.94;
  r.efficiency = 0.994;
  ModeCells c = CellsOf(r);
  EXPECT_EQ(c.cpu_over_wall, "194%");
  EXPECT_EQ(c.efficiency, "99%");
  EXPECT_EQ(c.speedup, "1.00x");
  EXPECT_EQ(c.median_s, "4.84");
  EXPECT_EQ(c.range_s, "4.81-4.90");
  std::string html = RenderHtmlReport(d);
  EXPECT_NE(html.find("<td class=\"num\">194%</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">99%</td>"), std::string::npos);
  EXPECT_EQ(html.find("<td class=\"num\">1.94</td>"), std::string::npos);
  // The sweep's table is the one the terminal prints.
  TextTable sweep = SweepTable(d.sweeps[0]);
  ASSERT_EQ(sweep.rows.size(), 4u);
  EXPECT_EQ(sweep.header, (std::vector<std::string>{"workers", "wall s", "speedup", "efficiency", "ideal", "Amdahl"}));
  EXPECT_EQ(sweep.rows[1][0], "2");
  EXPECT_EQ(sweep.rows[1][1], "2.60");
  EXPECT_EQ(sweep.rows[1][2], "1.86x");
  EXPECT_EQ(sweep.rows[1][3], "93%");
  EXPECT_NE(html.find("<td class=\"num\">1.86x</td><td class=\"num\">93%</td>"), std::string::npos);
}

TEST(ReportHtml, ThirtyTwoTasksAtOnceOnAWorkerStayLegible) {
  ReportData d;
  RunTimeline run;
  run.title = "2 workers x 32";
  uint32_t id = 0;
  for (const char* w : {"w1", "w2"}) {
    for (int i = 0; i < 32; ++i) run.spans.push_back({id++, w, "sleep", i * 0.5, 200.0 + i, true, 1, ""});
  }
  run.wall_ms = 240;
  d.timelines.push_back(run);
  std::string html = RenderHtmlReport(d);
  std::regex bar(R"re(class="task-bar" x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)")re");
  std::map<std::string, int> at_y;
  size_t bars = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), bar); it != std::sregex_iterator(); ++it) {
    EXPECT_GE(std::stod((*it)[2].str()), 6.0) << it->str();
    ++at_y[(*it)[1].str()];
    ++bars;
  }
  EXPECT_EQ(bars, 64u);
  EXPECT_EQ(at_y.size(), 64u);  // a row of its own for each task at once
  EXPECT_EQ(Count(html, ">32 at once</text>"), 2u);
  EXPECT_EQ(html.find("bars share"), std::string::npos);

  // 100 at once on one worker: 64 rows, shared in turn, and said so.
  d.timelines[0].spans.clear();
  for (uint32_t i = 0; i < 100; ++i) d.timelines[0].spans.push_back({i, "w1", "sleep", i * 0.1, 100, true, 1, ""});
  html = RenderHtmlReport(d);
  at_y.clear();
  bars = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), bar); it != std::sregex_iterator(); ++it) {
    EXPECT_GE(std::stod((*it)[2].str()), 6.0) << it->str();
    ++at_y[(*it)[1].str()];
    ++bars;
  }
  EXPECT_EQ(bars, 100u);
  EXPECT_EQ(at_y.size(), 64u);
  EXPECT_EQ(Count(html, ">100 at once</text>"), 1u);
  EXPECT_NE(html.find("bars share its 64 rows in turn"), std::string::npos);
}

// A url workload's rows carry what the records said about connections; a
// row with no url records carries none of those fields, rather than zeros.
TEST(ReportJson, CarriesConnectionFiguresOnlyForRowsWithUrlRecords) {
  ReportData d = SampleReport();
  ASSERT_GE(d.rows.size(), 2u);
  ModeRow& url = d.rows[0];
  url.url_records = 160;
  url.new_connections = 160;
  url.connect_ms = 0.2;
  url.tls_ms = 43.5;
  url.wait_ms = 21.25;
  d.rows[1].url_records = 0;
  nlohmann::json j = nlohmann::json::parse(RenderReportJson(d));
  const auto& o = j["rows"][0];
  EXPECT_EQ(o["url_records"], 160);
  EXPECT_DOUBLE_EQ(o["new_connections"].get<double>(), 160);
  EXPECT_DOUBLE_EQ(o["connect_ms"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(o["tls_ms"].get<double>(), 43.5);
  EXPECT_DOUBLE_EQ(o["wait_ms"].get<double>(), 21.25);
  for (const char* key : {"url_records", "new_connections", "connect_ms", "tls_ms", "wait_ms"}) {
    EXPECT_FALSE(j["rows"][1].contains(key)) << key;
  }
}

TEST(ReportJson, ParsesAndCarriesEveryMode) {
  ReportData d = SampleReport();
  d.rows[0].workload = "<b>&\"";
  d.timelines[0].spans[0].worker = std::string("w\xff", 2);  // not UTF-8: must not throw
  nlohmann::json j = nlohmann::json::parse(RenderReportJson(d));
  ASSERT_TRUE(j["rows"].is_array());
  ASSERT_EQ(j["rows"].size(), d.rows.size());
  for (size_t i = 0; i < d.rows.size(); ++i) {
    const ModeRow& r = d.rows[i];
    const auto& o = j["rows"][i];
    EXPECT_EQ(o["workload"], r.workload);
    EXPECT_EQ(o["mode"], r.mode);
    EXPECT_EQ(o["verdict"], r.verdict);
    EXPECT_EQ(o["ok"], r.ok);
    EXPECT_EQ(o["workers"], r.workers);
    EXPECT_EQ(o["concurrency"], r.concurrency);
    EXPECT_EQ(o["threads"], r.threads);
    EXPECT_EQ(o["wall_s"].size(), r.wall_s.size());
    for (const char* key : {"parallelism", "median_s", "min_s", "max_s", "tasks_per_s", "speedup", "efficiency",
                            "cpu_s", "cpu_over_wall"}) {
      ASSERT_TRUE(o.contains(key)) << key;
      EXPECT_TRUE(o[key].is_number()) << key;
    }
    EXPECT_DOUBLE_EQ(o["median_s"].get<double>(), r.median_s);
    EXPECT_DOUBLE_EQ(o["speedup"].get<double>(), r.speedup);
    EXPECT_DOUBLE_EQ(o["cpu_over_wall"].get<double>(), r.cpu_over_wall);
  }
  EXPECT_EQ(j["conclusions"].size(), d.conclusions.size());
  ASSERT_EQ(j["sweeps"].size(), 1u);
  EXPECT_EQ(j["sweeps"][0]["points"].size(), 4u);
  EXPECT_DOUBLE_EQ(j["sweeps"][0]["serial_fraction"].get<double>(), d.sweeps[0].serial_fraction);
  ASSERT_EQ(j["timelines"].size(), 1u);
  EXPECT_EQ(j["timelines"][0]["spans"].size(), d.timelines[0].spans.size());
  EXPECT_EQ(j["timelines"][0]["spans"][57]["ok"], false);
  EXPECT_EQ(j["timelines"][0]["spans"][57]["attempts"], 3);
  ASSERT_EQ(j["histograms"].size(), d.histograms.size());
  for (size_t i = 0; i < d.histograms.size(); ++i) {
    const auto& o = j["histograms"][i];
    EXPECT_EQ(o["kind"], d.histograms[i].kind);
    EXPECT_EQ(o["edges_ms"].size(), d.histograms[i].counts.size() + 1);
    EXPECT_EQ(o["counts"].size(), d.histograms[i].counts.size());
    EXPECT_EQ(o["log_scale"], d.histograms[i].log_scale);
  }
}

// Not a check: writes the sample page for tests/browser/run-check.sh and the
// screenshot in docs/. Does nothing unless REPORT_SAMPLE_OUT is set.
TEST(ReportSample, Write) {
  const char* path = std::getenv("REPORT_SAMPLE_OUT");
  if (!path || !*path) GTEST_SKIP() << "REPORT_SAMPLE_OUT not set";
  ReportData d = SampleReport();
  if (const char* large = std::getenv("REPORT_SAMPLE_SPANS")) {
    // A stress page: the sample's timeline repeated until it holds N spans.
    size_t want = std::strtoul(large, nullptr, 10);
    RunTimeline big = d.timelines[0];
    big.title = "stress: " + std::to_string(want) + " tasks, mode processes";
    big.spans.clear();
    for (size_t i = 0; i < want; ++i) {
      TaskSpan s = d.timelines[0].spans[i % d.timelines[0].spans.size()];
      s.id = static_cast<uint32_t>(i);
      s.start_ms += (i / d.timelines[0].spans.size()) * d.timelines[0].wall_ms;
      big.spans.push_back(s);
    }
    big.wall_ms = ((want + d.timelines[0].spans.size() - 1) / d.timelines[0].spans.size()) * d.timelines[0].wall_ms;
    d.timelines = {big};
    d.histograms = BuildHistograms(big.spans);
    for (LatencyHistogram& h : d.histograms) h.title = h.kind + " task durations: stress, mode processes";
  }
  // What a new user saw drawn as one bar: 500 sleeps of 1000-1004 ms. The
  // browser check measures its bins (tests/browser/check-report.js --narrow).
  std::vector<TaskSpan> sleeps;
  Lcg rng{1000};
  for (uint32_t i = 0; i < 500; ++i) sleeps.push_back({i, "w1", "sleep", 0, 1000 + 4 * rng.Next(), true, 1, ""});
  for (LatencyHistogram& h : BuildHistograms(sleeps)) {
    h.title = "sleep task durations: 500 x sleep 1000, mode async";
    d.histograms.push_back(std::move(h));
  }
  size_t spans = 0;
  for (const RunTimeline& t : d.timelines) spans += t.spans.size();
  // Checked writes (common/file_writer.h): a full disk fails here, naming
  // the file, not later as a page the browser check finds short.
  for (const auto& [file, contents] : {std::pair{std::string(path), RenderHtmlReport(d)},
                                       {std::string(path) + ".spans", std::to_string(spans) + "\n"},
                                       {std::string(path) + ".json", RenderReportJson(d)}}) {
    Status written = WriteWholeFile(file, contents);
    ASSERT_TRUE(written.ok()) << written.message();
  }
}

}  // namespace
}  // namespace taskfarm
