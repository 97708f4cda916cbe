// --shard K/N: what K/N means (ParseShard), which ids a shard owns and how
// many of an input's, and a TaskSource that gives only its shard's tasks
// with the whole input's ids, so N shards cover every id exactly once.
#include "coordinator/shard.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>

#include "common/temp_dir.h"
#include "coordinator/task_source.h"

namespace taskfarm {
namespace {

TEST(ParseShard, ReadsKOfNCountingFromZero) {
  StatusOr<Shard> s = ParseShard("3/4");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->index, 3u);
  EXPECT_EQ(s->count, 4u);
  EXPECT_EQ(s->Name(), "3/4");
  EXPECT_TRUE(ParseShard("0/1").ok());
}

TEST(ParseShard, RefusesWhatIsNotAShardAndSaysWhatIsWanted) {
  for (const char* bad : {"", "4", "/4", "1/", "a/4", "1/4x", "-1/4", "1/0", "1/1000001", " 1/4"}) {
    Status s = ParseShard(bad).status();
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("write K/N"), std::string::npos) << bad << ": " << s.message();
  }
  Status s = ParseShard("4/4").status();  // a job array counts from 0
  EXPECT_NE(s.message().find("numbered from 0, so K is 0 to 3"), std::string::npos) << s.message();
}

TEST(Shard, EveryIdHasExactlyOneShardAndTheSharesAddUp) {
  for (uint32_t n : {1u, 2u, 3u, 4u, 7u}) {
    for (uint64_t total : {0u, 1u, 5u, 100u, 101u}) {
      uint64_t shares = 0;
      for (uint64_t id = 0; id < total; ++id) {
        int owners = 0;
        for (uint32_t k = 0; k < n; ++k) owners += Shard{k, n}.Owns(id);
        EXPECT_EQ(owners, 1) << id << " of " << n;
      }
      for (uint32_t k = 0; k < n; ++k) {
        uint64_t owned = 0;
        for (uint64_t id = 0; id < total; ++id) owned += Shard{k, n}.Owns(id);
        EXPECT_EQ(Shard({k, n}).ShareOf(total), owned) << k << "/" << n << " of " << total;
        shares += owned;
      }
      EXPECT_EQ(shares, total);
    }
  }
}

TEST(ShardedTaskSource, GivesOnlyItsShardsTasksWithTheInputsIds) {
  TempDir dir("taskfarm-shard");
  // Comments and blank lines take no id: ids are the tasks' positions.
  std::string path = dir.File("t.txt");
  std::ofstream(path) << "# a comment\nsleep 0\n\nsleep 1\nsleep 2\nsleep 3\nsleep 4\n";
  std::set<uint32_t> seen;
  uint64_t fingerprint = 0;
  for (uint32_t k = 0; k < 2; ++k) {
    TaskSource::Opened opened = TaskSource::Open({.path = path, .shard = Shard{k, 2}});
    ASSERT_TRUE(opened.source);
    TaskSource& src = *opened.source;
    EXPECT_EQ(src.total(), 5u);
    EXPECT_EQ(src.share(), k == 0 ? 3u : 2u);
    while (auto task = src.Next()) {
      EXPECT_EQ(task->id % 2, k);
      EXPECT_EQ(task->spec.sleep().ms(), task->id);  // the line's own task, not renumbered
      EXPECT_TRUE(seen.insert(task->id).second);
    }
    EXPECT_TRUE(src.ended());
    // Another shard's journal must not be taken for this one's.
    EXPECT_NE(src.fingerprint(), fingerprint);
    fingerprint = src.fingerprint();
  }
  EXPECT_EQ(seen, (std::set<uint32_t>{0, 1, 2, 3, 4}));
  TaskSource::Opened whole = TaskSource::Open({.path = path});
  ASSERT_TRUE(whole.source);
  EXPECT_NE(whole.source->fingerprint(), fingerprint);
}

}  // namespace
}  // namespace taskfarm
