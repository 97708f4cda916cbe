// Local worker processes: the coordinator's children. SpawnProcess of the
// `worker` program (so local and remote workers are one program), reaped on
// SIGCHLD, killed with the coordinator by the PR_SET_PDEATHSIG each worker
// sets for itself (--parent-pid).
//
// Not thread-safe; call from the thread that spawned (PDEATHSIG fires when
// the spawning *thread* exits).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/posix.h"  // SpawnError

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
  WorkerPool(std::string binary, std::vector<std::string> args, std::vector<std::string> env_extra = {});
  ~WorkerPool();  // kills and reaps whatever is left
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts one worker named `name`. Returns its pid; throws SpawnError if
  // it cannot be started (no such program, no processes left, ...).
  pid_t Spawn(const std::string& name);
  // Collects every child that has ended, without blocking.
  [[nodiscard]] std::vector<ChildExit> Reap();
  void Kill(pid_t pid, int sig);
  // Waits up to timeout_ms for all children to exit, then SIGKILLs and
  // reaps the rest. Leaves no zombie.
  void StopAll(int timeout_ms);
  [[nodiscard]] size_t alive() const { return children_.size(); }
  [[nodiscard]] bool Owns(pid_t pid) const { return children_.count(pid) != 0; }
  // The children still running (not yet reaped).
  [[nodiscard]] std::vector<pid_t> pids() const {
    std::vector<pid_t> out;
    for (const auto& [pid, name] : children_) out.push_back(pid);
    return out;
  }

 private:
  std::string binary_;
  std::vector<std::string> args_;
  std::vector<std::string> env_;  // the whole environment a worker gets
  std::map<pid_t, std::string> children_;
};

// Path of the worker program next to the running executable: `worker`, or
// `taskfarm-worker` when this one is `taskfarm-coordinator` (any prefix
// before "coordinator" carries over).
[[nodiscard]] std::string DefaultWorkerBinary();

}  // namespace taskfarm
