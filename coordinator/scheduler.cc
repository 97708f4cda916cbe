// Leases, credits, retries and blame. See scheduler.h for the contract and
// docs/ARCHITECTURE.md for the rules in prose.
#include "coordinator/scheduler.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

#include "common/task_parser.h"

namespace taskfarm {
namespace {

std::string Seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", ms / 1000.0);
  return buf;
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, const Clock& clock)
    : options_(options), clock_(clock) {
  tasks_.reserve(8192);
}

bool Scheduler::WantsTasks() const {
  // Enough to keep every slot and prefetch queue full, and no more: the
  // window is what bounds the coordinator's memory on endless input.
  size_t capacity = 0;
  for (const auto& [id, w] : workers_) capacity += w.info.concurrency + w.info.max_batch;
  size_t window = std::max<size_t>(4096, 2 * capacity);
  return tasks_.size() < window;
}

void Scheduler::AddTask(uint32_t id, pb::TaskSpec spec) {
  Task t;
  t.id = id;
  t.spec = std::move(spec);
  auto [it, inserted] = tasks_.emplace(id, std::move(t));
  assert(inserted && "task ids are unique");
  if (stopped_) {
    FinishFailed(it->second, Code::kCancelled, "cancelled before it started: " + stop_reason_);
    return;
  }
  ready_.push_back(id);
}

void Scheduler::AddFinished(pb::Result result) { finished_.push_back(FinishedTask{std::move(result), {}, -1}); }

WorkerId Scheduler::AddWorker(const WorkerInfo& info) {
  WorkerId id = next_worker_++;
  Worker w;
  w.info = info;
  w.info.concurrency = std::max<uint32_t>(1, info.concurrency);
  w.info.threads = std::max<uint32_t>(1, info.threads);
  w.info.max_batch = std::max<uint32_t>(1, std::min<uint32_t>(info.max_batch, options_.max_batch));
  w.last_heard_ms = clock_.NowMs();
  workers_.emplace(id, std::move(w));
  WorkerStats& s = stats_[id];
  s.name = info.name;
  s.host = info.host;
  return id;
}

void Scheduler::WorkerHeard(WorkerId worker) {
  auto it = workers_.find(worker);
  if (it != workers_.end()) it->second.last_heard_ms = clock_.NowMs();
}

bool Scheduler::HasWorker(WorkerId worker) const { return workers_.count(worker) != 0; }

size_t Scheduler::live_workers() const { return workers_.size(); }

const WorkerInfo* Scheduler::Info(WorkerId worker) const {
  auto it = workers_.find(worker);
  return it == workers_.end() ? nullptr : &it->second.info;
}

// How many tasks past its slots a worker may hold: enough for prefetch_ms of
// work at the observed task duration, so tiny tasks travel in batches while
// long ones are never queued behind each other (load balancing).
uint32_t Scheduler::Extra(double ewma_ms, uint32_t slots, uint32_t max_batch) const {
  if (ewma_ms < 0) return 0;  // nothing known yet: no prefetch
  double extra = slots * options_.prefetch_ms / std::max(ewma_ms, 1e-3);
  // Tiny tasks: several batches in flight. Others: at most one more task
  // per slot, so a slot that frees starts its next task without waiting for
  // a round trip to the coordinator.
  double cap = ewma_ms < 1.0 ? 4.0 * max_batch : std::min<double>(slots, 4.0 * max_batch);
  return static_cast<uint32_t>(std::min(extra, cap));
}

bool Scheduler::CanTake(const Worker& w, bool cpu) const {
  if (w.isolated || w.reserved) return false;
  // A worker stuck on a long task gets no prefetch: what it would hold
  // could not start until the long task ends, while others sit idle. Near
  // the end of the input nobody does: the last tasks go to free slots, not
  // into one worker's queue while another worker has nothing left to do.
  bool prefetch = !w.straggling && prefetch_allowed_;
  uint32_t cpu_extra = prefetch ? Extra(ewma_cpu_ms_, w.info.threads, w.info.max_batch) : 0;
  uint32_t other_extra = prefetch ? Extra(ewma_other_ms_, w.info.concurrency, w.info.max_batch) : 0;
  uint32_t cpu_limit = w.info.threads + cpu_extra;
  uint32_t total_limit = w.info.concurrency + other_extra + cpu_extra;
  if (w.in_flight >= total_limit) return false;
  if (cpu && w.in_flight_cpu >= cpu_limit) return false;
  return true;
}

std::vector<Dispatch> Scheduler::TakeDispatches() {
  std::vector<Dispatch> out;
  if (stopped_ || workers_.empty()) return out;
  double now = clock_.NowMs();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    uint32_t id = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    (it->second.suspect ? suspects_ : ready_).push_front(id);
  }
  std::map<WorkerId, size_t> index;  // worker -> its open message in `out`
  auto lease = [&](WorkerId wid, Worker& w, Task& t) {
    ++t.attempts;
    t.worker = wid;
    t.last_worker = wid;
    t.lease_start_ms = now;
    t.deadline_ms = options_.task_timeout_ms > 0 ? now + options_.task_timeout_ms : 0;
    if (w.in_flight++ == 0) w.busy_since_ms = now;
    if (IsCpu(t)) ++w.in_flight_cpu;
    w.leases.push_back(t.id);
    ++leased_;
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
    if (w.in_flight != 0 || w.isolated) continue;
    uint32_t id = suspects_.front();
    suspects_.pop_front();
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    lease(wid, w, it->second);
    w.isolated = true;
    w.reserved = false;
  }
  // Busy workers that are refilled as they go never become idle: reserve
  // the least loaded one (it takes nothing new until empty) while suspects wait.
  if (!suspects_.empty()) {
    bool any_reserved = false;
    Worker* least = nullptr;
    for (auto& [wid, w] : workers_) {
      any_reserved |= w.reserved;
      if (!w.isolated && (!least || w.in_flight < least->in_flight)) least = &w;
    }
    if (!any_reserved && least) least->reserved = true;
  } else {
    for (auto& [wid, w] : workers_) w.reserved = false;
  }
  size_t slots = 0;
  for (auto& [wid, w] : workers_) slots += w.info.concurrency;
  prefetch_allowed_ = ready_.size() >= 2 * slots;
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
      double usual = IsCpu(it->second) ? ewma_cpu_ms_ : ewma_other_ms_;
      if (usual >= 0 && now - it->second.lease_start_ms > 4 * usual + options_.prefetch_ms) {
        w.straggling = true;
        break;
      }
    }
  }

  // Ready tasks: spread over the workers with room, a fair share each per
  // round, so a short queue does not all land on the first worker.
  std::deque<uint32_t> skipped;  // cpu tasks no worker can take right now
  while (!ready_.empty()) {
    size_t with_room = 0;
    for (auto& [wid, w] : workers_) with_room += CanTake(w, false);
    if (with_room == 0) break;
    size_t share = std::max<size_t>(1, (ready_.size() + with_room - 1) / with_room);
    bool progress = false;
    for (auto& [wid, w] : workers_) {
      size_t given = 0;
      while (!ready_.empty() && given < share) {
        auto it = tasks_.find(ready_.front());
        if (it == tasks_.end()) {
          ready_.pop_front();
          continue;
        }
        Task& t = it->second;
        if (!CanTake(w, IsCpu(t))) {
          // A cpu task this worker cannot start: let the others try it, and
          // keep looking for work this worker can do.
          if (IsCpu(t) && CanTake(w, false)) {
            skipped.push_back(t.id);
            ready_.pop_front();
            continue;
          }
          break;
        }
        ready_.pop_front();
        lease(wid, w, t);
        ++given;
        progress = true;
      }
      // Give skipped cpu tasks back to the front, in order, for the next worker.
      while (!skipped.empty()) {
        ready_.push_front(skipped.back());
        skipped.pop_back();
      }
    }
    if (!progress) break;
  }
  return out;
}

