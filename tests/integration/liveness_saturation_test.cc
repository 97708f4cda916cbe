// The long tier (about 70 s; label `long`, run alone): 200 healthy remote
// workers on a machine whose cores are all busy with other work, a steady
// stream of tasks for 60 s, --heartbeat-timeout 5. None may be declared
// lost: not by the coordinator (the summary's `gone`, a second
// registration), not by a worker ("lost the coordinator").
#include <thread>

#include "tests/support/farm_test_util.h"
#include "tests/support/worker_fleet.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;
using Json = nlohmann::json;

TEST(LivenessSaturationTest, TwoHundredWorkersOnASaturatedMachineAreNeverLost) {
  constexpr int kWorkers = 200;
  // 200 slots x 60 tasks of 1 s each: 60 s of tasks, 200 results a second.
  constexpr int kTasks = kWorkers * 60;
  ScratchDir dir;
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  // Two busy loops per core, started first and running throughout: the
  // coordinator, its I/O thread and 200 workers get what the scheduler
  // gives them beside these.
  std::vector<std::unique_ptr<Subprocess>> spinners;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < 2 * cores; ++i) {
    spinners.push_back(std::make_unique<Subprocess>(std::vector<std::string>{"/bin/sh", "-c", "while :; do :; done"}));
  }
  WorkerFleet fleet(kWorkers, endpoint, dir, {"--concurrency", "1"});
  std::string tasks = dir.Write("t.txt", Repeat("sleep 1000", kTasks));
  std::string out = dir.File("R.jsonl"), json = dir.File("run.json");
  Subprocess c(
      Coordinator({"--workers", "0", "--bind", endpoint, "--min-workers", std::to_string(kWorkers), "--wait-workers",
                   "60", "--heartbeat-timeout", "5", "--tasks", tasks, "--output", out, "--json", json}));
  ProcessResult r = c.Wait(seconds(200));
  for (auto& s : spinners) EXPECT_TRUE(s->Running()) << "a busy loop ended early: the machine was not saturated";
  spinners.clear();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ById(ReadJsonLines(out), kTasks);
  Json run = Json::parse(ReadText(json));
  EXPECT_GE(run["run_s"].get<double>(), 59.0);  // the stream lasted its minute
  EXPECT_EQ(GoneWorkers(run), "");
  EXPECT_EQ(run["workers"].size(), static_cast<size_t>(kWorkers));
  EXPECT_EQ(run["late_results"], 0);
  ASSERT_TRUE(fleet.WaitAllLeft(seconds(30)));
  EXPECT_EQ(fleet.Registrations(), kWorkers);
  EXPECT_EQ(fleet.Losses(), 0);
}

}  // namespace
}  // namespace taskfarm::testing
