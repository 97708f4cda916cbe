// How a worker runs one kind of task: the executor interface every kind's
// runner implements (URL fetches, CPU kernels, sleeps, noop, ...), and the
// list of the executors a worker has.
//
// The worker's loop owns the leases, the slots and the messages; an
// executor only runs what it is given and says when each finished:
//
//   executor.Start({.token = key, .assignment = &a, .now_ms = now, ...});
//   executor.AppendWaits(&fds);          // before the loop's one wait
//   poll(fds, min(timeout, executor.NextWakeMs() - now));
//   executor.Collect(now, &finished);    // outcomes, by token
//
// All calls come from the loop's thread; an executor that finishes work on
// other threads calls ExecutorContext::wake.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/taskfarm.pb.h"
#include "worker/worker.h"

namespace taskfarm {

inline constexpr double kNever = std::numeric_limits<double>::infinity();

struct ExecutorContext {
  const WorkerConfig& config;
  std::function<void()> wake;           // thread-safe: the loop's wait returns
  std::function<void()> flush_results;  // sends what is pending now (before a fault kills us)
};

struct TaskStart {
  uint64_t token = 0;                          // the lease's key; outcomes come back under it
  const pb::Assignment* assignment = nullptr;  // valid until the task finishes or is cancelled
  double now_ms = 0;                           // steady clock
  double deadline_ms = 0;                      // steady clock; 0: none. The executor stops the task there.
  std::string_view worker_name;
};

struct Finished {
  uint64_t token = 0;
  pb::Result result{};  // ok/error and the kind's own fields; the loop adds duration and the rest
  bool retryable = false;
};

// Marks `out` failed: its error, its error code, and whether another
// attempt may succeed (by the code, as everywhere).
void Fail(Finished* out, Code code, std::string error);
// "TASK ran past the task timeout of N ms": how every kind's deadline
// error begins (`task` as the user wrote it, or the part that says most).
[[nodiscard]] std::string PastTimeout(std::string_view task, const pb::Assignment& a);

class Executor {
 public:
  virtual ~Executor() = default;
  // Begins the task. A task that cannot start still finishes, through Collect.
  virtual void Start(const TaskStart& start) = 0;
  // Abandons a started task: nothing comes out of Collect for it.
  virtual void Cancel(uint64_t token) = 0;
  // Abandons everything started (the worker drops its leases).
  virtual void CancelAll() = 0;
  // Descriptors the loop's wait must include (readable: call Collect).
  virtual void AppendWaits(std::vector<curl_waitfd>* waits) { (void)waits; }
  // When the executor next needs a turn without any descriptor activity
  // (a timer, a deadline), steady clock; kNever for none.
  [[nodiscard]] virtual double NextWakeMs() const { return kNever; }
  // Advances what runs and appends what finished.
  virtual void Collect(double now_ms, std::vector<Finished>* done) = 0;
};

class UrlExecutor;

// The executors of a worker (worker/executors.cc): each once in `all`, and
// by TaskSpec field in `by_kind`, one row per kind that runs on workers
// (kinds may share one). `url` is also the loop's waiter.
struct Executors {
  std::vector<std::unique_ptr<Executor>> all;
  std::vector<std::pair<pb::TaskSpec::WhatCase, Executor*>> by_kind;
  UrlExecutor* url = nullptr;

  Executor* Add(std::unique_ptr<Executor> executor) {
    all.push_back(std::move(executor));
    return all.back().get();
  }
};
[[nodiscard]] Executors MakeExecutors(const ExecutorContext& context);

}  // namespace taskfarm
