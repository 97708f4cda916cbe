// What `coordinator compare` says under its tables: paragraphs assembled
// from the measured numbers, not canned. Pure functions of the results.
//
//   for (const std::string& p : Conclude(workload, results, cores)) print(p);
#pragma once

#include <string>
#include <vector>

#include "coordinator/compare/compare.h"
#include "coordinator/compare/run_once.h"
#include "coordinator/compare/workload.h"
#include "coordinator/report/report.h"

namespace taskfarm::compare {

// One mode on one workload, over all its runs.
struct ModeResult {
  ModePreset mode;
  ModeRow row;
  RunOutcome last;
  double cpu_share = 0;
  double other_cores = 0;          // the rest of the machine's load in the run judged
  double busiest_other_cores = 0;  // ... and in its busiest run
  // The url records' connection figures, over all runs (ModeRow's medians).
  std::vector<double> new_connections;  // one per run
  std::vector<double> connect_ms, tls_ms, wait_ms;
};

// The result of mode `name`; null when it was not run.
[[nodiscard]] const ModeResult* Find(const std::vector<ModeResult>& rs, const std::string& name);

// What the table shows, in words, one paragraph each: the verdict and the
// fastest mode, then the lesson of the verdict (overlapping waits, more
// cores, the Session lesson); for exec/sh commands how many to run at once.
[[nodiscard]] std::vector<std::string> Conclude(const Workload& w, const std::vector<ModeResult>& rs, unsigned cores);

// One line under the table on the modes that were not run, and why.
[[nodiscard]] std::string LeftOutNote(const Workload& w, const std::vector<std::string>& names);

// The sweep in words: the Amdahl fit, then where adding more stopped paying
// (less than 10% faster than the step before) and why.
[[nodiscard]] std::string ExplainSweep(const Workload& w, const std::string& verdict, const SweepResult& sweep,
                                       unsigned cores);

}  // namespace taskfarm::compare
