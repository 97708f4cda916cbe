// The HTML report is self-contained, escapes what it shows, draws one bar per
// task and leaves out empty sections; the JSON carries every mode's numbers.
// With REPORT_SAMPLE_OUT=FILE.html, ReportSample.Write also writes the sample
// page (and FILE.html.spans, its bar count) for the headless-Chromium check.
#include "coordinator/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

ModeRow Mode(std::string workload, std::string mode, std::string description, int workers, int concurrency,
             int threads, double parallelism, std::vector<double> wall_s, int tasks, double cpu_s,
             std::string verdict) {
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
  const double page_ms[] = {101.5, 103.0, 108.5};      // 11 kB, 108 kB, 608 kB
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
      Mode(io, "sequential", "1 worker, 1 at a time, new connection per URL", 1, 1, 1, 1, {9.61, 9.55, 9.72}, 90,
           0.094, "I/O-bound"),
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
  d.histograms = BuildHistograms(d.timelines[0].spans);
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
  for (const char* raw : {"<i>", "<machine>", "<x>", "<mode>", "<param>", "<note>", "<run>", "<w&1>", "<kind>",
                          "<reply>", "<bound>"}) {
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
  for (uint32_t i = 0; i < 20000; ++i) {
    run.spans.push_back({i, "w" + std::to_string(i % 16), i % 3 ? "url" : "cpu", (i / 16) * 1.5, 1.2 + (i % 11),
                         i % 997 != 0, i % 1499 == 0 ? 2u : 1u, ""});
  }
  run.wall_ms = 20000 / 16 * 1.5 + 12;
  d.timelines.push_back(run);
  d.histograms = BuildHistograms(run.spans);
  auto t0 = std::chrono::steady_clock::now();
  std::string html = RenderHtmlReport(d);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(Count(html, "class=\"task-bar\""), 20000u);
  EXPECT_LT(html.size(), 20000u * 140) << "bytes per span: " << html.size() / 20000.0;
  EXPECT_LT(ms, 2000);
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

TEST(Histograms, LogSpacedBucketsCoverEverySpan) {
  std::vector<TaskSpan> spans;
  for (uint32_t i = 0; i < 100; ++i) spans.push_back({i, "w1", "url", 0, 100.0 + i * 0.1, true, 1, ""});
  for (uint32_t i = 0; i < 50; ++i) spans.push_back({i, "w1", "cpu", 0, 5.0 * std::pow(1.1, i), true, 1, ""});
  spans.push_back({999, "w1", "noop", 0, 0.0, true, 1, ""});
  auto hs = BuildHistograms(spans);
  ASSERT_EQ(hs.size(), 3u);
  EXPECT_EQ(hs[0].kind, "cpu");
  EXPECT_EQ(hs[1].kind, "noop");
  EXPECT_EQ(hs[2].kind, "url");
  for (const LatencyHistogram& h : hs) {
    ASSERT_EQ(h.bucket_upper_ms.size(), h.counts.size()) << h.kind;
    ASSERT_FALSE(h.counts.empty());
    uint64_t sum = 0;
    for (uint64_t c : h.counts) sum += c;
    EXPECT_EQ(sum, h.total) << h.kind;
    // Log-spaced: a constant ratio between consecutive bounds.
    for (size_t i = 2; i < h.bucket_upper_ms.size(); ++i) {
      double r1 = h.bucket_upper_ms[i] / h.bucket_upper_ms[i - 1];
      double r0 = h.bucket_upper_ms[i - 1] / h.bucket_upper_ms[i - 2];
      EXPECT_NEAR(r1, r0, 1e-9) << h.kind;
      EXPECT_GT(r1, 1.0);
    }
  }
  // cpu spans 5 ms .. 5 * 1.1^49 ≈ 533 ms: about 16 buckets over two decades,
  // the last bound at or above the maximum.
  EXPECT_GE(hs[0].counts.size(), 12u);
  EXPECT_LE(hs[0].counts.size(), 24u);
  EXPECT_GE(hs[0].bucket_upper_ms.back(), hs[0].max_ms);
  // url spans 100..110 ms: narrow, yet still several buckets.
  EXPECT_GE(hs[2].counts.size(), 5u);
  EXPECT_NEAR(hs[2].p50_ms, 104.9, 1e-9);
  EXPECT_NEAR(hs[2].max_ms, 109.9, 1e-9);
  EXPECT_EQ(hs[1].total, 1u);
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
  EXPECT_EQ(j["histograms"].size(), d.histograms.size());
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
    big.title = "stress: " + std::to_string(want) + " tasks";
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
  }
  size_t spans = 0;
  for (const RunTimeline& t : d.timelines) spans += t.spans.size();
  std::ofstream(path, std::ios::binary) << RenderHtmlReport(d);
  std::ofstream(std::string(path) + ".spans") << spans << "\n";
  std::ofstream(std::string(path) + ".json") << RenderReportJson(d);
  std::ifstream check(path);
  ASSERT_TRUE(check.good()) << path;
}

}  // namespace
}  // namespace taskfarm
