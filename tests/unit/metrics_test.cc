// The --metrics registry and its Prometheus text: outcomes counted by kind,
// histogram buckets cumulative with the count equal to the records, label
// values escaped, hosts capped so 1,000 workers make a small scrape.
#include "coordinator/metrics.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "common/status.h"
#include "coordinator/live_page.h"

namespace taskfarm {
namespace {

pb::Result Record(double duration_ms, bool ok, std::string code = "") {
  pb::Result r;
  r.set_ok(ok);
  r.set_duration_ms(duration_ms);
  r.set_attempts(1);
  if (!code.empty()) r.set_error_code(code);
  return r;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, CountsOutcomesByKindAndTheHistogramCountsEveryRecord) {
  Metrics m;
  pb::TaskSpec spec;
  m.CountRecord("sleep", Record(3, true), spec);
  m.CountRecord("sleep", Record(3, false, "timeout"), spec);
  pb::Result retried = Record(700, true);
  retried.set_attempts(3);
  m.CountRecord("sleep", retried, spec);
  m.CountRecord("sleep", Record(0, false, std::string(CodeName(Code::kCancelled))), spec);
  std::string text = RenderPrometheus(*m.Snapshot({}, 0));
  EXPECT_TRUE(Has(text, "taskfarm_tasks_total{kind=\"sleep\",outcome=\"ok\"} 2")) << text;
  EXPECT_TRUE(Has(text, "taskfarm_tasks_total{kind=\"sleep\",outcome=\"failed\"} 1"));
  EXPECT_TRUE(Has(text, "taskfarm_tasks_total{kind=\"sleep\",outcome=\"cancelled\"} 1"));
  EXPECT_TRUE(Has(text, "taskfarm_tasks_total{kind=\"url\",outcome=\"ok\"} 0"));  // known kinds start at zero
  EXPECT_TRUE(Has(text, "taskfarm_task_retries_total{kind=\"sleep\"} 2"));
  // le is inclusive and the buckets cumulative: 0 s, 3 ms, 3 ms, 700 ms.
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_bucket{kind=\"sleep\",le=\"0.001\"} 1"));
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_bucket{kind=\"sleep\",le=\"0.0025\"} 1"));
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_bucket{kind=\"sleep\",le=\"0.005\"} 3"));
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_bucket{kind=\"sleep\",le=\"0.5\"} 3"));
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_bucket{kind=\"sleep\",le=\"1\"} 4"));
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_bucket{kind=\"sleep\",le=\"+Inf\"} 4"));
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_count{kind=\"sleep\"} 4"));
  EXPECT_TRUE(Has(text, "taskfarm_task_duration_seconds_sum{kind=\"sleep\"} 0.706"));
  EXPECT_TRUE(Has(text, "# TYPE taskfarm_task_duration_seconds histogram"));
  EXPECT_TRUE(Has(text, "taskfarm_run_finished 0"));
  // The failure is kept for the page; the cancellation is not a failure.
  ASSERT_EQ(m.Snapshot({}, 0)->failures.size(), 1u);
  EXPECT_EQ(m.Snapshot({}, 0)->failures[0].error_code, "timeout");
}

TEST(Metrics, SnapshotsAreDueEveryQuarterSecond) {
  Metrics m;
  EXPECT_TRUE(m.Due(0));
  (void)m.Snapshot({}, 1000);
  EXPECT_FALSE(m.Due(1100));
  EXPECT_TRUE(m.Due(1250));
}

TEST(Metrics, AThousandWorkersOnAThousandHostsMakeASmallScrape) {
  Metrics m;
  pb::TaskSpec spec;
  std::map<WorkerId, WorkerStats> workers;
  for (int i = 0; i < 1000; ++i) {
    m.WorkerRegistered(i, "host-" + std::to_string(i) + (i == 0 ? "\"quoted\\\n" : ""));
    for (int t = 0; t < 10; ++t) m.CountRecord("sleep", Record(1, true), spec, i);
    if (i % 10 == 0) m.WorkerGone(i, i % 20 == 0);
  }
  std::string text = RenderPrometheus(*m.Snapshot({}, 0));
  EXPECT_LT(text.size(), 20000u);
  EXPECT_TRUE(Has(text, "taskfarm_workers_registered_total 1000"));
  EXPECT_TRUE(Has(text, "taskfarm_workers_left_total 50"));
  EXPECT_TRUE(Has(text, "taskfarm_workers_lost_total 50"));
  EXPECT_TRUE(Has(text, "taskfarm_host_workers{host=\"host-0\\\"quoted\\\\\\n\"} 0")) << text;
  // 32 hosts by name, the other 968 summed in a metric of their own.
  EXPECT_TRUE(Has(text, "taskfarm_other_hosts_tasks_total 9680"));
  EXPECT_TRUE(Has(text, "taskfarm_other_hosts_workers 872"));  // 968 less 96 gone
  EXPECT_EQ(m.Snapshot({}, 0)->hosts.size(), kMaxMetricHosts);
}

