// What a run says about itself, read back by a script: the --json summary
// of a real mixed run checked number by number against its own records,
// and `--output -` / `--json -` for a pipe into jq.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <regex>

#include "common/stats.h"
#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;
using Json = nlohmann::json;

using RunOutputTest = LoopbackServerTest;

// Nearest-rank percentiles over float samples, exactly as common/stats.h
// computes the summary's.
struct Percentiles {
  double p50, p90, p99, max;
};
Percentiles Of(std::vector<float> durations) {
  std::sort(durations.begin(), durations.end());
  return {Percentile(durations, 50), Percentile(durations, 90), Percentile(durations, 99), durations.back()};
}

// The number after `label` on the line that has it, or NaN.
double NumberAfter(const std::string& text, const std::string& label) {
  size_t pos = text.find(label);
  return pos == std::string::npos ? NAN : std::stod(text.substr(pos + label.size()));
}

TEST_F(RunOutputTest, JsonOfAMixedRunHoldsEveryNumberItsRecordsGive) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "noop\n";
  for (int i = 0; i < 12; ++i) text += "sleep " + std::to_string(20 + 10 * i) + "\n";
  for (int i = 0; i < 4; ++i) text += "cpu primes 300000\n";
  for (int i = 0; i < 24; ++i) text += "url " + Url("/page/" + std::to_string(1 + i % 3) + "?delay=20") + "\n";
  text += "url " + Url("/status/404") + "\n";  // fails for good: one attempt
  text += "url " + Url("/status/503") + "\n";  // transient: retried (--retries 2), then fails
  const int n = 30 + 12 + 4 + 24 + 2;
  std::string tasks = dir_.Write("t.txt", text);
  std::string out = dir_.File("R.jsonl"), json_path = dir_.File("run.json");
  Subprocess p(Coordinator({"--workers", "2", "--tasks", tasks, "--output", out, "--json", json_path}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("wrote " + json_path), std::string::npos) << r.err;
  auto records = ById(ReadJsonLines(out), n);
  ASSERT_EQ(records.size(), static_cast<size_t>(n));
  Json s = Json::parse(std::ifstream(json_path));

  // Counts.
  int ok = 0, failed = 0, cancelled = 0;
  std::map<std::string, std::vector<float>> durations;
  std::map<std::string, double> cpu_ms;
  std::map<std::string, int> by_worker;
  for (auto& [id, rec] : records) {
    bool was_cancelled = rec.value("error_code", "") == "cancelled";
    ok += rec["ok"].get<bool>();
    failed += !rec["ok"].get<bool>() && !was_cancelled;
    cancelled += was_cancelled;
    // Every number of the record's kind is there, 0 included.
    for (const char* field : {"duration_ms", "cpu_user_ms", "cpu_sys_ms", "cpu_wait_ms", "worker_max_rss_kb"}) {
      EXPECT_TRUE(rec.contains(field) && rec[field].is_number()) << field << " in " << rec.dump();
    }
    if (rec["kind"] == "url") {
      for (const char* field : {"http_status", "bytes", "timings"}) EXPECT_TRUE(rec.contains(field)) << rec.dump();
    }
    std::string kind = rec["kind"];
    durations[kind].push_back(static_cast<float>(rec["duration_ms"].get<double>()));
    cpu_ms[kind] += rec["cpu_user_ms"].get<double>() + rec["cpu_sys_ms"].get<double>();
    ++by_worker[rec["worker"].get<std::string>()];
  }
  EXPECT_EQ(ok, n - 2);
  EXPECT_EQ(failed, 2);
  // An HTTP error status says so; the retry rules are the status's.
  EXPECT_EQ(records[n - 2]["error_code"], "http_error");
  EXPECT_EQ(records[n - 2]["http_status"], 404);
  EXPECT_EQ(records[n - 2]["attempts"], 1);
  EXPECT_EQ(records[n - 1]["error_code"], "http_error");
  EXPECT_EQ(records[n - 1]["http_status"], 503);
  EXPECT_EQ(records[n - 1]["attempts"], 3);
  EXPECT_EQ(s["tasks"]["ok"], ok);
  EXPECT_EQ(s["tasks"]["failed"], failed);
  EXPECT_EQ(s["tasks"]["cancelled"], cancelled);
  EXPECT_EQ(s["tasks"]["resumed"], 0);
  EXPECT_EQ(s["tasks"]["completed"], n);

  // Per kind: the count, and the percentiles recomputed from duration_ms.
  ASSERT_EQ(s["kinds"].size(), durations.size()) << s["kinds"].dump();
  for (const Json& k : s["kinds"]) {
    std::string kind = k["kind"];
    ASSERT_TRUE(durations.count(kind)) << kind;
    EXPECT_EQ(k["tasks"], durations[kind].size()) << kind;
    Percentiles want = Of(durations[kind]);
    // Both sides are the same floats; the JSON prints them to the microsecond.
    EXPECT_NEAR(k["p50_ms"].get<double>(), want.p50, 1e-3) << kind;
    EXPECT_NEAR(k["p90_ms"].get<double>(), want.p90, 1e-3) << kind;
    EXPECT_NEAR(k["p99_ms"].get<double>(), want.p99, 1e-3) << kind;
    EXPECT_NEAR(k["max_ms"].get<double>(), want.max, 1e-3) << kind;
    EXPECT_NEAR(k["cpu_ms"].get<double>(), cpu_ms[kind], 1e-3 * durations[kind].size()) << kind;
    EXPECT_EQ(k["verdict"].is_null(), kind == "noop") << kind;
  }
  EXPECT_EQ(durations["sleep"].size(), 12u);
  EXPECT_GE(Of(durations["sleep"]).max, 130);  // the longest sleep is 130 ms: real durations, not zeros

  // Per worker: the tasks each produced, every worker there.
  uint64_t tasks_by_workers = 0;
  for (const Json& w : s["workers"]) {
    EXPECT_EQ(w["tasks"], by_worker[w["name"].get<std::string>()]) << w.dump();
    tasks_by_workers += w["tasks"].get<uint64_t>();
  }
  EXPECT_EQ(tasks_by_workers, static_cast<uint64_t>(n));
  EXPECT_EQ(s["workers"].size(), 2u);

  // Time: throughput is this run's tasks over the running time.
  double run_s = s["run_s"], wait_s = s["wait_s"];
  ASSERT_GT(run_s, 0);
  EXPECT_GE(wait_s, 0);
  EXPECT_NEAR(s["elapsed_s"].get<double>(), run_s + wait_s, 0.0011);
  // run_s is rounded to the millisecond: allow for that much.
  EXPECT_NEAR(s["throughput_per_s"].get<double>(), n / run_s, n / run_s * (0.0006 / run_s) + 0.001);

  // The terminal says the same numbers.
  EXPECT_NE(r.out.find("tasks: " + std::to_string(ok) + " ok, 2 failed\n"), std::string::npos) << r.out;
  EXPECT_NEAR(NumberAfter(r.out, "wall time: "), run_s, 0.0051) << r.out;
  EXPECT_NEAR(NumberAfter(r.out, "throughput: "), s["throughput_per_s"].get<double>(), 0.051) << r.out;
  EXPECT_NEAR(NumberAfter(r.out, "Completed " + std::to_string(n) + " tasks in "), run_s, 0.0051) << r.out;
  EXPECT_NEAR(NumberAfter(r.out, "coordinator peak RSS: "), s["coordinator_peak_rss_kb"].get<double>() / 1024, 0.051);
  for (const Json& k : s["kinds"]) {
    std::regex row("\n" + k["kind"].get<std::string>() + " +" + std::to_string(k["tasks"].get<int>()) + " ");
    EXPECT_TRUE(std::regex_search(r.out, row)) << k["kind"] << " row in\n" << r.out;
  }

  // One task line per task, its id first, ok or not; a URL's failure names
  // the URL once (its error does).
  for (int id = 0; id < n; ++id) {
    std::string task = "task " + std::to_string(id);
    EXPECT_EQ(CountLines(r.out, task + ": ") + CountLines(r.out, task + " FAILED: "), 1) << task << " in\n" << r.out;
  }
  EXPECT_EQ(CountLines(r.out, "task " + std::to_string(n - 2) + " FAILED: GET " + Url("/status/404") +
                                  " answered HTTP 404 (worker w"),
            1)
      << r.out;
  EXPECT_EQ(CountLines(r.out, "FAILED"), 2) << r.out;

  // The command line that made it.
  std::vector<std::string> command = s["command"];
  EXPECT_NE(std::find(command.begin(), command.end(), json_path), command.end()) << s["command"].dump();
  EXPECT_EQ(s["interrupted"], false);
  EXPECT_EQ(s["dropped_messages"]["total"], 0);
}

