// The scheduler on a FakeClock: slots, leases, retries, blame for dead
// workers, heartbeats, interruption and load balancing. Every scenario
// checks the scheduler's promise: each task ends in exactly one record.
#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"

namespace taskfarm {
namespace {

pb::TaskSpec Noop() {
  pb::TaskSpec s;
  s.set_noop(true);
  return s;
}

pb::TaskSpec Sleep(uint32_t ms) {
  pb::TaskSpec s;
  s.mutable_sleep()->set_ms(ms);
  return s;
}

pb::TaskSpec Cpu(uint64_t n) {
  pb::TaskSpec s;
  s.mutable_cpu()->set_kernel("primes");
  s.mutable_cpu()->set_n(n);
  return s;
}

// Every id in [0, n) has exactly one record, and no other id has any.
::testing::AssertionResult EveryTaskRecordedOnce(const std::vector<pb::Result>& records, uint32_t n) {
  std::map<uint32_t, int> count;
  for (const pb::Result& r : records) ++count[r.id()];
  std::string problems;
  for (uint32_t id = 0; id < n; ++id) {
    if (count[id] != 1) problems += " id " + std::to_string(id) + ": " + std::to_string(count[id]) + " records;";
  }
  for (const auto& [id, c] : count) {
    if (id >= n) problems += " unexpected id " + std::to_string(id) + ";";
  }
  if (problems.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "records:" << problems;
}

// Drives a Scheduler the way the coordinator does, remembering which leases
// each worker holds. Checks after every dispatch that a task which was in
// flight on a dead worker (a suspect) runs alone.
class Harness {
 public:
  explicit Harness(SchedulerOptions options = {}) : s(options, clock) {}

  // A local worker unless `local` is false (a remote one: credit to earn,
  // blamed only once it has proven itself).
  WorkerId Add(const std::string& name, uint32_t concurrency = 1, uint32_t threads = 1, uint32_t max_batch = 256,
               bool local = true) {
    WorkerInfo info;
    info.name = name;
    info.host = "host";
    info.concurrency = concurrency;
    info.threads = threads;
    info.max_batch = max_batch;
    info.local = local;
    WorkerId id = s.AddWorker(info);
    if (!local) s.WorkerHeard(id);  // its first word after Hello: ready
    return id;
  }

  void AddTasks(uint32_t first, uint32_t count, const pb::TaskSpec& spec) {
    for (uint32_t id = first; id < first + count; ++id) s.AddTask(id, spec);
    Collect();
  }

  std::vector<Dispatch> Pump() {
    std::vector<Dispatch> out = s.TakeDispatches();
    for (const Dispatch& d : out) {
      EXPECT_FALSE(d.tasks.empty());
      for (const pb::Assignment& a : d.tasks) held[d.worker].push_back(a);
      received[d.worker] += d.tasks.size();
    }
    for (const auto& [w, leases] : held) {
      for (const pb::Assignment& a : leases) {
        if (s.IsSuspect(a.task_id()) && leases.size() != 1) {
          ADD_FAILURE() << "suspect task " << a.task_id() << " shares worker " << w << " with " << leases.size() - 1
                        << " other tasks";
        }
      }
    }
    Collect();
    return out;
  }

  OutcomeVerdict Report(WorkerId w, const pb::Assignment& a, bool ok, double duration_ms = 1, bool retryable = false,
                        const std::string& error = "") {
    pb::Outcome o;
    o.set_task_id(a.task_id());
    o.set_attempt(a.attempt());
    o.mutable_result()->set_ok(ok);
    o.mutable_result()->set_duration_ms(duration_ms);
    if (ok && a.spec().has_cpu()) o.mutable_result()->set_result(7);  // a cpu answer carries its value
    if (!error.empty()) o.mutable_result()->set_error(error);
    o.set_retryable(retryable);
    auto& leases = held[w];
    leases.erase(std::remove_if(
                     leases.begin(), leases.end(),
                     [&](const pb::Assignment& x) { return x.task_id() == a.task_id() && x.attempt() == a.attempt(); }),
                 leases.end());
    OutcomeVerdict v = s.OnOutcome(w, o);
    Collect();
    return v;
  }

  // Reports every lease `w` holds as done.
  void CompleteAll(WorkerId w, double duration_ms = 1) {
    std::vector<pb::Assignment> leases = held[w];
    for (const pb::Assignment& a : leases) {
      EXPECT_EQ(Report(w, a, true, duration_ms), OutcomeVerdict::kAccepted) << "task " << a.task_id();
    }
  }

  void Left(WorkerId w) {
    held.erase(w);
    s.WorkerLeft(w);
    Collect();
  }

  void Gone(WorkerId w, const std::string& reason) {
    held.erase(w);
    s.WorkerGone(w, reason);
    Collect();
  }

  // As the coordinator does it after reading everything there was.
  Scheduler::TickResult Tick() {
    s.HeardEverything();
    Scheduler::TickResult r = s.Tick();
    for (WorkerId w : r.lost) held.erase(w);
    for (WorkerId w : r.stalled) held.erase(w);
    Collect();
    return r;
  }

  void Collect() {
    for (pb::Result& r : s.TakeFinished()) records.push_back(std::move(r));
  }

  const pb::Result* RecordOf(uint32_t id) const {
    for (const pb::Result& r : records) {
      if (r.id() == id) return &r;
    }
    return nullptr;
  }

  size_t Failures() const {
    return std::count_if(records.begin(), records.end(), [](const pb::Result& r) { return !r.ok(); });
  }

  FakeClock clock;
  Scheduler s;
  std::map<WorkerId, std::vector<pb::Assignment>> held;
  std::map<WorkerId, size_t> received;
  std::vector<pb::Result> records;
};

SchedulerOptions NoPrefetch() {
  SchedulerOptions o;
  o.prefetch_ms = 0;
  return o;
}

// "w1", "w2", ... (appending sidesteps a GCC 12 -Wrestrict false positive
// on `"w" + std::to_string(n)`).
std::string WorkerName(uint32_t n) {
  std::string name = "w";
  name += std::to_string(n);
  return name;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------- slots

TEST(SchedulerTest, NothingIsDispatchedWithoutWorkers) {
  Harness h;
  h.AddTasks(0, 3, Noop());
  EXPECT_TRUE(h.Pump().empty());
  EXPECT_EQ(h.s.in_flight(), 0u);
  EXPECT_EQ(h.s.in_memory(), 3u);
}

TEST(SchedulerTest, ConcurrencyOneMeansOneTaskUntilItReports) {
  Harness h(NoPrefetch());
  WorkerId w = h.Add("w1", 1);
  h.AddTasks(0, 5, Noop());
  for (uint32_t id = 0; id < 5; ++id) {
    std::vector<Dispatch> d = h.Pump();
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].worker, w);
    ASSERT_EQ(d[0].tasks.size(), 1u);
    EXPECT_EQ(d[0].tasks[0].task_id(), id);
    EXPECT_EQ(d[0].tasks[0].attempt(), 1u);
    EXPECT_TRUE(d[0].tasks[0].spec().has_noop());
    EXPECT_TRUE(h.Pump().empty()) << "a second task while the first is out";
    EXPECT_EQ(h.s.in_flight(), 1u);
    h.CompleteAll(w);
  }
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 5));
}

TEST(SchedulerTest, FirstDispatchIsOneTaskPerSlotEvenWithPrefetch) {
  // Nothing is known about task durations yet: no prefetch.
  Harness h;
  WorkerId w = h.Add("w1", 3);
  h.AddTasks(0, 10, Noop());
  std::vector<Dispatch> d = h.Pump();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].worker, w);
  EXPECT_EQ(d[0].tasks.size(), 3u);
  EXPECT_TRUE(h.Pump().empty());
}

TEST(SchedulerTest, ThreadsLimitCpuTasks) {
  Harness h(NoPrefetch());
  WorkerId w = h.Add("w1", /*concurrency=*/4, /*threads=*/1);
  h.AddTasks(0, 3, Cpu(1000));
  h.AddTasks(3, 2, Sleep(10));
  std::vector<Dispatch> d = h.Pump();
  ASSERT_EQ(d.size(), 1u);
  std::vector<uint32_t> ids;
  for (const pb::Assignment& a : d[0].tasks) ids.push_back(a.task_id());
  // One cpu task (the thread), then the sleeps past the waiting cpu tasks.
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, 3, 4}));
  EXPECT_TRUE(h.Pump().empty());

  // The cpu task's thread frees up: the next cpu task, and only one.
  ASSERT_EQ(h.Report(w, h.held[w][0], true), OutcomeVerdict::kAccepted);
  d = h.Pump();
  ASSERT_EQ(d.size(), 1u);
  ASSERT_EQ(d[0].tasks.size(), 1u);
  EXPECT_EQ(d[0].tasks[0].task_id(), 1u);
  while (!h.s.idle()) {
    h.CompleteAll(w);
    h.Pump();
  }
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 5));
}

TEST(SchedulerTest, ShortQueueIsSpreadOverWorkers) {
  Harness h(NoPrefetch());
  WorkerId w1 = h.Add("w1", 4);
  WorkerId w2 = h.Add("w2", 4);
  h.AddTasks(0, 4, Noop());
  h.Pump();
  EXPECT_EQ(h.received[w1], 2u);
  EXPECT_EQ(h.received[w2], 2u);
}

