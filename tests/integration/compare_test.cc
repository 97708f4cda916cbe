// `coordinator compare` end to end, small: real farm runs per mode. Checks
// verdicts, ordering and the JSON, and for commands the shape of the sweep
// (flat past the cores, or still rising), not the times themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/shell_words.h"
#include "tests/support/farm_test_util.h"

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

// What compare printed with its lines joined again: paragraphs are wrapped
// at 100 columns, so a phrase may span a line break.
std::string Words(std::string out) {
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

// Every line of what compare prints fits a 100-column terminal.
void ExpectFitsColumns(const std::string& out) {
  for (const std::string& line : Lines(out)) EXPECT_LE(Columns(line), 100u) << line;
}

// A table as TextTable prints it: cells two or more spaces apart. The rows
// under the header line that starts with `first_header`, up to the first line
// that has fewer cells than `min_cells`.
std::vector<std::vector<std::string>> TableAfter(const std::string& out, const std::string& first_header,
                                                 size_t from = 0, size_t min_cells = 3) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(out.substr(from));
  std::string line;
  bool in_table = false;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::regex gap(" {2,}");
    for (std::sregex_token_iterator it(line.begin(), line.end(), gap, -1), end; it != end; ++it) {
      if (!it->str().empty()) cells.push_back(*it);
    }
    if (!in_table) {
      in_table = !cells.empty() && cells[0] == first_header;
      if (in_table) rows.push_back(cells);
      continue;
    }
    if (cells.size() < min_cells) break;
    rows.push_back(cells);
  }
  return rows;
}

// `cell` ("9.15", "1.94x", "194%") shows `value` (times `scale`) to the
// precision it was printed with.
void ExpectShows(const std::string& cell, double value, double scale, const std::string& what) {
  std::string digits = cell;
  while (!digits.empty() && (digits.back() == 'x' || digits.back() == '%')) digits.pop_back();
  size_t dot = digits.find('.');
  int decimals = dot == std::string::npos ? 0 : static_cast<int>(digits.size() - dot - 1);
  double shown = std::stod(digits);
  EXPECT_NEAR(shown, value * scale, 0.5 * std::pow(10.0, -decimals) + 1e-9) << what << ": '" << cell << "'";
}

