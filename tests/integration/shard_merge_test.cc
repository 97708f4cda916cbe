// Past one coordinator: N coordinators split one input with --shard K/N,
// each with its own workers, output and journal, and `coordinator merge`
// joins their outputs into every id exactly once; a shard killed mid-run
// is named by merge and finished by its own --resume. Real coordinators
// and workers, run side by side as a job array's elements would be.
#include <signal.h>

#include <fstream>
#include <memory>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

constexpr int kShards = 4;

class ShardMergeTest : public ::testing::Test {
 protected:
  // Tasks of three kinds, so the merged kind table has rows to join.
  std::string TaskFile(int n, int sleep_ms) {
    std::string text = "# one input for every shard\n";
    for (int i = 0; i < n; ++i) {
      text += i % 3 == 0 ? "noop\n" : i % 3 == 1 ? "sleep " + std::to_string(sleep_ms) + "\n" : "cpu primes 1000\n";
    }
    return dir_.Write("tasks.txt", text);
  }
  std::vector<std::string> Shard(int k, const std::string& tasks, std::vector<std::string> extra = {},
                                 int concurrency = 8) {
    std::vector<std::string> args =
        Coordinator({"--workers", "1", "--concurrency", std::to_string(concurrency), "-q", "--no-progress", "--tasks",
                     tasks, "--shard", std::to_string(k) + "/4", "--output", Out(k), "--journal",
                     dir_.File("j" + std::to_string(k)), "--json", dir_.File("s" + std::to_string(k) + ".json")});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::string Out(int k) { return dir_.File("o" + std::to_string(k) + ".jsonl"); }
  ProcessResult Merge(std::vector<std::string> args) {
    args.insert(args.begin(), "merge");
    return Subprocess(Coordinator(args)).Wait(std::chrono::seconds(60));
  }
  ScratchDir dir_;
};

TEST_F(ShardMergeTest, FourShardsOfOneInputMergeIntoEveryIdExactlyOnce) {
  const int n = 402;  // not a multiple of 4: the shares differ by one
  std::string tasks = TaskFile(n, 2);
  std::vector<std::unique_ptr<Subprocess>> shards;
  for (int k = 0; k < kShards; ++k) shards.push_back(std::make_unique<Subprocess>(Shard(k, tasks)));
  for (int k = 0; k < kShards; ++k) {
    ProcessResult r = shards[k]->Wait(std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("shard " + std::to_string(k) + "/4: its share of the input's 402 tasks"), std::string::npos)
        << r.out;
    std::vector<nlohmann::json> records = ReadJsonLines(Out(k));
    EXPECT_EQ(records.size(), static_cast<size_t>(k < 2 ? 101 : 100));
    for (const auto& rec : records) EXPECT_EQ(rec.value("id", -1) % kShards, k) << rec.dump();
    nlohmann::json summary = nlohmann::json::parse(ReadText(dir_.File("s" + std::to_string(k) + ".json")));
    EXPECT_EQ(summary["shard"]["shard"], std::to_string(k) + "/4");
    EXPECT_EQ(summary["shard"]["input_tasks"], n);
  }
  ProcessResult m = Merge({dir_.File("all.jsonl"), Out(0), Out(1), Out(2), Out(3), "--tasks", tasks});
  ASSERT_EQ(m.exit_code, 0) << m.out << m.err;
  EXPECT_NE(m.out.find("each of " + tasks + "'s 402 tasks once"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("tasks: 402 ok, 0 failed"), std::string::npos) << m.out;
  for (const char* kind : {"noop ", "sleep ", "cpu "}) EXPECT_NE(m.out.find(kind), std::string::npos) << m.out;
  std::vector<nlohmann::json> merged = ReadJsonLines(dir_.File("all.jsonl"));
  std::map<int, nlohmann::json> by_id = ById(merged, n);
  for (int i = 0; i < n; ++i) EXPECT_EQ(merged[i].value("id", -1), i) << "not sorted by id";
  EXPECT_EQ(by_id[1].value("task", ""), "sleep 2");
}

TEST_F(ShardMergeTest, AShardKilledMidRunIsNamedByMergeAndFinishedByItsResume) {
  const int n = 800;
  std::string tasks = TaskFile(n, 30);
  for (int k : {0, 1, 3}) {
    ProcessResult r = Subprocess(Shard(k, tasks)).Wait(std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  {
    // Shard 2 is killed outright (as a node lost, or scancel's SIGKILL),
    // once it has written some of its records but not all.
    Subprocess victim(Shard(2, tasks, std::vector<std::string>{}, 2));
    size_t written = 0;
    for (int i = 0; i < 1000 && written < 20 && victim.Running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      written = Lines(ReadText(Out(2))).size();
    }
    if (written < 20u) {
      ProcessResult r = victim.Wait(std::chrono::seconds(1));
      FAIL() << "shard 2 wrote too little to be killed mid-run: " << r.out << r.err;
    }
    kill(-victim.pid(), SIGKILL);  // its workers too: the whole element goes
    victim.Wait(std::chrono::seconds(10));
  }
  ASSERT_LT(Lines(ReadText(Out(2))).size(), 200u) << "shard 2 finished before it was killed";
  // The journals say the input's size: no --tasks needed.
  ProcessResult m = Merge({dir_.File("all.jsonl"), dir_.File("j0"), dir_.File("j1"), dir_.File("j2"), dir_.File("j3")});
  EXPECT_EQ(m.exit_code, 2) << m.out << m.err;
  EXPECT_NE(m.err.find("have no record"), std::string::npos) << m.err;
  EXPECT_NE(m.err.find("by shard: shard 2/4 ("), std::string::npos) << m.err;
  EXPECT_NE(m.err.find("nothing written"), std::string::npos) << m.err;
  EXPECT_TRUE(ReadText(dir_.File("all.jsonl")).empty());

  ProcessResult again = Subprocess(Shard(2, tasks, {"--resume"})).Wait(std::chrono::seconds(120));
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("from the journal"), std::string::npos) << again.out;
  m = Merge({dir_.File("all.jsonl"), Out(0), Out(1), Out(2), Out(3), "--tasks", tasks});
  ASSERT_EQ(m.exit_code, 0) << m.out << m.err;
  ById(ReadJsonLines(dir_.File("all.jsonl")), n);
}

TEST_F(ShardMergeTest, MergeRefusesAnIdTwiceAndAResumeRefusesAnotherShardsJournal) {
  std::string tasks = TaskFile(40, 0);
  for (int k = 0; k < kShards; ++k) {
    ProcessResult r = Subprocess(Shard(k, tasks)).Wait(std::chrono::seconds(60));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // One shard's output given twice: its ids are twice.
  ProcessResult m = Merge({dir_.File("all.jsonl"), Out(0), Out(0), Out(1), Out(2), Out(3), "--tasks", tasks});
  EXPECT_EQ(m.exit_code, 2) << m.err;
  EXPECT_NE(m.err.find("10 ids have more than one record"), std::string::npos) << m.err;
  EXPECT_TRUE(ReadText(dir_.File("all.jsonl")).empty());
  // A journal's torn last record (a shard killed mid-write) is ignored, as
  // its --resume ignores it; an output's is an error naming the line.
  std::ofstream(dir_.File("j2"), std::ios::app) << "{\"id\":2,\"kind\":\"sle";
  m = Merge({dir_.File("all.jsonl"), dir_.File("j0"), dir_.File("j1"), dir_.File("j2"), dir_.File("j3")});
  EXPECT_EQ(m.exit_code, 0) << m.err;
  std::string torn = dir_.Write("torn.jsonl", ReadText(Out(2)) + "{\"id\":2,\"kind\":\"sle");
  m = Merge({dir_.File("all2.jsonl"), Out(0), Out(1), torn, Out(3), "--tasks", tasks});
  EXPECT_EQ(m.exit_code, 2) << m.err;
  EXPECT_NE(m.err.find("torn.jsonl:11: a torn last record"), std::string::npos) << m.err;
  // Without the input or a journal, "every id" cannot be checked.
  m = Merge({dir_.File("all.jsonl"), Out(0), Out(1), Out(2), Out(3)});
  EXPECT_EQ(m.exit_code, 2) << m.err;
  EXPECT_NE(m.err.find("which input were these shards of?"), std::string::npos) << m.err;
  // Shard 1 resumed from shard 0's journal would skip tasks it never ran.
  std::vector<std::string> wrong = Shard(1, tasks, {"--resume"});
  for (size_t i = 0; i + 1 < wrong.size(); ++i) {
    if (wrong[i] == "--journal") wrong[i + 1] = dir_.File("j0");
  }
  ProcessResult r = Subprocess(wrong).Wait(std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("belongs to another task list or --shard"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace taskfarm::testing