TEST(SchedulerTest, MaxBatchBoundsOneDispatchButNotOneTurn) {
  // Eight free slots, three tasks per message: one turn fills every slot,
  // in messages of 3, 3 and 2 (--batch 1 must not mean one task per turn).
  Harness h(NoPrefetch());
  WorkerId w = h.Add("w1", /*concurrency=*/8, 1, /*max_batch=*/3);
  h.AddTasks(0, 10, Noop());
  std::vector<Dispatch> d = h.Pump();
  ASSERT_EQ(d.size(), 3u);
  std::vector<size_t> sizes;
  for (auto& one : d) {
    EXPECT_EQ(one.worker, w);
    sizes.push_back(one.tasks.size());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{3, 3, 2}));
  EXPECT_EQ(h.received[w], 8u);
  EXPECT_TRUE(h.Pump().empty()) << "the slots are full";
}

TEST(SchedulerTest, WindowBoundsTasksInMemory) {
  Harness h;
  EXPECT_TRUE(h.s.WantsTasks());
  uint32_t id = 0;
  while (h.s.WantsTasks() && id < 100000) h.s.AddTask(id++, Noop());
  EXPECT_EQ(id, 4096u);
  EXPECT_EQ(h.s.in_memory(), 4096u);
}

// ---------------------------------------------------------------- outcomes

TEST(SchedulerTest, AcceptedOutcomeBecomesARecord) {
  Harness h;
  WorkerId w = h.Add("w1");
  h.s.AddTask(0, Sleep(20));
  h.Pump();
  pb::Outcome o;
  o.set_task_id(0);
  o.set_attempt(1);
  o.mutable_result()->set_ok(true);
  o.mutable_result()->set_duration_ms(21.5);
  o.set_started_unix_ms(1234.0);
  EXPECT_EQ(h.s.OnOutcome(w, o), OutcomeVerdict::kAccepted);
  h.Collect();
  ASSERT_EQ(h.records.size(), 1u);
  const pb::Result& r = h.records[0];
  EXPECT_EQ(r.id(), 0u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.attempts(), 1u);
  EXPECT_EQ(r.worker(), "w1");
  EXPECT_EQ(r.kind(), "sleep");
  EXPECT_EQ(r.task(), "sleep 20");
  EXPECT_EQ(r.duration_ms(), 21.5);
  EXPECT_EQ(r.start_ms(), 1234.0);
  EXPECT_EQ(r.failures_size(), 0);
  EXPECT_EQ(h.s.in_flight(), 0u);
  EXPECT_TRUE(h.s.idle());
  EXPECT_EQ(h.s.worker_stats().at(w).tasks, 1u);
  EXPECT_TRUE(h.s.TakeFinished().empty());
}

TEST(SchedulerTest, RecordNamesComeFromTheCoordinatorNotTheWorker) {
  // taskfarm.proto: an Outcome's "id/worker/attempts are filled in by the
  // coordinator"; the task line is the coordinator's too.
  Harness h;
  WorkerId w = h.Add("w1");
  h.s.AddTask(0, Sleep(20));
  h.Pump();
  pb::Outcome o;
  o.set_task_id(0);
  o.set_attempt(1);
  pb::Result* claimed = o.mutable_result();
  claimed->set_ok(true);
  claimed->set_id(42);
  claimed->set_attempts(9);
  claimed->set_worker("impostor");
  claimed->set_task("cpu primes 4000000000");
  EXPECT_EQ(h.s.OnOutcome(w, o), OutcomeVerdict::kAccepted);
  h.Collect();
  ASSERT_EQ(h.records.size(), 1u);
  const pb::Result& r = h.records[0];
  EXPECT_EQ(r.id(), 0u);
  EXPECT_EQ(r.attempts(), 1u);
  if (r.worker() != "w1" || r.task() != "sleep 20") {
    FAIL() << "regression: coordinator/scheduler.cc Scheduler::Decorate only fills `worker` and "
              "`task` when the worker's result left them empty, so a worker can name "
              "itself or rewrite the task line in the record (got worker '"
           << r.worker() << "', task '" << r.task() << "')";
  }
}

TEST(SchedulerTest, UrlRecordCarriesItsUrl) {
  Harness h;
  WorkerId w = h.Add("w1");
  pb::TaskSpec spec;
  spec.mutable_url()->set_url("http://127.0.0.1:1/x");
  h.s.AddTask(0, spec);
  h.Pump();
  h.CompleteAll(w);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].kind(), "url");
  EXPECT_EQ(h.records[0].url(), "http://127.0.0.1:1/x");
  EXPECT_EQ(h.records[0].task(), "url http://127.0.0.1:1/x");
}

TEST(SchedulerTest, LateOutcomesAreDroppedWithoutASecondRecord) {
  Harness h(NoPrefetch());
  WorkerId w1 = h.Add("w1");
  WorkerId w2 = h.Add("w2");
  h.s.AddTask(0, Noop());
  h.s.AddTask(1, Noop());
  h.Pump();
  ASSERT_EQ(h.held[w1].size(), 1u);
  ASSERT_EQ(h.held[w2].size(), 1u);
  pb::Assignment first = h.held[w1][0];
  ASSERT_EQ(first.task_id(), 0u);
  // Attempt 1 fails (retryable) and task 0 is leased again as attempt 2.
  EXPECT_EQ(h.Report(w1, first, false, 1, true, "reset"), OutcomeVerdict::kAccepted);
  h.clock.Advance(1000);
  h.Pump();
  ASSERT_EQ(h.held[w1].size(), 1u);
  pb::Assignment second = h.held[w1][0];
  EXPECT_EQ(second.task_id(), 0u);
  EXPECT_EQ(second.attempt(), 2u);

  // The old attempt again, from the right worker: late.
  EXPECT_EQ(h.Report(w1, first, true), OutcomeVerdict::kLate);
  // The current attempt from a worker that does not hold it: late.
  EXPECT_EQ(h.Report(w2, second, true), OutcomeVerdict::kLate);
  // A task id nobody holds: late.
  pb::Assignment unknown;
  unknown.set_task_id(77);
  unknown.set_attempt(1);
  EXPECT_EQ(h.Report(w2, unknown, true), OutcomeVerdict::kLate);
  // A worker the scheduler does not know.
  EXPECT_EQ(h.Report(999, second, true), OutcomeVerdict::kUnknownWorker);
  EXPECT_TRUE(h.records.empty());
  EXPECT_EQ(h.s.late_results(), 3u);

  EXPECT_EQ(h.Report(w1, second, true), OutcomeVerdict::kAccepted);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].attempts(), 2u);
  // Once recorded, the same outcome again is late too.
  EXPECT_EQ(h.Report(w1, second, true), OutcomeVerdict::kLate);
  h.CompleteAll(w2);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 2));
}

// ---------------------------------------------------------------- retries

TEST(SchedulerTest, RetryableFailureIsRetriedUpToRetriesThenRecordedFailed) {
  SchedulerOptions o;
  o.retries = 2;
  o.backoff_base_ms = 100;
  Harness h(o);
  WorkerId w = h.Add("w1");
  h.s.AddTask(0, Noop());

  h.Pump();
  ASSERT_EQ(h.held[w].size(), 1u);
  EXPECT_EQ(h.Report(w, h.held[w][0], false, 1, true, "connection reset"), OutcomeVerdict::kAccepted);
  EXPECT_TRUE(h.records.empty());
  // Backoff: 100 ms after the first failure.
  EXPECT_TRUE(h.Pump().empty());
  h.clock.Advance(99);
  EXPECT_TRUE(h.Pump().empty());
  h.clock.Advance(1);
  ASSERT_EQ(h.Pump().size(), 1u);
  EXPECT_EQ(h.held[w][0].attempt(), 2u);
  EXPECT_EQ(h.Report(w, h.held[w][0], false, 1, true, "HTTP 503"), OutcomeVerdict::kAccepted);
  EXPECT_TRUE(h.records.empty());
  // 200 ms after the second.
  h.clock.Advance(199);
  EXPECT_TRUE(h.Pump().empty());
  h.clock.Advance(1);
  ASSERT_EQ(h.Pump().size(), 1u);
  EXPECT_EQ(h.held[w][0].attempt(), 3u);
  EXPECT_EQ(h.Report(w, h.held[w][0], false, 1, true, "HTTP 502"), OutcomeVerdict::kAccepted);

  ASSERT_EQ(h.records.size(), 1u);
  const pb::Result& r = h.records[0];
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.attempts(), 3u);
  EXPECT_EQ(r.error(), "HTTP 502");
  EXPECT_EQ(r.worker(), "w1");
  ASSERT_EQ(r.failures_size(), 2);
  EXPECT_EQ(r.failures(0), "attempt 1 on w1: connection reset");
  EXPECT_EQ(r.failures(1), "attempt 2 on w1: HTTP 503");
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 1));
}

TEST(SchedulerTest, RetryThatSucceedsKeepsTheEarlierFailure) {
  Harness h;
  WorkerId w = h.Add("w1");
  h.s.AddTask(0, Noop());
  h.Pump();
  h.Report(w, h.held[w][0], false, 1, true, "timeout");
  h.clock.Advance(1000);
  h.Pump();
  h.CompleteAll(w);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_TRUE(h.records[0].ok());
  EXPECT_EQ(h.records[0].attempts(), 2u);
  ASSERT_EQ(h.records[0].failures_size(), 1);
  EXPECT_EQ(h.records[0].failures(0), "attempt 1 on w1: timeout");
}

