// The scheduler: which task runs where, and what becomes of it. Pure logic,
// no sockets, no processes, time from a Clock: the coordinator feeds it
// events and carries out the dispatches it returns.
//
// Its promise: every task added ends in exactly one record from
// TakeFinished(), whatever workers do. A lease is (task id, attempt); an
// outcome that does not carry its task's current lease is dropped.
//
//   Scheduler s(options, clock);
//   WorkerId w = s.AddWorker(info);
//   s.AddTask(0, spec);
//   for (auto& d : s.TakeDispatches()) Send(d);
//   s.OnOutcome(w, outcome);
//   for (auto& r : s.TakeFinished()) Write(r);
//
// Not thread-safe: one thread drives it.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/task_kind.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

using WorkerId = int;

struct SchedulerOptions {
  int retries = 2;                     // extra attempts after a retryable failure
  double heartbeat_timeout_ms = 5000;  // silence before a worker is lost
  double task_timeout_ms = 0;          // 0: none; runs from the task's reported start
  double timeout_slack_ms = 1500;      // worker's own stop, then ours
  double backoff_base_ms = 100;        // retry n waits base * 2^(n-1), capped
  double backoff_max_ms = 5000;
  double prefetch_ms = 50;  // expected work queued per slot past the slots
  int max_batch = 256;      // tasks per TaskBatch (1: no batching)
  // A remote worker's credit starts here and grows by one per accepted
  // result (doubling per round trip, like TCP's slow start): a peer that
  // claims a huge capacity and then says nothing holds this many leases.
  uint32_t initial_credit = 8;
  // --rate: task starts per second, farm-wide (0: no limit). Every lease
  // counts, a retry's too (it is a request like any other). The k-th start
  // is never before the first plus k/rate, and with a rate nothing is
  // prefetched: a task is sent only into a free slot, so it starts on
  // arrival. Time when a start could have gone and none was waiting (no
  // ready task, no free slot, no worker) is not banked: after a pause the
  // starts resume one interval apart, never as a burst. Time the
  // coordinator itself was late to wake, up to kPaceCatchUpMs, is caught up
  // on, so a busy machine's wake-up jitter does not slow the rate.
  double rate_per_s = 0;
  // --per-host: url tasks leased at once per host (UrlHostKey: scheme, host,
  // port), farm-wide (0: no limit). A ready task whose host is at the limit
  // waits, in order, while other hosts' tasks go on.
  uint32_t per_host = 0;
  // The longest the coordinator normally goes between two reads of its whole
  // socket (it sets its heartbeat interval). A longer gap counts as this
  // long towards silence (see HeardEverything); 0: every gap in full.
  double max_unheard_gap_ms = 0;
};

// See SchedulerOptions::rate_per_s.
inline constexpr double kPaceCatchUpMs = 100;

// What the coordinator grants, whatever a Hello claims.
inline constexpr uint32_t kMaxWorkerConcurrency = 1024;
// A task lost with this many remote workers that had never reported
// anything is failed: no blame for them, but no endless retry either.
inline constexpr uint32_t kMaxUnprovenLosses = 10;
// Tasks held in memory at most, however many workers there are.
inline constexpr size_t kMaxWindow = 1 << 18;

struct WorkerInfo {
  std::string name;
  std::string host;
  uint32_t pid = 0;
  uint32_t concurrency = 1;  // tasks in flight at once, any kind (capped)
  uint32_t threads = 1;      // of which cpu tasks (capped at concurrency)
  uint32_t processes = 1;    // of which child processes (capped at concurrency)
  uint32_t max_batch = 256;  // capped at SchedulerOptions::max_batch
  // This run's own local worker (it showed the per-run token): full credit
  // from the start, and its death is an observed fact (an exit status).
  bool local = false;
};

struct Dispatch {
  WorkerId worker;
  std::vector<pb::Assignment> tasks;
};

struct WorkerStats {
  std::string name;
  std::string host;
  uint64_t tasks = 0;  // records it produced
  double busy_ms = 0;  // time with at least one task leased
  bool gone = false;
  std::string gone_reason;
};

