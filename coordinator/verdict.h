// Is a workload CPU-bound or I/O-bound? Judged from the CPU time its tasks
// used against the time they were not waiting for a core: a task that is
// ready to run but queued behind others (our own workers or anything else
// on the machine) is starved, not waiting on I/O.
//
//   Boundness b = Judge(cpu_ms, wall_ms, run_queue_wait_ms);  // b.verdict == "CPU-bound"
#pragma once

#include <string>

namespace taskfarm {

struct Boundness {
  double cpu_share = 0;  // CPU time / (wall time - run-queue wait), 0..1
  std::string verdict;   // "CPU-bound", "I/O-bound" or "mixed"
};

// All three summed over tasks, in milliseconds.
[[nodiscard]] Boundness Judge(double cpu_ms, double wall_ms, double wait_ms);

}  // namespace taskfarm
