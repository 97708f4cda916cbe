// The run summary computed once: the terminal text, the tables the report
// shows, and the --json, from the same numbers; the worker table capped for
// a thousand workers; the wait for workers kept out of the run's time.
#include "coordinator/summary.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/stats.h"
#include "tests/support/farm_test_util.h"

namespace taskfarm {
namespace {

using testing::Columns;
using testing::Lines;

pb::Result Done(double duration_ms, bool ok = true) {
  pb::Result r;
  r.set_ok(ok);
  r.set_duration_ms(duration_ms);
  if (!ok) r.set_error_code("http_error");
  return r;
}

pb::Result CancelledRecord() {
  pb::Result r;
  r.set_ok(false);
  r.set_error_code("cancelled");
  return r;
}

std::map<WorkerId, WorkerStats> Workers(int n, int hosts) {
  std::map<WorkerId, WorkerStats> workers;
  for (int i = 1; i <= n; ++i) {
    WorkerStats& w = workers[i];
    w.name = "w" + std::to_string(i);
    w.host = "node-" + std::to_string(i % hosts);
    w.tasks = static_cast<uint64_t>(i);
    w.busy_ms = 10.0 * i;  // w<n> the busiest, w1 the idlest
  }
  return workers;
}

TEST(RunSummaryTest, TextJsonAndTablesSayTheSameNumbers) {
  RunStats stats;
  for (int i = 1; i <= 100; ++i) stats.Add("sleep", Done(i));
  stats.Add("url", Done(7, false));
  stats.Add("url", CancelledRecord());
  stats.AddResumed(true);
  RunStats::Extras x;
  x.wait_ms = 30;
  x.run_ms = 2000;
  RunSummary s = stats.Summary(Workers(2, 1), x);
  EXPECT_EQ(s.ok, 101u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.cancelled, 1u);
  EXPECT_EQ(s.resumed, 1u);
  EXPECT_EQ(s.completed(), 102u);
  EXPECT_DOUBLE_EQ(s.throughput_per_s, 101 / 2.0);  // this run's: not the resumed one

  TextTable kinds = s.KindTable();
  ASSERT_EQ(kinds.rows.size(), 2u);  // the cancelled url has no latency, the failed one has
  EXPECT_EQ(kinds.rows[0],
            (std::vector<std::string>{"sleep", "100", "50.0", "90.0", "99.0", "100.0", "0%", "I/O-bound"}));
  EXPECT_EQ(kinds.rows[1][1], "1");

  std::string text = s.Text();
  EXPECT_NE(text.find("tasks: 101 ok, 1 failed, 1 cancelled (1 from the journal)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("wall time: 2.00 s, throughput: 50.5 tasks/s\n"), std::string::npos) << text;
  EXPECT_NE(text.find(RenderText(kinds)), std::string::npos) << text;
  EXPECT_NE(text.find(RenderText(s.WorkerTable())), std::string::npos) << text;
  EXPECT_EQ(text.find("waited"), std::string::npos) << "30 ms of start-up is not worth a line: " << text;
  EXPECT_TRUE(text.ends_with("Completed 102 tasks in 2.00 seconds\n")) << text;

  nlohmann::json j = nlohmann::json::parse(s.Json({"coordinator", "--tasks", "t.txt"}));
  EXPECT_EQ(j["command"], (std::vector<std::string>{"coordinator", "--tasks", "t.txt"}));
  EXPECT_EQ(j["tasks"]["ok"], 101);
  EXPECT_EQ(j["tasks"]["failed"], 1);
  EXPECT_EQ(j["tasks"]["cancelled"], 1);
  EXPECT_EQ(j["tasks"]["resumed"], 1);
  EXPECT_EQ(j["tasks"]["completed"], 102);
  EXPECT_EQ(j["wait_s"], 0.03);
  EXPECT_EQ(j["run_s"], 2.0);
  EXPECT_EQ(j["elapsed_s"], 2.03);
  EXPECT_EQ(j["throughput_per_s"], 50.5);
  EXPECT_EQ(j["kinds"][0]["kind"], "sleep");
  EXPECT_EQ(j["kinds"][0]["p50_ms"], 50.0);
  EXPECT_EQ(j["kinds"][0]["p90_ms"], 90.0);
  EXPECT_EQ(j["kinds"][0]["p99_ms"], 99.0);
  EXPECT_EQ(j["kinds"][0]["max_ms"], 100.0);
  EXPECT_EQ(j["kinds"][0]["mean_ms"], 50.5);
  EXPECT_EQ(j["kinds"][0]["verdict"], "I/O-bound");
  EXPECT_EQ(j["workers"].size(), 2u);
  EXPECT_EQ(j["workers"][1]["busy_percent"], 1.0);  // 20 ms of 2 s
  EXPECT_TRUE(j["workers"][1]["gone"].is_null());
  EXPECT_EQ(j["dropped_messages"]["total"], 0);
  EXPECT_TRUE(j["dropped_messages"].contains("result_for_unknown_lease"));
  EXPECT_EQ(j["interrupted"], false);
}

TEST(RunSummaryTest, AWaitForWorkersIsSaidApartAndKeptOutOfTheRunsTime) {
  RunStats stats;
  for (int i = 0; i < 10; ++i) stats.Add("sleep", Done(2000));
  RunStats::Extras x;
  x.wait_ms = 12000;
  x.run_ms = 2000;
  RunSummary s = stats.Summary(Workers(2, 1), x);
  std::string text = s.Text();
  EXPECT_NE(text.find("waited 12.0 s for workers before the first task was sent (not in the times below)\n"
                      "wall time: 2.00 s, throughput: 5.0 tasks/s\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(text.ends_with("Completed 10 tasks in 2.00 seconds\n")) << text;
  nlohmann::json j = nlohmann::json::parse(s.Json({}));
  EXPECT_EQ(j["wait_s"], 12.0);
  EXPECT_EQ(j["run_s"], 2.0);
  EXPECT_EQ(j["elapsed_s"], 14.0);
  EXPECT_EQ(j["throughput_per_s"], 5.0);
}

TEST(RunSummaryTest, RateAndPerHostAreShownWhenSet) {
  RunStats stats;
  for (int i = 0; i < 10; ++i) stats.Add("url", Done(1));
  RunSummary none = stats.Summary(Workers(1, 1), RunStats::Extras{.run_ms = 1000, .starts = 10});
  EXPECT_EQ(none.Text().find("rate:"), std::string::npos) << none.Text();
  EXPECT_EQ(none.Text().find("per host:"), std::string::npos) << none.Text();
  nlohmann::json j = nlohmann::json::parse(none.Json({}));
  EXPECT_TRUE(j["rate"].is_null());
  EXPECT_TRUE(j["per_host"].is_null());

  // 1,000 starts 5 ms apart but one 10 ms late: 999 intervals over 5.005 s.
  RunSummary s = stats.Summary(Workers(1, 1), RunStats::Extras{.run_ms = 5100,
                                                               .rate_limit_per_s = 200,
                                                               .starts = 1000,
                                                               .starts_span_ms = 5005,
                                                               .per_host_limit = 4,
                                                               .host_peak_in_flight = 4,
                                                               .hosts = 3});
  EXPECT_NEAR(s.measured_rate_per_s, 999 / 5.005, 1e-9);
  std::string text = s.Text();
  EXPECT_NE(text.find("rate: limit 200/s, measured 199.6/s (1000 task starts, retries included)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("per host: at most 4 in flight (3 hosts; the busiest had 4 at once)\n"), std::string::npos)
      << text;
  j = nlohmann::json::parse(s.Json({}));
  EXPECT_EQ(j["rate"]["limit_per_s"], 200.0);
  EXPECT_EQ(j["rate"]["measured_per_s"], 199.6);
  EXPECT_EQ(j["rate"]["starts"], 1000);
  EXPECT_EQ(j["per_host"]["limit"], 4);
  EXPECT_EQ(j["per_host"]["hosts"], 3);
  EXPECT_EQ(j["per_host"]["peak_in_flight"], 4);

  // One start is no rate to measure.
  RunSummary one = stats.Summary(Workers(1, 1), RunStats::Extras{.run_ms = 10, .rate_limit_per_s = 0.5, .starts = 1});
  EXPECT_NE(one.Text().find("rate: limit 30/min, not measured (1 task start, retries included)\n"), std::string::npos)
      << one.Text();
  EXPECT_TRUE(nlohmann::json::parse(one.Json({}))["rate"]["measured_per_s"].is_null());
}

TEST(RunSummaryTest, TwelveWorkersAreAllShownWithoutAHostTable) {
  RunStats stats;
  RunSummary s = stats.Summary(Workers(12, 3), RunStats::Extras{.run_ms = 1000});
  EXPECT_EQ(s.WorkerTable().rows.size(), 12u);
  EXPECT_TRUE(s.WorkerTable().note.empty());
  EXPECT_TRUE(s.HostTable().rows.empty());
}

TEST(RunSummaryTest, AThousandWorkersShowTheBusiestAndIdlestByHostAndAllInJson) {
  RunStats stats;
  std::map<WorkerId, WorkerStats> workers = Workers(1000, 4);
  workers[7].gone = true;
  workers[7].gone_reason = "stopped answering (no heartbeat for 5.0 s) and then a much longer story";
  RunSummary s = stats.Summary(workers, RunStats::Extras{.run_ms = 10000});

  TextTable table = s.WorkerTable();
  ASSERT_EQ(table.rows.size(), 2 * kBusiestAndIdlest + 1);
  EXPECT_LE(table.rows.size(), kMaxWorkerRows);
  EXPECT_EQ(table.rows[0][0], "w1000");  // busiest first
  EXPECT_EQ(table.rows[4][0], "w996");
  EXPECT_EQ(table.rows[5][0], "...");
  EXPECT_EQ(table.rows[6][0], "w5");
  EXPECT_EQ(table.rows[10][0], "w1");  // idlest last
  EXPECT_EQ(table.rows[6][5], "");
  EXPECT_EQ(table.note, "... and 990 more workers (all of them in --json)");

  TextTable hosts = s.HostTable();
  ASSERT_EQ(hosts.rows.size(), 4u);
  uint64_t workers_on_hosts = 0, tasks_on_hosts = 0;
  for (const auto& row : hosts.rows) {
    workers_on_hosts += std::stoull(row[1]);
    tasks_on_hosts += std::stoull(row[2]);
  }
  EXPECT_EQ(workers_on_hosts, 1000u);
  EXPECT_EQ(tasks_on_hosts, 1000u * 1001 / 2);

  std::string text = s.Text();
  std::vector<std::string> lines = Lines(text);
  EXPECT_LT(lines.size(), 40u) << text;
  for (const std::string& line : lines) EXPECT_LE(Columns(line), 100u) << line;
  nlohmann::json j = nlohmann::json::parse(s.Json({}));
  ASSERT_EQ(j["workers"].size(), 1000u);
  EXPECT_EQ(j["workers"][6]["gone"], workers[7].gone_reason);  // whole, not clipped
}

TEST(RunSummaryTest, LongNamesAreClippedToKeepLinesWithin100Columns) {
  std::map<WorkerId, WorkerStats> workers;
  WorkerStats& w = workers[1];
  w.name = std::string(128, 'n');
  w.host = std::string(256, 'h');
  w.tasks = 123456789;
  w.busy_ms = 3.6e7;
  w.gone = true;
  w.gone_reason = std::string(300, 'r');
  RunStats stats;
  stats.Add("sleep", Done(1e8));
  std::string text = stats.Summary(workers, RunStats::Extras{.run_ms = 3.6e7}).Text();
  for (const std::string& line : Lines(text)) EXPECT_LE(Columns(line), 100u) << line;
  // A name a remote worker gave that is not UTF-8 does not break the JSON.
  workers[1].name = "bad\xff name";
  nlohmann::json j = nlohmann::json::parse(stats.Summary(workers, RunStats::Extras{}).Json({}));
  EXPECT_EQ(j["workers"].size(), 1u);
}

}  // namespace
}  // namespace taskfarm
