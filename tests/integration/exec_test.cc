// `exec` and `sh` tasks end to end: real coordinators and workers running
// real commands. Each record must say how its command ended, nothing a
// command started may outlive its task, output of any size streams through
// in bounded memory, and a worker runs user commands only when told to.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// "coordinator peak RSS: 11.5 MB" from the summary, in MB; -1 if missing.
double CoordinatorPeakRssMb(const std::string& out) {
  auto pos = out.find("coordinator peak RSS: ");
  return pos == std::string::npos ? -1 : std::stod(out.substr(pos + 22));
}

// The summary's per-kind row: "sh   1   226.7 ...  100%  CPU-bound".
std::string KindRow(const std::string& out, const std::string& kind) {
  for (const std::string& line : Lines(out)) {
    if (line.rfind(kind + " ", 0) == 0) return line;
  }
  return "";
}

// How many cores sat idle over the next `window`, from /proc/stat's
// machine-wide "cpu" line (idle + iowait of all the time counted).
double IdleCores(std::chrono::milliseconds window) {
  auto sample = [] {
    std::ifstream in("/proc/stat");
    std::string cpu;
    uint64_t total = 0, idle = 0, v;
    in >> cpu;
    for (int i = 0; i < 8 && in >> v; ++i) {
      total += v;
      if (i == 3 || i == 4) idle += v;
    }
    return std::pair{total, idle};
  };
  auto [total0, idle0] = sample();
  std::this_thread::sleep_for(window);
  auto [total1, idle1] = sample();
  if (total1 <= total0) return 0;
  return static_cast<double>(idle1 - idle0) / static_cast<double>(total1 - total0) *
         static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
}

double CpuMs(const nlohmann::json& rec) { return rec.value("cpu_user_ms", 0.0) + rec.value("cpu_sys_ms", 0.0); }

class ExecTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
};

