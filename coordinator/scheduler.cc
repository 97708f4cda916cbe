// Leases, credits, retries and blame. See scheduler.h for the contract and
// docs/ARCHITECTURE.md for the rules in prose.
#include "coordinator/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/check.h"
#include "common/task_parser.h"
#include "common/url_host.h"
#include "coordinator/result_check.h"

namespace taskfarm {
namespace {

std::string Seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", ms / 1000.0);
  return buf;
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, const Clock& clock)
    : options_(options), clock_(clock), heard_until_ms_(clock.NowMs()) {
  std::fill(std::begin(ewma_), std::end(ewma_), -1.0);
  tasks_.reserve(8192);
}

bool Scheduler::WantsTasks() const {
  // Enough to keep every slot and prefetch queue full, and no more: the
  // window is what bounds the coordinator's memory on endless input. It is
  // sized from what the coordinator granted (capped concurrency, earned
  // credit), never from what a Hello claimed.
  // Tasks parked for a full host (--per-host) do not count, up to
  // kMaxWindow: reading on finds other hosts' tasks while one host's tasks wait.
  size_t window = std::min(kMaxWindow, std::max<size_t>(4096, 2 * capacity_));
  return tasks_.size() - parked_ < window && tasks_.size() < kMaxWindow;
}

uint32_t Scheduler::Limit(const Worker& w) const {
  uint32_t most = w.info.concurrency + 4 * w.info.max_batch;
  return w.info.local ? most : std::min(most, w.credit);
}

void Scheduler::AddTask(uint32_t id, pb::TaskSpec spec) {
  Task t;
  t.id = id;
  t.spec = std::move(spec);
  if (options_.per_host > 0 && t.spec.has_url()) {
    t.host = UrlHostKey(t.spec.url().url());
    if (hosts_seen_.size() < kMaxWindow) hosts_seen_.insert(t.host);
  }
  auto [it, inserted] = tasks_.emplace(id, std::move(t));
  TASKFARM_CHECK(inserted) << "task ids are unique; " << id << " was added twice";
  if (stopped_) {
    FinishCancelled(it->second, "cancelled before it started: " + stop_reason_);
    return;
  }
  ready_.push_back(id);
}

void Scheduler::AddFinished(pb::Result result) { finished_.push_back(FinishedTask{std::move(result), {}, -1}); }

WorkerId Scheduler::AddWorker(const WorkerInfo& info) {
  WorkerId id = next_worker_++;
  Worker w;
  w.info = info;
  w.info.concurrency = std::clamp<uint32_t>(info.concurrency, 1, kMaxWorkerConcurrency);
  w.info.threads = std::clamp<uint32_t>(info.threads, 1, w.info.concurrency);
  w.info.processes = std::clamp<uint32_t>(info.processes, 1, w.info.concurrency);
  // 0: no preference of its own (the coordinator's --batch).
  uint32_t batch = info.max_batch == 0 ? options_.max_batch : info.max_batch;
  w.info.max_batch = std::max<uint32_t>(1, std::min<uint32_t>(batch, options_.max_batch));
  w.credit = std::max<uint32_t>(1, options_.initial_credit);
  w.ready = info.local;
  w.last_heard_ms = clock_.NowMs();
  w.heard_pos = by_heard_.insert(by_heard_.end(), id);
  capacity_ += Granted(w);
  slots_ += SlotsOf(w);
  workers_.emplace(id, std::move(w));
  WorkerStats& s = stats_[id];
  s.name = info.name;
  s.host = info.host;
  return id;
}

void Scheduler::WorkerHeard(WorkerId worker) {
  auto it = workers_.find(worker);
  if (it != workers_.end()) {
    Heard(it->second, clock_.NowMs());
    it->second.ready = true;
  }
}

void Scheduler::Heard(Worker& w, double now) {
  w.last_heard_ms = now;
  by_heard_.splice(by_heard_.end(), by_heard_, w.heard_pos);
}

void Scheduler::StartAwaiting(WorkerId id, Worker& w, double now) {
  if (w.awaiting_since_ms >= 0) return;
  w.awaiting_since_ms = now;
  w.awaiting_est_ms = 0;
  w.awaiting_pos = awaiting_.insert(awaiting_.end(), id);
}

void Scheduler::StopAwaiting(Worker& w) {
  if (w.awaiting_since_ms < 0) return;
  w.awaiting_since_ms = -1;
  awaiting_.erase(w.awaiting_pos);
}

bool Scheduler::HasWorker(WorkerId worker) const { return workers_.count(worker) != 0; }

size_t Scheduler::live_workers() const { return workers_.size(); }

const WorkerInfo* Scheduler::Info(WorkerId worker) const {
  auto it = workers_.find(worker);
  return it == workers_.end() ? nullptr : &it->second.info;
}

// Whether `w` may take one more task of this resource class with this
// expected duration. A free slot always takes it. Past the slots
// (prefetch), a task waits on the worker until a slot frees, so what is
// queued there is bounded by expected work: at most prefetch_ms per slot,
// each kind counted at its own estimate, and never a task whose duration
// nothing is known of yet. Long tasks are never queued behind each other
// (load balancing); tiny ones travel in batches (throughput).
bool Scheduler::CanTake(const Worker& w, int cls, double est) const {
  if (w.isolated || w.reserved || !w.ready) return false;
  if (w.in_flight >= Limit(w)) return false;
  if (HasFreeSlot(w, cls)) return true;
  // A worker stuck on a long task gets no prefetch: what it would hold
  // could not start until the long task ends, while others sit idle. Near
  // the end of the input nobody does: the last tasks go to free slots, not
  // into one worker's queue while another worker has nothing left to do.
  // Under a rate nobody does: a start is paced only if it happens when
  // it is sent.
  if (w.straggling || !prefetch_allowed_ || est < 0 || options_.rate_per_s > 0) return false;
  uint32_t slots = Slots(w, cls);
  const Queued& q = w.queued[cls];
  if (q.ms + std::max(est, 1e-3) > slots * options_.prefetch_ms) return false;
  // Tiny tasks: several batches in flight. Others: at most one more task
  // per slot, so a slot that frees starts its next task without waiting
  // for a round trip to the coordinator.
  uint32_t cap = est < 1.0 ? 4 * w.info.max_batch : std::min(slots, 4 * w.info.max_batch);
  return q.count < cap;
}

double Scheduler::CheapestEstimate() const {
  double cheapest = -1;
  for (double e : ewma_) {
    if (e >= 0 && (cheapest < 0 || e < cheapest)) cheapest = e;
  }
  return cheapest;
}

void Scheduler::Unreserve() {
  if (reserved_ == 0) return;
  auto it = workers_.find(reserved_);
  if (it != workers_.end()) it->second.reserved = false;
  reserved_ = 0;
}

int Scheduler::ClassOf(const Task& t) {
  switch (KindOf(t.spec).resource) {
    case Resource::kCpu:
      return 1;
    case Resource::kProcess:
      return 2;
    default:
      return 0;
  }
}

Scheduler::Task* Scheduler::Current(const LeaseCheck& c) {
  auto it = tasks_.find(c.task_id);
  if (it == tasks_.end() || it->second.worker < 0 || it->second.attempts != c.attempt) return nullptr;
  return &it->second;
}

void Scheduler::Paced(double now) {
  pace_next_ms_ =
      (pace_next_ms_ < 0 ? now : std::max(pace_next_ms_, now - kPaceCatchUpMs)) + 1000 / options_.rate_per_s;
}

std::optional<double> Scheduler::NextDispatchMs() const {
  if (!paced_wait_) return std::nullopt;
  return pace_next_ms_;
}

std::vector<Dispatch> Scheduler::TakeDispatches() {
  std::vector<Dispatch> out;
  double now = clock_.NowMs();
  // --rate: unless the last turn held a task back for the rate (so any
  // time since is the caller's lateness, caught up on in Paced), time since
  // the schedule fell due passed with nothing to start: it is not banked.
  if (!paced_wait_ && pace_next_ms_ >= 0 && pace_next_ms_ < now) pace_next_ms_ = now;
  paced_wait_ = false;
  if (stopped_ || workers_.empty()) return out;
  // --rate: whether a task may start now. When not, the caller is told
  // when it may (NextDispatchMs).
  auto pace_allows = [&] {
    if (options_.rate_per_s <= 0 || pace_next_ms_ < 0 || now >= pace_next_ms_) return true;
    paced_wait_ = true;
    return false;
  };
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    uint32_t id = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    (it->second.suspect ? suspects_ : ready_).push_front(id);
  }
  if (suspects_.empty()) Unreserve();
  // Nothing waits: a turn that has nothing to give out (most turns of an
  // idle farm, each woken by a heartbeat) costs no pass over the workers.
  if (ready_.empty() && suspects_.empty()) return out;
  std::map<WorkerId, size_t> index;  // worker -> its open message in `out`
  auto lease = [&](WorkerId wid, Worker& w, Task& t) {
    ++t.attempts;
    t.worker = wid;
    t.last_worker = wid;
    t.lease_start_ms = now;
    t.deadline_ms = 0;  // set when the worker reports the start
    t.started = false;
    int cls = ClassOf(t);
    t.in_slot = HasFreeSlot(w, cls);
    t.queued_est_ms = -1;
    if (!t.in_slot) {
      t.queued_est_ms = std::max(Estimate(t.spec), 1e-3);
      w.queued[cls].ms += t.queued_est_ms;
      ++w.queued[cls].count;
    } else {
      // A lease sent into a free slot starts on arrival: if neither its
      // start nor any other sign of work follows, the worker is stalled
      // (Tick).
      ++w.awaiting;
      StartAwaiting(wid, w, now);
      w.awaiting_est_ms = std::max(w.awaiting_est_ms, Estimate(t.spec));
    }
    if (w.in_flight++ == 0) w.busy_since_ms = now;
    ++w.in_flight_class[cls];
    t.lease_pos = static_cast<uint32_t>(w.leases.size());
    w.leases.push_back(t.id);
    ++leased_;
    if (!t.host.empty()) {
      uint32_t n = ++hosts_[t.host].in_flight;
      host_peak_ = std::max(host_peak_, n);
    }
    if (start_stats_.starts++ == 0) start_stats_.first_ms = now;
    start_stats_.last_ms = now;
    if (options_.rate_per_s > 0) {
      Paced(now);
      pace_last_worker_ = wid;
    }
    // A worker's tasks fill one message up to its batch size, then the
    // next: a turn may send a worker several messages.
    auto [pos, fresh] = index.emplace(wid, out.size());
    if (!fresh && out[pos->second].tasks.size() >= w.info.max_batch) {
      pos->second = out.size();
      fresh = true;
    }
    if (fresh) {
      out.push_back(Dispatch{wid, {}});
      out.back().tasks.reserve(std::min<size_t>(ready_.size() + 1, w.info.max_batch));
    }
    pb::Assignment& a = out[pos->second].tasks.emplace_back();
    a.set_task_id(t.id);
    a.set_attempt(t.attempts);
    *a.mutable_spec() = t.spec;
    a.set_timeout_ms(static_cast<uint32_t>(options_.task_timeout_ms));
  };

