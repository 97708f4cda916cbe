// Where each finished task's record goes, always in this order: the
// journal (--journal), synced; then --output, the console and the report's
// timeline spans. The durability rule lives here: a batch's records are on
// disk in the journal before any of them is written anywhere else, and a
// record the journal could not keep is reported nowhere (not durable, so
// not done: --resume runs it again). A cancelled task never finished: it
// stays out of the journal. A result file that cannot be written is said
// once and no new task starts; running ones finish into what can still be
// written.
//
//   RecordSink sink(config, clock, console, stats, scheduler);
//   if (Status s = sink.Open(source); !s.ok()) return 2;  // before anything runs
//   ... sink.Resume(id, spec) for each task read (--resume) ...
//   ... each loop turn: sink.WriteFinished(run_origin_ms);
//   sink.Close();
//   sink.WriteReports(summary);  // --report, --json
//
// Not thread-safe: the coordinator's loop thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "coordinator/console.h"
#include "coordinator/coordinator.h"
#include "coordinator/journal.h"
#include "coordinator/metrics.h"
#include "coordinator/output_file.h"
#include "coordinator/report/report.h"
#include "coordinator/scheduler.h"
#include "coordinator/summary.h"
#include "coordinator/task_source.h"

namespace taskfarm {

class RecordSink {
 public:
  // Records come from `scheduler` (and a failed write stops its
  // dispatching); `stats` counts every record reported.
  RecordSink(const CoordinatorConfig& config, const Clock& clock, Console& console, RunStats& stats,
             Scheduler& scheduler);

  // Checks that the report files can be written, opens the journal (with
  // --resume, reads it) and the output, and writes a resumed run's records
  // to the output first. A failed Status, its message for the user, when a file
  // cannot be opened or the flags do not fit.
  Status Open(const TaskSource& source);
  // --metrics: records and journal syncs are counted there too (null: not).
  void AttachMetrics(Metrics* metrics) { metrics_ = metrics; }

  // What a resumed run does with task `id`, just read.
  enum class Resumed {
    kRun,        // not recorded by the run being resumed: run it
    kRecorded,   // recorded, and already reported by Open
    kReplayed,   // a streamed resume: its record is reported now (FlushReplayed)
    kWrongInput  // a streamed resume, and the journal's task `id` is another: said;
                 // the input is not the one that journal was written for
  };
  [[nodiscard]] Resumed Resume(uint32_t id, const pb::TaskSpec& spec);
  // Records a streamed resume reported so far, and their output written.
  [[nodiscard]] size_t replayed() const { return replayed_; }
  void FlushReplayed();

  // Takes the scheduler's finished tasks and writes their records, journal
  // first. Their start_ms count from `run_origin_ms` (on the clock).
  void WriteFinished(double run_origin_ms);
  // "N task(s) cancelled before they started": they are not shown one by one.
  void SayCancelledUnstarted();
  // Closes the output and the journal (the output's last write is checked).
  void Close();
  // The run's --report (HTML) and --json, from `summary`.
  void WriteReports(const RunSummary& summary);

  // "PATH: cannot write: WHY" for each file that failed, once each.
  [[nodiscard]] const std::vector<std::string>& write_failures() const { return write_failures_; }
  // Finished, but the journal write failed: not reported.
  [[nodiscard]] uint64_t unjournalled() const { return unjournalled_; }
  // A streamed resume found another input (Resumed::kWrongInput).
  [[nodiscard]] bool input_mismatch() const { return input_mismatch_; }

 private:
  // Each record's JSON into batch_json_ (when `as_json`), and to the
  // journal's buffer; `shown`: decorated for the console.
  void Encode(std::vector<FinishedTask>& finished, bool as_json, bool shown, double run_origin_ms);
  // True when every record journalled so far is durable (or no --journal).
  bool SyncJournal();
  // One durable record to --output's buffer, the console and the spans.
  void Report(FinishedTask& f, std::string_view json, bool shown, bool to_output);
  // A result file could not be written: say so once, start no new task.
  // `during_run`: tasks may still be waiting to start.
  void WriteFailed(const std::string& path, const std::string& what, bool during_run);
  void WriteHtmlReport(const RunSummary& summary);
  void WriteRunJson(const RunSummary& summary);
  void WriteWhole(const std::string& path, const std::string& contents);

  const CoordinatorConfig& config_;
  const Clock& clock_;
  Console& console_;
  RunStats& stats_;
  Scheduler& scheduler_;
  Metrics* metrics_ = nullptr;
  std::string input_name_;

  std::unique_ptr<Journal> journal_;
  Journal::Recovered recovered_;
  std::unordered_map<uint32_t, std::string> journal_by_id_;  // a streamed resume's records, until their task is read
  bool input_mismatch_ = false;
  size_t replayed_ = 0;
  std::unique_ptr<OutputFile> output_;
  std::string out_buffer_;
  std::vector<FinishedTask> finished_;  // this batch's tasks (reused: see TakeFinishedRaw)
  std::string batch_json_;              // this batch's records, one after another
  std::vector<size_t> batch_ends_;      // where each one ends in batch_json_
  uint64_t unjournalled_ = 0;
  uint64_t cancelled_unstarted_ = 0;  // counted, not shown one line each
  std::vector<std::string> write_failures_;

  bool want_spans_;
  std::vector<TaskSpan> spans_;
  uint64_t spans_left_out_ = 0;
};

}  // namespace taskfarm
