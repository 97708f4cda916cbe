// Workers the coordinator did not start: they connect over tcp:// on
// loopback, may come before the coordinator, join mid-run, leave on Ctrl-C
// and, with --forever, serve run after run.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <thread>

#include "tests/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;



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