  // Suspects run alone: only on an idle worker, which takes nothing else
  // until the suspect is done, so a death then is the suspect's own.
  for (auto& [wid, w] : workers_) {
    if (suspects_.empty()) break;
    if (w.in_flight != 0 || w.isolated || !w.ready) continue;
    if (!pace_allows()) break;
    uint32_t id = suspects_.front();
    suspects_.pop_front();
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    if (HostFull(it->second)) {
      Park(it->second);
      continue;
    }
    if (wid == reserved_) reserved_ = 0;
    lease(wid, w, it->second);
    w.isolated = true;
    w.reserved = false;
  }
  // Busy workers that are refilled as they go never become idle: reserve
  // the least loaded one (it takes nothing new until empty) while suspects wait.
  if (suspects_.empty()) {
    Unreserve();
  } else if (reserved_ == 0) {
    std::pair<const WorkerId, Worker>* least = nullptr;
    for (auto& entry : workers_) {
      const Worker& w = entry.second;
      // Only a worker that will take work: a peer that said Hello and
      // nothing else is idle, and would hold the reservation for nothing.
      if (!w.isolated && w.ready && (!least || w.in_flight < least->second.in_flight)) least = &entry;
    }
    if (least) {
      least->second.reserved = true;
      reserved_ = least->first;
    }
  }
  prefetch_allowed_ = ready_.size() >= 2 * slots_;
  // Stragglers: a lease running far longer than tasks usually take. The
  // scan is over every lease, so it runs at most every few milliseconds,
  // not on every turn of a loop that may turn ten thousand times a second.
  bool rescan = now - last_straggler_scan_ms_ >= 5;
  if (rescan) last_straggler_scan_ms_ = now;
  for (auto& [wid, w] : workers_) {
    if (!rescan) break;
    w.straggling = false;
    for (uint32_t id : w.leases) {
      auto it = tasks_.find(id);
      if (it == tasks_.end()) continue;
      double usual = Estimate(it->second.spec);
      if (usual >= 0 && now - it->second.lease_start_ms > 4 * usual + options_.prefetch_ms) {
        w.straggling = true;
        break;
      }
    }
  }

