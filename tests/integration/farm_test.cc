// End to end: the real coordinator binary forks real workers, which fetch
// from a real loopback HTTP server over real ZeroMQ sockets.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "tests/support/farm_test_util.h"
#include "testserver/http_test_server.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;

using FarmTest = LoopbackServerTest;

TEST_F(FarmTest, MixedTaskFileGivesOneRecordPerTask) {
  std::string refused = "http://127.0.0.1:1/nothing-listens-here";
  std::string tasks = dir_.Write("tasks.txt",
                                 "# a mixed workload\n"
                                 "url " +
                                     Url("/page/1") +
                                     "\n"
                                     "url " +
                                     Url("/page/2") +
                                     "\n"
                                     "\n"
                                     "url " +
                                     Url("/page/3") +
                                     "\n"
                                     "cpu primes 125000\n"
                                     "url " +
                                     Url("/status/500") +
                                     "\n"
                                     "sleep 20\n"
                                     "url " +
                                     refused +
                                     "\n"
                                     "cpu primes 1000\n"
                                     "url " +
                                     Url("/bytes/5000?chunked=1") + "\n");
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "4", "--tasks", tasks, "--output", out, "--retries", "1"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto by_id = ById(ReadJsonLines(out), 9);
  ASSERT_EQ(by_id.size(), 9u);
  EXPECT_EQ(by_id[0]["bytes"], 11369);
  EXPECT_EQ(by_id[1]["bytes"], 107786);
  EXPECT_EQ(by_id[2]["bytes"], 608312);
  EXPECT_EQ(by_id[8]["bytes"], 5000);
  for (int id : {0, 1, 2, 8}) {
    EXPECT_EQ(by_id[id]["kind"], "url");
    EXPECT_EQ(by_id[id]["ok"], true);
    EXPECT_EQ(by_id[id]["http_status"], 200);
    EXPECT_TRUE(by_id[id].contains("url"));
  }
  EXPECT_EQ(by_id[3]["kind"], "cpu");
  EXPECT_EQ(by_id[3]["result"], 11734);
  EXPECT_EQ(by_id[7]["result"], 168);
  EXPECT_EQ(by_id[5]["kind"], "sleep");
  EXPECT_EQ(by_id[5]["ok"], true);
  // The 500 and the refused connection fail, with a reason a person can use.
  EXPECT_EQ(by_id[4]["ok"], false);
  EXPECT_EQ(by_id[4]["http_status"], 500);
  EXPECT_NE(by_id[4]["error"].get<std::string>().find("HTTP 500"), std::string::npos);
  EXPECT_EQ(by_id[6]["ok"], false);
  EXPECT_NE(by_id[6]["error"].get<std::string>().find("refused"), std::string::npos);
  for (auto& [id, rec] : by_id) {
    for (const char* key : {"id", "kind", "ok", "worker", "attempts", "duration_ms"}) {
      EXPECT_TRUE(rec.contains(key)) << "record " << id << " lacks " << key;
    }
    EXPECT_FALSE(rec["worker"].get<std::string>().empty());
  }
  // Transient failures were retried (--retries 1): two attempts each.
  EXPECT_EQ(by_id[4]["attempts"], 2);
  EXPECT_EQ(by_id[6]["attempts"], 2);
  // One line per task on stdout, and the tutorials' last line.
  EXPECT_EQ(CountLines(r.out, "Read "), 4);
  EXPECT_EQ(CountLines(r.out, "FAILED"), 2);
  EXPECT_NE(r.out.find("Completed 9 tasks in"), std::string::npos);
}

TEST_F(FarmTest, BadTaskFileIsRejectedWholeAndNothingRuns) {
  std::string tasks = dir_.Write("bad.txt",
                                 "sleep 10\n"
                                 "frobnicate 3\n"
                                 "# fine\n"
                                 "cpu primes\n"
                                 "sleep soon\n");
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "2", "--tasks", tasks, "--output", out}));
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(CountLines(r.err, tasks + ":"), 3) << r.err;
  EXPECT_NE(r.err.find(tasks + ":2: unknown task kind 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(tasks + ":4: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(tasks + ":5: 'sleep MS': milliseconds must be a whole number from 0 to 86400000, not 'soon'"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(access(out.c_str(), F_OK), -1) << "nothing may run, so no output file";
  EXPECT_EQ(CountLines(r.out, "Slept"), 0);
}

TEST_F(FarmTest, NoWorkerSitsIdleWhileAnotherHoldsTasks) {
  std::string text = "sleep 2000\n";
  for (int i = 0; i < 100; ++i) text += "sleep 20\n";
  std::string tasks = dir_.Write("lb.txt", text);
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "2", "--concurrency", "1", "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), 101);
  std::string long_worker = by_id[0]["worker"];
  double long_end = by_id[0]["start_ms"].get<double>() + by_id[0]["duration_ms"].get<double>();
  int on_long = 0;
  std::set<std::string> workers;
  for (auto& [id, rec] : by_id) {
    workers.insert(rec["worker"].get<std::string>());
    if (id == 0 || rec["worker"] != long_worker) continue;
    ++on_long;
    // Nothing queued behind the long task: whatever else its worker ran
    // started after the long task was done (1 ms for clock rounding).
    EXPECT_GE(rec["start_ms"].get<double>(), long_end - 1.0) << rec.dump();
  }
  EXPECT_EQ(workers.size(), 2u);
  // Round-robin would give it 50. How many it gets after its long task
  // depends on how fast the other worker got through the rest, which a
  // loaded machine slows; on a quiet one it is 0 to 2.
  EXPECT_LT(on_long, 50);
  RecordProperty("short_tasks_on_long_worker", on_long);
}

TEST_F(FarmTest, StandardInputAndUrlListAreTaskSources) {
  std::string text = "url " + Url("/json") + "\nsleep 5\n# comment\ncpu primes 100\n";
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "2", "--tasks", "-", "--output", out}), {}, text);
  ProcessResult r = p.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), 3);
  EXPECT_EQ(by_id[0]["bytes"], 300);
  EXPECT_EQ(by_id[2]["result"], 25);

  std::string urls = dir_.Write("urls.txt", Url("/page/1") + "\n\n" + Url("/page/2") + "\n");
  std::string out2 = dir_.File("R2.jsonl");
  Subprocess q(Coordinator({"--workers", "1", "--urls", urls, "--output", out2}));
  ProcessResult r2 = q.Wait(seconds(30));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  auto by_id2 = ById(ReadJsonLines(out2), 2);
  EXPECT_EQ(by_id2[1]["bytes"], 107786);
}

