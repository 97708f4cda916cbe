// Deadlines and blame with a real worker process: a task's timeout runs
// from when it started on the worker, not from when it was sent, so time
// spent queued behind other tasks is nobody's fault. Only tasks that really
// ran past their time are recorded so, and the healthy worker stays.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;

class DeadlineTest : public ::testing::TestWithParam<int> {
 protected:
  ScratchDir dir_;
  std::string endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
};

// 50 each of sleep 50, sleep 300, cpu primes 300000 (~12 ms alone: room
// for a machine busy with other tests) and noop,
// shuffled, on one remote worker at concurrency 4 or 8, with a 0.2 s
// timeout and no retries: the worker holds far more than it runs at once.
TEST_P(DeadlineTest, OnlyTasksThatRanPastTheirTimeFailAndTheWorkerStays) {
  std::vector<std::string> lines;
  for (const char* t : {"sleep 50", "sleep 300", "cpu primes 300000", "noop"}) {
    for (int i = 0; i < 50; ++i) lines.push_back(t);
  }
  std::shuffle(lines.begin(), lines.end(), std::mt19937(7));
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  std::string tasks = dir_.Write("mixed.txt", text);
  std::string out = dir_.File("R.jsonl");
  Subprocess c(Coordinator({"--workers", "0", "--bind", endpoint_, "--tasks", tasks, "--output", out, "--task-timeout",
                            "0.2", "--retries", "0", "-q"}));
  Subprocess w(
      {BinaryPath("worker"), "--connect", endpoint_, "--name", "honest", "--concurrency", std::to_string(GetParam())});
  ProcessResult r = c.Wait(seconds(120));
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  auto by_id = ById(ReadJsonLines(out), 200);
  for (auto& [id, rec] : by_id) {
    std::string task = rec["task"];
    if (task == "sleep 300") {
      EXPECT_FALSE(rec["ok"].get<bool>()) << rec.dump();
      EXPECT_EQ(rec.value("error_code", ""), "deadline_exceeded") << rec.dump();
    } else {
      EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
    }
    EXPECT_EQ(rec["worker"], "honest") << rec.dump();
    EXPECT_EQ(rec["attempts"], 1) << rec.dump();
  }
  // Never dropped: no "gone" in its row, no word of it on stderr.
  EXPECT_EQ(r.out.find("gone"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("gone"), std::string::npos) << r.err;
  EXPECT_EQ(w.Wait(seconds(10)).exit_code, 0) << "the worker leaves on the run's Shutdown";
}

INSTANTIATE_TEST_SUITE_P(Concurrency, DeadlineTest, ::testing::Values(4, 8),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return "Concurrency" + std::to_string(p.param);
                         });

}  // namespace
}  // namespace taskfarm::testing
