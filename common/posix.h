// The POSIX plumbing every program here needs, written once: signals read
// from a signalfd, starting a program with posix_spawn, this program's own
// path, and the local time as a report prints it.
//
//   UniqueFd signals = BlockSignalsToFd({SIGINT, SIGTERM});  // before any thread
//   ... poll signals.get() with the rest ...
//   while (int sig = NextSignal(signals.get())) ...
//
//   pid_t pid = SpawnProcess({"/bin/sh", "-c", "exit 3"}, {.stdin_null = true});
//   waitpid(pid, &status, 0);  // the caller reaps
#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <ctime>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace taskfarm {

// Blocks `signals` for the calling thread and returns a signalfd they arrive
// on instead (non-blocking, close-on-exec). Call it before any thread starts:
// threads inherit the mask, so no other thread takes a signal's default
// action. SpawnProcess unblocks them in children. Throws std::system_error
// if the kernel refuses (no descriptors left).
[[nodiscard]] UniqueFd BlockSignalsToFd(std::initializer_list<int> signals);

// The next signal waiting on `signal_fd` (one from BlockSignalsToFd), or 0
// when none is: `while (int sig = NextSignal(fd))` drains it.
[[nodiscard]] int NextSignal(int signal_fd);

// The owner of one of posix_spawn's C objects (attributes, file actions):
// initialised on construction, destroyed with the owner.
template <typename T, int (*Init)(T*), int (*Destroy)(T*)>
struct SpawnObject {
  T value;
  SpawnObject() { Init(&value); }
  ~SpawnObject() { Destroy(&value); }
  SpawnObject(const SpawnObject&) = delete;
  SpawnObject& operator=(const SpawnObject&) = delete;
};
using SpawnAttr = SpawnObject<posix_spawnattr_t, posix_spawnattr_init, posix_spawnattr_destroy>;
using SpawnActions =
    SpawnObject<posix_spawn_file_actions_t, posix_spawn_file_actions_init, posix_spawn_file_actions_destroy>;

// posix_spawn failed; `error` is its errno value.
struct SpawnError : std::runtime_error {
  SpawnError(const std::string& what, int error) : std::runtime_error(what), error(error) {}
  int error;
};

struct SpawnOptions {
  // The child's whole environment, "K=V" each; nullptr: this process's.
  const std::vector<std::string>* env = nullptr;
  // stdout and stderr both to this file, created or truncated; "": this
  // process's.
  std::string output_file = {};
  bool stdin_null = false;         // stdin from /dev/null instead of this process's
  bool own_process_group = false;  // a terminal's Ctrl-C then reaches this process only
};

// Starts the program at the path `argv[0]` (not looked up in PATH) with
// `argv`. In the child no signal is blocked and SIGPIPE, SIGINT, SIGTERM and
// SIGCHLD have their default actions, whatever this process set for itself
// (BlockSignalsToFd, SIG_IGN). posix_spawn, not fork: glibc starts the child
// in this address space (CLONE_VFORK) instead of copying the page tables, so
// it costs the same whatever this process's size, and it is safe with
// threads. Returns the child's pid (the caller reaps it); throws SpawnError
// "cannot start PATH: why" if the program cannot be started.
[[nodiscard]] pid_t SpawnProcess(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// The NULL-terminated array of pointers into `strings` that an argv or
// environ wants; valid while `strings` is, unchanged.
[[nodiscard]] std::vector<char*> PointersTo(const std::vector<std::string>& strings);

// The running program's absolute path (/proc/self/exe), or "" if it cannot
// be read.
[[nodiscard]] std::string SelfExePath();

// `when` in local time as reports print it: "2024-05-01 14:03:07 CEST".
[[nodiscard]] std::string LocalTimestamp(std::time_t when = std::time(nullptr));

}  // namespace taskfarm