// A finished task as the scheduler hands it over: the record without the
// names (kind, task line, worker, host), which Decorate() adds only when the
// record is going to be written somewhere. Tiny tasks stay cheap.
struct FinishedTask {
  pb::Result result;
  pb::TaskSpec spec;
  WorkerId worker = -1;  // the worker of the last attempt, -1: never ran
  // Cancelled while it waited to start (or to run again): an interrupted
  // run may have millions, so the console counts them instead of showing
  // a line each. A task cancelled while it ran is not one of them.
  bool cancelled_waiting = false;
};

enum class OutcomeVerdict {
  kAccepted,
  kLate,  // not the task's current lease on that worker
  kUnknownWorker,
  kInvalid,  // the lease's, but not a believable answer: see CheckOutcome
};

class Scheduler {
 public:
  Scheduler(SchedulerOptions options, const Clock& clock);
  // Each worker holds iterators into the scheduler's own lists (by_heard_,
  // awaiting_): a copy would point into the original's.
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // ---- input
  // Whether the in-memory window has room for another task.
  [[nodiscard]] bool WantsTasks() const;
  void AddTask(uint32_t id, pb::TaskSpec spec);
  // Records a task as finished without running it (e.g. cancelled input).
  void AddFinished(pb::Result result);

  // ---- workers
  WorkerId AddWorker(const WorkerInfo& info);
  // Any message from the worker other than Hello: it is alive, and (if
  // remote) ready for its first leases.
  void WorkerHeard(WorkerId worker);
  // The worker died or was lost; its leases are re-queued (or, for a task
  // that keeps killing workers, failed). `reason`: "signal 9", "no
  // heartbeat for 5.0 s", ...
  void WorkerGone(WorkerId worker, const std::string& reason);
  // The worker left and handed these leases back: re-queued, no blame.
  void WorkerLeft(WorkerId worker);
  [[nodiscard]] bool HasWorker(WorkerId worker) const;
  [[nodiscard]] size_t live_workers() const;
  [[nodiscard]] const WorkerInfo* Info(WorkerId worker) const;

  // An outcome for a lease. kInvalid: the attempt counts as failed (against
  // --retries, like any failed attempt) and `*why` says what was wrong; the
  // caller should stop trusting the worker (see Forget).
  [[nodiscard]] OutcomeVerdict OnOutcome(WorkerId worker, const pb::Outcome& outcome, std::string* why = nullptr);
  // Same, taking the result out of `outcome` instead of copying it.
  [[nodiscard]] OutcomeVerdict OnOutcome(WorkerId worker, pb::Outcome* outcome, std::string* why = nullptr);
  // The worker says it started this lease (ResultBatch.started). From now
  // on the task's timeout runs, and the worker has proven it is working.
  // False if it is not that worker's current lease (a late note: ignored).
  bool OnStarted(WorkerId worker, const pb::LeaseRef& lease);
  // The worker is not to be trusted (a lying or broken peer): it is
  // removed, its leases re-queued without blame.
  void Forget(WorkerId worker, const std::string& reason);

  // ---- time
  // The caller has read every message that had arrived by now (its socket
  // answered "nothing more"). Silence is judged up to the last such moment,
  // never up to when Tick happens to run: a message queued unread is not
  // silence. A gap since the previous call longer than
  // `max_unheard_gap_ms` counts as that long: the coordinator was stopped
  // or starved of CPU, libzmq's I/O thread with it, and what its workers
  // sent meanwhile may still be in the kernel's buffers. (A coordinator
  // that never catches up judges nobody: it cannot know who is silent.)
  void HeardEverything();
  // Judged up to the last HeardEverything: workers silent past the
  // heartbeat timeout are declared lost (removed)
  // and returned in `lost`. `stuck`: workers holding a lease that started
  // and ran past its timeout plus the slack (still registered: the caller
  // stops them). `stalled`: workers that were sent tasks into free slots
  // and have reported neither a start nor a result since, for longer than
  // the heartbeat timeout and ten times such tasks usually take: they
  // answer heartbeats but do no work. Removed; their leases re-queued, with
  // blame only for a worker that had proven itself.
  struct TickResult {
    std::vector<WorkerId> lost;
    std::vector<WorkerId> stuck;
    std::vector<WorkerId> stalled;
  };
  TickResult Tick();