std::vector<FinishedTask> Scheduler::TakeFinishedRaw() {
  std::vector<FinishedTask> out;
  // Room for a batch's worth up front: growing one element at a time moves
  // every record several times per loop turn.
  out.reserve(finished_.size() > 64 ? finished_.size() : 64);
  out.swap(finished_);
  return out;
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

void Scheduler::Release(Task& t) {
  auto wit = workers_.find(t.worker);
  if (wit != workers_.end()) {
    Worker& w = wit->second;
    if (--w.in_flight == 0) stats_[wit->first].busy_ms += clock_.NowMs() - w.busy_since_ms;
    if (IsCpu(t)) --w.in_flight_cpu;
    auto pos = std::find(w.leases.begin(), w.leases.end(), t.id);
    if (pos != w.leases.end()) {
      *pos = w.leases.back();
      w.leases.pop_back();
    }
    if (t.suspect) w.isolated = false;
  }
  --leased_;
  t.worker = -1;
}

void Scheduler::Requeue(Task& t, double delay_ms) {
  if (stopped_) {
    FinishFailed(t, Code::kCancelled, "cancelled before it could run again: " + stop_reason_);
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

OutcomeVerdict Scheduler::OnOutcome(WorkerId worker, const pb::Outcome& outcome) {
  pb::Outcome copy = outcome;
  return OnOutcome(worker, &copy);
}

OutcomeVerdict Scheduler::OnOutcome(WorkerId worker, pb::Outcome* mutable_outcome) {
  const pb::Outcome& outcome = *mutable_outcome;
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return OutcomeVerdict::kUnknownWorker;
  wit->second.last_heard_ms = clock_.NowMs();
  auto it = tasks_.find(outcome.task_id());
  if (it == tasks_.end() || it->second.worker != worker || it->second.attempts != outcome.attempt()) {
    ++late_results_;
    return OutcomeVerdict::kLate;
  }
  Task& t = it->second;
  Release(t);
  double d = outcome.result().duration_ms();
  double& ewma = IsCpu(t) ? ewma_cpu_ms_ : ewma_other_ms_;
  ewma = ewma < 0 ? d : 0.8 * ewma + 0.2 * d;
  WorkerStats& s = stats_[worker];
  // The outcome usually lives on the caller's arena: a generated CopyFrom
  // is far cheaper than a cross-arena Swap (which goes through reflection).
  pb::Result result;
  if (mutable_outcome->GetArena() == nullptr) {
    result.Swap(mutable_outcome->mutable_result());
  } else {
    result.CopyFrom(outcome.result());
  }
  if (outcome.started_unix_ms() > 0) result.set_start_ms(outcome.started_unix_ms());
  if (!result.ok()) {
    std::string error = result.error().empty() ? "failed without a reason" : result.error();
    if (outcome.retryable() && t.charged < static_cast<uint32_t>(options_.retries)) {
      ++t.charged;
      t.failures.push_back("attempt " + std::to_string(t.attempts) + " on " + wit->second.info.name + ": " + error);
      double backoff = std::min(options_.backoff_max_ms, options_.backoff_base_ms * std::pow(2.0, t.charged - 1));
      Requeue(t, backoff);
      return OutcomeVerdict::kAccepted;
    }
  }
  ++s.tasks;
  Finish(t, std::move(result));
  return OutcomeVerdict::kAccepted;
}

void Scheduler::RemoveWorker(WorkerId id, const std::string& reason, bool blame) {
  auto wit = workers_.find(id);
  if (wit == workers_.end()) return;
  Worker w = std::move(wit->second);
  workers_.erase(wit);
  WorkerStats& s = stats_[id];
  if (w.in_flight > 0) s.busy_ms += clock_.NowMs() - w.busy_since_ms;
  s.gone = true;
  s.gone_reason = reason;
  bool alone = w.leases.size() == 1;
  double now = clock_.NowMs();
  // Killed because one of its tasks overran its timeout: that task is the
  // cause, the others are innocent bystanders (re-queued without blame).
  bool timeout_kill = false;
  for (uint32_t task_id : w.leases) {
    auto it = tasks_.find(task_id);
    timeout_kill |= it != tasks_.end() && it->second.deadline_ms > 0 && now >= it->second.deadline_ms;
  }
  for (uint32_t task_id : w.leases) {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) continue;
    Task& t = it->second;
    t.worker = -1;
    --leased_;
    bool overdue = t.deadline_ms > 0 && now >= t.deadline_ms;
    if (!blame || (timeout_kill && !overdue)) {
      Requeue(t, 0);
      continue;
    }
    std::string who = "worker " + w.info.name;
    if (t.deadline_ms > 0 && now >= t.deadline_ms) {
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
                           ") while it ran " + std::to_string(w.leases.size()) + " tasks; rerun alone");
      Requeue(t, 0);
    }
  }
}

void Scheduler::WorkerGone(WorkerId worker, const std::string& reason) { RemoveWorker(worker, reason, true); }

void Scheduler::WorkerLeft(WorkerId worker) { RemoveWorker(worker, "left", false); }

Scheduler::TickResult Scheduler::Tick() {
  TickResult r;
  double now = clock_.NowMs();
  for (auto& [wid, w] : workers_) {
    if (now - w.last_heard_ms > options_.heartbeat_timeout_ms) {
      r.lost.push_back(wid);
      continue;
    }
    if (options_.task_timeout_ms <= 0) continue;  // no deadlines to check
    for (uint32_t id : w.leases) {
      auto it = tasks_.find(id);
      if (it != tasks_.end() && it->second.deadline_ms > 0 &&
          now > it->second.deadline_ms + options_.timeout_slack_ms) {
        r.stuck.push_back(wid);
        break;
      }
    }
  }
  for (WorkerId wid : r.lost) {
    double silent = now - workers_[wid].last_heard_ms;
    RemoveWorker(wid, "stopped answering (no heartbeat for " + Seconds(silent) + ")", true);
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
  ready_.clear();
  suspects_.clear();
  delayed_.clear();
  std::sort(waiting.begin(), waiting.end());
  for (uint32_t id : waiting) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second.worker < 0) {
      FinishFailed(it->second, Code::kCancelled, "cancelled before it started: " + reason);
    }
  }
}