TEST_F(RunOutputTest, OutputDashPutsTheRecordsOnStdoutAndEverythingElseOnStderr) {
  std::string tasks = dir_.Write("t.txt", Repeat("noop", 5) + "sleep 10\n");
  // Run where a file named "-" would land, to see that none does.
  Subprocess p(Coordinator({"--workers", "2", "--tasks", tasks, "--output", "-"}));
  ProcessResult r = p.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> records;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    ASSERT_NO_THROW(records.push_back(Json::parse(line))) << "not a record on stdout: " << line;
  }
  ById(records, 6);
  EXPECT_EQ(CountLines(r.err, "task "), 6) << r.err;
  EXPECT_NE(r.err.find("== Summary =="), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Completed 6 tasks in"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists("-"));

  // --json - likewise: stdout is one JSON document.
  Subprocess q(Coordinator({"--workers", "1", "--tasks", tasks, "--json", "-"}));
  ProcessResult rq = q.Wait(seconds(30));
  ASSERT_EQ(rq.exit_code, 0) << rq.err;
  Json summary = Json::parse(rq.out);
  EXPECT_EQ(summary["tasks"]["ok"], 6);
  EXPECT_NE(rq.err.find("Completed 6 tasks in"), std::string::npos) << rq.err;

  // Not both: stdout cannot carry two formats.
  Subprocess both(Coordinator({"--workers", "1", "--tasks", tasks, "--output", "-", "--json", "-"}));
  ProcessResult rb = both.Wait(seconds(30));
  EXPECT_EQ(rb.exit_code, 2);
  EXPECT_NE(rb.err.find("--output - and --json - would both write to standard output"), std::string::npos) << rb.err;
  EXPECT_TRUE(rb.out.empty()) << rb.out;
}

}  // namespace
}  // namespace taskfarm::testing