// The _total counters and the host series as Prometheus sees them: each
// snapshot's value is at least the last one's, whoever comes and goes.
TEST(Metrics, CountersNeverDecreaseAndHostsKeepTheirSeries) {
  Metrics m;
  pb::TaskSpec spec;
  std::map<WorkerId, WorkerStats> stats;  // the scheduler's view
  MetricsGauges g;
  g.workers = &stats;
  m.WorkerRegistered(1, "early");
  m.WorkerRegistered(2, "remote-idle");  // never runs anything
  for (int i = 3; i < 3 + 40; ++i) m.WorkerRegistered(i, "h" + std::to_string(i));
  for (WorkerId w = 1; w < 43; ++w) stats[w].host = "x";
  m.CountRecord("sleep", Record(1, true), spec, 1);
  m.CountRecord("sleep", Record(1, true), spec, 42);  // a host past the first 32
  auto before = m.Snapshot(g, 0);
  ASSERT_EQ(before->hosts.size(), kMaxMetricHosts);
  EXPECT_EQ(before->hosts[0].host, "early");
  // The early host's only worker leaves; the idle one is dropped by the
  // scheduler (it did nothing), another goes silent (removed in its Tick).
  m.WorkerGone(1, true);
  stats.erase(2);
  stats[5].gone = true;
  stats[5].gone_reason = "stopped answering";
  m.WorkerRegistered(100, "late");  // past the first 32: no new series
  stats[100].host = "late";
  auto after = m.Snapshot(g, 1000);
  EXPECT_EQ(after->workers_registered, 43u);
  EXPECT_EQ(after->workers_left, 1u);
  EXPECT_EQ(after->workers_lost, 2u);
  ASSERT_EQ(after->hosts.size(), before->hosts.size());
  for (size_t i = 0; i < after->hosts.size(); ++i) {
    EXPECT_EQ(after->hosts[i].host, before->hosts[i].host);
    EXPECT_GE(after->hosts[i].tasks, before->hosts[i].tasks);
  }
  EXPECT_EQ(after->hosts[0].tasks, 1u);
  EXPECT_EQ(after->hosts[0].workers, 0u);
  EXPECT_EQ(after->other_hosts.tasks, 1u);
  EXPECT_EQ(after->other_hosts.workers, 11u);  // h33..h42 and late
  // Told twice (a Goodbye, then the scheduler's view): counted once.
  m.WorkerGone(1, false);
  auto again = m.Snapshot(g, 2000);
  EXPECT_EQ(again->workers_left, 1u);
  EXPECT_EQ(again->workers_lost, 2u);
}

// A host named "other" is a host like any; hosts differing only in bytes
// that are not UTF-8 show the same label, so they are one series.
TEST(Metrics, NoTwoSeriesShareALabel) {
  Metrics m;
  m.WorkerRegistered(1, "other");
  m.WorkerRegistered(2, "bad\xff");
  m.WorkerRegistered(3, "bad\xfe");
  for (int i = 4; i < 50; ++i) m.WorkerRegistered(i, "h" + std::to_string(i));
  std::string text = RenderPrometheus(*m.Snapshot({}, 0));
  EXPECT_TRUE(Has(text, "taskfarm_host_workers{host=\"other\"} 1")) << text;
  EXPECT_TRUE(Has(text, "taskfarm_host_workers{host=\"bad\xef\xbf\xbd\"} 2")) << text;
  std::set<std::string> series;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(series.insert(line.substr(0, line.rfind(' '))).second) << "twice: " << line;
  }
}