TEST(CompareTest, JsonHoldsEveryNumberOfTheTerminalTables) {
  ScratchDir dir;
  std::string tasks = dir.Write("sleep.txt", Repeat("sleep 20", 12));
  std::string json = dir.File("compare.json");
  std::vector<std::string> argv = Coordinator({"compare", "--tasks", tasks, "--modes", "sequential,async,processes",
                                               "--runs", "2", "--sweep", "concurrency=1,4", "--json", json});
  Subprocess p(argv);
  ProcessResult r = p.Wait(seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ExpectFitsColumns(r.out);
  nlohmann::json j = ReadJson(json);
  // The command as typed, quoted so it pastes back.
  EXPECT_EQ(j["command"], JoinShellWords(argv));

  auto table = TableAfter(r.out, "mode");
  ASSERT_EQ(table.size(), 4u) << r.out;
  EXPECT_EQ(table[0], (std::vector<std::string>{"mode", "wall s", "min-max s", "tasks/s", "speedup", "effic.", "CPU s",
                                                "CPU/wall", "verdict"}));
  auto rows = Rows(j, tasks);
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 1; i < table.size(); ++i) {
    const auto& cells = table[i];
    ASSERT_EQ(cells.size(), 9u) << r.out;
    ASSERT_TRUE(rows.count(cells[0])) << cells[0];
    const nlohmann::json& row = rows[cells[0]];
    ASSERT_EQ(row["wall_s"].size(), 2u);
    EXPECT_EQ(row["min_s"].get<double>(), std::min(row["wall_s"][0].get<double>(), row["wall_s"][1].get<double>()));
    EXPECT_EQ(row["max_s"].get<double>(), std::max(row["wall_s"][0].get<double>(), row["wall_s"][1].get<double>()));
    ExpectShows(cells[1], row["median_s"], 1, cells[0] + " wall s");
    size_t dash = cells[2].find('-');
    ASSERT_NE(dash, std::string::npos) << cells[2];
    ExpectShows(cells[2].substr(0, dash), row["min_s"], 1, cells[0] + " min");
    ExpectShows(cells[2].substr(dash + 1), row["max_s"], 1, cells[0] + " max");
    ExpectShows(cells[3], row["tasks_per_s"], 1, cells[0] + " tasks/s");
    ExpectShows(cells[4], row["speedup"], 1, cells[0] + " speedup");
    ExpectShows(cells[5], row["efficiency"], 100, cells[0] + " efficiency");
    ExpectShows(cells[6], row["cpu_s"], 1, cells[0] + " CPU s");
    ExpectShows(cells[7], row["cpu_over_wall"], 100, cells[0] + " CPU/wall");
    EXPECT_EQ(cells[8], row["verdict"].get<std::string>());
    // And the numbers come from the runs: 12 tasks over the median wall
    // time, the speedup over sequential's.
    EXPECT_NEAR(row["tasks_per_s"].get<double>(), 12 / row["median_s"].get<double>(),
                0.01 * row["tasks_per_s"].get<double>());
    EXPECT_NEAR(row["speedup"].get<double>(),
                rows["sequential"]["median_s"].get<double>() / row["median_s"].get<double>(),
                0.01 * row["speedup"].get<double>());
  }

  // The fastest mode's records: its timeline holds each of the 12 tasks
  // once, and its histogram's numbers are theirs.
  ASSERT_EQ(j["timelines"].size(), 1u);
  std::vector<double> durations;
  std::set<int> ids;
  for (const auto& span : j["timelines"][0]["spans"]) {
    durations.push_back(span["duration_ms"].get<double>());
    ids.insert(span["id"].get<int>());
  }
  EXPECT_EQ(ids.size(), 12u);
  std::sort(durations.begin(), durations.end());
  ASSERT_EQ(j["histograms"].size(), 1u);
  const auto& h = j["histograms"][0];
  EXPECT_EQ(h["total"].get<int>(), 12);
  int counted = 0;
  for (const auto& c : h["counts"]) counted += c.get<int>();
  EXPECT_EQ(counted, 12);
  auto rank = [&](double p) { return durations[std::max<size_t>(1, std::ceil(p / 100 * 12)) - 1]; };
  EXPECT_NEAR(h["p50_ms"].get<double>(), rank(50), 1e-3);
  EXPECT_NEAR(h["p90_ms"].get<double>(), rank(90), 1e-3);
  EXPECT_NEAR(h["max_ms"].get<double>(), durations.back(), 1e-3);
  EXPECT_NEAR(h["min_ms"].get<double>(), durations.front(), 1e-3);

  ASSERT_EQ(j["sweeps"].size(), 1u);
  const auto& points = j["sweeps"][0]["points"];
  auto sweep = TableAfter(r.out, "concurrency", r.out.find("-- sweep over concurrency"));
  ASSERT_EQ(sweep.size(), 1 + points.size()) << r.out;
  EXPECT_EQ(sweep[0], (std::vector<std::string>{"concurrency", "wall s", "speedup", "efficiency", "ideal", "Amdahl"}));
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& cells = sweep[i + 1];
    const auto& pt = points[i];
    ASSERT_EQ(cells.size(), 6u);
    EXPECT_EQ(std::stoi(cells[0]), pt["value"].get<int>());
    ExpectShows(cells[1], pt["median_s"], 1, "sweep wall s");
    ExpectShows(cells[2], pt["speedup"], 1, "sweep speedup");
    ExpectShows(cells[3], pt["efficiency"], 100, "sweep efficiency");
    ExpectShows(cells[4], pt["ideal"], 1, "sweep ideal");
    ExpectShows(cells[5], pt["amdahl"], 1, "sweep Amdahl");
  }
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
  ExpectFitsColumns(r.out);
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
  EXPECT_NE(Words(r.out).find("Overlapping waits is what pays"), std::string::npos) << r.out;
  EXPECT_NE(Words(r.out).find("Overlapping does not help CPU work"), std::string::npos) << r.out;
  EXPECT_FALSE(j["conclusions"].empty());
  // The report: one file, no script, a timeline per workload.
  std::ifstream in(html);
  std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(j["timelines"].size(), 2u);
}

// "%.0f" of `x`, as compare prints its figures.
std::string Ms(double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f ms", x);
  return buf;
}