  // Ready tasks: spread over the workers with room, a fair share each per
  // round, so a short queue does not all land on the first worker. Under a
  // rate, tasks go one at a time, each to the worker after the one that had
  // the last: the starts spread over the farm, not all on the first worker
  // with a free slot.
  // Only workers that can take some task are visited, and one that no
  // longer can is dropped from the next round's list (room only shrinks
  // while leases are handed out): a round over a thousand workers of which
  // a few can take work is a pass over those few.
  double cheapest = CheapestEstimate();
  auto may_take = [&](const Worker& w) {
    for (int cls = 0; cls < kClasses; ++cls) {
      if (CanTake(w, cls, cheapest)) return true;  // CanTake can only be easier at a smaller estimate
    }
    return false;
  };
  std::vector<std::pair<const WorkerId, Worker>*>& order = order_;  // reused: no allocation per turn
  order.clear();
  auto pivot = options_.rate_per_s > 0 ? workers_.upper_bound(pace_last_worker_) : workers_.begin();
  for (auto it = pivot; it != workers_.end(); ++it) {
    if (may_take(it->second)) order.push_back(&*it);
  }
  for (auto it = workers_.begin(); it != pivot; ++it) {
    if (may_take(it->second)) order.push_back(&*it);
  }
  constexpr size_t kMaxSkipped = 256;
  std::deque<uint32_t> skipped;  // cpu or process tasks this worker cannot take right now
  bool first_round = true;
  while (!ready_.empty()) {
    if (!first_round) {
      order.erase(
          std::remove_if(order.begin(), order.end(), [&](const auto* entry) { return !may_take(entry->second); }),
          order.end());
    }
    first_round = false;
    size_t with_room = 0;
    for (const auto* entry : order) with_room += HasRoom(entry->second, cheapest);
    if (with_room == 0) break;
    size_t share = std::max<size_t>(1, (ready_.size() + with_room - 1) / with_room);
    bool progress = false;
    for (auto* entry : order) {
      auto& [wid, w] = *entry;
      size_t given = 0;
      while (!ready_.empty() && given < share && !paced_wait_) {
        auto it = tasks_.find(ready_.front());
        if (it == tasks_.end()) {
          ready_.pop_front();
          continue;
        }
        Task& t = it->second;
        // A task whose host has all it may have leaves the queue until one
        // of that host's leases is released: each is looked at once per
        // release, not on every turn, however many wait.
        if (HostFull(t)) {
          ready_.pop_front();
          Park(t);
          continue;
        }
        if (!CanTake(w, ClassOf(t), Estimate(t.spec))) {
          // A cpu or process task this worker cannot start: let the others
          // try it, and keep looking for work this worker can do, but not
          // through the whole queue: a run of thousands of such tasks (a
          // file of commands on one-slot workers) would be walked on every
          // turn. Work of another class further back waits for the head.
          if (ClassOf(t) != 0 && HasRoom(w, cheapest) && skipped.size() < kMaxSkipped) {
            skipped.push_back(t.id);
            ready_.pop_front();
            continue;
          }
          break;
        }
        if (!pace_allows()) break;
        ready_.pop_front();
        lease(wid, w, t);
        ++given;
        progress = true;
      }
      // Give skipped tasks back to the front, in order, for the next worker.
      while (!skipped.empty()) {
        ready_.push_front(skipped.back());
        skipped.pop_back();
      }
    }
    if (!progress || paced_wait_) break;
  }
  return out;
}

