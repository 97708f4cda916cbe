// Scheduler::OnRejected: a lease whose message the worker could not accept
// is re-queued with a note that counts against --retries, then failed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "coordinator/scheduler.h"

namespace taskfarm {
namespace {

class SchedulerRejectedTest : public ::testing::Test {
 protected:
  SchedulerRejectedTest() : s_(Options(), clock_) {
    WorkerInfo info;
    info.local = true;  // full credit at once, no READY to wait for
    info.name = "w1";
    info.concurrency = 4;
    w1_ = s_.AddWorker(info);
    info.name = "w2";
    w2_ = s_.AddWorker(info);
  }
  static SchedulerOptions Options() {
    SchedulerOptions o;
    o.retries = 2;
    o.prefetch_ms = 0;
    return o;
  }
  // The single lease of task 0 dispatched now, and to whom.
  std::pair<WorkerId, pb::LeaseRef> LeaseOfTaskZero() {
    clock_.Advance(10'000);  // past any backoff
    for (Dispatch& d : s_.TakeDispatches()) {
      for (const pb::Assignment& a : d.tasks) {
        if (a.task_id() != 0) continue;
        pb::LeaseRef ref;
        ref.set_task_id(0);
        ref.set_attempt(a.attempt());
        return {d.worker, ref};
      }
    }
    ADD_FAILURE() << "task 0 was not dispatched";
    return {};
  }
  std::vector<pb::Result> Finished() { return s_.TakeFinished(); }

  FakeClock clock_;
  Scheduler s_;
  WorkerId w1_, w2_;
};

TEST_F(SchedulerRejectedTest, ARejectedLeaseRunsAgainWithANoteThenFailsAsInternal) {
  s_.AddTask(0, pb::TaskSpec());
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto [worker, lease] = LeaseOfTaskZero();
    EXPECT_EQ(lease.attempt(), attempt);
    EXPECT_EQ(s_.in_flight(), 1u);
    EXPECT_TRUE(s_.OnRejected(worker, lease, "too large"));
    EXPECT_EQ(s_.in_flight(), 0u) << "released";
    std::vector<pb::Result> done = Finished();
    if (attempt < 3) {
      EXPECT_TRUE(done.empty()) << "re-queued while retries last";
      continue;
    }
    ASSERT_EQ(done.size(), 1u);
    EXPECT_FALSE(done[0].ok());
    EXPECT_EQ(done[0].error_code(), "internal");
    EXPECT_EQ(done[0].error(), "the worker could not accept the task: too large");
    EXPECT_EQ(done[0].attempts(), 3u);
    ASSERT_EQ(done[0].failures_size(), 2);
    EXPECT_NE(done[0].failures(0).find("attempt 1 on w"), std::string::npos) << done[0].failures(0);
    EXPECT_NE(done[0].failures(0).find(": the worker could not accept the task: too large"), std::string::npos);
  }
  EXPECT_TRUE(s_.idle());
}

TEST_F(SchedulerRejectedTest, OnlyTheWorkersCurrentLeaseIsReleased) {
  s_.AddTask(0, pb::TaskSpec());
  auto [worker, lease] = LeaseOfTaskZero();
  WorkerId other = worker == w1_ ? w2_ : w1_;
  EXPECT_FALSE(s_.OnRejected(other, lease, "not yours")) << "another worker's lease";
  pb::LeaseRef stale = lease;
  stale.set_attempt(lease.attempt() + 1);
  EXPECT_FALSE(s_.OnRejected(worker, stale, "wrong attempt"));
  pb::LeaseRef unknown;
  unknown.set_task_id(99);
  unknown.set_attempt(1);
  EXPECT_FALSE(s_.OnRejected(worker, unknown, "no such task"));
  EXPECT_FALSE(s_.OnRejected(12345, lease, "no such worker"));
  EXPECT_EQ(s_.in_flight(), 1u) << "nothing changed";
  EXPECT_TRUE(s_.OnRejected(worker, lease, "too large"));
  EXPECT_FALSE(s_.OnRejected(worker, lease, "too large")) << "a second rejection of the same lease";
  // The rerun succeeds: one ok record, the rejection kept as a failure note.
  auto [again, lease2] = LeaseOfTaskZero();
  pb::Outcome o;
  o.set_task_id(0);
  o.set_attempt(lease2.attempt());
  o.mutable_result()->set_ok(true);
  EXPECT_EQ(s_.OnOutcome(again, o), OutcomeVerdict::kAccepted);
  std::vector<pb::Result> done = Finished();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].ok());
  EXPECT_EQ(done[0].failures_size(), 1);
}

}  // namespace
}  // namespace taskfarm