  // ---- output
  [[nodiscard]] std::vector<Dispatch> TakeDispatches();
  // When the rate lets the next task start (Clock ms), if the last
  // TakeDispatches held one back for the rate alone; else nullopt. The
  // caller's wait should end then.
  [[nodiscard]] std::optional<double> NextDispatchMs() const;
  // Finished records, fully named (kind, task, worker, host).
  [[nodiscard]] std::vector<pb::Result> TakeFinished();
  // Finished records as they are, into `*into` (emptied first); call
  // Decorate() on the ones to write. The caller passes the same vector each
  // turn and the scheduler keeps the one it had: the two take turns, so a
  // turn's records need no fresh memory (a big batch's new vector is pages
  // the kernel must zero).
  void TakeFinishedRaw(std::vector<FinishedTask>* into);
  void Decorate(FinishedTask& finished) const;
  // ---- interruption
  // No new task starts; queued tasks are recorded cancelled.
  void StopDispatching(const std::string& reason);
  // Every lease still out is recorded cancelled: "cancelled while running"
  // with duration_ms how long it had run (since its reported start, or
  // since it was sent into a free slot), or, for a prefetched lease that
  // had not started, "cancelled before it started".
  void CancelInFlight(const std::string& reason);
  // Every lease `worker` holds, queued on it or running (none for a worker
  // not registered).
  [[nodiscard]] std::vector<pb::LeaseRef> LeasesOf(WorkerId worker) const;

  // Whether the task ran on a worker that died and so now runs alone.
  [[nodiscard]] bool IsSuspect(uint32_t task_id) const {
    auto it = tasks_.find(task_id);
    return it != tasks_.end() && it->second.suspect;
  }
  [[nodiscard]] size_t in_memory() const { return tasks_.size(); }
  [[nodiscard]] size_t in_flight() const { return leased_; }
  [[nodiscard]] bool idle() const { return tasks_.empty(); }
  [[nodiscard]] uint64_t late_results() const { return late_results_; }
  [[nodiscard]] const std::map<WorkerId, WorkerStats>& worker_stats() const { return stats_; }
  [[nodiscard]] bool dispatching() const { return !stopped_; }

  // Leases handed out (retries included) and when the first and the last
  // were (Clock ms): the measured rate.
  struct StartStats {
    uint64_t starts = 0;
    double first_ms = 0;
    double last_ms = 0;
  };
  [[nodiscard]] const StartStats& start_stats() const { return start_stats_; }
  // --per-host: the most url tasks one host had leased at once, and the
  // distinct hosts seen (counted up to kMaxWindow).
  [[nodiscard]] uint32_t host_peak_in_flight() const { return host_peak_; }
  [[nodiscard]] size_t hosts_seen() const { return hosts_seen_.size(); }
  // url tasks of the given host key leased now (0 for one never seen).
  [[nodiscard]] uint32_t host_in_flight(const std::string& key) const {
    auto it = hosts_.find(key);
    return it == hosts_.end() ? 0 : it->second.in_flight;
  }

  // ---- rejections
  // `worker` could not accept the message that carried `lease` (too large,
  // unreadable): the lease is released and its task re-queued, with a
  // failure note that counts against `retries`, or, when none are left,
  // recorded failed with code `internal` (a task that passed validation is
  // never too big for a frame, so a rejection is the farm's fault, not the
  // input's). Returns false, changing nothing, when `lease` is not that
  // worker's current lease (late, or never its own).
  [[nodiscard]] bool OnRejected(WorkerId worker, const pb::LeaseRef& lease, const std::string& reason);