TEST(SchedulerTest, NonRetryableFailureIsRecordedAtOnce) {
  Harness h;
  WorkerId w = h.Add("w1");
  h.s.AddTask(0, Noop());
  h.Pump();
  EXPECT_EQ(h.Report(w, h.held[w][0], false, 1, false, "HTTP 404"), OutcomeVerdict::kAccepted);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_FALSE(h.records[0].ok());
  EXPECT_EQ(h.records[0].attempts(), 1u);
  EXPECT_EQ(h.records[0].error(), "HTTP 404");
  EXPECT_EQ(h.records[0].failures_size(), 0);
  EXPECT_TRUE(h.s.idle());
}

TEST(SchedulerTest, ZeroRetriesRecordsTheFirstRetryableFailure) {
  SchedulerOptions o;
  o.retries = 0;
  Harness h(o);
  WorkerId w = h.Add("w1");
  h.s.AddTask(0, Noop());
  h.Pump();
  h.Report(w, h.held[w][0], false, 1, true, "reset");
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_FALSE(h.records[0].ok());
  EXPECT_EQ(h.records[0].attempts(), 1u);
}

// ---------------------------------------------------------------- dead workers

TEST(SchedulerTest, WorkerDyingUnderOneTaskRetriesItThenGivesUp) {
  SchedulerOptions o;
  o.retries = 2;
  Harness h(o);
  h.s.AddTask(0, Noop());
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    WorkerId w = h.Add(WorkerName(attempt));
    h.clock.Advance(10000);  // past any backoff
    h.Pump();
    ASSERT_EQ(h.held[w].size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(h.held[w][0].attempt(), attempt);
    EXPECT_TRUE(h.records.empty());
    h.Gone(w, "signal 9");
    EXPECT_FALSE(h.s.HasWorker(w));
    EXPECT_TRUE(h.s.worker_stats().at(w).gone);
    EXPECT_EQ(h.s.worker_stats().at(w).gone_reason, "signal 9");
  }
  ASSERT_EQ(h.records.size(), 1u);
  const pb::Result& r = h.records[0];
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.error(), "worker died 3 times")) << r.error();
  EXPECT_TRUE(Contains(r.error(), "signal 9")) << r.error();
  EXPECT_EQ(r.error_code(), "worker_died");
  EXPECT_EQ(r.attempts(), 3u);
  ASSERT_EQ(r.failures_size(), 2);
  EXPECT_TRUE(Contains(r.failures(0), "attempt 1: worker w1 died running this task alone")) << r.failures(0);
  EXPECT_TRUE(Contains(r.failures(1), "attempt 2: worker w2")) << r.failures(1);
  EXPECT_EQ(h.s.in_flight(), 0u);
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 1));
}

TEST(SchedulerTest, RetryAfterADeathWaitsForTheBackoff) {
  SchedulerOptions o;
  o.backoff_base_ms = 100;
  Harness h(o);
  WorkerId w1 = h.Add("w1");
  h.s.AddTask(0, Noop());
  h.Pump();
  h.Gone(w1, "signal 9");
  WorkerId w2 = h.Add("w2");
  EXPECT_TRUE(h.Pump().empty());
  h.clock.Advance(100);
  ASSERT_EQ(h.Pump().size(), 1u);
  ASSERT_EQ(h.held[w2].size(), 1u);
  EXPECT_EQ(h.held[w2][0].attempt(), 2u);
  h.CompleteAll(w2);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_TRUE(h.records[0].ok());
  EXPECT_EQ(h.records[0].worker(), "w2");
}

TEST(SchedulerTest, WorkerDyingUnderSeveralTasksMakesThemSuspectsThatRunAlone) {
  Harness h(NoPrefetch());
  WorkerId w1 = h.Add("w1", 4);
  h.AddTasks(0, 4, Noop());
  h.Pump();
  ASSERT_EQ(h.held[w1].size(), 4u);
  h.AddTasks(4, 4, Noop());  // healthy work waiting behind them
  h.Gone(w1, "signal 9");
  EXPECT_TRUE(h.records.empty());

  WorkerId w2 = h.Add("w2", 4);
  WorkerId w3 = h.Add("w3", 4);
  std::set<uint32_t> suspects_run;
  for (int round = 0; round < 50 && !h.s.idle(); ++round) {
    for (const Dispatch& d : h.Pump()) {
      for (const pb::Assignment& a : d.tasks) {
        if (a.task_id() < 4) {
          EXPECT_TRUE(suspects_run.insert(a.task_id()).second);
          EXPECT_EQ(a.attempt(), 2u);
          // Alone: the only task in its dispatch and on its worker.
          EXPECT_EQ(d.tasks.size(), 1u);
          EXPECT_EQ(h.held[d.worker].size(), 1u);
        } else {
          // Healthy tasks start only once every suspect has been run.
          EXPECT_EQ(suspects_run.size(), 4u) << "task " << a.task_id() << " before the suspects";
        }
      }
    }
    // Finish one lease a round on each worker, so suspects trickle.
    for (WorkerId w : {w2, w3}) {
      if (!h.held[w].empty()) h.Report(w, h.held[w][0], true);
    }
  }
  EXPECT_EQ(suspects_run.size(), 4u);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 8));
  EXPECT_EQ(h.Failures(), 0u);
  for (uint32_t id = 0; id < 4; ++id) {
    const pb::Result* r = h.RecordOf(id);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->attempts(), 2u);
    ASSERT_EQ(r->failures_size(), 1);
    EXPECT_TRUE(Contains(r->failures(0), "worker w1 died (signal 9) while it ran 4 tasks; rerun alone"))
        << r->failures(0);
  }
}

TEST(SchedulerTest, PoisonTaskIsTheOnlyFailure) {
  SchedulerOptions o;
  o.retries = 2;
  Harness h(o);
  constexpr uint32_t kTasks = 12;
  constexpr uint32_t kPoison = 5;
  h.AddTasks(0, kTasks, Noop());
  std::vector<WorkerId> live = {h.Add("w1", 3), h.Add("w2", 3)};
  uint32_t next = 3;
  int deaths = 0;
  for (int round = 0; round < 200 && h.records.size() < kTasks; ++round) {
    h.Pump();
    for (WorkerId& w : live) {
      const std::vector<pb::Assignment>& leases = h.held[w];
      bool poisoned =
          std::any_of(leases.begin(), leases.end(), [](const pb::Assignment& a) { return a.task_id() == kPoison; });
      if (poisoned) {
        h.Gone(w, "signal 9");
        ++deaths;
        w = h.Add(WorkerName(next++), 3);
      } else {
        h.CompleteAll(w);
      }
    }
    h.clock.Advance(1000);
  }
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, kTasks));
  EXPECT_EQ(h.Failures(), 1u);
  const pb::Result* poison = h.RecordOf(kPoison);
  ASSERT_NE(poison, nullptr);
  EXPECT_FALSE(poison->ok());
  EXPECT_TRUE(Contains(poison->error(), "worker died 3 times")) << poison->error();
  EXPECT_EQ(poison->error_code(), "worker_died");
  // One death among company (if any), then three alone.
  EXPECT_GE(deaths, 3);
  EXPECT_LE(deaths, 4);
  for (const pb::Result& r : h.records) {
    if (r.id() != kPoison) {
      EXPECT_TRUE(r.ok()) << "task " << r.id() << ": " << r.error();
    }
  }
}

TEST(SchedulerTest, WorkerLeavingRequeuesWithoutBlame) {
  Harness h(NoPrefetch());
  WorkerId w1 = h.Add("w1", 2);
  h.AddTasks(0, 2, Noop());
  h.Pump();
  ASSERT_EQ(h.held[w1].size(), 2u);
  h.held.erase(w1);
  h.s.WorkerLeft(w1);
  EXPECT_FALSE(h.s.HasWorker(w1));
  EXPECT_EQ(h.s.in_flight(), 0u);
  WorkerId w2 = h.Add("w2", 2);
  std::vector<Dispatch> d = h.Pump();  // no backoff, and not run alone
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].tasks.size(), 2u);
  h.CompleteAll(w2);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 2));
  for (const pb::Result& r : h.records) {
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.attempts(), 2u);
    EXPECT_EQ(r.failures_size(), 0);
  }
}

// ---------------------------------------------------------------- time

