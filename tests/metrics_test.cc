// The --metrics registry and its Prometheus text: outcomes counted by kind,
// histogram buckets cumulative with the count equal to the records, label
// values escaped, hosts capped so 1,000 workers make a small scrape.
#include "coordinator/metrics.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
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
  std::map<WorkerId, WorkerStats> workers;
  for (int i = 0; i < 1000; ++i) {
    WorkerStats& w = workers[i];
    w.name = "w" + std::to_string(i);
    w.host = "host-" + std::to_string(i) + (i == 0 ? "\"quoted\\\n" : "");
    w.tasks = 10;
    w.gone = i % 10 == 0;
    w.gone_reason = i % 20 == 0 ? "left" : "no heartbeat";
  }
  MetricsGauges g;
  g.workers = &workers;
  g.connected = 900;
  std::string text = RenderPrometheus(*m.Snapshot(g, 0));
  EXPECT_LT(text.size(), 20000u);
  EXPECT_TRUE(Has(text, "taskfarm_workers_registered_total 1000"));
  EXPECT_TRUE(Has(text, "taskfarm_workers_left_total 50"));
  EXPECT_TRUE(Has(text, "taskfarm_workers_lost_total 50"));
  EXPECT_TRUE(Has(text, "taskfarm_host_workers{host=\"host-0\\\"quoted\\\\\\n\"} 0")) << text;
  // 32 hosts by name, the other 968 summed.
  EXPECT_TRUE(Has(text, "taskfarm_host_tasks_total{host=\"other\"} 9680"));
  EXPECT_TRUE(Has(text, "taskfarm_host_workers{host=\"other\"} 872"));  // 968 less 96 gone
  EXPECT_EQ(m.Snapshot(g, 0)->hosts.size(), kMaxMetricHosts + 1);
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