void Scheduler::TakeFinishedRaw(std::vector<FinishedTask>* into) {
  into->clear();
  into->swap(finished_);
}

std::vector<pb::Result> Scheduler::TakeFinished() {
  std::vector<pb::Result> out;
  out.reserve(finished_.size());
  for (FinishedTask& f : finished_) {
    Decorate(f);
    out.push_back(std::move(f.result));
  }
  finished_.clear();
  return out;
}

void Scheduler::Decorate(FinishedTask& f) const {
  pb::Result& r = f.result;
  // The coordinator's word, never the worker's: a worker cannot rename
  // itself or the task in the record.
  if (f.spec.what_case() != pb::TaskSpec::WHAT_NOT_SET) {
    r.set_kind(std::string(KindName(f.spec)));
    if (f.spec.has_url()) r.set_url(f.spec.url().url());
    r.set_task(FormatTask(f.spec));
  }
  auto s = stats_.find(f.worker);
  if (s != stats_.end()) {
    r.set_worker(s->second.name);
    if (!s->second.host.empty()) r.set_host(s->second.host);
  } else {
    r.clear_worker();
    r.clear_host();
  }
}

// A prefetched lease stops counting as queued work once it starts or ends.
void Scheduler::Unqueue(Worker& w, Task& t) {
  if (t.queued_est_ms < 0) return;
  Queued& q = w.queued[ClassOf(t)];
  q.ms = std::max(0.0, q.ms - t.queued_est_ms);
  if (q.count > 0 && --q.count == 0) q.ms = 0;  // no drift from float sums
  t.queued_est_ms = -1;
}

