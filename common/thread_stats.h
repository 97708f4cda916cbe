// CPU accounting of the calling thread: time on a CPU (user, system) and
// time it was ready to run but waited for one (Linux schedstat).
#pragma once

namespace taskfarm {

struct ThreadTimes {
  double user_ms = 0;
  double sys_ms = 0;
  double wait_ms = 0;  // run-queue wait; 0 where the kernel does not say
};

// Cumulative times of the calling thread since it started.
[[nodiscard]] ThreadTimes CurrentThreadTimes();

}  // namespace taskfarm
