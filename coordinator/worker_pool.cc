// Spawning, reaping and stopping local workers.
#include "coordinator/worker_pool.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string_view>
#include <thread>
#include <vector>

#include "common/posix.h"
#include "common/unique_fd.h"

extern char** environ;

namespace taskfarm {
namespace {

std::string Describe(int status) {
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::string DefaultWorkerBinary() {
  std::string self = SelfExePath();
  if (self.empty()) self = "coordinator";
  size_t slash = self.rfind('/');
  std::string dir = slash == std::string::npos ? std::string(".") : self.substr(0, slash);
  // The worker is named as this program is, with "worker" for "coordinator":
  // `worker` beside a build tree's `coordinator`, `taskfarm-worker` beside
  // the installed `taskfarm-coordinator` (packaging/CMakeLists.txt says why).
  std::string_view name = std::string_view(self).substr(slash + 1);
  constexpr std::string_view kSelf = "coordinator";
  std::string_view prefix = name.ends_with(kSelf) ? name.substr(0, name.size() - kSelf.size()) : "";
  return dir + "/" + std::string(prefix) + "worker";
}

WorkerPool::WorkerPool(std::string binary, std::vector<std::string> args, std::vector<std::string> env_extra,
                       ForkServer* forks)
    : binary_(std::move(binary)), args_(std::move(args)), forks_(forks) {
  auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    bool replaced = false;
    for (const std::string& extra : env_extra) replaced |= key(extra) == key(kv);
    if (!replaced) env_.push_back(std::move(kv));
  }
  env_.insert(env_.end(), env_extra.begin(), env_extra.end());
}

WorkerPool::~WorkerPool() { StopAll(0); }

void WorkerPool::Spawn(const std::string& name) {
  if (forks_ && fork_new_) {
    if (forks_->Ask(ArgvFor(name), env_).ok()) {
      pending_.push_back(name);
      return;
    }
    fork_new_ = false;  // spawned from now on: the same worker, started slower
  }
  SpawnNow(name, false);
}

std::vector<std::string> WorkerPool::ArgvFor(const std::string& name) const {
  std::vector<std::string> argv{binary_};
  argv.insert(argv.end(), args_.begin(), args_.end());
  argv.push_back("--name");
  argv.push_back(name);
  return argv;
}

void WorkerPool::SpawnNow(const std::string& name, bool keep_failure) {
  // Its own process group: the terminal's Ctrl-C goes to the coordinator,
  // which decides what the workers do (grace period, hand-back). The worker
  // arms PR_SET_PDEATHSIG itself (--parent-pid) as it starts.
  try {
    pid_t pid = SpawnProcess(ArgvFor(name), {.env = &env_, .own_process_group = true});
    children_[pid] = name;
  } catch (const SpawnError& e) {
    if (!keep_failure) throw;
    never_started_.push_back(ChildExit{-1, e.what(), false});
  }
}

void WorkerPool::SettleOne() {
  std::string name = std::move(pending_.front());
  pending_.erase(pending_.begin());
  StatusOr<pid_t> pid = forks_->Answer();
  if (pid.ok()) {
    children_[*pid] = name;
    return;
  }
  // Not forked (the server is gone or could not fork): spawned instead.
  fork_new_ = false;
  SpawnNow(name, true);
}

void WorkerPool::Settle() {
  while (!pending_.empty()) SettleOne();
}

bool WorkerPool::Owns(pid_t pid) {
  // Answers come in the order asked: only as many as it takes.
  while (children_.count(pid) == 0 && !pending_.empty()) SettleOne();
  return children_.count(pid) != 0;
}

std::vector<ChildExit> WorkerPool::Reap() {
  Settle();
  std::vector<ChildExit> out = std::move(never_started_);
  never_started_.clear();
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    // Not every child is a worker: `--tasks <(generate)` makes the shell's
    // writer our child too. It is reaped (no zombie) and not reported.
    if (children_.erase(pid) == 0) continue;
    out.push_back(ChildExit{pid, Describe(status), WIFEXITED(status) && WEXITSTATUS(status) == 0});
  }
  return out;
}

void WorkerPool::Kill(pid_t pid, int sig) {
  if (Owns(pid)) kill(pid, sig);
}

void WorkerPool::StopAll(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  (void)Reap();  // settles first
  // Wait on the exits themselves: a pidfd turns readable when its process
  // exits, so the coordinator leaves the moment its last worker has, not
  // at the next tick of a sleep loop. (Without pidfds: 1 ms naps.)
  std::map<pid_t, UniqueFd> pidfds;
  for (auto& [pid, name] : children_) {
#ifdef SYS_pidfd_open
    UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (fd) pidfds[pid] = std::move(fd);
#endif
  }
  while (!children_.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::vector<pollfd> waiting;
    for (auto& [pid, name] : children_) {
      auto fd = pidfds.find(pid);
      if (fd != pidfds.end()) waiting.push_back({fd->second.get(), POLLIN, 0});
    }
    if (waiting.size() == children_.size()) {
      (void)poll(waiting.data(), waiting.size(), static_cast<int>(std::min<int64_t>(left.count(), 100)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    (void)Reap();
  }
  pidfds.clear();
  for (auto& [pid, name] : children_) kill(pid, SIGKILL);
  for (auto& [pid, name] : children_) {
    int status;
    waitpid(pid, &status, 0);
  }
  children_.clear();
}

}  // namespace taskfarm