TEST(SchedulerTest, HeartbeatTimeoutLosesTheWorkerAndRequeuesItsTasks) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 5000;
  Harness h(o);
  WorkerId w1 = h.Add("w1");
  WorkerId w2 = h.Add("w2");
  h.AddTasks(0, 2, Noop());
  h.Pump();
  ASSERT_EQ(h.held[w1].size(), 1u);
  ASSERT_EQ(h.held[w2].size(), 1u);
  uint32_t lost_task = h.held[w1][0].task_id();

  h.clock.Advance(4000);
  pb::LeaseRef started;  // w2 shows it works; w1 says nothing
  started.set_task_id(h.held[w2][0].task_id());
  started.set_attempt(h.held[w2][0].attempt());
  EXPECT_TRUE(h.s.OnStarted(w2, started));
  h.s.WorkerHeard(w2);
  EXPECT_TRUE(h.Tick().lost.empty());
  h.clock.Advance(1001);  // w1 silent 5001 ms, w2 1001 ms
  Scheduler::TickResult t = h.Tick();
  EXPECT_EQ(t.lost, std::vector<WorkerId>{w1});
  EXPECT_FALSE(h.s.HasWorker(w1));
  EXPECT_EQ(h.s.live_workers(), 1u);
  EXPECT_TRUE(h.s.worker_stats().at(w1).gone);
  EXPECT_TRUE(Contains(h.s.worker_stats().at(w1).gone_reason, "no heartbeat")) << h.s.worker_stats().at(w1).gone_reason;
  EXPECT_TRUE(h.records.empty());

  // A result from the lost worker no longer counts.
  pb::Assignment old;
  old.set_task_id(lost_task);
  old.set_attempt(1);
  EXPECT_EQ(h.Report(w1, old, true), OutcomeVerdict::kUnknownWorker);

  h.CompleteAll(w2);
  h.clock.Advance(1000);
  h.Pump();
  ASSERT_EQ(h.held[w2].size(), 1u);
  EXPECT_EQ(h.held[w2][0].task_id(), lost_task);
  EXPECT_EQ(h.held[w2][0].attempt(), 2u);
  h.CompleteAll(w2);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 2));
  const pb::Result* r = h.RecordOf(lost_task);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->ok());
  ASSERT_EQ(r->failures_size(), 1);
  EXPECT_TRUE(Contains(r->failures(0), "stopped answering")) << r->failures(0);
}

TEST(SchedulerTest, OutcomesCountAsHeartbeats) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 5000;
  Harness h(o);
  WorkerId w = h.Add("w1");
  h.AddTasks(0, 2, Noop());
  h.Pump();
  h.clock.Advance(4000);
  h.CompleteAll(w);
  h.clock.Advance(4000);
  EXPECT_TRUE(h.Tick().lost.empty());
  EXPECT_TRUE(h.s.HasWorker(w));
}

TEST(SchedulerTest, OverdueLeaseMarksItsWorkerStuckAndATimeoutIsRetried) {
  SchedulerOptions o;
  o.task_timeout_ms = 1000;
  o.timeout_slack_ms = 1500;
  o.heartbeat_timeout_ms = 60000;
  Harness h(o);
  WorkerId w1 = h.Add("w1");
  h.s.AddTask(0, Sleep(100000));
  h.Pump();
  ASSERT_EQ(h.held[w1].size(), 1u);
  EXPECT_EQ(h.held[w1][0].timeout_ms(), 1000u);
  // The deadline runs from the reported start, not from the dispatch.
  h.clock.Advance(5000);
  EXPECT_TRUE(h.Tick().stuck.empty());
  pb::LeaseRef started;
  started.set_task_id(0);
  started.set_attempt(1);
  EXPECT_TRUE(h.s.OnStarted(w1, started));
  h.clock.Advance(2500);
  EXPECT_TRUE(h.Tick().stuck.empty());
  h.clock.Advance(1);
  Scheduler::TickResult t = h.Tick();
  EXPECT_EQ(t.stuck, std::vector<WorkerId>{w1});
  EXPECT_TRUE(t.lost.empty());
  std::vector<pb::LeaseRef> leases = h.s.LeasesOf(w1);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].task_id(), 0u);
  EXPECT_EQ(leases[0].attempt(), 1u);

  h.Gone(w1, "killed: task overdue");
  WorkerId w2 = h.Add("w2");
  h.Pump();
  ASSERT_EQ(h.held[w2].size(), 1u);
  EXPECT_EQ(h.held[w2][0].attempt(), 2u);
  h.CompleteAll(w2);
  ASSERT_EQ(h.records.size(), 1u);
  ASSERT_EQ(h.records[0].failures_size(), 1);
  EXPECT_TRUE(Contains(h.records[0].failures(0), "ran past the task timeout of 1.0 s")) << h.records[0].failures(0);
}

// ---------------------------------------------------------------- interruption

TEST(SchedulerTest, StopDispatchingCancelsQueuedTasks) {
  Harness h(NoPrefetch());
  WorkerId w = h.Add("w1", 2);
  h.AddTasks(0, 6, Noop());
  h.Pump();
  ASSERT_EQ(h.held[w].size(), 2u);  // tasks 0 and 1 in flight
  // Task 1 fails retryably and waits in backoff.
  h.Report(w, h.held[w][1], false, 1, true, "reset");
  EXPECT_TRUE(h.records.empty());

  h.s.StopDispatching("interrupted");
  h.Collect();
  EXPECT_FALSE(h.s.dispatching());
  ASSERT_EQ(h.records.size(), 5u);  // 1 (in backoff) and 2..5
  for (const pb::Result& r : h.records) {
    EXPECT_NE(r.id(), 0u);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error_code(), "cancelled");
    EXPECT_EQ(r.error(), "cancelled before it started: interrupted");
  }
  h.clock.Advance(10000);
  EXPECT_TRUE(h.Pump().empty());

  // What is in flight still finishes.
  h.CompleteAll(w);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 6));
  EXPECT_TRUE(h.RecordOf(0)->ok());

  // New input after the stop is cancelled at once.
  h.s.AddTask(6, Noop());
  h.Collect();
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 7));
  EXPECT_EQ(h.RecordOf(6)->error_code(), "cancelled");
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(h.Pump().empty());
}

TEST(SchedulerTest, FailuresAfterStopAreCancelledNotRetried) {
  Harness h(NoPrefetch());
  WorkerId w1 = h.Add("w1", 2);
  WorkerId w2 = h.Add("w2", 1);
  h.AddTasks(0, 3, Noop());
  h.Pump();
  ASSERT_EQ(h.held[w1].size() + h.held[w2].size(), 3u);
  h.s.StopDispatching("interrupted");
  h.Collect();
  EXPECT_TRUE(h.records.empty());
  // A retryable failure and a dead worker: neither may start anything again.
  h.Report(w1, h.held[w1][0], false, 1, true, "reset");
  h.Gone(w2, "signal 9");
  h.CompleteAll(w1);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 3));
  EXPECT_EQ(h.Failures(), 2u);
  for (const pb::Result& r : h.records) {
    if (!r.ok()) {
      EXPECT_EQ(r.error_code(), "cancelled") << r.error();
    }
  }
  EXPECT_TRUE(h.s.idle());
}

TEST(SchedulerTest, CancelInFlightRecordsLeasedTasksCancelled) {
  Harness h(NoPrefetch());
  WorkerId w = h.Add("w1", 2);
  h.AddTasks(0, 4, Noop());
  h.Pump();
  ASSERT_EQ(h.held[w].size(), 2u);
  std::vector<pb::Assignment> leases = h.held[w];
  h.s.StopDispatching("interrupted");
  h.s.CancelInFlight("second interrupt");
  h.Collect();
  EXPECT_EQ(h.s.in_flight(), 0u);
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 4));
  for (const pb::Assignment& a : leases) {
    const pb::Result* r = h.RecordOf(a.task_id());
    ASSERT_NE(r, nullptr);
    EXPECT_FALSE(r->ok());
    EXPECT_EQ(r->error_code(), "cancelled");
    EXPECT_EQ(r->error(), "cancelled while running: second interrupt");
  }
  // Their results, arriving now, are late.
  for (const pb::Assignment& a : leases) EXPECT_EQ(h.Report(w, a, true), OutcomeVerdict::kLate);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 4));
  EXPECT_TRUE(h.s.LeasesOf(w).empty());
}

// A second Ctrl-C: each running task's record says how long it ran (from
// its reported start, else from when it went into a free slot); a lease
// still queued on the worker never started, and is counted with the
// queued ones rather than shown one line each.
TEST(SchedulerTest, CancelInFlightRecordsHowLongEachTaskRan) {
  Harness h;  // prefetch on
  WorkerId w = h.Add("w1", 2);
  h.s.AddTask(0, Sleep(10));
  h.Pump();
  h.CompleteAll(w, 10);  // sleeps take 10 ms: two more fit behind the slots
  h.AddTasks(1, 20, Sleep(10));
  h.Pump();
  ASSERT_EQ(h.held[w].size(), 4u);  // two in the slots, two prefetched
  std::vector<pb::Assignment> leases = h.held[w];
  h.clock.Advance(500);
  pb::LeaseRef started;
  started.set_task_id(leases[0].task_id());
  started.set_attempt(leases[0].attempt());
  ASSERT_TRUE(h.s.OnStarted(w, started));
  h.clock.Advance(1000);
  h.s.StopDispatching("interrupted");
  h.s.CancelInFlight("second interrupt");
  std::map<uint32_t, FinishedTask> by_id;
  std::vector<FinishedTask> finished;
  h.s.TakeFinishedRaw(&finished);
  for (FinishedTask& f : finished) by_id.emplace(f.result.id(), std::move(f));
  ASSERT_EQ(by_id.size(), 20u);  // 1..20; 0 finished before
  const FinishedTask& reported = by_id.at(leases[0].task_id());
  EXPECT_EQ(reported.result.error(), "cancelled while running: second interrupt");
  EXPECT_DOUBLE_EQ(reported.result.duration_ms(), 1000);  // from the start it reported
  EXPECT_FALSE(reported.cancelled_waiting);
  const FinishedTask& silent = by_id.at(leases[1].task_id());
  EXPECT_EQ(silent.result.error(), "cancelled while running: second interrupt");
  EXPECT_DOUBLE_EQ(silent.result.duration_ms(), 1500);  // from when it went into a free slot
  EXPECT_FALSE(silent.cancelled_waiting);
  for (size_t i : {2u, 3u}) {
    const FinishedTask& queued = by_id.at(leases[i].task_id());
    EXPECT_EQ(queued.result.error(), "cancelled before it started: second interrupt");
    EXPECT_EQ(queued.result.duration_ms(), 0);
    EXPECT_TRUE(queued.cancelled_waiting);
    EXPECT_EQ(queued.worker, w);  // the record still names where it waited
  }
  size_t waiting = 0;
  for (auto& [id, f] : by_id) waiting += f.cancelled_waiting;
  EXPECT_EQ(waiting, 18u);  // all but the two that ran
}

