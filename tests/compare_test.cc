// `coordinator compare` end to end, small: real farm runs per mode. Checks
// verdicts, ordering and the JSON, and for commands the shape of the sweep
// (flat past the cores, or still rising), not the times themselves.
#include <gtest/gtest.h>

#include <thread>

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
  Subprocess p(
      Coordinator({"compare", "--runs", "1", "--io-pages", "20", "--delay", "100", "--cpu-tasks", "12", "--cpu-n",
                   "400000", "--modes", "sequential,async,processes,hybrid", "--json", json, "--report", html}));
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
  Subprocess p(Coordinator(
      {"compare", "--tasks", tasks, "--modes", "sequential", "--runs", "1", "--sweep", "workers=1,2", "--json", json}));
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

// Your own commands (exec/sh tasks): the modes for child processes, judged
// from the children's own CPU and wall time. The sweeps are built around
// this machine's cores c: concurrency=1,c,2c,4c.
unsigned CoresForSweep() { return std::thread::hardware_concurrency(); }

std::string SweepAroundCores(unsigned c) {
  return "concurrency=1," + std::to_string(c) + "," + std::to_string(2 * c) + "," + std::to_string(4 * c);
}

// value -> speedup over the first point.
std::map<int, double> Speedups(const nlohmann::json& sweep) {
  std::map<int, double> out;
  for (const auto& p : sweep["points"]) out[p["value"].get<int>()] = p["speedup"].get<double>();
  return out;
}

TEST(CompareTest, ACpuBoundCommandIsJudgedCpuBoundAndStopsPayingAtTheCores) {
  unsigned c = CoresForSweep();
  // Fewer than two cores has nothing to flatten at; many more makes the run long.
  if (c < 2 || c > 8) GTEST_SKIP() << c << " cores";
  ScratchDir dir;
  // About 0.15 s of one core each: dash counting in its own arithmetic.
  std::string tasks =
      dir.Write("cpu.txt", Repeat("sh 'i=0; while [ $i -lt 220000 ]; do i=$((i+1)); done'", static_cast<int>(4 * c)));
  std::string json = dir.File("compare.json");
  // Three runs a point: the median keeps a burst of other work on the
  // machine from bending one point of the curve. Only the mode the verdict
  // comes from (the others are the I/O test's).
  Subprocess p(Coordinator({"compare", "--tasks", tasks, "--modes", "sequential", "--runs", "3", "--sweep",
                            SweepAroundCores(c), "--json", json}));
  ProcessResult r = p.Wait(seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = ReadJson(json);
  auto rows = Rows(j, tasks);
  ASSERT_EQ(rows.size(), 1u) << r.out;
  EXPECT_TRUE(rows["sequential"]["ok"].get<bool>());
  // A command waiting for a core looks like one waiting on I/O. Where other
  // work took the cores in every run, compare says so instead of being sure.
  bool crowded = r.out.find("Other work kept") != std::string::npos;
  if (crowded) {
    EXPECT_NE(rows["sequential"]["verdict"], "I/O-bound") << r.out;
  } else {
    EXPECT_EQ(rows["sequential"]["verdict"], "CPU-bound") << r.out;
    EXPECT_NE(r.out.find("Your command is CPU-bound"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Run one per core"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cores, and a CPU-bound command keeps one busy"), std::string::npos) << r.out;
  }
  ASSERT_EQ(j["sweeps"].size(), 1u);
  auto speedup = Speedups(j["sweeps"][0]);
  ASSERT_EQ(speedup.size(), 4u);
  // Flat past one per core: more at once only take turns on the cores.
  EXPECT_LT(speedup[2 * c], 1.3 * speedup[c]) << r.out;
  EXPECT_LT(speedup[4 * c], 1.3 * speedup[c]) << r.out;
}

TEST(CompareTest, AnIoBoundCommandIsJudgedIoBoundAndKeepsPayingPastTheCores) {
  unsigned c = CoresForSweep();
  if (c < 2 || c > 8) GTEST_SKIP() << c << " cores";
  ScratchDir dir;
  std::string tasks = dir.Write("io.txt", Repeat("exec sleep 0.1", static_cast<int>(8 * c)));
  std::string json = dir.File("compare.json");
  Subprocess p(
      Coordinator({"compare", "--tasks", tasks, "--runs", "1", "--sweep", SweepAroundCores(c), "--json", json}));
  ProcessResult r = p.Wait(seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = ReadJson(json);
  auto rows = Rows(j, tasks);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  for (const char* mode : {"sequential", "processes", "oversubscribed"}) {
    ASSERT_TRUE(rows.count(mode)) << mode;
    EXPECT_EQ(rows[mode]["verdict"], "I/O-bound") << mode << "\n" << r.out;
    EXPECT_TRUE(rows[mode]["ok"].get<bool>()) << mode;
  }
  // In flight: workers x processes.
  EXPECT_EQ(rows["sequential"]["parallelism"].get<double>(), 1);
  EXPECT_EQ(rows["processes"]["parallelism"].get<double>(), c);
  EXPECT_EQ(rows["processes"]["processes"], 1);
  EXPECT_EQ(rows["oversubscribed"]["parallelism"].get<double>(), 4 * c);
  // Sleeping commands hold no core: more in flight than cores is faster.
  EXPECT_LT(rows["oversubscribed"]["median_s"].get<double>(), rows["processes"]["median_s"].get<double>());
  EXPECT_LT(rows["processes"]["median_s"].get<double>(), rows["sequential"]["median_s"].get<double>());
  ASSERT_EQ(j["sweeps"].size(), 1u);
  auto speedup = Speedups(j["sweeps"][0]);
  ASSERT_EQ(speedup.size(), 4u);
  EXPECT_GT(speedup[4 * c], 1.5 * speedup[c]) << r.out;
  EXPECT_NE(r.out.find("Your command is I/O-bound"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("keeps paying"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Left out: session"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("serial fraction"), std::string::npos) << r.out;
}

TEST(CompareTest, ModesForConnectionsAreLeftOutForCommands) {
  ScratchDir dir;
  std::string tasks = dir.Write("true.txt", Repeat("exec true", 2));
  std::string json = dir.File("compare.json");
  Subprocess p(
      Coordinator({"compare", "--tasks", tasks, "--runs", "1", "--modes", "sequential,async", "--json", json}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto rows = Rows(ReadJson(json), tasks);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows.count("sequential"));
  EXPECT_NE(r.out.find("Left out: async"), std::string::npos) << r.out;
  // Nothing left to run is a bad command line, not an empty table.
  Subprocess none(Coordinator({"compare", "--tasks", tasks, "--modes", "async,hybrid"}));
  ProcessResult n = none.Wait(seconds(20));
  EXPECT_EQ(n.exit_code, 2) << n.out << n.err;
  EXPECT_NE(n.err.find("exec/sh"), std::string::npos) << n.err;
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
