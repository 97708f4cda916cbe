// TASKFARM_CHECK stays on in the build under test (Release, NDEBUG): a broken
// invariant aborts with FILE:LINE, the condition and the message, in the
// scheduler too; a check that holds does not evaluate its message.
#include "common/check.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "coordinator/scheduler.h"

namespace taskfarm {
namespace {

TEST(CheckTest, FailedCheckAbortsNamingFileLineConditionAndMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  int answer = 41;
  EXPECT_DEATH(TASKFARM_CHECK(answer == 42) << "the answer is " << answer,
               "check_test\\.cc:[0-9]+: check failed: answer == 42: the answer is 41");
}

TEST(CheckTest, FailedCheckWithoutMessageNamesTheCondition) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(TASKFARM_CHECK(1 + 1 == 3), "check_test\\.cc:[0-9]+: check failed: 1 \\+ 1 == 3\n");
}

TEST(CheckTest, HoldingCheckDoesNotEvaluateItsMessage) {
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  TASKFARM_CHECK(evaluated == 0) << count();
  EXPECT_EQ(evaluated, 0);
}

TEST(CheckTest, SchedulerAbortsOnADuplicateTaskIdInRelease) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  FakeClock clock;
  Scheduler s(SchedulerOptions{}, clock);
  pb::TaskSpec noop;
  noop.set_noop(true);
  s.AddTask(7, noop);
  EXPECT_DEATH(s.AddTask(7, noop),
               "scheduler\\.cc:[0-9]+: check failed: inserted: task ids are unique; 7 was added twice");
}

}  // namespace
}  // namespace taskfarm