// ---------------------------------------------------------------- balance

TEST(SchedulerTest, LongTaskDoesNotHoldBackShortOnes) {
  Harness h;  // default prefetch
  WorkerId w1 = h.Add("w1", 1);
  WorkerId w2 = h.Add("w2", 1);
  h.s.AddTask(0, Sleep(60000));
  h.AddTasks(1, 100, Sleep(1));
  h.Pump();
  ASSERT_EQ(h.held[w1].size(), 1u);
  EXPECT_EQ(h.held[w1][0].task_id(), 0u);  // the long one
  for (int round = 0; round < 1000 && !h.held[w2].empty(); ++round) {
    h.CompleteAll(w2, /*duration_ms=*/1);
    h.clock.Advance(1);
    h.Pump();
  }
  // w1 got the long task plus at most prefetch_ms (5) of 1 ms tasks; w2 did
  // the rest.
  EXPECT_LE(h.received[w1], 6u);
  EXPECT_GE(h.received[w2], 95u);
  EXPECT_EQ(h.received[w1] + h.received[w2], 101u);
  EXPECT_EQ(h.records.size(), 101 - h.received[w1]);
  h.CompleteAll(w1, 60000);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 101));
  EXPECT_GT(h.s.worker_stats().at(w2).tasks, h.s.worker_stats().at(w1).tasks);
}

// ---------------------------------------------------------------- chaos

// Random interleavings of outcomes, failures, deaths, departures, silences,
// late duplicates and interruptions, on fixed seeds. Whatever happens: an
// outcome is accepted exactly when it carries a lease its worker holds,
// suspects run alone, and every task ends in exactly one record.
TEST(SchedulerTest, RandomEventsKeepEveryPromise) {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto pick = [&](uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng); };
    SchedulerOptions o;
    o.retries = static_cast<int>(pick(4));
    o.heartbeat_timeout_ms = 5000;
    o.max_batch = 1 + static_cast<int>(pick(8));
    Harness h(o);
    constexpr uint32_t kTasks = 150;
    for (uint32_t id = 0; id < kTasks; ++id) {
      uint32_t kind = pick(3);
      h.s.AddTask(id, kind == 0 ? Noop() : kind == 1 ? Sleep(5) : Cpu(1000));
    }
    std::vector<WorkerId> live;
    uint32_t next_name = 1;
    auto add_worker = [&] { live.push_back(h.Add(WorkerName(next_name++), 1 + pick(4), 1 + pick(2))); };
    auto drop = [&](size_t i) { live.erase(live.begin() + static_cast<std::ptrdiff_t>(i)); };
    add_worker();
    add_worker();
    std::vector<std::pair<WorkerId, pb::Assignment>> history;
    std::set<WorkerId> hung;
    bool stopped = false, cancelled = false;

    for (int step = 0; step < 1000; ++step) {
      for (const Dispatch& d : h.Pump()) {
        for (const pb::Assignment& a : d.tasks) history.emplace_back(d.worker, a);
      }
      uint32_t roll = pick(100);
      if (roll < 55) {
        // A worker that is not hung reports one of its leases.
        std::vector<WorkerId> busy;
        for (WorkerId w : live) {
          if (!h.held[w].empty() && !hung.count(w)) busy.push_back(w);
        }
        if (busy.empty()) continue;
        WorkerId w = busy[pick(static_cast<uint32_t>(busy.size()))];
        pb::Assignment a = h.held[w][pick(static_cast<uint32_t>(h.held[w].size()))];
        uint32_t how = pick(10);
        OutcomeVerdict v = h.Report(w, a, how < 7, 1 + pick(20), how < 9, how < 7 ? "" : "boom");
        EXPECT_EQ(v, OutcomeVerdict::kAccepted);
      } else if (roll < 65) {
        // A late or misdirected copy of some earlier lease.
        if (history.empty()) continue;
        auto [holder, a] = history[pick(static_cast<uint32_t>(history.size()))];
        WorkerId w = pick(2) ? holder : live.empty() ? holder : live[pick(static_cast<uint32_t>(live.size()))];
        const std::vector<pb::Assignment>& leases = h.held[w];
        // [&a = a]: clang 14 (build-asan) cannot capture a structured binding.
        bool holds = std::any_of(leases.begin(), leases.end(), [&a = a](const pb::Assignment& x) {
          return x.task_id() == a.task_id() && x.attempt() == a.attempt();
        });
        OutcomeVerdict v = h.Report(w, a, true);
        EXPECT_EQ(v == OutcomeVerdict::kAccepted, holds)
            << "task " << a.task_id() << " attempt " << a.attempt() << " from worker " << w;
      } else if (roll < 71) {
        if (live.empty()) continue;
        size_t i = pick(static_cast<uint32_t>(live.size()));
        h.Gone(live[i], "signal 9");
        drop(i);
        add_worker();
      } else if (roll < 74) {
        if (live.empty()) continue;
        size_t i = pick(static_cast<uint32_t>(live.size()));
        h.Left(live[i]);
        drop(i);
        add_worker();
      } else if (roll < 94) {
        // Time passes. A hung worker stays silent and is lost once
        // its silence passes the heartbeat timeout.
        h.clock.Advance(pick(800));
        if (!live.empty() && pick(10) == 0) hung.insert(live[pick(static_cast<uint32_t>(live.size()))]);
        for (WorkerId w : live) {
          if (!hung.count(w)) h.s.WorkerHeard(w);
        }
        for (WorkerId w : h.Tick().lost) {
          EXPECT_TRUE(hung.count(w)) << "worker " << w << " was not silent";
          auto it = std::find(live.begin(), live.end(), w);
          ASSERT_NE(it, live.end());
          live.erase(it);
          add_worker();
        }
      } else if (roll < 96 && !stopped && step > 100 && seed % 2 == 0) {
        h.s.StopDispatching("interrupted");
        h.Collect();
        stopped = true;
      } else if (roll < 97 && stopped && !cancelled) {
        h.s.CancelInFlight("interrupted twice");
        h.Collect();
        h.held.clear();
        cancelled = true;
      } else if (live.size() < 4) {
        add_worker();
      }
    }

    // Drain: healthy workers finish everything.
    for (int round = 0; round < 500 && !h.s.idle(); ++round) {
      if (live.empty()) add_worker();
      h.clock.Advance(10000);
      for (WorkerId w : live) h.s.WorkerHeard(w);
      h.Pump();
      for (WorkerId w : live) h.CompleteAll(w);
    }
    EXPECT_TRUE(h.s.idle());
    EXPECT_EQ(h.s.in_flight(), 0u);
    EXPECT_TRUE(EveryTaskRecordedOnce(h.records, kTasks));
    if (!stopped) {
      for (const pb::Result& r : h.records) EXPECT_NE(r.error_code(), "cancelled") << r.id();
    }
    if (::testing::Test::HasFailure()) break;
  }
}

// ---------------------------------------------------------------- a worker's word

pb::LeaseRef Ref(const pb::Assignment& a) {
  pb::LeaseRef r;
  r.set_task_id(a.task_id());
  r.set_attempt(a.attempt());
  return r;
}

TEST(SchedulerTest, ATaskNeverReportedStartedIsNeverTimedOut) {
  SchedulerOptions o;
  o.task_timeout_ms = 200;
  o.timeout_slack_ms = 100;
  o.heartbeat_timeout_ms = 60000;
  o.prefetch_ms = 0;
  Harness h(o);
  WorkerId w = h.Add("w1", 1);
  h.AddTasks(0, 1, Sleep(50));
  h.Pump();
  // Queued behind something else on the worker for a long while: its own
  // clock has not started, so nothing is overdue.
  h.clock.Advance(10000);
  h.s.WorkerHeard(w);
  EXPECT_TRUE(h.Tick().stuck.empty());
  EXPECT_TRUE(h.s.OnStarted(w, Ref(h.held[w][0])));
  EXPECT_FALSE(h.s.OnStarted(w, Ref(h.held[w][0]))) << "a second note for one start is ignored";
  h.clock.Advance(300);
  EXPECT_TRUE(h.Tick().stuck.empty());
  h.clock.Advance(1);
  EXPECT_EQ(h.Tick().stuck, std::vector<WorkerId>{w});
}

