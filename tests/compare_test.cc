// `coordinator compare` end to end, small: real farm runs per mode. Checks
// verdicts, ordering and the JSON, not the times themselves.
#include <gtest/gtest.h>

#include "tests/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::map<std::string, nlohmann::json> Rows(const nlohmann::json& j, const std::string& workload_prefix) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& row : j["rows"]) {
    if (row["workload"].get<std::string>().rfind(workload_prefix, 0) == 0) out[row["mode"]] = row;
  }
  return out;
}

TEST(CompareTest, BuiltInWorkloadsGetTheRightVerdictsAndOrder) {
  ScratchDir dir;
  std::string json = dir.File("compare.json");
  std::string html = dir.File("compare.html");
  Subprocess p(Coordinator({"compare", "--runs", "1", "--io-pages", "20", "--delay", "100", "--cpu-tasks", "12",
                            "--cpu-n", "400000", "--modes", "sequential,async,processes,hybrid", "--json", json,
                            "--report", html}));
  ProcessResult r = p.Wait(seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = ReadJson(json);
  auto io = Rows(j, "I/O");
  auto cpu = Rows(j, "CPU");
  ASSERT_EQ(io.size(), 4u);
  ASSERT_EQ(cpu.size(), 4u);
  for (auto& [mode, row] : io) {
    EXPECT_EQ(row["verdict"], "I/O-bound") << mode;
    EXPECT_TRUE(row["ok"].get<bool>());
    for (const char* key : {"median_s", "min_s", "max_s", "tasks_per_s", "speedup", "efficiency", "cpu_s",
                            "cpu_over_wall", "parallelism"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
  }
  for (auto& [mode, row] : cpu) EXPECT_EQ(row["verdict"], "CPU-bound") << mode;
  // I/O: overlapping 20 waits beats taking them one at a time, by far.
  EXPECT_LT(io["async"]["median_s"].get<double>(), io["sequential"]["median_s"].get<double>());
  EXPECT_LT(io["hybrid"]["median_s"].get<double>(), io["sequential"]["median_s"].get<double>());
  EXPECT_LT(io["processes"]["median_s"].get<double>(), io["sequential"]["median_s"].get<double>());
  EXPECT_LT(io["async"]["median_s"].get<double>(), io["processes"]["median_s"].get<double>());
  // CPU: one event loop cannot use a second core; one worker per core can.
  EXPECT_LT(cpu["hybrid"]["median_s"].get<double>(), cpu["async"]["median_s"].get<double>());
  // The printed table and the words that explain it.
  EXPECT_NE(r.out.find("Overlapping waits is what pays"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Overlapping does not help CPU work"), std::string::npos) << r.out;
  EXPECT_FALSE(j["conclusions"].empty());
  // The report: one file, no script, a timeline per workload.
  std::ifstream in(html);
  std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(j["timelines"].size(), 2u);
}

TEST(CompareTest, SweepFitsASerialFraction) {
  ScratchDir dir;
  std::string tasks = dir.Write("cpu.txt", [] {
    std::string s;
    for (int i = 0; i < 16; ++i) s += "cpu primes 300000\n";
    return s;
  }());
  std::string json = dir.File("sweep.json");
  Subprocess p(Coordinator({"compare", "--tasks", tasks, "--modes", "sequential", "--runs", "1", "--sweep",
                            "workers=1,2", "--json", json}));
  ProcessResult r = p.Wait(seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = ReadJson(json);
  ASSERT_EQ(j["sweeps"].size(), 1u);
  const auto& sweep = j["sweeps"][0];
  EXPECT_EQ(sweep["param"], "workers");
  ASSERT_EQ(sweep["points"].size(), 2u);
  EXPECT_EQ(sweep["points"][0]["value"], 1);
  EXPECT_EQ(sweep["points"][1]["value"], 2);
  double s = sweep["serial_fraction"].get<double>();
  EXPECT_GE(s, 0.0);
  EXPECT_LE(s, 1.0);
  EXPECT_NE(r.out.find("serial fraction"), std::string::npos);
}

TEST(CompareTest, BadOptionsAreRefused) {
  for (std::vector<std::string> args : {std::vector<std::string>{"compare", "--modes", "turbo"},
                                        std::vector<std::string>{"compare", "--sweep", "cores=1,2"},
                                        std::vector<std::string>{"compare", "--sweep", "workers=1"},
                                        std::vector<std::string>{"compare", "--tasks", "/nonexistent"},
                                        std::vector<std::string>{"compare", "--report", "/nonexistent/r.html"},
                                        std::vector<std::string>{"compare", "--json", "/nonexistent/r.json"}}) {
    Subprocess p(Coordinator(args));
    ProcessResult r = p.Wait(seconds(20));
    EXPECT_EQ(r.exit_code, 2) << args[1] << " " << args[2] << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
}

}  // namespace
}  // namespace taskfarm::testing
