// Is a workload CPU-bound or I/O-bound? Judged from the CPU time its tasks
// used against their wall time, corrected for tasks that waited for a core
// because more of them ran at once than there are cores.
//
//   std::string v = Verdict(cpu_ms, wall_ms, avg_parallel, cores);  // "CPU-bound"
#pragma once

#include <string>

namespace taskfarm {

struct Boundness {
  double cpu_share = 0;  // CPU time / (wall time x the core share a task had)
  std::string verdict;   // "CPU-bound", "I/O-bound" or "mixed"
};

// cpu_ms, wall_ms: summed over tasks; avg_parallel: tasks running at once on
// average (summed wall / span of the run); cores: CPUs of the machine.
[[nodiscard]] Boundness Judge(double cpu_ms, double wall_ms, double avg_parallel, unsigned cores);

}  // namespace taskfarm
