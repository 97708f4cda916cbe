// Local worker processes: the coordinator's children. Forked from the fork
// server when there is one (coordinator/fork_server.h), else SpawnProcess of
// the `worker` program; either way the worker program runs them (so local
// and remote workers are one program). Reaped on SIGCHLD, killed with the
// coordinator by the PR_SET_PDEATHSIG each worker sets for itself
// (--parent-pid).
//
// Not thread-safe; call from the thread that spawned (PDEATHSIG fires when
// the spawning *thread* exits).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/posix.h"  // SpawnError
#include "coordinator/fork_server.h"

namespace taskfarm {

struct ChildExit {
  pid_t pid;
  std::string how;  // "exit 1", "signal 9"
  bool clean;       // exit status 0
};

class WorkerPool {
 public:
  // `args` are passed to every worker after the program path; `env_extra`
  // ("K=V") is added to the environment it inherits (secrets go here, not
  // in argv, which any local user can read in /proc).
  // `forks`, if given, forks them; if it fails they are spawned from then on.
  WorkerPool(std::string binary, std::vector<std::string> args, std::vector<std::string> env_extra = {},
             ForkServer* forks = nullptr);
  ~WorkerPool();  // kills and reaps whatever is left
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts one worker named `name`. Forked, it is asked of the fork server
  // and its pid learnt later (Settle), so the coordinator does not wait
  // out each fork; spawned, at once. Throws SpawnError if it cannot be
  // spawned (no such program, no processes left, ...).
  void Spawn(const std::string& name);
  // Learns the pids of all the workers asked of the fork server (each is a
  // fork or two away). A worker the server could not fork is spawned
  // instead, and one that cannot be spawned either is reported by Reap as
  // ended (pid -1). Every call below settles first.
  void Settle();
  // Collects every child that has ended, without blocking.
  [[nodiscard]] std::vector<ChildExit> Reap();
  // Whether Reap has something to say that no SIGCHLD will announce: a
  // worker that could not be started at all.
  [[nodiscard]] bool unreported() const { return !never_started_.empty(); }
  void Kill(pid_t pid, int sig);
  // Waits up to timeout_ms for all children to exit, then SIGKILLs and
  // reaps the rest. Leaves no zombie.
  void StopAll(int timeout_ms);
  // Workers started and not yet reaped, forked ones whose pid is not known yet included.
  [[nodiscard]] size_t alive() const { return children_.size() + pending_.size(); }
  [[nodiscard]] bool Owns(pid_t pid);
  // The children still running (not yet reaped).
  [[nodiscard]] std::vector<pid_t> pids() {
    Settle();
    std::vector<pid_t> out;
    for (const auto& [pid, name] : children_) out.push_back(pid);
    return out;
  }

 private:
  std::vector<std::string> ArgvFor(const std::string& name) const;
  // Learns the oldest pending worker's pid (waiting for it).
  void SettleOne();
  // Starts `name` with SpawnProcess; `keep_failure`: a SpawnError is kept
  // for Reap instead of thrown.
  void SpawnNow(const std::string& name, bool keep_failure);

  std::string binary_;
  std::vector<std::string> args_;
  std::vector<std::string> env_;  // the whole environment a worker gets

  std::map<pid_t, std::string> children_;
  ForkServer* forks_;
  bool fork_new_ = true;                  // false once forks_ has failed: new ones are spawned
  std::vector<std::string> pending_;      // asked of forks_, in order; pids not known yet
  std::vector<ChildExit> never_started_;  // for Reap
};

// Path of the worker program next to the running executable: `worker`, or
// `taskfarm-worker` when this one is `taskfarm-coordinator` (any prefix
// before "coordinator" carries over).
[[nodiscard]] std::string DefaultWorkerBinary();

}  // namespace taskfarm