TEST(SchedulerTest, PrefetchQueuesNoMoreExpectedWorkThanItsBudget) {
  SchedulerOptions o;  // prefetch_ms 50
  Harness h(o);
  WorkerId w = h.Add("w1", /*concurrency=*/4);
  // Learn the kinds: a noop takes nothing, a sleep 300 ms.
  h.AddTasks(0, 4, Noop());
  h.Pump();
  h.CompleteAll(w, 0.001);
  h.AddTasks(4, 4, Sleep(300));
  h.Pump();
  h.CompleteAll(w, 300);
  // Plenty of long tasks waiting: four run, and none is queued behind them
  // (one more would be 300 ms of queued work against a 4 x 50 ms budget),
  // however cheap noops made the farm's overall average look.
  h.AddTasks(8, 200, Sleep(300));
  h.Pump();
  EXPECT_EQ(h.held[w].size(), 4u);
  // With noops in the mix, each kind keeps its own estimate: the sleeps
  // never queue past the slots, the noops travel in batches.
  h.AddTasks(1000, 2000, Noop());
  size_t most_held = 0;
  for (int i = 0; i < 400 && !h.s.idle(); ++i) {
    std::vector<pb::Assignment> leases = h.held[w];
    for (const pb::Assignment& a : leases) h.Report(w, a, true, a.spec().has_sleep() ? 300 : 0.001);
    h.Pump();
    size_t sleeps = 0;
    for (const pb::Assignment& a : h.held[w]) sleeps += a.spec().has_sleep();
    EXPECT_LE(sleeps, 4u);
    most_held = std::max(most_held, h.held[w].size());
  }
  EXPECT_TRUE(h.s.idle());
  EXPECT_GT(most_held, 100u) << "noops should be prefetched in batches";
}

TEST(SchedulerTest, PrefetchedLeasesOfADeadWorkerAreNotSuspects) {
  SchedulerOptions o;
  Harness h(o);
  WorkerId w = h.Add("w1", 2);
  h.AddTasks(0, 2, Sleep(10));
  h.Pump();
  h.CompleteAll(w, 10);
  h.AddTasks(2, 100, Sleep(10));
  h.Pump();
  ASSERT_GT(h.held[w].size(), 2u) << "expected prefetch past the two slots";
  h.Gone(w, "signal 9");
  // The two that could have been running are suspects; the queued ones are not.
  size_t suspects = 0;
  for (uint32_t id = 2; id < 102; ++id) suspects += h.s.IsSuspect(id);
  EXPECT_EQ(suspects, 2u);
}

TEST(SchedulerTest, ARemoteWorkerThatNeverDidAnythingTakesNoTaskDown) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 1000;
  Harness h(o);
  WorkerId fake = h.Add("fake", 4, 1, 256, /*local=*/false);
  h.AddTasks(0, 4, Sleep(10));
  h.Pump();
  ASSERT_EQ(h.held[fake].size(), 4u);
  h.clock.Advance(1001);
  EXPECT_EQ(h.Tick().lost, std::vector<WorkerId>{fake});
  for (uint32_t id = 0; id < 4; ++id) EXPECT_FALSE(h.s.IsSuspect(id));
  EXPECT_EQ(h.s.worker_stats().count(fake), 0u) << "a registration that did nothing leaves no row";
  WorkerId w = h.Add("w1", 4);
  h.Pump();
  h.CompleteAll(w, 10);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 4));
  for (const pb::Result& r : h.records) {
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.failures_size(), 0) << r.failures(0);
  }
}

TEST(SchedulerTest, ATaskThatKillsEveryFreshRemoteWorkerStillEnds) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 1000;
  Harness h(o);
  h.AddTasks(0, 1, Sleep(10));
  for (uint32_t i = 0; i <= kMaxUnprovenLosses && h.records.empty(); ++i) {
    WorkerId r = h.Add("fresh" + std::to_string(i), 1, 1, 256, /*local=*/false);
    h.Pump();
    ASSERT_EQ(h.held[r].size(), 1u) << i;
    h.Gone(r, "no heartbeat");  // died before it could say anything
  }
  ASSERT_EQ(h.records.size(), 1u) << "retried without end";
  EXPECT_EQ(h.records[0].error_code(), "worker_died");
  EXPECT_EQ(h.records[0].attempts(), kMaxUnprovenLosses + 1);
}

TEST(SchedulerTest, AProvenRemoteWorkersSilenceStillCounts) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 1000;
  Harness h(o);
  WorkerId r = h.Add("remote", 4, 1, 256, /*local=*/false);
  h.AddTasks(0, 3, Sleep(10));
  h.Pump();
  ASSERT_EQ(h.held[r].size(), 3u);
  EXPECT_TRUE(h.s.OnStarted(r, Ref(h.held[r][0])));
  h.clock.Advance(1001);
  EXPECT_EQ(h.Tick().lost, std::vector<WorkerId>{r});
  for (uint32_t id = 0; id < 3; ++id) EXPECT_TRUE(h.s.IsSuspect(id)) << id;
}

TEST(SchedulerTest, ARemoteWorkerGetsNoLeaseBeforeItSpeaksAfterItsHello) {
  Harness h(NoPrefetch());
  WorkerInfo info;
  info.name = "remote";
  info.concurrency = 4;
  WorkerId r = h.s.AddWorker(info);
  h.AddTasks(0, 4, Sleep(10));
  EXPECT_TRUE(h.Pump().empty()) << "a Hello alone earns nothing";
  h.s.WorkerHeard(r);
  h.Pump();
  EXPECT_EQ(h.held[r].size(), 4u);
}

TEST(SchedulerTest, ARemoteWorkerEarnsItsCredit) {
  Harness h(NoPrefetch());
  WorkerId r = h.Add("remote", /*concurrency=*/1000000, 1, 256, /*local=*/false);
  EXPECT_EQ(h.s.Info(r)->concurrency, kMaxWorkerConcurrency) << "a Hello's claim is capped";
  h.AddTasks(0, 2000, Sleep(10));
  h.Pump();
  EXPECT_EQ(h.held[r].size(), 8u) << "a new remote worker holds its initial credit, not its claim";
  h.CompleteAll(r, 10);
  h.Pump();
  EXPECT_EQ(h.held[r].size(), 16u) << "one more lease per accepted result";
  // The window follows what was granted, not what was claimed.
  EXPECT_LE(h.s.in_memory(), 4096u);
}

TEST(SchedulerTest, AWorkerThatOnlyHeartbeatsIsStalledAndItsTasksRunElsewhere) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 5000;
  Harness h(o);
  WorkerId idle = h.Add("idle", 4, 1, 256, /*local=*/false);
  h.AddTasks(0, 4, Sleep(10));
  h.Pump();
  ASSERT_EQ(h.held[idle].size(), 4u);
  for (int i = 0; i < 5; ++i) {
    h.clock.Advance(1000);
    h.s.WorkerHeard(idle);
    EXPECT_TRUE(h.Tick().stalled.empty());
  }
  h.clock.Advance(1);
  h.s.WorkerHeard(idle);
  Scheduler::TickResult t = h.Tick();
  EXPECT_EQ(t.stalled, std::vector<WorkerId>{idle});
  EXPECT_TRUE(t.lost.empty());
  EXPECT_FALSE(h.s.HasWorker(idle));
  WorkerId w = h.Add("w1", 4);
  h.Pump();
  h.CompleteAll(w, 10);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 4));
  for (const pb::Result& r : h.records) EXPECT_TRUE(r.ok());
}

TEST(SchedulerTest, AWorkerWhoseLeaseWasRejectedIsIdleNotStalled) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 1000;
  o.retries = 0;
  Harness h(o);
  WorkerId w = h.Add("w1", 2);
  h.AddTasks(0, 1, Sleep(10));
  h.Pump();
  pb::LeaseRef ref = Ref(h.held[w][0]);
  EXPECT_TRUE(h.s.OnRejected(w, ref, "cannot take it"));
  h.held[w].clear();
  for (int i = 0; i < 5; ++i) {
    h.clock.Advance(900);
    h.s.WorkerHeard(w);
    EXPECT_TRUE(h.Tick().stalled.empty()) << "it holds nothing to start";
  }
}

TEST(SchedulerTest, SuspectsAreNotReservedForAPeerThatNeverSpoke) {
  Harness h(NoPrefetch());
  WorkerId busy = h.Add("w1", 2);
  h.AddTasks(0, 2, Sleep(10));
  h.Pump();
  WorkerId dying = h.Add("w2", 2);
  h.AddTasks(2, 4, Sleep(10));
  h.Pump();
  WorkerInfo silent;  // said Hello, nothing since
  silent.name = "silent";
  h.s.AddWorker(silent);
  h.Gone(dying, "signal 9");  // its two tasks become suspects
  // The busy worker is reserved and, once it drains, runs the suspects.
  for (int i = 0; i < 10 && !h.s.idle(); ++i) {
    h.CompleteAll(busy, 10);
    h.Pump();
  }
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 6));
}