TEST_F(FarmTest, APipeIsATaskSourceToo) {
  // `--tasks <(generate)` hands over a pipe, which cannot be read twice.
  std::string fifo = dir_.File("tasks.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo) << "sleep 5\ncpu primes 100\nsleep 5\n"; });
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "2", "--tasks", fifo, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(30));
  writer.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), 3);
  EXPECT_EQ(by_id[1]["result"], 25);
}

TEST_F(FarmTest, BadCommandLinesGiveOneLineAndExit2) {
  std::string ok_tasks = dir_.Write("t.txt", "sleep 1\n");
  const std::vector<std::vector<std::string>> cases = {
      {"--workers", "-1", "--tasks", ok_tasks},
      {"--workers", "abc", "--tasks", ok_tasks},
      {"--bind", "tcp://nohost", "--tasks", ok_tasks},
      {"--tasks", dir_.File("does-not-exist.txt")},
  };
  for (const auto& args : cases) {
    Subprocess p(Coordinator(args));
    ProcessResult r = p.Wait(seconds(20));
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
    EXPECT_LE(CountLines(r.err, ""), 3) << r.err;
  }
}

TEST_F(FarmTest, AWorkerProgramThatCannotStartIsOneClearError) {
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 1", 5));
  std::string missing = dir_.File("no-such-worker");
  Subprocess p(Coordinator({"--workers", "2", "--worker-bin", missing, "--tasks", tasks}));
  ProcessResult r = p.Wait(seconds(20));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot start " + missing + ": No such file or directory"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("5 cancelled"), std::string::npos) << r.out;
}

// A short run ends when its records are written and its registered workers
// have been told to go: it does not wait for local workers still starting.
// Here all but one never start at all (the --worker-bin wrapper makes one
// real worker and leaves the others asleep for an hour), so a run that
// waited for them would not end; each mix of few tasks and many workers
// ends with every record written, and the sleepers are killed with it.
TEST_F(FarmTest, AShortRunDoesNotWaitForWorkersStillStarting) {
  const std::string sleeper_seconds = "3599";
  std::string wrapper = dir_.Write("first-worker-only.sh",
                                   "#!/bin/sh\n"
                                   "if mkdir \"$0.first\" 2>/dev/null; then exec " +
                                       BinaryPath("worker") + " \"$@\"; fi\nexec sleep " + sleeper_seconds + "\n");
  ASSERT_EQ(chmod(wrapper.c_str(), 0755), 0);
  struct Mix {
    int tasks, workers;
  };
  for (Mix mix : {Mix{1, 3}, Mix{5, 8}, Mix{20, 20}}) {
    SCOPED_TRACE(std::to_string(mix.tasks) + " tasks, " + std::to_string(mix.workers) + " workers");
    rmdir((wrapper + ".first").c_str());
    std::string tasks = dir_.Write("t.txt", Repeat("noop", mix.tasks));
    std::string out = dir_.File("out.jsonl");
    Subprocess p(Coordinator(
        {"--workers", std::to_string(mix.workers), "--worker-bin", wrapper, "--tasks", tasks, "--output", out, "-q"}));
    ProcessResult r = p.Wait(seconds(60));
    ASSERT_FALSE(r.timed_out) << "the run waited for workers that never started";
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ById(ReadJsonLines(out), mix.tasks).size(), static_cast<size_t>(mix.tasks));
    EXPECT_TRUE(ProcessesRunning({"sleep", sleeper_seconds}).empty()) << "a worker still starting outlived the run";
  }
}

TEST_F(FarmTest, BuiltInDemoRunsOnLoopback) {
  Subprocess p(Coordinator({"--workers", "5"}));
  ProcessResult r = p.Wait(seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out, "Read "), 90);
  EXPECT_EQ(CountLines(r.out, "primes below"), 20);
  EXPECT_NE(r.out.find("Completed 110 tasks in"), std::string::npos);
  EXPECT_NE(r.out.find("== Summary =="), std::string::npos);
}

}  // namespace
}  // namespace taskfarm::testing
