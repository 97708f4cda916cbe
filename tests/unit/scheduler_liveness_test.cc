// Scheduler::HeardEverything and Tick: silence is judged on what the
// coordinator has read, up to the last moment it had read everything, and
// time it could not listen at all counts as one heartbeat interval.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "coordinator/scheduler.h"

namespace taskfarm {
namespace {

constexpr double kTimeoutMs = 5000;
constexpr double kIntervalMs = 1000;

class SchedulerLivenessTest : public ::testing::Test {
 protected:
  static SchedulerOptions Options() {
    SchedulerOptions o;
    o.heartbeat_timeout_ms = kTimeoutMs;
    o.max_unheard_gap_ms = kIntervalMs;
    o.task_timeout_ms = 1000;
    o.timeout_slack_ms = 1500;
    o.prefetch_ms = 0;
    return o;
  }
  WorkerId AddWorker(const std::string& name) {
    WorkerInfo info;
    info.local = true;  // full credit at once, no READY to wait for
    info.name = name;
    return s_.AddWorker(info);
  }
  // The coordinator's turns: every 50 ms it reads everything there is,
  // for `ms` in all; `heard` workers say something at every turn.
  void Listen(double ms, const std::vector<WorkerId>& heard = {}) {
    for (double t = 0; t < ms; t += 50) {
      clock_.Advance(50);
      for (WorkerId w : heard) s_.WorkerHeard(w);
      s_.HeardEverything();
      Tick();
    }
  }
  Scheduler::TickResult Tick() {
    Scheduler::TickResult r = s_.Tick();
    for (WorkerId w : r.lost) lost_.push_back(w);
    for (WorkerId w : r.stuck) stuck_.push_back(w);
    for (WorkerId w : r.stalled) stalled_.push_back(w);
    return r;
  }
  // The one lease handed out now.
  pb::LeaseRef Lease() {
    std::vector<Dispatch> d = s_.TakeDispatches();
    EXPECT_EQ(d.size(), 1u);
    if (d.empty() || d[0].tasks.empty()) return {};
    pb::LeaseRef ref;
    ref.set_task_id(d[0].tasks[0].task_id());
    ref.set_attempt(d[0].tasks[0].attempt());
    return ref;
  }

