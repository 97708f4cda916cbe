// --rate and --per-host with real processes: the coordinator, four forked
// workers and the loopback test server, which counts the requests it reads
// in one-second buckets. What the server sees is the test, not what the
// coordinator says about itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common/url_host.h"
#include "tests/support/farm_test_util.h"
#include "testserver/http_test_server.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;

class RateTest : public LoopbackServerTest {};

TEST_F(RateTest, TwoHundredPerSecondOverFourWorkersIsWhatTheServerSees) {
  std::string tasks = dir_.Write("t.txt", Repeat("url " + Url("/bytes/100"), 1000));
  std::string out = dir_.File("R.jsonl");
  std::string json = dir_.File("run.json");
  auto began = std::chrono::steady_clock::now();
  Subprocess p(Coordinator(
      {"--workers", "4", "--rate", "200/s", "--tasks", tasks, "--output", out, "--json", json, "-q", "--no-progress"}));
  ProcessResult r = p.Wait(seconds(60));
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& [id, rec] : ById(ReadJsonLines(out), 1000)) ASSERT_TRUE(rec["ok"].get<bool>()) << rec.dump();

  // The server's seconds, from the first with a request to the last: the
  // first and the last are partial (the run does not start on a second).
  std::vector<uint64_t> per_second = server_.RequestsPerSecond();
  auto first = std::find_if(per_second.begin(), per_second.end(), [](uint64_t n) { return n > 0; });
  auto last = std::find_if(per_second.rbegin(), per_second.rend(), [](uint64_t n) { return n > 0; }).base();
  ASSERT_LT(first, last);
  std::vector<uint64_t> seen(first, last);
  std::string shown;
  for (uint64_t n : seen) shown += " " + std::to_string(n);
  uint64_t total = 0;
  for (uint64_t n : seen) total += n;
  EXPECT_EQ(total, 1000u) << "every request once:" << shown;
  ASSERT_GE(seen.size(), 5u) << shown;
  for (size_t i = 1; i + 1 < seen.size(); ++i) {
    EXPECT_NEAR(static_cast<double>(seen[i]), 200, 10) << "second " << i << " of" << shown;
  }

  nlohmann::json summary = nlohmann::json::parse(std::ifstream(json));
  double run_s = summary["run_s"].get<double>();
  EXPECT_NEAR(run_s, 5.0, 0.5) << "process wall time " << wall_s << " s";
  EXPECT_EQ(summary["rate"]["limit_per_s"], 200.0);
  EXPECT_EQ(summary["rate"]["starts"], 1000);
  EXPECT_NEAR(summary["rate"]["measured_per_s"].get<double>(), 200, 4);
  EXPECT_NE(r.out.find("rate: limit 200/s, measured "), std::string::npos) << r.out;
  // Farm-wide, not per worker: the starts took turns over the four.
  std::vector<int> by_worker;
  for (const auto& w : summary["workers"]) by_worker.push_back(w["tasks"].get<int>());
  ASSERT_EQ(by_worker.size(), 4u);
  for (int n : by_worker) EXPECT_NEAR(n, 250, 25) << summary["workers"].dump();
  std::printf("server's requests per second:%s; run %.2f s (process %.2f s); measured %.1f/s\n", shown.c_str(), run_s,
              wall_s, summary["rate"]["measured_per_s"].get<double>());
}

// The most intervals [start, end) of `spans` that hold one instant.
size_t MostAtOnce(std::vector<std::pair<double, double>> spans) {
  std::vector<std::pair<double, int>> events;
  for (auto [start, end] : spans) {
    events.emplace_back(start, +1);
    events.emplace_back(end, -1);
  }
  std::sort(events.begin(), events.end());  // at one instant, an end (-1) before a start
  size_t now = 0, most = 0;
  for (auto [t, step] : events) {
    now += step;
    most = std::max(most, now);
  }
  return most;
}

TEST_F(RateTest, PerHostHoldsEachOfTwoHostsToItsLimitWhileBothProceed) {
  testserver::HttpTestServer other{testserver::Options{}};
  std::string a = server_.BaseUrl(), b = other.BaseUrl();
  ASSERT_NE(UrlHostKey(a), UrlHostKey(b)) << "two ports, two hosts";
  // All of host A's tasks first: host B's must not wait behind them.
  std::string lines;
  for (int i = 0; i < 12; ++i) lines += "url " + a + "/bytes/10?delay=200\n";
  for (int i = 0; i < 12; ++i) lines += "url " + b + "/bytes/10?delay=200\n";
  std::string tasks = dir_.Write("t.txt", lines);
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator(
      {"--workers", "2", "--concurrency", "8", "--per-host", "3", "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::pair<double, double>> spans[2], both;
  for (auto& [id, rec] : ById(ReadJsonLines(out), 24)) {
    ASSERT_TRUE(rec["ok"].get<bool>()) << rec.dump();
    double start = rec["start_ms"].get<double>();
    std::pair<double, double> span{start, start + rec["duration_ms"].get<double>()};
    bool on_a = UrlHostKey(rec["url"].get<std::string>()) == UrlHostKey(a);
    spans[on_a ? 0 : 1].push_back(span);
    both.push_back(span);
  }
  EXPECT_EQ(spans[0].size(), 12u);
  EXPECT_EQ(MostAtOnce(spans[0]), 3u) << "host A: the limit, and used";
  EXPECT_EQ(MostAtOnce(spans[1]), 3u) << "host B: the limit, and used";
  // One host alone has at most 3 in flight: more at once is both.
  EXPECT_GT(MostAtOnce(both), 3u) << "both hosts at once";
  EXPECT_EQ(server_.requests_served(), 12u);
  EXPECT_EQ(other.requests_served(), 12u);
  EXPECT_NE(r.out.find("per host: at most 3 in flight (2 hosts; the busiest had 3 at once)"), std::string::npos)
      << r.out;
}

TEST(RateFlagsTest, ABadRateOrPerHostIsRefusedWithASentence) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", "noop\n");
  const std::pair<const char*, const char*> cases[] = {
      {"fast", "--rate: 'fast' is not a rate: write tasks per second or minute (200/s, 12000/min)"},
      {"-5/s", "--rate: '-5/s' is not a rate"},
      {"200/sec", "--rate: '200/sec' is not a rate"},
      {"0", "--rate: '0' would start nothing: leave --rate out for no limit"},
      {"0/min", "--rate: '0/min' would start nothing"},
      {"2000000/s", "--rate: '2000000/s' is above the most, 1000000/s"},
  };
  for (auto [rate, said] : cases) {
    Subprocess p(Coordinator({"--rate", rate, "--tasks", tasks}));
    ProcessResult r = p.Wait(seconds(30));
    EXPECT_EQ(r.exit_code, 2) << rate;
    EXPECT_NE(r.err.find(said), std::string::npos) << r.err;
    for (const std::string& line : Lines(r.err)) EXPECT_LE(Columns(line), 100u) << line;
  }
  Subprocess p(Coordinator({"--per-host", "0", "--tasks", tasks}));
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--per-host"), std::string::npos) << r.err;
  // Accepted spellings run.
  for (const char* rate : {"200/s", "200", "12000/min", "0.5/s", "3/h"}) {
    Subprocess ok(Coordinator({"--workers", "1", "--rate", rate, "--per-host", "2", "--tasks", tasks, "-q"}));
    ProcessResult done = ok.Wait(seconds(30));
    EXPECT_EQ(done.exit_code, 0) << rate << ": " << done.err;
  }
}

}  // namespace
}  // namespace taskfarm::testing