void Scheduler::Release(Task& t) {
  auto wit = workers_.find(t.worker);
  if (wit != workers_.end()) {
    Worker& w = wit->second;
    if (--w.in_flight == 0) stats_[wit->first].busy_ms += clock_.NowMs() - w.busy_since_ms;
    --w.in_flight_class[ClassOf(t)];
    Unqueue(w, t);
    // No unstarted lease in a slot left: nothing to wait for (a lease
    // rejected or cancelled must not leave an idle worker looking stalled).
    if (t.in_slot && !t.started && w.awaiting > 0 && --w.awaiting == 0) StopAwaiting(w);
    // Swap-remove, keeping the moved task's index right: O(1).
    uint32_t pos = t.lease_pos;
    if (pos < w.leases.size() && w.leases[pos] == t.id) {
      uint32_t moved = w.leases.back();
      w.leases[pos] = moved;
      w.leases.pop_back();
      if (moved != t.id) tasks_.at(moved).lease_pos = pos;
    }
    if (t.suspect) w.isolated = false;
  }
  if (!t.host.empty()) {
    // The host has room for one more: its first parked task goes back to
    // the front of its queue (it was ready before anything behind it).
    auto hit = hosts_.find(t.host);
    TASKFARM_CHECK(hit != hosts_.end() && hit->second.in_flight > 0)
        << "a leased task counts on its host; task " << t.id << " on " << t.host;
    Host& h = hit->second;
    --h.in_flight;
    if (!h.parked.empty() && h.in_flight < options_.per_host) {
      uint32_t id = h.parked.front();
      h.parked.pop_front();
      --parked_;
      auto it = tasks_.find(id);
      if (it != tasks_.end()) (it->second.suspect ? suspects_ : ready_).push_front(id);
    }
    if (h.in_flight == 0 && h.parked.empty()) hosts_.erase(hit);
  }
  --leased_;
  t.worker = -1;
  t.started = false;
  t.deadline_ms = 0;
}

void Scheduler::Requeue(Task& t, double delay_ms) {
  if (stopped_) {
    FinishCancelled(t, "cancelled before it could run again: " + stop_reason_);
    return;
  }
  if (delay_ms > 0) {
    delayed_.emplace(clock_.NowMs() + delay_ms, t.id);
  } else {
    (t.suspect ? suspects_ : ready_).push_front(t.id);
  }
}

void Scheduler::Finish(Task& t, pb::Result result) {
  result.set_id(t.id);
  result.set_attempts(t.attempts);
  for (auto& f : t.failures) result.add_failures(std::move(f));
  FinishedTask& f = finished_.emplace_back();
  f.result.Swap(&result);
  f.spec.Swap(&t.spec);
  f.worker = t.last_worker;
  tasks_.erase(t.id);
}

void Scheduler::FinishFailed(Task& t, Code code, const std::string& error) {
  pb::Result r;
  r.set_ok(false);
  r.set_error(error);
  r.set_error_code(std::string(CodeName(code)));
  Finish(t, std::move(r));
}

void Scheduler::FinishCancelled(Task& t, const std::string& error, bool running, double ran_ms) {
  pb::Result r;
  r.set_ok(false);
  r.set_error(error);
  r.set_error_code(std::string(CodeName(Code::kCancelled)));
  r.set_duration_ms(ran_ms);
  Finish(t, std::move(r));
  finished_.back().cancelled_waiting = !running;
}

// A failed attempt charged against --retries (the caller checked one is
// left): noted, and run again after the backoff.
void Scheduler::RetryLater(Task& t, const std::string& note) {
  ++t.charged;
  t.failures.push_back(note);
  Requeue(t, std::min(options_.backoff_max_ms, options_.backoff_base_ms * std::pow(2.0, t.charged - 1)));
}

// A failed attempt that counts against --retries: run again while retries
// last, else the task's record is this failure.
void Scheduler::ChargeOrFail(Task& t, Code code, const std::string& note, const std::string& error) {
  if (t.charged < static_cast<uint32_t>(options_.retries)) {
    RetryLater(t, note);
  } else {
    FinishFailed(t, code, error);
  }
}

OutcomeVerdict Scheduler::OnOutcome(WorkerId worker, const pb::Outcome& outcome, std::string* why) {
  pb::Outcome copy = outcome;
  return OnOutcome(worker, &copy, why);
}