void Scheduler::CancelInFlight(const std::string& reason) {
  std::vector<uint32_t> ids;
  for (auto& [id, t] : tasks_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (uint32_t id : ids) {
    Task& t = tasks_.at(id);
    if (t.worker >= 0) Release(t);
    FinishFailed(t, Code::kCancelled, "cancelled while running: " + reason);
  }
}

std::vector<pb::Cancel> Scheduler::LeasesOf(WorkerId worker) const {
  std::vector<pb::Cancel> out;
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return out;
  for (uint32_t id : wit->second.leases) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    pb::Cancel& c = out.emplace_back();
    c.set_task_id(id);
    c.set_attempt(it->second.attempts);
  }
  return out;
}

bool Scheduler::OnRejected(WorkerId worker, const pb::LeaseRef& lease, const std::string& reason) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return false;
  wit->second.last_heard_ms = clock_.NowMs();
  auto it = tasks_.find(lease.task_id());
  if (it == tasks_.end() || it->second.worker != worker || it->second.attempts != lease.attempt()) return false;
  Task& t = it->second;
  Release(t);
  std::string error = "the worker could not accept the task: " + reason;
  if (t.charged < static_cast<uint32_t>(options_.retries)) {
    ++t.charged;
    t.failures.push_back("attempt " + std::to_string(t.attempts) + " on " + wit->second.info.name + ": " + error);
    Requeue(t, std::min(options_.backoff_max_ms, options_.backoff_base_ms * std::pow(2.0, t.charged - 1)));
  } else {
    FinishFailed(t, Code::kInternal, error);
  }
  return true;
}

}  // namespace taskfarm