// The page has no authentication: a failure it lists keeps the header
// names and the URL, not the secrets in them.
TEST(Metrics, FailuresHideHeaderValuesAndUrlUserinfo) {
  Metrics m;
  pb::TaskSpec spec;
  pb::UrlTask& url = *spec.mutable_url();
  url.set_url("https://alice:s3cret@example.com/a?b=c");
  url.add_headers("Authorization: Bearer tok3n");
  url.add_headers("X-Api-Key:k3y");
  pb::Result r = Record(5, false, "http_error");
  r.set_error("GET https://alice:s3cret@example.com/a?b=c failed: HTTP 401");
  m.CountRecord("url", r, spec);
  auto snapshot = m.Snapshot({}, 0);
  const FailureNote& f = snapshot->failures.at(0);
  for (const char* secret : {"alice", "s3cret", "tok3n", "k3y"}) {
    EXPECT_EQ(f.task.find(secret), std::string::npos) << f.task;
    EXPECT_EQ(f.error.find(secret), std::string::npos) << f.error;
  }
  EXPECT_NE(f.task.find("https://***@example.com/a?b=c"), std::string::npos) << f.task;
  EXPECT_NE(f.task.find("Authorization: ***"), std::string::npos) << f.task;
  EXPECT_NE(f.task.find("X-Api-Key: ***"), std::string::npos) << f.task;
  EXPECT_EQ(f.error, "GET https://***@example.com/a?b=c failed: HTTP 401");
}

TEST(Metrics, TheFinalSnapshotSaysSo) {
  Metrics m;
  auto s = m.Final({}, 0, "Completed 0 tasks", "report.html");
  EXPECT_TRUE(s->finished);
  EXPECT_TRUE(Has(RenderPrometheus(*s), "taskfarm_run_finished 1"));
}

TEST(LivePage, PercentilesStayWithinTheBucketAndTheValuesSeen) {
  Histogram<kTaskDurationBuckets.size()> h;
  EXPECT_EQ(HistogramQuantile(h, 0.5), 0);
  // 0.5 to 1.5 s, evenly: all in the buckets (0.5, 1] and (1, 2.5].
  for (int i = 0; i <= 100; ++i) h.Observe(kTaskDurationBuckets, 0.5 + i / 100.0);
  EXPECT_NEAR(HistogramQuantile(h, 0.9), 1.4, 0.02);
  EXPECT_LE(HistogramQuantile(h, 1.0), 1.5);
  EXPECT_GE(HistogramQuantile(h, 0.0), 0.5);
  Histogram<kTaskDurationBuckets.size()> slow;
  slow.Observe(kTaskDurationBuckets, 900);  // past the last bound
  EXPECT_EQ(HistogramQuantile(slow, 0.5), 900);
}

TEST(LivePage, StateHasRatesOverTheMinuteAndTheNewestFailureFirst) {
  Metrics m;
  pb::TaskSpec spec;
  spec.mutable_sleep()->set_ms(5);
  (void)m.Snapshot({}, 0);
  for (int i = 0; i < 30; ++i) m.CountRecord("sleep", Record(5, true), spec);
  pb::Result first = Record(5, false, "timeout");
  first.set_id(7);
  m.CountRecord("sleep", first, spec);
  pb::Result second = Record(5, false, "http_error");
  second.set_id(8);
  second.set_error("HTTP 500");
  m.CountRecord("sleep", second, spec);
  auto state = nlohmann::json::parse(RenderStateJson(*m.Snapshot({}, 10000)));
  EXPECT_EQ(state["done"], 32);
  EXPECT_DOUBLE_EQ(state["rate"].get<double>(), 3.2);  // 32 records in the 10 s since the first snapshot
  EXPECT_EQ(state["kinds"].size(), 1u);                // only kinds with records
  EXPECT_EQ(state["kinds"][0]["failed"], 2);
  ASSERT_EQ(state["failures"].size(), 2u);
  EXPECT_EQ(state["failures"][0]["id"], 8);
  EXPECT_EQ(state["failures"][0]["error"], "HTTP 500");
  EXPECT_EQ(state["failures"][0]["task"], "sleep 5");
  EXPECT_FALSE(state["finished"].get<bool>());
}

}  // namespace
}  // namespace taskfarm