OutcomeVerdict Scheduler::OnOutcome(WorkerId worker, pb::Outcome* mutable_outcome, std::string* why) {
  const pb::Outcome& outcome = *mutable_outcome;
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return OutcomeVerdict::kUnknownWorker;
  Worker& w = wit->second;
  double now = clock_.NowMs();
  Heard(w, now);
  auto it = tasks_.find(outcome.task_id());
  if (it == tasks_.end() || it->second.worker != worker || it->second.attempts != outcome.attempt()) {
    ++late_results_;
    return OutcomeVerdict::kLate;
  }
  Task& t = it->second;
  // The worker's word is checked before it becomes a record: a lie costs
  // this attempt (counted against --retries, so a worker that always lies
  // cannot keep a task forever), never the record's sanity.
  if (Status problem = CheckOutcome(t.spec, outcome); !problem.ok()) {
    Release(t);
    std::string error = "worker " + w.info.name + " sent an invalid result (" + problem.message() + ")";
    ChargeOrFail(t, Code::kInternal, "attempt " + std::to_string(t.attempts) + ": " + error, error);
    if (why) *why = problem.message();
    return OutcomeVerdict::kInvalid;
  }
  Progressed(w);
  if (!w.info.local && w.credit < w.info.concurrency + 4 * w.info.max_batch) {
    uint32_t before = Granted(w), slots_before = SlotsOf(w);
    ++w.credit;
    capacity_ += Granted(w) - before;
    slots_ += SlotsOf(w) - slots_before;
  }
  Release(t);
  double d = outcome.result().duration_ms();
  if (static_cast<int>(t.spec.what_case()) < kMaxKindField) {
    double& ewma = ewma_[t.spec.what_case()];
    ewma = ewma < 0 ? d : 0.8 * ewma + 0.2 * d;
  }
  WorkerStats& s = stats_[worker];
  // The outcome usually lives on the caller's arena: a generated CopyFrom
  // is far cheaper than a cross-arena Swap (which goes through reflection).
  pb::Result result;
  if (mutable_outcome->GetArena() == nullptr) {
    result.Swap(mutable_outcome->mutable_result());
  } else {
    result.CopyFrom(outcome.result());
  }
  ClearCoordinatorFields(&result);
  if (outcome.started_unix_ms() > 0) result.set_start_ms(outcome.started_unix_ms());
  if (!result.ok()) {
    std::string error = result.error().empty() ? "failed without a reason" : result.error();
    if (outcome.retryable() && t.charged < static_cast<uint32_t>(options_.retries)) {
      RetryLater(t, "attempt " + std::to_string(t.attempts) + " on " + w.info.name + ": " + error);
      return OutcomeVerdict::kAccepted;
    }
  }
  ++s.tasks;
  Finish(t, std::move(result));
  return OutcomeVerdict::kAccepted;
}

bool Scheduler::OnStarted(WorkerId worker, const pb::LeaseRef& lease) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return false;
  Task* t = Current(LeaseCheck{lease.task_id(), lease.attempt()});
  if (!t || t->worker != worker || t->started) return false;
  Worker& w = wit->second;
  double now = clock_.NowMs();
  Progressed(w);
  if (t->in_slot && w.awaiting > 0) --w.awaiting;
  t->started = true;
  t->started_ms = now;
  Unqueue(w, *t);
  // The timeout runs from the start the worker reports, as heard here (the
  // worker's clock may be another machine's): time spent queued on the
  // worker behind other tasks is not the task's.
  if (options_.task_timeout_ms > 0) {
    t->deadline_ms = now + options_.task_timeout_ms;
    deadlines_.emplace_back(t->deadline_ms + options_.timeout_slack_ms, LeaseCheck{t->id, t->attempts});
  }
  return true;
}

void Scheduler::Forget(WorkerId worker, const std::string& reason) { RemoveWorker(worker, reason, false); }

