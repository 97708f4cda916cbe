// No false deaths: a worker that is alive is never declared lost because
// the coordinator (or the worker itself) could not look for a while. Silence
// is judged on what was read, and time a process could not listen counts as
// one heartbeat interval (docs/PROTOCOL.md, Liveness). Real processes,
// stopped with SIGSTOP: what a starved machine or a suspended terminal does.
#include <signal.h>

#include <thread>

#include "tests/support/farm_test_util.h"
#include "tests/support/worker_fleet.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Json = nlohmann::json;

class LivenessTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  std::string endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
  std::string out_ = dir_.File("R.jsonl");
  std::string json_ = dir_.File("run.json");

  std::vector<std::string> Run(const std::string& tasks, std::vector<std::string> extra) {
    std::vector<std::string> args{"--workers", "0",        "--bind", endpoint_, "--tasks",
                                  tasks,       "--output", out_,     "--json",  json_};
    args.insert(args.end(), extra.begin(), extra.end());
    return Coordinator(args);
  }
};

// The coordinator stopped twice for 3 s, past its --heartbeat-timeout of
// 2 s (its workers' --coordinator-timeout, 10 s, is not reached). Its 50
// workers kept heartbeating into the socket; none of them is lost for what
// the coordinator could not read. (Before, about half such stops lost some
// or all of them, "no heartbeat for 4.0 s": it judged silence as soon as it
// woke, racing libzmq's I/O thread for what the kernel held.)
TEST_F(LivenessTest, ACoordinatorStoppedPastTheHeartbeatTimeoutLosesNoWorker) {
  constexpr int kWorkers = 50;
  WorkerFleet fleet(kWorkers, endpoint_, dir_, {"--concurrency", "1"});
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 300", 1000));  // about 6 s on 50 slots
  Subprocess c(
      Run(tasks, {"--min-workers", std::to_string(kWorkers), "--wait-workers", "30", "--heartbeat-timeout", "2"}));
  std::this_thread::sleep_for(seconds(2));
  for (int stop = 0; stop < 2; ++stop) {
    ASSERT_TRUE(c.Running());
    c.Signal(SIGSTOP);
    std::this_thread::sleep_for(seconds(3));
    c.Signal(SIGCONT);
    std::this_thread::sleep_for(milliseconds(1500));
  }
  ProcessResult r = c.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ById(ReadJsonLines(out_), 1000);
  Json run = Json::parse(ReadText(json_));
  EXPECT_EQ(GoneWorkers(run), "");
  EXPECT_EQ(run["workers"].size(), static_cast<size_t>(kWorkers));
  EXPECT_EQ(run["late_results"], 0);
  ASSERT_TRUE(fleet.WaitAllLeft(seconds(20)));
  EXPECT_EQ(fleet.Registrations(), kWorkers);
  EXPECT_EQ(fleet.Losses(), 0);
}

// The worker stopped for 6 s, past its --coordinator-timeout of 4 s (the
// coordinator's heartbeat timeout, 30 s, is not reached): the coordinator's
// heartbeats wait in its socket, so it has not lost the coordinator, and
// keeps its registration and its tasks. (Before, it could reconnect and
// drop them: it judged silence before libzmq's I/O thread had read what
// arrived while it was stopped.)
TEST_F(LivenessTest, AWorkerStoppedPastItsCoordinatorTimeoutKeepsItsRegistration) {
  WorkerFleet fleet(1, endpoint_, dir_, {"--concurrency", "2", "--coordinator-timeout", "4"});
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 200", 60));  // about 6 s on 2 slots
  Subprocess c(Run(tasks, {"--min-workers", "1", "--wait-workers", "30", "--heartbeat-timeout", "30"}));
  std::this_thread::sleep_for(seconds(2));
  std::vector<pid_t> workers = ProcessesRunning({BinaryPath("worker"), "--connect", endpoint_, "--name", "w1",
                                                 "--concurrency", "2", "--coordinator-timeout", "4"});
  ASSERT_EQ(workers.size(), 1u);
  kill(workers[0], SIGSTOP);
  std::this_thread::sleep_for(seconds(6));
  kill(workers[0], SIGCONT);
  ProcessResult r = c.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto records = ById(ReadJsonLines(out_), 60);
  for (auto& [id, rec] : records) EXPECT_EQ(rec["worker"], "w1") << "id " << id;
  Json run = Json::parse(ReadText(json_));
  EXPECT_EQ(GoneWorkers(run), "");
  ASSERT_TRUE(fleet.WaitAllLeft(seconds(20)));
  EXPECT_EQ(fleet.Registrations(), 1);
  EXPECT_EQ(fleet.Losses(), 0);
}

}  // namespace
}  // namespace taskfarm::testing
