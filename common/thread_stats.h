// CPU accounting of the calling thread: time on a CPU (user, system) and
// time it was ready to run but waited for one (Linux schedstat).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace taskfarm {

struct ThreadTimes {
  double user_ms = 0;
  double sys_ms = 0;
  double wait_ms = 0;  // run-queue wait; 0 where the kernel does not say
};

// Cumulative times of the calling thread since it started.
[[nodiscard]] ThreadTimes CurrentThreadTimes();

// This process's peak resident set size in KiB (VmHWM). Not getrusage's
// ru_maxrss, which on Linux carries the parent's peak across fork and exec.
[[nodiscard]] uint64_t PeakRssKb();
// The same of another live process (its own image's peak since its exec);
// 0 when it is gone or a zombie.
[[nodiscard]] uint64_t PeakRssKbOf(pid_t pid);

}  // namespace taskfarm