TEST(SchedulerTest, AWorkerBusyWithStartedTasksIsNotStalled) {
  SchedulerOptions o;
  o.heartbeat_timeout_ms = 1000;
  Harness h(o);
  WorkerId w = h.Add("w1", 2, 1, 256, /*local=*/false);
  h.AddTasks(0, 2, Sleep(60000));
  h.Pump();
  for (const pb::Assignment& a : h.held[w]) EXPECT_TRUE(h.s.OnStarted(w, Ref(a)));
  for (int i = 0; i < 30; ++i) {
    h.clock.Advance(900);
    h.s.WorkerHeard(w);
    Scheduler::TickResult t = h.Tick();
    EXPECT_TRUE(t.stalled.empty());
    EXPECT_TRUE(t.lost.empty());
  }
}

TEST(SchedulerTest, AnInvalidResultCostsTheAttemptNotTheRecord) {
  SchedulerOptions o;
  o.retries = 1;
  o.backoff_base_ms = 0;
  Harness h(o);
  WorkerId w = h.Add("w1", 1);
  h.AddTasks(0, 1, Sleep(10));
  h.Pump();
  pb::Outcome bad;
  bad.set_task_id(0);
  bad.set_attempt(1);
  bad.mutable_result()->set_ok(true);
  bad.mutable_result()->set_duration_ms(std::nan(""));
  std::string why;
  EXPECT_EQ(h.s.OnOutcome(w, bad, &why), OutcomeVerdict::kInvalid);
  EXPECT_TRUE(Contains(why, "duration_ms")) << why;
  h.held[w].clear();
  h.Collect();
  EXPECT_TRUE(h.records.empty());
  h.Pump();
  ASSERT_EQ(h.held[w].size(), 1u);
  EXPECT_EQ(h.held[w][0].attempt(), 2u);
  // Lying again, with no retries left: the record says so, sanely.
  bad.set_attempt(2);
  bad.mutable_result()->set_duration_ms(1);
  bad.mutable_result()->set_http_status(200);  // on a sleep task
  EXPECT_EQ(h.s.OnOutcome(w, bad, &why), OutcomeVerdict::kInvalid);
  h.Collect();
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_FALSE(h.records[0].ok());
  EXPECT_EQ(h.records[0].error_code(), "internal");
  EXPECT_TRUE(Contains(h.records[0].error(), "invalid result")) << h.records[0].error();
  EXPECT_FALSE(h.records[0].has_http_status());
  EXPECT_EQ(h.records[0].duration_ms(), 0);
}

TEST(SchedulerTest, AddFinishedPassesThrough) {
  Harness h;
  pb::Result r;
  r.set_id(3);
  r.set_ok(false);
  r.set_error_code("cancelled");
  h.s.AddFinished(r);
  h.Collect();
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].id(), 3u);
}

// ---------------------------------------------------------------- --rate and --per-host

pb::TaskSpec Url(const std::string& url) {
  pb::TaskSpec s;
  s.mutable_url()->set_url(url);
  return s;
}

SchedulerOptions Rate(double per_s) {
  SchedulerOptions o;
  o.rate_per_s = per_s;
  return o;
}

SchedulerOptions PerHost(uint32_t k) {
  SchedulerOptions o = NoPrefetch();
  o.per_host = k;
  return o;
}

// The clock times of each lease handed out while the clock steps by
// `step_ms` for `for_ms`, finishing every lease at once (the tasks take no
// time: only the rate holds them back).
std::vector<double> StartTimes(Harness& h, double step_ms, double for_ms) {
  std::vector<double> times;
  for (double t = 0; t <= for_ms; t += step_ms) {
    for (const Dispatch& d : h.Pump()) times.insert(times.end(), d.tasks.size(), h.clock.NowMs());
    for (auto& [w, leases] : std::map<WorkerId, std::vector<pb::Assignment>>(h.held)) h.CompleteAll(w, 0.01);
    h.clock.Advance(step_ms);
  }
  return times;
}

TEST(SchedulerTest, ARateSpacesStartsOneIntervalApartOverAllWorkers) {
  Harness h(Rate(200));  // one start every 5 ms
  std::vector<WorkerId> workers;
  for (uint32_t i = 1; i <= 4; ++i) workers.push_back(h.Add(WorkerName(i), /*concurrency=*/32));
  h.AddTasks(0, 100, Noop());
  std::vector<double> times = StartTimes(h, 1, 600);
  ASSERT_EQ(times.size(), 100u);
  for (size_t k = 0; k < times.size(); ++k) EXPECT_DOUBLE_EQ(times[k], times[0] + 5.0 * k) << "start " << k;
  // Farm-wide, not per worker: the starts take turns over the workers.
  for (WorkerId w : workers) EXPECT_EQ(h.received[w], 25u);
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 100));
  EXPECT_EQ(h.s.start_stats().starts, 100u);
  EXPECT_DOUBLE_EQ(h.s.start_stats().last_ms - h.s.start_stats().first_ms, 99 * 5.0);
}

TEST(SchedulerTest, ARateSaysWhenTheNextStartIsDue) {
  Harness h(Rate(100));  // every 10 ms
  h.Add("w1", 8);
  h.AddTasks(0, 3, Noop());
  EXPECT_EQ(h.Pump().size(), 1u);
  ASSERT_TRUE(h.s.NextDispatchMs().has_value()) << "the rate alone holds the others back";
  EXPECT_DOUBLE_EQ(*h.s.NextDispatchMs(), h.clock.NowMs() + 10);
  h.clock.Advance(9.9);
  EXPECT_TRUE(h.Pump().empty());
  h.clock.Advance(0.1);
  EXPECT_EQ(h.Pump().size(), 1u);
  h.clock.Advance(10);
  EXPECT_EQ(h.Pump().size(), 1u);
  // Nothing left to start: nothing to wake up for.
  h.clock.Advance(10);
  EXPECT_TRUE(h.Pump().empty());
  EXPECT_FALSE(h.s.NextDispatchMs().has_value());
  // Without a rate there is never a time to wake for.
  Harness free_running;
  free_running.Add("w1", 1);
  free_running.AddTasks(0, 3, Noop());
  free_running.Pump();
  EXPECT_FALSE(free_running.s.NextDispatchMs().has_value());
}

TEST(SchedulerTest, ARateSendsTasksOnlyIntoFreeSlots) {
  // Noops are cheap and plentiful: without a rate they would be queued on
  // the worker past its two slots (prefetch).
  for (bool paced : {false, true}) {
    Harness h(paced ? Rate(1000) : SchedulerOptions{});
    WorkerId w = h.Add("w1", 2);
    h.AddTasks(0, 2, Noop());
    h.Pump();
    h.clock.Advance(1);
    h.Pump();
    h.CompleteAll(w, 0.01);  // the noops' cost is known now
    h.AddTasks(2, 1000, Noop());
    size_t most = 0;
    for (int i = 0; i < 20; ++i) {
      h.clock.Advance(5);
      h.Pump();
      most = std::max(most, h.held[w].size());
    }
    if (paced) {
      EXPECT_EQ(most, 2u) << "a paced task starts when it is sent";
    } else {
      EXPECT_GT(most, 2u) << "the control: prefetch past the slots";
    }
  }
}

TEST(SchedulerTest, ARateMakesUpForALateWakeButNotForAPause) {
  Harness h(Rate(200));  // every 5 ms
  h.Add("w1", 64);
  h.AddTasks(0, 1000, Noop());
  // The caller wakes every 7 ms, late for every start: the starts it
  // missed by less than kPaceCatchUpMs go when it wakes, so the rate holds.
  std::vector<double> times = StartTimes(h, 7, 700);
  EXPECT_EQ(times.size(), 141u);  // 700 ms / 5 ms, and the first
  for (size_t k = 0; k < times.size(); ++k) EXPECT_GE(times[k], times[0] + 5.0 * k) << "start " << k;
  // A stall of a second (the coordinator stopped) is not made up: at most
  // kPaceCatchUpMs' worth goes at once, then the starts are spaced again.
  h.clock.Advance(1000);
  size_t burst = 0;
  for (const Dispatch& d : h.Pump()) burst += d.tasks.size();
  EXPECT_LE(burst, 1 + static_cast<size_t>(kPaceCatchUpMs / 5));
  EXPECT_GE(burst, 1u);
  h.CompleteAll(1, 0.01);
  times = StartTimes(h, 1, 100);
  ASSERT_GE(times.size(), 19u);
  for (size_t k = 1; k < times.size(); ++k) EXPECT_GE(times[k] - times[k - 1], 5.0 - 1) << "start " << k;
  // Time with nothing to start is not banked either: new tasks after a
  // quiet second start one interval apart, not all at once.
  while (!h.s.idle()) {
    h.clock.Advance(5);
    h.Pump();
    h.CompleteAll(1, 0.01);
  }
  h.clock.Advance(1000);
  h.AddTasks(5000, 10, Noop());
  times = StartTimes(h, 1, 100);
  ASSERT_EQ(times.size(), 10u);
  for (size_t k = 0; k < times.size(); ++k) EXPECT_DOUBLE_EQ(times[k], times[0] + 5.0 * k) << "start " << k;
}