// Names a shell would mangle (quotes, $, globs, spaces at either end) and a
// leading '-' that wc would take for an option unless it is written ./-x:
// the {} substitution has to hand each one to the program as one argument.
TEST_F(ExecTest, ExecTemplateOverFiveHundredAwkwardFileNamesRunsEachOnceWithItsOwnName) {
  // '@' is where the index goes (keeping each name distinct): never where
  // it would hide the awkward part (a trailing space, an extension).
  const std::vector<std::string> shapes = {
      "plain@",      "two words@", " leading space@", "trailing space@ ", "it's@",   "say \"hi@\"",
      "$HOME@",      "./-dash@",   "./--long@",       "star*@",           "q?@",     "[br]@",
      "semi;colon@", "amp&@",      "tick`x@`",        "back\\slash@",     "#hash@",  "bang!@",
      "brace{}@",    "{.}@",       "mix'\"$x@",       "ünïcödé@",         "日本語@", "emoji😀@",
      "x@.tar.gz",   "@"};
  const int n = 500;
  std::string files = dir_.path() + "/files";
  fs::create_directory(files);
  std::vector<std::string> names;
  std::string args;
  for (int i = 0; i < n; ++i) {
    std::string name = shapes[i % shapes.size()];
    name.replace(name.find('@'), 1, std::to_string(i));
    names.push_back(name);
    // Sizes differ, so a record with another file's count is caught.
    std::ofstream(files + "/" + name, std::ios::binary) << std::string(static_cast<size_t>(i * 7 + 1), 'x');
    args += name + "\n";
  }
  std::string args_file = dir_.Write("files.txt", args);

  // --dry-run first: the tasks as lines, no worker, no record file.
  std::string dry_out = dir_.File("dry.jsonl");
  Subprocess dry(
      Coordinator({"--exec", "wc -c {}", "--args", args_file, "--workdir", files, "--output", dry_out, "--dry-run"}));
  ProcessResult d = dry.Wait(seconds(30));
  ASSERT_EQ(d.exit_code, 0) << d.err;
  std::vector<std::string> dry_lines = Lines(d.out);
  ASSERT_EQ(dry_lines.size(), static_cast<size_t>(n)) << d.out.substr(0, 2000);
  for (const std::string& line : dry_lines) EXPECT_EQ(line.rfind("exec wc -c ", 0), 0u) << line;
  EXPECT_FALSE(fs::exists(dry_out)) << "--dry-run made the record file";

  std::string out = dir_.File("r.jsonl");
  Subprocess p(Coordinator({"--exec", "wc -c {}", "--args", args_file, "--workdir", files, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), n);
  for (auto& [id, rec] : by_id) {
    ASSERT_TRUE(rec["ok"].get<bool>()) << rec.dump();
    EXPECT_EQ(rec["exec"]["stdout"], std::to_string(id * 7 + 1) + " " + names[id] + "\n") << rec.dump();
    // What the dry run printed is what ran.
    EXPECT_EQ(rec["task"], dry_lines[id]);
  }
}

TEST_F(ExecTest, EachRecordSaysHowItsCommandEndedAndNothingItStartedOutlivesTheRun) {
  // Durations no other process uses, not even this test in a second copy
  // of this binary: its sleeps cannot be mistaken for these.
  const std::string pid = std::to_string(getpid());
  const std::vector<std::string> long_sleep = {"sleep", "30." + pid};
  const std::vector<std::string> background_sleep = {"sleep", "1000." + pid};
  std::string text =
      "exec true\n"
      "exec false\n"
      "sh 'echo first >&2; echo last words >&2; exit 7'\n"
      "exec /nonexistent-taskfarm-program\n"
      "sh 'kill -9 $$'\n";
  text += "exec sleep 30." + pid + "\n";
  text += "sh 'sleep 1000." + pid + " & echo started'\n";
  std::string tasks = dir_.Write("t.txt", text);
  std::string out = dir_.File("r.jsonl");
  Subprocess p(
      Coordinator({"--workers", "2", "--task-timeout", "1", "--retries", "0", "--tasks", tasks, "--output", out}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto by_id = ById(ReadJsonLines(out), 7);

  EXPECT_TRUE(by_id[0]["ok"].get<bool>()) << by_id[0].dump();
  EXPECT_EQ(by_id[0]["exec"]["exit_code"], 0);

  for (auto [id, code] : {std::pair{1, 1}, std::pair{2, 7}}) {
    const nlohmann::json& rec = by_id[id];
    EXPECT_FALSE(rec["ok"].get<bool>()) << rec.dump();
    EXPECT_EQ(rec["exec"]["exit_code"], code) << rec.dump();
    EXPECT_EQ(rec["exec"]["signal"], "") << rec.dump();
    EXPECT_EQ(rec["error_code"], "command_failed") << rec.dump();
    EXPECT_EQ(rec["error"].get<std::string>().rfind("exit " + std::to_string(code) + ": ", 0), 0u) << rec.dump();
  }
  // The error sentence ends with the last line the command wrote to stderr.
  EXPECT_EQ(by_id[2]["error"], "exit 7: sh 'echo first >&2; echo last words >&2; exit 7'; stderr: last words");

  EXPECT_EQ(by_id[3]["error_code"], "invalid_argument") << by_id[3].dump();
  EXPECT_NE(by_id[3]["error"].get<std::string>().find("no such program"), std::string::npos) << by_id[3].dump();

  // Killed by a signal it did not get from the worker: no exit code.
  EXPECT_EQ(by_id[4]["exec"]["signal"], "SIGKILL") << by_id[4].dump();
  EXPECT_FALSE(by_id[4]["exec"].contains("exit_code")) << by_id[4].dump();
  EXPECT_EQ(by_id[4]["error_code"], "unavailable") << by_id[4].dump();
  EXPECT_EQ(by_id[4]["attempts"], 1) << "--retries 0 still retried it";

  EXPECT_TRUE(by_id[5]["exec"]["timed_out"].get<bool>()) << by_id[5].dump();
  EXPECT_EQ(by_id[5]["error_code"], "deadline_exceeded") << by_id[5].dump();
  // SIGTERM at 1 s (sleep dies of it), SIGKILL a second later at most.
  EXPECT_GE(by_id[5]["duration_ms"].get<double>(), 1000.0);
  EXPECT_LT(by_id[5]["duration_ms"].get<double>(), 2500.0);

  // The shell's exit ends the task; its background sleep is not waited for.
  EXPECT_TRUE(by_id[6]["ok"].get<bool>()) << by_id[6].dump();
  EXPECT_EQ(by_id[6]["exec"]["stdout"], "started\n");
  EXPECT_LT(by_id[6]["duration_ms"].get<double>(), 1000.0) << by_id[6].dump();

  // The coordinator has exited: neither sleep may be left anywhere, and the
  // test has no unreaped child.
  EXPECT_EQ(ProcessesRunning(long_sleep).size(), 0u) << "sleep 30." << pid << " outlived its task";
  EXPECT_EQ(ProcessesRunning(background_sleep).size(), 0u)
      << "the background sleep 1000." << pid << " outlived its task";
  for (pid_t c : ChildrenOf(getpid())) EXPECT_FALSE(IsZombie(c)) << "zombie child " << c;
}

TEST_F(ExecTest, GigabyteOfOutputGoesToTheResultsFileInBoundedMemory) {
  std::string results = dir_.File("results");
  std::string tasks = dir_.Write("t.txt", "sh 'yes | head -c 1000000000'\n");
  std::string out = dir_.File("r.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--tasks", tasks, "--results", results, "--output", out}));
  ProcessResult r = p.Wait(seconds(60));
  std::error_code ec;
  uintmax_t size = fs::file_size(results + "/0.stdout", ec);
  std::string head;
  if (!ec) {
    std::ifstream in(results + "/0.stdout", std::ios::binary);
    head.resize(6);
    in.read(head.data(), 6);
  }
  // The file is not needed past its size: drop the gigabyte before anything
  // can stop the test.
  fs::remove_all(results, ec);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(size, 1'000'000'000u);
  EXPECT_EQ(head, "y\ny\ny\n");
  auto by_id = ById(ReadJsonLines(out), 1);
  const nlohmann::json& rec = by_id[0];
  EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
  EXPECT_EQ(rec["exec"]["stdout_bytes"], 1'000'000'000u);
  // The record keeps only the last --capture bytes (4096 by default).
  EXPECT_EQ(rec["exec"]["stdout"].get<std::string>().size(), 4096u);
  EXPECT_LT(rec["worker_max_rss_kb"].get<int64_t>(), 50 * 1024) << rec.dump();
  double coordinator_mb = CoordinatorPeakRssMb(r.out);
  EXPECT_GT(coordinator_mb, 0) << r.out;
  EXPECT_LT(coordinator_mb, 50.0) << r.out;
  RecordProperty("coordinator_peak_rss_mb", std::to_string(coordinator_mb));
}

TEST_F(ExecTest, RecordsCarryEachCommandsOwnCpuAndMemoryAndTheSummaryJudgesEachKind) {
  // A CPU-bound command that holds 200 MiB, and one that only waits.
  // Whether a core was free for the first is measured just before: its
  // CPU time >= 80 % of its wall time needs a core to itself (hence also
  // SERIAL in tests/CMakeLists.txt).
  double idle_cores = IdleCores(std::chrono::milliseconds(300));
  std::string tasks = dir_.Write("t.txt",
                                 "sh '/usr/bin/python3 -c \"x=bytearray(200*1024*1024); s=sum(range(30_000_000))\"'\n"
                                 "exec sleep 1\n");
  std::string out = dir_.File("r.jsonl");
  Subprocess p(Coordinator({"--workers", "2", "--tasks", tasks, "--output", out}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), 2);

  const nlohmann::json& cpu = by_id[0];
  ASSERT_TRUE(cpu["ok"].get<bool>()) << cpu.dump();
  EXPECT_GE(cpu["exec"]["max_rss_kb"].get<int64_t>(), 200 * 1024) << cpu.dump();

  const nlohmann::json& idle = by_id[1];
  ASSERT_TRUE(idle["ok"].get<bool>()) << idle.dump();
  EXPECT_GE(idle["duration_ms"].get<double>(), 1000.0);
  EXPECT_LT(CpuMs(idle), 0.05 * idle["duration_ms"].get<double>()) << idle.dump();
  EXPECT_LT(idle["exec"]["max_rss_kb"].get<int64_t>(), 20 * 1024) << idle.dump();
  // And it is sleep's own, C library loaded (~1.8 MB), not the few kB of a
  // sample taken at its exec only: the worker samples while it waits.
  EXPECT_GE(idle["exec"]["max_rss_kb"].get<int64_t>(), 512) << idle.dump();
  EXPECT_NE(KindRow(r.out, "exec").find("I/O-bound"), std::string::npos) << r.out;

  // Another program spinning on every core takes the command's CPU away
  // from it: then its record cannot be held to the wall clock. (A skip
  // after failures above still fails the test.)
  if (idle_cores < 1.0) {
    GTEST_SKIP() << "the machine was busy (" << idle_cores << " cores idle): CPU time not compared with wall time";
  }
  EXPECT_GE(CpuMs(cpu), 0.8 * cpu["duration_ms"].get<double>()) << cpu.dump();
  EXPECT_NE(KindRow(r.out, "sh").find("CPU-bound"), std::string::npos) << r.out;
}

// A worker the coordinator did not start runs nobody's commands unless its
// owner says so, and the coordinator says once which worker refuses.
TEST_F(ExecTest, RemoteWorkerRunsExecTasksOnlyWithAllowExec) {
  std::string tasks = dir_.Write("t.txt", Repeat("exec true", 5) + "sleep 10\n");
  const std::string refusal = "worker rw does not run exec tasks; start it with --allow-exec to allow them";
  const std::string note = "coordinator: worker rw refuses exec tasks (started without --allow-exec); they fail there";
  for (bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "with --allow-exec" : "without --allow-exec");
    std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
    std::string out = dir_.File(allow ? "allowed.jsonl" : "refused.jsonl");
    Subprocess c(Coordinator({"--workers", "0", "--bind", endpoint, "--min-workers", "1", "--wait-workers", "30",
                              "--tasks", tasks, "--output", out}));
    std::vector<std::string> worker{BinaryPath("worker"), "--connect", endpoint, "--name", "rw"};
    if (allow) worker.push_back("--allow-exec");
    Subprocess w(worker);
    ProcessResult r = c.Wait(seconds(60));
    ASSERT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, allow ? 0 : 1) << r.err;
    auto by_id = ById(ReadJsonLines(out), 6);
    for (int id = 0; id < 5; ++id) {
      const nlohmann::json& rec = by_id[id];
      EXPECT_EQ(rec["worker"], "rw");
      if (allow) {
        EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
        EXPECT_EQ(rec["exec"]["exit_code"], 0) << rec.dump();
      } else {
        EXPECT_FALSE(rec["ok"].get<bool>()) << rec.dump();
        EXPECT_EQ(rec["error_code"], "permission_denied") << rec.dump();
        EXPECT_EQ(rec["error"], refusal) << rec.dump();
        EXPECT_EQ(rec["attempts"], 1) << "a refusal is no reason to try again";
      }
    }
    // Other kinds run there either way.
    EXPECT_TRUE(by_id[5]["ok"].get<bool>()) << by_id[5].dump();
    EXPECT_EQ(CountLines(r.err, note), allow ? 0 : 1) << r.err;
    EXPECT_EQ(CountLines(r.err, "refuses"), allow ? 0 : 1) << r.err;
    EXPECT_EQ(w.Wait(seconds(10)).exit_code, 0);
  }
}

// -q with no record file still says it: otherwise such a run only fails,
// with nothing to say why.
TEST_F(ExecTest, QuietRunStillSaysOnceThatAWorkerRefusesExecTasks) {
  std::string tasks = dir_.Write("t.txt", Repeat("exec true", 5));
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  Subprocess c(Coordinator(
      {"--workers", "0", "--bind", endpoint, "--min-workers", "1", "--wait-workers", "30", "--tasks", tasks, "-q"}));
  Subprocess w({BinaryPath("worker"), "--connect", endpoint, "--name", "rw"});
  ProcessResult r = c.Wait(seconds(60));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(CountLines(r.err, "coordinator: worker rw refuses exec tasks (started without --allow-exec)"), 1) << r.err;
  EXPECT_EQ(w.Wait(seconds(10)).exit_code, 0);
}

TEST_F(ExecTest, RetryExitCodesRetriesOnlyTheCodesNamed) {
  std::string tasks = dir_.Write("t.txt", "sh 'exit 3'\nsh 'exit 4'\n");
  std::string out = dir_.File("r.jsonl");
  Subprocess p(Coordinator(
      {"--workers", "2", "--retry-exit-codes", "3", "--retries", "2", "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto by_id = ById(ReadJsonLines(out), 2);
  EXPECT_EQ(by_id[0]["attempts"], 3) << by_id[0].dump();
  EXPECT_EQ(by_id[0]["failures"].size(), 2u) << by_id[0].dump();
  EXPECT_EQ(by_id[0]["exec"]["exit_code"], 3);
  EXPECT_EQ(by_id[0]["error_code"], "command_failed");
  EXPECT_EQ(by_id[1]["attempts"], 1) << by_id[1].dump();
  EXPECT_EQ(by_id[1]["exec"]["exit_code"], 4);
  EXPECT_EQ(by_id[1]["error_code"], "command_failed");
}

// GNU parallel's grouping: tasks running side by side, each printing lines
// with pauses in between, still show each task's output in one piece right
// under that task's own line.
TEST_F(ExecTest, PrintOutputShowsEachTasksWholeOutputRightAfterItsLine) {
  const int n = 12, lines_each = 4;
  std::string text;
  for (int t = 0; t < n; ++t) {
    text += "sh 'for i in 1 2 3 4; do echo \"task " + std::to_string(t) + " line $i\"; sleep 0.0$i; done'\n";
  }
  std::string tasks = dir_.Write("t.txt", text);
  Subprocess p(Coordinator({"--workers", "2", "--processes", "3", "--tasks", tasks, "--print-output"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  // "task 3: exit 0: sh 'for ... task 3 line ...' (worker w1, ...)": the id first.
  const std::regex task_line(R"(^task (\d+): exit 0: sh 'for .*task (\d+) line.*\(worker .*\)$)");
  std::set<int> seen;
  for (size_t i = 0; i < lines.size() && lines[i] != "== Summary =="; ++i) {
    std::smatch m;
    if (lines[i].empty()) continue;
    ASSERT_TRUE(std::regex_match(lines[i], m, task_line)) << "line " << i << " is out of place:\n" << r.out;
    int t = std::stoi(m[2]);
    EXPECT_EQ(std::stoi(m[1]), t) << lines[i];
    EXPECT_TRUE(seen.insert(t).second) << "task " << t << " shown twice";
    for (int k = 1; k <= lines_each; ++k) {
      ASSERT_LT(i + k, lines.size());
      EXPECT_EQ(lines[i + k], "task " + std::to_string(t) + " line " + std::to_string(k)) << r.out;
    }
    i += lines_each;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(n)) << r.out;
}

TEST_F(ExecTest, WorkdirIsWhereCommandsRunAndResultsHoldEachTasksStreams) {
  std::string workdir = fs::canonical(dir_.path()).string() + "/work";
  std::string results = fs::canonical(dir_.path()).string() + "/results";
  fs::create_directory(workdir);
  std::string tasks = dir_.Write("t.txt",
                                 "exec pwd\n"
                                 "sh 'echo out; echo err >&2'\n"
                                 "sh 'echo made > here.txt'\n");
  std::string out = dir_.File("r.jsonl");
  Subprocess p(Coordinator(
      {"--workers", "2", "--workdir", workdir, "--results", results, "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), 3);
  EXPECT_EQ(by_id[0]["exec"]["stdout"], workdir + "\n");
  EXPECT_EQ(ReadText(results + "/0.stdout"), workdir + "\n");
  EXPECT_EQ(ReadText(results + "/1.stdout"), "out\n");
  EXPECT_EQ(ReadText(results + "/1.stderr"), "err\n");
  EXPECT_EQ(by_id[1]["exec"]["stderr"], "err\n");
  // A file the command makes lands in the workdir, and that is all there is.
  EXPECT_EQ(ReadText(workdir + "/here.txt"), "made\n");
  std::set<std::string> in_workdir, in_results;
  for (const auto& e : fs::directory_iterator(workdir)) in_workdir.insert(e.path().filename());
  for (const auto& e : fs::directory_iterator(results)) in_results.insert(e.path().filename());
  EXPECT_EQ(in_workdir, std::set<std::string>{"here.txt"});
  EXPECT_EQ(in_results,
            (std::set<std::string>{"0.stdout", "0.stderr", "1.stdout", "1.stderr", "2.stdout", "2.stderr"}));
}

}  // namespace
}  // namespace taskfarm::testing