 private:
  struct Task {
    uint32_t id = 0;
    pb::TaskSpec spec;
    uint32_t attempts = 0;         // leases handed out
    uint32_t charged = 0;          // failures that count against --retries
    uint32_t deaths_alone = 0;     // worker deaths while running alone
    uint32_t unproven_losses = 0;  // lost with remote workers that never reported anything
    std::string last_death;        // "signal 9"
    bool suspect = false;          // was running on a worker that died
    std::vector<std::string> failures;
    WorkerId worker = -1;       // current lease holder, -1: none
    WorkerId last_worker = -1;  // holder of the latest lease
    double lease_start_ms = 0;  // when the current lease was sent
    double started_ms = 0;      // when its start was heard (if started)
    double deadline_ms = 0;     // from the reported start; 0: none (yet)
    uint32_t lease_pos = 0;     // index in its worker's `leases`
    bool started = false;       // the worker reported starting it
    bool in_slot = false;       // sent into a free slot: it starts on arrival
    double queued_est_ms = -1;  // >= 0: counted in its worker's queued work
    std::string host;           // UrlHostKey under --per-host; "": not limited
  };
  // Slot classes, from the kind's Resource: 0 the event loop's slots (io,
  // and inline kinds, which hold one for an instant), 1 cpu threads, 2
  // child processes. Every class also counts against `concurrency`.
  static constexpr int kClasses = 3;
  struct Queued {
    double ms = 0;  // expected work of prefetched, unstarted leases
    uint32_t count = 0;
  };
  struct Worker {
    WorkerInfo info;
    double last_heard_ms = 0;
    bool proven = false;  // has reported a start or a result
    // A remote worker gets no lease until it has said something after its
    // Hello (the guide's READY): a peer that says Hello and vanishes, as a
    // flood does, never holds a task.
    bool ready = false;
    // Since when it holds leases sent into free slots with no start or
    // result reported since (-1: none), and the longest such a task takes.
    double awaiting_since_ms = -1;
    double awaiting_est_ms = 0;
    uint32_t awaiting = 0;  // leases sent into free slots, not yet started
    uint32_t credit = 0;    // leases it may hold (remote workers)
    uint32_t in_flight = 0;
    uint32_t in_flight_class[kClasses] = {};  // [0] unused: io is bounded by in_flight alone
    Queued queued[kClasses];
    bool isolated = false;         // running a suspect alone
    bool reserved = false;         // draining so a waiting suspect can run alone
    bool straggling = false;       // holds a lease far older than tasks take: no prefetch
    double busy_since_ms = 0;      // when in_flight last went from 0 to 1
    std::vector<uint32_t> leases;  // task ids; each task knows its index (O(1) removal)
    // Its places in by_heard_ and (while awaiting_since_ms >= 0) awaiting_.
    std::list<WorkerId>::iterator heard_pos;
    std::list<WorkerId>::iterator awaiting_pos;
  };
  // A lease to look at again at a given time (its deadline).
  struct LeaseCheck {
    uint32_t task_id;
    uint32_t attempt;
  };

  static int ClassOf(const Task& t);
  static uint32_t Slots(const Worker& w, int cls) {
    return cls == 1 ? w.info.threads : cls == 2 ? w.info.processes : w.info.concurrency;
  }
  // Expected duration of a task of this kind from the ones seen so far;
  // -1 when none has finished yet. Each kind has its own: a noop's zero
  // must not make a sleep look cheap.
  double Estimate(const pb::TaskSpec& spec) const {
    return static_cast<int>(spec.what_case()) < kMaxKindField ? ewma_[spec.what_case()] : -1;
  }
  Task* Current(const LeaseCheck& c);
  void Requeue(Task& t, double delay_ms);
  void Release(Task& t);
  void Unqueue(Worker& w, Task& t);
  void Finish(Task& t, pb::Result result);
  void FinishFailed(Task& t, Code code, const std::string& error);
  // Recorded cancelled: `running` while it ran, for `ran_ms`; else while
  // it waited (see FinishedTask::cancelled_waiting).
  void FinishCancelled(Task& t, const std::string& error, bool running = false, double ran_ms = 0);
  void ChargeOrFail(Task& t, Code code, const std::string& note, const std::string& error);
  // A slot of this class free: a lease sent now starts on arrival.
  static bool HasFreeSlot(const Worker& w, int cls) {
    return w.in_flight < w.info.concurrency && (cls == 0 || w.in_flight_class[cls] < Slots(w, cls));
  }
  // What the worker counts for in the window: its granted credit, at most
  // its slots and one batch.
  uint32_t Granted(const Worker& w) const { return std::min(Limit(w), w.info.concurrency + w.info.max_batch); }
  // It reported a start or a result: it works, and nothing it was sent is
  // overdue for a start.
  void Progressed(Worker& w) {
    w.proven = true;
    StopAwaiting(w);
  }
  // The worker was heard now: last_heard_ms, and its move to the young end
  // of by_heard_.
  void Heard(Worker& w, double now);
  // Leases in its free slots wait for a start from now on (awaiting_since_ms),
  // or no longer do.
  void StartAwaiting(WorkerId id, Worker& w, double now);
  void StopAwaiting(Worker& w);
  void RetryLater(Task& t, const std::string& note);
  bool CanTake(const Worker& w, int cls, double est) const;
  // Room for some task: a free slot, or prefetch of the cheapest kind known
  // (CheapestEstimate, the smallest estimate of any kind; -1: none yet).
  bool HasRoom(const Worker& w, double cheapest) const { return CanTake(w, 0, cheapest); }
  double CheapestEstimate() const;
  // What the worker counts for in prefetch_allowed_'s sum: its slots, at
  // most what it may hold.
  uint32_t SlotsOf(const Worker& w) const { return std::min(w.info.concurrency, Limit(w)); }
  // The worker reserved for a waiting suspect takes work again.
  void Unreserve();
  uint32_t Limit(const Worker& w) const;
  void RemoveWorker(WorkerId id, const std::string& reason, bool blame);
  // --per-host: whether `t`'s host has all the leases it may have.
  bool HostFull(const Task& t) const {
    if (t.host.empty()) return false;
    auto it = hosts_.find(t.host);
    return it != hosts_.end() && it->second.in_flight >= options_.per_host;
  }
  // Puts a ready task whose host is full aside, until one of that host's
  // leases is released (Release gives it back to the queue's front).
  void Park(Task& t) {
    hosts_[t.host].parked.push_back(t.id);
    ++parked_;
  }
  // --rate (see SchedulerOptions::rate_per_s): a start `now` puts the next
  // one interval later.
  void Paced(double now);