TEST(SchedulerTest, ARateCountsRetries) {
  SchedulerOptions o = Rate(100);  // every 10 ms
  o.backoff_base_ms = 0;
  Harness h(o);
  WorkerId w = h.Add("w1", 8);
  h.AddTasks(0, 1, Noop());
  h.AddTasks(1, 1, Noop());
  ASSERT_EQ(h.Pump().size(), 1u);
  // Task 0 fails at once and is retried: its second attempt waits its turn
  // behind task 1, like any other request.
  ASSERT_EQ(h.Report(w, h.held[w][0], false, 1, /*retryable=*/true, "503"), OutcomeVerdict::kAccepted);
  EXPECT_TRUE(h.Pump().empty());
  h.clock.Advance(10);
  EXPECT_EQ(h.Pump().size(), 1u);
  EXPECT_TRUE(h.Pump().empty());
  h.clock.Advance(10);
  EXPECT_EQ(h.Pump().size(), 1u);
  EXPECT_EQ(h.s.start_stats().starts, 3u);
}

constexpr const char* kHostA = "http://a.example:8080";
constexpr const char* kHostB = "http://B.example:8081";  // the key is lower case

bool OnHostA(const pb::Assignment& a) { return a.spec().url().url().find("a.example") != std::string::npos; }

TEST(SchedulerTest, PerHostHoldsEachHostToItsLimitWhileOthersProceed) {
  Harness h(PerHost(3));
  WorkerId w1 = h.Add("w1", 8);
  WorkerId w2 = h.Add("w2", 8);
  // All of host A's tasks first, then host B's: B must not wait behind A.
  for (uint32_t i = 0; i < 20; ++i) h.s.AddTask(i, Url(std::string(kHostA) + "/a/" + std::to_string(i)));
  for (uint32_t i = 20; i < 40; ++i) h.s.AddTask(i, Url(std::string(kHostB) + "/b/" + std::to_string(i)));
  h.Pump();
  for (int turn = 0; turn < 100 && !h.s.idle(); ++turn) {
    size_t a = 0, b = 0;
    for (auto& [w, leases] : h.held) {
      for (const pb::Assignment& x : leases) (OnHostA(x) ? a : b) += 1;
    }
    EXPECT_LE(a, 3u);
    EXPECT_LE(b, 3u);
    if (turn < 6) {
      EXPECT_EQ(a, 3u) << "turn " << turn;
      EXPECT_EQ(b, 3u) << "turn " << turn << ": both hosts at once";
    }
    EXPECT_EQ(h.s.host_in_flight("http://a.example:8080"), a);
    EXPECT_EQ(h.s.host_in_flight("http://b.example:8081"), b);
    // One lease of each worker ends a turn.
    for (WorkerId w : {w1, w2}) {
      if (h.held[w].empty()) continue;
      h.Report(w, h.held[w].front(), true);
    }
    h.Pump();
  }
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 40));
  EXPECT_EQ(h.s.host_peak_in_flight(), 3u);
  EXPECT_EQ(h.s.hosts_seen(), 2u);
}

TEST(SchedulerTest, PerHostKeepsAHostsWaitingTasksInOrder) {
  Harness h(PerHost(1));
  WorkerId w = h.Add("w1", 8);
  for (uint32_t i = 0; i < 10; ++i) h.s.AddTask(i, Url(std::string(kHostA) + "/" + std::to_string(i)));
  std::vector<uint32_t> order;
  for (int turn = 0; turn < 20 && !h.s.idle(); ++turn) {
    h.Pump();
    ASSERT_LE(h.held[w].size(), 1u);
    if (h.held[w].empty()) continue;
    order.push_back(h.held[w][0].task_id());
    h.CompleteAll(w);
  }
  EXPECT_EQ(order, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(SchedulerTest, PerHostCountsOnlyUrlTasks) {
  Harness h(PerHost(1));
  WorkerId w = h.Add("w1", 8);
  h.AddTasks(0, 4, Sleep(10));
  h.s.AddTask(4, Url(std::string(kHostA) + "/x"));
  h.s.AddTask(5, Url(std::string(kHostA) + "/y"));
  h.Pump();
  EXPECT_EQ(h.held[w].size(), 5u) << "four sleeps and one url of host A";
}

// Every way a lease ends gives its host's count back, and the host's next
// waiting task goes out.
TEST(SchedulerTest, PerHostCountsAreReleasedOnEveryPath) {
  SchedulerOptions o = PerHost(1);
  o.backoff_base_ms = 0;
  o.retries = 100;
  Harness h(o);
  const std::string a = "http://a.example:8080";
  for (uint32_t i = 0; i < 20; ++i) h.s.AddTask(i, Url(a + "/" + std::to_string(i)));
  WorkerId w = h.Add("w1", 4);
  auto leased = [&]() -> std::pair<WorkerId, pb::Assignment> {
    h.Pump();
    for (auto& [wid, leases] : h.held) {
      if (!leases.empty()) return {wid, leases.front()};
    }
    ADD_FAILURE() << "no lease";
    return {};
  };
  auto expect_one = [&](const char* after) {
    size_t held = 0;
    for (auto& [wid, leases] : h.held) held += leases.size();
    EXPECT_EQ(held, 1u) << after;
    EXPECT_EQ(h.s.host_in_flight(a), 1u) << after;
  };

  auto [w0, first] = leased();
  expect_one("the first lease");
  ASSERT_EQ(h.Report(w0, first, true), OutcomeVerdict::kAccepted);  // an outcome
  EXPECT_EQ(h.s.host_in_flight(a), 0u);

  auto [w1, second] = leased();
  expect_one("an outcome");
  ASSERT_EQ(h.Report(w1, second, false, 1, /*retryable=*/true, "503"), OutcomeVerdict::kAccepted);  // a retry
  EXPECT_EQ(h.s.host_in_flight(a), 0u);

  auto [w2, third] = leased();
  expect_one("a retryable failure");
  pb::LeaseRef ref;
  ref.set_task_id(third.task_id());
  ref.set_attempt(third.attempt());
  ASSERT_TRUE(h.s.OnRejected(w2, ref, "too large"));  // a rejection
  h.held[w2].clear();
  EXPECT_EQ(h.s.host_in_flight(a), 0u);

  auto [w3, fourth] = leased();
  expect_one("a rejection");
  pb::Outcome lie;  // an invalid outcome
  lie.set_task_id(fourth.task_id());
  lie.set_attempt(fourth.attempt());
  lie.mutable_result()->set_ok(true);
  lie.mutable_result()->set_duration_ms(-1);
  EXPECT_EQ(h.s.OnOutcome(w3, lie), OutcomeVerdict::kInvalid);
  h.held[w3].clear();
  EXPECT_EQ(h.s.host_in_flight(a), 0u);

  leased();
  expect_one("an invalid outcome");
  h.Gone(w, "signal 9");  // a loss
  EXPECT_EQ(h.s.host_in_flight(a), 0u);
  WorkerId w5 = h.Add("w5", 4);
  leased();
  expect_one("a loss");
  h.Left(w5);  // leaving
  EXPECT_EQ(h.s.host_in_flight(a), 0u);
  WorkerId w6 = h.Add("w6", 4);
  leased();
  expect_one("a worker that left");
  h.held.erase(w6);
  h.s.Forget(w6, "lied");  // forgotten
  EXPECT_EQ(h.s.host_in_flight(a), 0u);
  h.Add("w7", 4);
  leased();
  expect_one("a forgotten worker");
  h.clock.Advance(o.heartbeat_timeout_ms + 1);
  h.Tick();  // a heartbeat timeout
  EXPECT_EQ(h.s.host_in_flight(a), 0u);
  h.Add("w8", 4);
  leased();
  expect_one("a heartbeat timeout");
  h.s.StopDispatching("interrupted");  // cancel: the waiting ones...
  h.s.CancelInFlight("interrupted");   // ...and the one in flight
  h.held.clear();
  h.Collect();
  EXPECT_EQ(h.s.host_in_flight(a), 0u);
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 20));
}

TEST(SchedulerTest, PerHostCancelInFlightAloneRecordsTheWaitingTasksOnce) {
  Harness h(PerHost(2));
  h.Add("w1", 8);
  for (uint32_t i = 0; i < 10; ++i) h.s.AddTask(i, Url(std::string(kHostA) + "/" + std::to_string(i)));
  h.Pump();
  h.s.CancelInFlight("grace ended");
  h.held.clear();
  h.Collect();
  EXPECT_TRUE(h.s.idle());
  EXPECT_TRUE(EveryTaskRecordedOnce(h.records, 10));
  EXPECT_TRUE(h.s.WantsTasks());
  EXPECT_TRUE(h.Pump().empty());
}

TEST(SchedulerTest, TasksWaitingForAFullHostDoNotFillTheWindow) {
  // One slow host's tasks waiting must not stop the input from being read
  // on to other hosts' tasks: they count only against kMaxWindow.
  Harness h(PerHost(1));
  h.Add("w1", 8);
  uint32_t id = 0;
  for (; id < 10000; ++id) h.s.AddTask(id, Url(std::string(kHostA) + "/" + std::to_string(id)));
  h.Pump();
  EXPECT_EQ(h.s.in_flight(), 1u);
  EXPECT_TRUE(h.s.WantsTasks()) << "9,999 parked tasks are not the window's";
  h.s.AddTask(id, Url(std::string(kHostB) + "/b"));
  h.Pump();
  EXPECT_EQ(h.s.in_flight(), 2u) << "host B's task goes past host A's";
}

}  // namespace
}  // namespace taskfarm