// The tutorials' Session lesson under 20 ms round trips (the rig's latency
// proxy) and HTTPS: one reused connection is at least 1.8x faster than a
// new one per request over the 160 downloads, and the words say why from
// the handshake times the records measured.
TEST(CompareTest, DownloadsAt20msRoundTripShowTheSessionLessonFromTheHandshakes) {
  ScratchDir dir;
  std::string json = dir.File("compare.json");
  Subprocess p(Coordinator({"compare", "--workload", "downloads", "--downloads", "160", "--rtt", "20ms", "--modes",
                            "sequential,session", "--runs", "1", "--json", json}));
  ProcessResult r = p.Wait(seconds(150));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ExpectFitsColumns(r.out);
  EXPECT_NE(Words(r.err).find("a latency proxy in front of a loopback test server"), std::string::npos) << r.err;
  EXPECT_NE(Words(r.err).find("a stand-in for a network"), std::string::npos) << r.err;
  nlohmann::json j = ReadJson(json);
  auto rows = Rows(j, "Downloads: 160 HTTPS pages at 20 ms round trip");
  ASSERT_EQ(rows.size(), 2u) << r.out;
  nlohmann::json seq = rows["sequential"], session = rows["session"];
  for (const nlohmann::json* row : {&seq, &session}) {
    EXPECT_TRUE((*row)["ok"].get<bool>()) << r.out;
    EXPECT_EQ((*row)["url_records"], 160);
  }
  // What the records say: a handshake per request against one in all,
  // and each of sequential's TLS handshakes waited out at least its two
  // round trips (the TCP handshake's stand-in, then TLS 1.3's).
  EXPECT_EQ(seq["new_connections"].get<double>(), 160);
  EXPECT_EQ(session["new_connections"].get<double>(), 1);
  double tls = seq["tls_ms"].get<double>();
  EXPECT_GE(tls, 2 * 20 - 1);
  EXPECT_GT(session["tls_ms"].get<double>(), 0);
  EXPECT_GE(session["wait_ms"].get<double>(), 20 - 1);
  // The lesson itself.
  double speedup = seq["median_s"].get<double>() / session["median_s"].get<double>();
  EXPECT_GE(speedup, 1.8) << r.out;
  EXPECT_NEAR(session["speedup"].get<double>(), speedup, 0.01 * speedup);
  // Why, in the words under the table, from those figures.
  std::string words;
  for (const auto& c : j["conclusions"]) words += c.get<std::string>() + "\n";
  EXPECT_NE(words.find("Reusing one connection (session) is"), std::string::npos) << words;
  EXPECT_NE(words.find("each spending " + Ms(tls) + " (median) on the TCP and TLS handshakes"), std::string::npos)
      << words;
  EXPECT_NE(words.find("session opened 1 and then waited " + Ms(session["wait_ms"].get<double>()) + " per request"),
            std::string::npos)
      << words;
  EXPECT_NE(words.find("latency proxy"), std::string::npos) << words;
  EXPECT_NE(Words(r.out).find("each spending " + Ms(tls) + " (median)"), std::string::npos) << r.out;
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
  EXPECT_NE(Words(r.out).find("serial fraction"), std::string::npos);
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
  ExpectFitsColumns(r.out);
  nlohmann::json j = ReadJson(json);
  auto rows = Rows(j, tasks);
  ASSERT_EQ(rows.size(), 1u) << r.out;
  EXPECT_TRUE(rows["sequential"]["ok"].get<bool>());
  // A command waiting for a core looks like one waiting on I/O. Where other
  // work took the cores in every run, compare says so instead of being sure.
  bool crowded = Words(r.out).find("Other work kept") != std::string::npos;
  if (crowded) {
    EXPECT_NE(rows["sequential"]["verdict"], "I/O-bound") << r.out;
  } else {
    EXPECT_EQ(rows["sequential"]["verdict"], "CPU-bound") << r.out;
    EXPECT_NE(Words(r.out).find("Your command is CPU-bound"), std::string::npos) << r.out;
    EXPECT_NE(Words(r.out).find("Run one per core"), std::string::npos) << r.out;
    EXPECT_NE(Words(r.out).find("cores, and a CPU-bound command keeps one busy"), std::string::npos) << r.out;
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
  ExpectFitsColumns(r.out);
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
  EXPECT_NE(Words(r.out).find("Your command is I/O-bound"), std::string::npos) << r.out;
  EXPECT_NE(Words(r.out).find("keeps paying"), std::string::npos) << r.out;
  EXPECT_NE(Words(r.out).find("Left out: session"), std::string::npos) << r.out;
  EXPECT_NE(Words(r.out).find("serial fraction"), std::string::npos) << r.out;
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
  EXPECT_NE(Words(r.out).find("Left out: async"), std::string::npos) << r.out;
  // Nothing left to run is a bad command line, not an empty table.
  Subprocess none(Coordinator({"compare", "--tasks", tasks, "--modes", "async,hybrid"}));
  ProcessResult n = none.Wait(seconds(20));
  EXPECT_EQ(n.exit_code, 2) << n.out << n.err;
  EXPECT_NE(n.err.find("exec/sh"), std::string::npos) << n.err;
}

TEST(CompareTest, BadOptionsAreRefused) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"compare", "--modes", "turbo"},
        std::vector<std::string>{"compare", "--sweep", "cores=1,2"},
        std::vector<std::string>{"compare", "--sweep", "workers=1"},
        std::vector<std::string>{"compare", "--workload", "turbo"}, std::vector<std::string>{"compare", "--rtt", "2m"},
        std::vector<std::string>{"compare", "--tasks", "/nonexistent"},
        std::vector<std::string>{"compare", "--report", "/nonexistent/r.html"},
        std::vector<std::string>{"compare", "--json", "/nonexistent/r.json"}}) {
    Subprocess p(Coordinator(args));
    ProcessResult r = p.Wait(seconds(20));
    EXPECT_EQ(r.exit_code, 2) << args[1] << " " << args[2] << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  // A task file is a workload of its own: no built-in one beside it.
  ScratchDir dir;
  std::string tasks = dir.Write("noop.txt", "noop\n");
  Subprocess p(Coordinator({"compare", "--tasks", tasks, "--workload", "io"}));
  ProcessResult r = p.Wait(seconds(20));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--workload names built-in workloads"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskfarm::testing
