// Workers the coordinator did not start: they connect over tcp:// on
// loopback, may come before the coordinator, join mid-run, leave on Ctrl-C
// and, with --forever, serve run after run.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <thread>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Json = nlohmann::json;

class RemoteWorkerTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  std::string endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());

  std::vector<std::string> Worker(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{BinaryPath("worker"), "--connect", endpoint_, "--name", name};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::vector<std::string> RemoteRun(const std::string& tasks, const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args{"--workers", "0", "--bind", endpoint_, "--tasks", tasks, "--output", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return Coordinator(args);
  }
};

TEST_F(RemoteWorkerTest, WorkerStartedFirstWaitsForTheCoordinator) {
  Subprocess w(Worker("early"));
  std::this_thread::sleep_for(milliseconds(1500));  // nobody is listening yet
  ASSERT_TRUE(w.Running());
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 10", 20));
  std::string out = dir_.File("R.jsonl");
  Subprocess c(RemoteRun(tasks, out, {"--min-workers", "1", "--wait-workers", "30"}));
  ProcessResult r = c.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto& [id, rec] : ById(ReadJsonLines(out), 20)) EXPECT_EQ(rec["worker"], "early");
  // Its host shows in the per-worker table.
  EXPECT_NE(r.out.find("early"), std::string::npos);
  // Without --forever the worker leaves when the run is over.
  EXPECT_EQ(w.Wait(seconds(10)).exit_code, 0);
}

TEST_F(RemoteWorkerTest, NoWorkerWithinWaitWorkersIsAClearFailure) {
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 10", 3));
  std::string out = dir_.File("R.jsonl");
  Subprocess c(RemoteRun(tasks, out, {"--min-workers", "2", "--wait-workers", "1"}));
  ProcessResult r = c.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--wait-workers"), std::string::npos) << r.err;
  auto by_id = ById(ReadJsonLines(out), 3);
  for (auto& [id, rec] : by_id) EXPECT_EQ(rec["error_code"], "cancelled");
}

// --bind + --min-workers 2 with one local worker: the coordinator says what
// it waits for (once here: after a second, and the next would come at 6 s),
// and the summary keeps the wait out of the wall time and the throughput.
TEST_F(RemoteWorkerTest, AWaitForWorkersIsSaidAndKeptOutOfTheRunsTime) {
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 200", 4));
  std::string out = dir_.File("R.jsonl"), json = dir_.File("run.json");
  Subprocess c(Coordinator({"--workers", "1", "--bind", endpoint_, "--min-workers", "2", "--tasks", tasks, "--output",
                            out, "--json", json}));
  std::this_thread::sleep_for(milliseconds(2500));
  Subprocess w(Worker("second"));
  ProcessResult r = c.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      CountLines(r.err, "coordinator: waiting for workers on " + endpoint_ + ": 1 of 2 connected (no time limit)"), 1)
      << r.err;
  EXPECT_EQ(CountLines(r.err, "coordinator: 2 of 2 workers connected after "), 1) << r.err;
  Json s = Json::parse(std::ifstream(json));
  double wait_s = s["wait_s"], run_s = s["run_s"];
  EXPECT_GE(wait_s, 2.4);
  EXPECT_LT(run_s, 1.5) << "4 sleeps of 200 ms on 2 workers, after the wait";
  size_t waited = r.out.find("\nwaited ");
  ASSERT_NE(waited, std::string::npos) << r.out;
  EXPECT_NEAR(std::stod(r.out.substr(waited + 8)), wait_s, 0.051) << r.out;
  EXPECT_NE(r.out.find(" s for workers before the first task was sent"), std::string::npos) << r.out;
  size_t completed = r.out.find("Completed 4 tasks in ");
  ASSERT_NE(completed, std::string::npos) << r.out;
  EXPECT_NEAR(std::stod(r.out.substr(completed + 21)), run_s, 0.0051) << r.out;
  ById(ReadJsonLines(out), 4);
  EXPECT_EQ(w.Wait(seconds(10)).exit_code, 0);
}

TEST_F(RemoteWorkerTest, AWorkerJoiningMidRunTakesTasksAndOneLeavingOnCtrlCHandsBack) {
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 100", 60));
  std::string out = dir_.File("R.jsonl");
  Subprocess c(RemoteRun(tasks, out, {"--min-workers", "1", "--wait-workers", "30"}));
  Subprocess a(Worker("first", {"--concurrency", "2"}));
  std::this_thread::sleep_for(milliseconds(1000));
  Subprocess b(Worker("joiner", {"--concurrency", "2"}));
  std::this_thread::sleep_for(milliseconds(800));
  a.Signal(SIGINT);  // leaves cleanly, handing back what it holds
  ProcessResult ra = a.Wait(seconds(10));
  EXPECT_EQ(ra.exit_code, 0) << ra.err;
  EXPECT_NE(ra.err.find("handing back"), std::string::npos) << ra.err;
  ProcessResult r = c.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int on_joiner = 0;
  for (auto& [id, rec] : ById(ReadJsonLines(out), 60)) {
    EXPECT_TRUE(rec["ok"].get<bool>());
    on_joiner += rec["worker"] == "joiner";
  }
  EXPECT_GT(on_joiner, 0);
}

TEST_F(RemoteWorkerTest, ForeverWorkerServesTheNextRun) {
  Subprocess w(Worker("stayer", {"--forever"}));
  for (int run = 0; run < 2; ++run) {
    std::string tasks = dir_.Write("t.txt", Repeat("sleep 5", 10));
    std::string out = dir_.File("R" + std::to_string(run) + ".jsonl");
    Subprocess c(RemoteRun(tasks, out, {"--min-workers", "1", "--wait-workers", "30"}));
    ProcessResult r = c.Wait(seconds(60));
    ASSERT_EQ(r.exit_code, 0) << "run " << run << ": " << r.err;
    for (auto& [id, rec] : ById(ReadJsonLines(out), 10)) EXPECT_EQ(rec["worker"], "stayer");
    EXPECT_TRUE(w.Running());
  }
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(seconds(10)).exit_code, 0);
}

}  // namespace
}  // namespace taskfarm::testing