void Scheduler::RemoveWorker(WorkerId id, const std::string& reason, bool blame) {
  auto wit = workers_.find(id);
  if (wit == workers_.end()) return;
  Worker w = std::move(wit->second);
  workers_.erase(wit);
  by_heard_.erase(w.heard_pos);
  if (w.awaiting_since_ms >= 0) awaiting_.erase(w.awaiting_pos);
  capacity_ -= std::min<size_t>(capacity_, Granted(w));
  slots_ -= std::min<size_t>(slots_, SlotsOf(w));
  if (id == reserved_) reserved_ = 0;
  WorkerStats& s = stats_[id];
  if (w.in_flight > 0) s.busy_ms += clock_.NowMs() - w.busy_since_ms;
  s.gone = true;
  s.gone_reason = reason;
  double now = clock_.NowMs();
  // A worker is blamed only for what it did. A local worker's death is an
  // observed fact (its exit status); a remote worker's silence says
  // something about its tasks only once it has shown it runs them (a
  // reported start or result). A peer that registered and never did
  // anything (a Hello flood, a hostile or broken peer) takes no task down
  // with it. And only leases that could be running count: one sent into a
  // free slot (it starts on arrival) or reported started. Prefetched
  // leases still queued on the worker are innocent.
  bool unproven_loss = blame && !w.info.local && !w.proven;
  blame = blame && (w.info.local || w.proven);
  auto running = [](const Task& t) { return t.started || t.in_slot; };
  size_t could_run = 0;
  // Killed because one of its tasks overran its timeout: that task is the
  // cause, the others are innocent bystanders (re-queued without blame).
  bool timeout_kill = false;
  for (uint32_t task_id : w.leases) {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) continue;
    could_run += running(it->second);
    timeout_kill |= it->second.deadline_ms > 0 && now >= it->second.deadline_ms;
  }
  bool alone = could_run == 1;
  for (uint32_t task_id : w.leases) {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) continue;
    Task& t = it->second;
    bool was_running = running(t);
    bool overdue = t.deadline_ms > 0 && now >= t.deadline_ms;
    Release(t);  // the worker is gone already: only the task's side
    if (unproven_loss && was_running) {
      // Not blamed, but not forever either: a task that kills every
      // remote worker before it can say anything (so none has proven
      // itself) would otherwise be retried without end.
      if (++t.unproven_losses > kMaxUnprovenLosses) {
        FinishFailed(t, Code::kWorkerDied,
                     std::to_string(t.unproven_losses) +
                         " workers were lost while running this task, none of which had reported anything: last " +
                         reason);
        continue;
      }
    }
    if (!blame || !was_running || (timeout_kill && !overdue)) {
      Requeue(t, 0);
      continue;
    }
    std::string who = "worker " + w.info.name;
    if (overdue) {
      // We stopped it: a timeout, retried like any transient failure.
      std::string error = KindName(t.spec).data() + std::string(" task ran past the task timeout of ") +
                          Seconds(options_.task_timeout_ms) + "; its worker was stopped";
      if (t.charged < static_cast<uint32_t>(options_.retries)) {
        ++t.charged;
        t.failures.push_back("attempt " + std::to_string(t.attempts) + " on " + w.info.name + ": " + error);
        Requeue(t, 0);
      } else {
        FinishFailed(t, Code::kDeadlineExceeded, error);
      }
      continue;
    }
    if (alone) {
      ++t.deaths_alone;
      t.last_death = reason;
      // Once a worker died under it alone, it keeps running alone.
      t.suspect = true;
      if (t.deaths_alone > static_cast<uint32_t>(options_.retries)) {
        FinishFailed(t, Code::kWorkerDied,
                     "worker died " + std::to_string(t.deaths_alone) + " times running this task: " + reason);
        continue;
      }
      t.failures.push_back("attempt " + std::to_string(t.attempts) + ": " + who +
                           " died running this task alone: " + reason);
      Requeue(t, options_.backoff_base_ms);
    } else {
      // Not a culprit yet, only a suspect: rerun alone to find out.
      t.suspect = true;
      t.failures.push_back("attempt " + std::to_string(t.attempts) + ": " + who + " died (" + reason +
                           ") while it ran " + std::to_string(could_run) + " tasks; rerun alone");
      Requeue(t, 0);
    }
  }
  // A registration that never produced anything leaves no trace: a flood
  // of them must not grow the per-worker table without bound.
  if (s.tasks == 0 && !w.proven && !w.info.local) stats_.erase(id);
}

void Scheduler::WorkerGone(WorkerId worker, const std::string& reason) { RemoveWorker(worker, reason, true); }

void Scheduler::WorkerLeft(WorkerId worker) { RemoveWorker(worker, "left", false); }

void Scheduler::HeardEverything() {
  double now = clock_.NowMs();
  double unheard = now - heard_until_ms_ - options_.max_unheard_gap_ms;
  heard_until_ms_ = now;
  if (options_.max_unheard_gap_ms <= 0 || unheard <= 0) return;
  // Time we could not listen is not the workers' silence: every clock of
  // silence moves on by it (none past now). A rare event (a stop, a
  // starved machine), so a pass over the workers is fine.
  for (auto& [wid, w] : workers_) {
    w.last_heard_ms = std::min(w.last_heard_ms + unheard, now);
    if (w.awaiting_since_ms >= 0) w.awaiting_since_ms = std::min(w.awaiting_since_ms + unheard, now);
  }
  // The backstops too: an outcome may be among what was not read yet. The
  // same shift for all keeps them in time order.
  for (auto& [when, lease] : deadlines_) when += unheard;
}

