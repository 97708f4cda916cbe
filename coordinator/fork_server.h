// A fork server for local workers: the pattern of Python multiprocessing's
// `forkserver` start method and of Android's zygote. A worker started with
// posix_spawn pays an exec and the loading of libcurl, OpenSSL, ZeroMQ and
// some forty other shared libraries (~7 ms of CPU each, 5 workers sharing 2
// cores); one forked from a process that has them loaded pays a fork.
//
//   // First thing, before any thread, ZeroMQ context or signalfd exists:
//   std::unique_ptr<ForkServer> forks = ForkServer::Start(WorkerProgramMain);
//   ...
//   forks->Ask(argv, env);                  // does not wait
//   StatusOr<pid_t> pid = forks->Answer();  // a child of this process
//
// Start forks the server off this process while it is still one thread with
// nothing open but what it was started with; the server closes every
// descriptor but stdin, stdout, stderr and its socket, so nothing the
// coordinator creates later (contexts, sockets, threads, files) can ever
// reach a worker. For each request the server forks twice: the middle
// process exits at once, so the worker is reparented to the coordinator,
// which Start made a child subreaper (PR_SET_CHILD_SUBREAPER). The worker is
// then the coordinator's child like a spawned one (waitpid, SIGCHLD, its
// own PR_SET_PDEATHSIG via --parent-pid), and runs `run(argc, argv)`: the
// worker program's own main, so it is the same worker, speaking the same
// protocol, as one started by hand.
//
// A worker forked this way shows `worker` as its name (ps -e, top, pgrep)
// and its command line as the worker's (ps aux), though /proc/PID/exe is the
// coordinator's program.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace taskfarm {

// The server's own name (/proc/PID/comm), so that it is told apart from
// the workers among the coordinator's children.
inline constexpr const char* kForkServerName = "taskfarm-fork";

class ForkServer {
 public:
  using Program = int (*)(int argc, char** argv);

  // Starts the server; nullptr (and the caller spawns instead) if it could
  // not. Call while this process has one thread. `warm_up`, if given, runs
  // once in the server before it forks anyone: what every worker would do
  // first, done once for all of them.
  static std::unique_ptr<ForkServer> Start(Program run, void (*warm_up)() = nullptr);
  ~ForkServer();  // the server is killed and reaped; workers live on
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // Asks for a worker that runs `run` with `argv` and exactly the
  // environment `env` ("K=V" each), in its own process group, no signal
  // blocked and the usual ones at their defaults; does not wait. An error
  // if the server is gone (the caller may spawn instead).
  Status Ask(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  // The answer to the oldest question not yet answered: the worker's pid, a
  // child of this process, or why there is none. Waits for it (a fork or
  // two away; at most 5 s, then the server counts as gone).
  StatusOr<pid_t> Answer();
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  ForkServer(pid_t pid, UniqueFd socket) : pid_(pid), socket_(std::move(socket)) {}
  pid_t pid_;
  UniqueFd socket_;
  size_t asked_ = 0;
  bool broken_ = false;  // a failed exchange: the server is not asked again
};

}  // namespace taskfarm
