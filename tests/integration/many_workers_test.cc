// Hundreds of real remote workers on one coordinator: started before it,
// they are all registered about a second after it starts (not after a
// reconnect backoff of several seconds), and SIGKILLs of some of them in the
// middle of a run lose no task and record none twice.
//
// 200 workers: enough that a registration backoff, or work in the
// coordinator that grows with the number of workers, shows; few enough
// that they start in a couple of seconds on a loaded 2-core CI box (each is
// about 2 MB of PSS, 16 MB of RSS mostly shared) and the test stays under
// 40 s. The benchmark (bench/scale_bench.py, S1) does the same with 1,000.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <random>
#include <thread>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kWorkers = 200;
constexpr int kKills = 20;
constexpr int kTasks = 10000;

off_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

TEST(ManyWorkersTest, TwoHundredWorkersStartedFirstRegisterAtOnceAndSigkillsOfSomeLoseNothing) {
  ScratchDir dir;
  // Below the ephemeral range (FreePort): 200 workers retrying their
  // connections could otherwise be handed this very port as a source port.
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  std::vector<std::unique_ptr<Subprocess>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<Subprocess>(std::vector<std::string>{
        BinaryPath("worker"), "--connect", endpoint, "--concurrency", "4", "--name", "w" + std::to_string(i)}));
  }
  // Long enough that every worker is at its longest reconnect interval: with
  // libzmq's 5 s cap (this worker's before) registering them all took up to
  // 5 s; with 1 s, about a second.
  std::this_thread::sleep_for(seconds(7));

  // 10,000 x 200 ms over 800 slots: a run of a few seconds, time for the kills.
  std::string tasks = dir.Write("t.txt", Repeat("sleep 200", kTasks));
  std::string out = dir.File("R.jsonl"), json = dir.File("run.json");
  Subprocess c(Coordinator({"--workers", "0", "--bind", endpoint, "--min-workers", std::to_string(kWorkers),
                            "--wait-workers", "20", "--tasks", tasks, "--output", out, "--json", json, "-q"}));
  // Once records come, the run is under way: SIGKILL workers at random, 20 ms apart.
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (FileSize(out) == 0 && c.Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::vector<int> order(kWorkers);
  for (int i = 0; i < kWorkers; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(std::random_device{}()));
  for (int k = 0; k < kKills; ++k) {
    workers[order[k]]->Signal(SIGKILL);
    std::this_thread::sleep_for(milliseconds(20));
  }
  ProcessResult r = c.Wait(seconds(60));
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  nlohmann::json summary = nlohmann::json::parse(ReadText(json));
  // From the coordinator's bind to the last Hello: the reconnect interval
  // (1 s) and 200 handshakes, with room for a loaded machine. (With the 5 s
  // cap this took 3.1 to 3.3 s here.)
  EXPECT_LE(summary["wait_s"].get<double>(), 2.5) << r.err;
  EXPECT_EQ(summary["workers"].size(), static_cast<size_t>(kWorkers));
  size_t gone = 0;
  for (const auto& w : summary["workers"]) gone += !w["gone"].is_null();
  EXPECT_GE(gone, static_cast<size_t>(kKills));

  // Every task once, each done: the killed workers' tasks ran elsewhere.
  for (auto& [id, rec] : ById(ReadJsonLines(out), kTasks)) {
    EXPECT_TRUE(rec.value("ok", false)) << rec.dump();
  }
  EXPECT_EQ(summary["tasks"]["ok"], kTasks);
}

}  // namespace
}  // namespace taskfarm::testing