Scheduler::TickResult Scheduler::Tick() {
  TickResult r;
  // Judged on what was read: up to the last moment everything had been.
  double heard = heard_until_ms_;
  // Oldest first: the first worker heard recently enough ends the search.
  for (WorkerId wid : by_heard_) {
    if (heard - workers_.at(wid).last_heard_ms <= options_.heartbeat_timeout_ms) break;
    r.lost.push_back(wid);
  }
  std::sort(r.lost.begin(), r.lost.end());
  for (WorkerId wid : r.lost) {
    double silent = heard - workers_.at(wid).last_heard_ms;
    RemoveWorker(wid, "stopped answering (no heartbeat for " + Seconds(silent) + ")", true);
  }
  // Deadlines, in time order: only leases that started and are still out.
  while (!deadlines_.empty() && deadlines_.front().first < heard) {
    LeaseCheck c = deadlines_.front().second;
    deadlines_.pop_front();
    Task* t = Current(c);
    if (!t || !t->started || t->deadline_ms <= 0) continue;
    if (std::find(r.stuck.begin(), r.stuck.end(), t->worker) == r.stuck.end()) r.stuck.push_back(t->worker);
  }
  // Stalled: leases sent into free slots should start at once. A worker
  // that has reported no start and no result since, for longer than the
  // heartbeat timeout and ten times such a task usually takes (so a worker
  // that does not report starts still gets its tasks' time), only answers
  // heartbeats: it does no work. Oldest first: none awaiting for less than
  // the heartbeat timeout is stalled, whatever its tasks take.
  for (WorkerId wid : awaiting_) {
    const Worker& w = workers_.at(wid);
    if (heard - w.awaiting_since_ms <= options_.heartbeat_timeout_ms) break;
    if (heard - w.awaiting_since_ms > std::max(options_.heartbeat_timeout_ms, 10 * w.awaiting_est_ms)) {
      r.stalled.push_back(wid);
    }
  }
  std::sort(r.stalled.begin(), r.stalled.end());
  for (WorkerId wid : r.stalled) {
    // Stuck workers are the caller's to stop; a stalled one is removed here.
    r.stuck.erase(std::remove(r.stuck.begin(), r.stuck.end(), wid), r.stuck.end());
    RemoveWorker(wid,
                 "took tasks and did no work (no start or result for " + Seconds(options_.heartbeat_timeout_ms) +
                     ", only heartbeats)",
                 true);
  }
  return r;
}

void Scheduler::StopDispatching(const std::string& reason) {
  if (stopped_) return;
  stopped_ = true;
  stop_reason_ = reason;
  std::vector<uint32_t> waiting(ready_.begin(), ready_.end());
  waiting.insert(waiting.end(), suspects_.begin(), suspects_.end());
  for (auto& [when, id] : delayed_) waiting.push_back(id);
  for (auto& [key, h] : hosts_) {
    waiting.insert(waiting.end(), h.parked.begin(), h.parked.end());
    h.parked.clear();
  }
  parked_ = 0;
  ready_.clear();
  suspects_.clear();
  delayed_.clear();
  std::sort(waiting.begin(), waiting.end());
  for (uint32_t id : waiting) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second.worker < 0) {
      FinishCancelled(it->second, "cancelled before it started: " + reason);
    }
  }
}

void Scheduler::CancelInFlight(const std::string& reason) {
  // Every task is about to be recorded: none is to come back from a host's
  // parked queue as its leases are released.
  for (auto& [key, h] : hosts_) h.parked.clear();
  parked_ = 0;
  std::vector<uint32_t> ids;
  for (auto& [id, t] : tasks_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  double now = clock_.NowMs();
  for (uint32_t id : ids) {
    Task& t = tasks_.at(id);
    // Running: reported started, or sent into a free slot (it starts on
    // arrival, and a worker need not report a start it finishes quickly).
    bool running = t.worker >= 0 && (t.started || t.in_slot);
    double since = t.started ? t.started_ms : t.lease_start_ms;
    if (t.worker >= 0) Release(t);
    if (running) {
      FinishCancelled(t, "cancelled while running: " + reason, true, now - since);
    } else {
      FinishCancelled(t, "cancelled before it started: " + reason);
    }
  }
}

std::vector<pb::LeaseRef> Scheduler::LeasesOf(WorkerId worker) const {
  std::vector<pb::LeaseRef> out;
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return out;
  for (uint32_t id : wit->second.leases) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    pb::LeaseRef& lease = out.emplace_back();
    lease.set_task_id(id);
    lease.set_attempt(it->second.attempts);
  }
  return out;
}

bool Scheduler::OnRejected(WorkerId worker, const pb::LeaseRef& lease, const std::string& reason) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return false;
  Heard(wit->second, clock_.NowMs());
  auto it = tasks_.find(lease.task_id());
  if (it == tasks_.end() || it->second.worker != worker || it->second.attempts != lease.attempt()) return false;
  Task& t = it->second;
  Release(t);
  std::string error = "the worker could not accept the task: " + reason;
  ChargeOrFail(t, Code::kInternal,
               "attempt " + std::to_string(t.attempts) + " on " + wit->second.info.name + ": " + error, error);
  return true;
}

}  // namespace taskfarm