  SchedulerOptions options_;
  const Clock& clock_;
  std::unordered_map<uint32_t, Task> tasks_;
  std::deque<uint32_t> ready_;
  std::deque<uint32_t> suspects_;
  std::multimap<double, uint32_t> delayed_;  // not before -> task id
  std::map<WorkerId, Worker> workers_;
  std::map<WorkerId, WorkerStats> stats_;
  WorkerId next_worker_ = 1;
  size_t leased_ = 0;
  size_t capacity_ = 0;    // what the window is sized from
  size_t slots_ = 0;       // SlotsOf, summed over the workers
  WorkerId reserved_ = 0;  // the worker with `reserved` set, 0: none (ids start at 1)
  std::vector<FinishedTask> finished_;
  double ewma_[kMaxKindField];  // by TaskSpec::what_case(); -1: none finished yet
  // (deadline + slack, lease), in time order: every task has the same
  // timeout, and starts are heard in time order.
  std::deque<std::pair<double, LeaseCheck>> deadlines_;
  // The workers in the order they were last heard, and those awaiting a
  // start in the order they began to (oldest first: both times only move
  // forward, and HeardEverything shifts them all alike). Tick looks only at
  // the old end of each: a turn over a thousand quiet workers is not a pass
  // over a thousand workers.
  std::list<WorkerId> by_heard_;
  std::list<WorkerId> awaiting_;
  // The last HeardEverything (Clock ms): silence is judged up to here.
  double heard_until_ms_ = 0;
  bool stopped_ = false;
  bool prefetch_allowed_ = false;  // plenty of ready tasks: queue some on workers
  double last_straggler_scan_ms_ = -1e18;
  std::string stop_reason_;
  uint64_t late_results_ = 0;
  // --rate
  double pace_next_ms_ = -1;                               // no start before this; -1: none made yet
  bool paced_wait_ = false;                                // the last TakeDispatches stopped for the rate alone
  WorkerId pace_last_worker_ = 0;                          // the next paced start goes to a worker after it
  std::vector<std::pair<const WorkerId, Worker>*> order_;  // TakeDispatches' order of the workers
  StartStats start_stats_;
  // --per-host: leases and parked tasks per host key, an entry only while
  // it has either (memory bounded by the window, not by the hosts of a run).
  struct Host {
    uint32_t in_flight = 0;
    std::deque<uint32_t> parked;  // ready tasks waiting for this host, in order
  };
  std::unordered_map<std::string, Host> hosts_;
  size_t parked_ = 0;  // tasks in every Host::parked
  uint32_t host_peak_ = 0;
  std::unordered_set<std::string> hosts_seen_;
};

}  // namespace taskfarm