  FakeClock clock_;
  Scheduler s_{Options(), clock_};
  std::vector<WorkerId> lost_, stuck_, stalled_;
};

TEST_F(SchedulerLivenessTest, ASilentWorkerIsLostOnceItsSilenceWasHeard) {
  WorkerId w = AddWorker("w");
  Listen(kTimeoutMs - 100);
  EXPECT_TRUE(lost_.empty());
  Listen(200);
  EXPECT_EQ(lost_, std::vector<WorkerId>{w});
}

// The socket still held messages at every turn for 3 s (a burst the
// coordinator read 4,096 at a time): nobody is judged until it has read
// them all, since the worker's own heartbeat may be among them.
TEST_F(SchedulerLivenessTest, NobodyIsJudgedWhileMessagesWaitUnread) {
  WorkerId w = AddWorker("w");
  Listen(3000);
  for (int turn = 0; turn < 60; ++turn) {  // 3 s of turns that did not empty the socket
    clock_.Advance(50);
    EXPECT_TRUE(Tick().lost.empty()) << "turn " << turn;
  }
  // The last of them was its heartbeat.
  s_.WorkerHeard(w);
  s_.HeardEverything();
  EXPECT_TRUE(Tick().lost.empty());
  Listen(kTimeoutMs - 100);
  EXPECT_TRUE(lost_.empty());
  Listen(200);
  EXPECT_EQ(lost_, std::vector<WorkerId>{w});
}

// The coordinator was stopped for 6 s (SIGSTOP, a starved machine): its
// workers kept sending, and what they sent is read only now. Of those 6 s,
// one heartbeat interval counts as silence; a worker that really is silent
// is still lost, one interval's listening later than the stop ended.
TEST_F(SchedulerLivenessTest, ATimeTheCoordinatorCouldNotListenCountsAsOneInterval) {
  WorkerId quiet = AddWorker("quiet");
  WorkerId talking = AddWorker("talking");
  Listen(2000, {talking});
  clock_.Advance(6000);
  s_.WorkerHeard(talking);  // read in the first turn after the stop
  s_.HeardEverything();
  EXPECT_TRUE(Tick().lost.empty()) << "6 s unheard must not lose anyone";
  // `quiet` has been silent for 2 s + one interval as judged: lost once
  // that passes the timeout.
  Listen(kTimeoutMs - 2000 - kIntervalMs - 100, {talking});
  EXPECT_TRUE(lost_.empty());
  Listen(200, {talking});
  EXPECT_EQ(lost_, std::vector<WorkerId>{quiet});
  EXPECT_TRUE(s_.HasWorker(talking));
}

// A worker heard in the turn that ends such a gap has been silent for no
// time at all, whatever the gap: its clock is not pushed into the future.
TEST_F(SchedulerLivenessTest, AGapDoesNotGiveAWorkerHeardAfterItExtraTime) {
  Listen(1000);
  clock_.Advance(20000);
  WorkerId late = AddWorker("late");  // its Hello was read after the gap
  s_.HeardEverything();
  Listen(kTimeoutMs - 100);
  EXPECT_TRUE(lost_.empty());
  Listen(200);
  EXPECT_EQ(lost_, std::vector<WorkerId>{late});
}

// The backstop of a task's timeout (its outcome missing 1.5 s past the
// task's timeout) is a judgement of silence too.
TEST_F(SchedulerLivenessTest, ATimeoutsBackstopCountsAGapAsOneInterval) {
  WorkerId w = AddWorker("w");
  s_.AddTask(0, pb::TaskSpec());
  ASSERT_TRUE(s_.OnStarted(w, Lease()));
  Listen(1000, {w});  // 1 s of the 2.5 s it has before the backstop
  clock_.Advance(8000);
  s_.WorkerHeard(w);
  s_.HeardEverything();
  EXPECT_TRUE(Tick().stuck.empty());
  Listen(400, {w});
  EXPECT_TRUE(stuck_.empty());
  Listen(200, {w});
  EXPECT_EQ(stuck_, std::vector<WorkerId>{w});
}

// So is a stall: leases sent into free slots, heartbeats but no start.
TEST_F(SchedulerLivenessTest, AStallCountsAGapAsOneInterval) {
  WorkerId w = AddWorker("w");
  s_.AddTask(0, pb::TaskSpec());
  (void)Lease();
  Listen(3000, {w});
  clock_.Advance(6000);
  s_.WorkerHeard(w);
  s_.HeardEverything();
  EXPECT_TRUE(Tick().stalled.empty());
  Listen(kTimeoutMs - 3000 - kIntervalMs - 100, {w});
  EXPECT_TRUE(stalled_.empty());
  Listen(200, {w});
  EXPECT_EQ(stalled_, std::vector<WorkerId>{w});
  EXPECT_TRUE(lost_.empty());
}

// Tick looks only at the longest-silent workers (a list in the order they
// were last heard, not a pass over all of them): a worker heard again moves
// to the back, so one that joined first and talks never hides a silent one
// that joined after it.
TEST_F(SchedulerLivenessTest, OnlyTheSilentAreLostWhateverOrderTheyJoinedIn) {
  WorkerId first = AddWorker("first");
  WorkerId silent = AddWorker("silent");
  WorkerId last = AddWorker("last");
  Listen(kTimeoutMs + 200, {first, last});
  EXPECT_EQ(lost_, std::vector<WorkerId>{silent});
  Listen(kTimeoutMs - 400, {last});
  EXPECT_EQ(lost_, std::vector<WorkerId>{silent});
  Listen(500, {last});
  EXPECT_EQ(lost_, (std::vector<WorkerId>{silent, first}));
}

// The same for stalls: a worker that reported its start leaves the
// awaiting list, and one that awaits after it is still judged.
TEST_F(SchedulerLivenessTest, AStartTakesAWorkerOffTheStallWatchButNotTheOneAfterIt) {
  WorkerId starts = AddWorker("starts");
  s_.AddTask(0, pb::TaskSpec());
  pb::LeaseRef started = Lease();
  Listen(1000, {starts});
  WorkerId stalls = AddWorker("stalls");
  s_.AddTask(1, pb::TaskSpec());
  (void)Lease();
  EXPECT_TRUE(s_.OnStarted(starts, started));
  Listen(kTimeoutMs + 200, {starts, stalls});
  EXPECT_EQ(stalled_, std::vector<WorkerId>{stalls});
  EXPECT_TRUE(lost_.empty());
}

}  // namespace
}  // namespace taskfarm
