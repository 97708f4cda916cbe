// What a person sees while a run goes: one line per finished task on
// standard output (on standard error when standard output carries the
// records: `--output -`, like `curl -o -`), and on a terminal a live
// progress line on standard error, redrawn at most 10 times a second and
// erased before other output.
#pragma once

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>

#include "coordinator/coordinator.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

class Console {
 public:
  // --quiet: no task lines; --progress: draw the progress line (only if
  // stderr is a terminal).
  explicit Console(const CoordinatorConfig& config);
  ~Console();

  void TaskLine(const pb::Result& result);
  // Whether TaskLine shows anything (else the caller may skip the records'
  // names and the call).
  [[nodiscard]] bool WantsRecords() const { return !quiet_ || print_output_; }
  // A line among the task lines (not shown when quiet).
  void Text(const std::string& line);
  // Flushes task lines written since the last call.
  void Flush();
  // total 0: not known yet (a stream being read): no ETA.
  void Progress(uint64_t done, uint64_t total, uint64_t failed, double elapsed_ms, bool force = false);
  // Removes the progress line for good (before the summary).
  void ClearProgress();
  // A message for the user on stderr, not lost under the progress line.
  void Note(const std::string& text);

  // Where task lines and the summary go: stdout, or stderr when stdout
  // carries the records (--output - or --json -).
  [[nodiscard]] std::FILE* out() const { return out_; }

  // The line printed for one result (exposed for tests), its task id first:
  //   task 3: Read 11369 from http://h/page/1 (worker w2, 1 ms)
  //   task 4 FAILED: GET http://h/nope answered HTTP 404 (worker w2, 1 ms)
  //   task 7 FAILED: sleep 2000: cancelled while running: ... (worker w1, 1250 ms)
  // A failure names the task unless its error already does (a URL's does).
  static std::string Describe(const pb::Result& result);

 private:
  bool quiet_;
  bool progress_;
  bool print_output_;
  std::FILE* out_;
  std::set<std::string> refusing_;  // workers said to refuse a kind, said once each
  bool drawn_ = false;
  double last_draw_ms_ = -1e9;
  std::string lines_;
};

}  // namespace taskfarm
