// One measured farm run of `coordinator compare`: this program started as a
// child coordinator with a mode's flags on a workload's task file, timed
// from outside (start-up included), its records read back for CPU time per
// task, the timeline and the url records' connection figures.
//
//   RunOutcome o = RunOnce(binary, mode, workload, tmp);
//   if (!o.ok) report(o.error);  // else o.wall_s, o.task_cpu_ms, o.spans ...
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "coordinator/compare/compare.h"
#include "coordinator/compare/workload.h"
#include "coordinator/report/report.h"

namespace taskfarm::compare {

struct RunOutcome {
  double wall_s = 0;
  double task_cpu_ms = 0;    // summed over tasks (measured in the workers)
  double task_wall_ms = 0;   // summed durations
  double task_wait_ms = 0;   // summed run-queue waits
  double process_cpu_s = 0;  // coordinator + workers, from wait4
  double other_cores = 0;    // cores' worth of CPU the rest of the machine used meanwhile
  bool ok = false;
  std::string error;
  std::vector<TaskSpan> spans;
  // From the url records: how each request got its connection.
  uint64_t url_records = 0;
  uint64_t new_connections = 0;
  std::vector<double> connect_ms;  // of the records that opened a connection
  std::vector<double> tls_ms;      // ... their appconnect: TCP and TLS handshakes done
  std::vector<double> wait_ms;     // every record's first byte less its handshake
};

// Runs `binary` (a coordinator) with mode `m` on workload `w`, its records
// and its log in `tmp`; waits for it. Not ok when it could not start or
// did not exit 0 (`error` says how, with the log's last failure line).
[[nodiscard]] RunOutcome RunOnce(const std::string& binary, const ModePreset& m, const Workload& w, const TempDir& tmp);

}  // namespace taskfarm::compare
