// Records: journal, then output, console and spans.
#include "coordinator/record_sink.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "common/file_writer.h"
#include "common/posix.h"
#include "common/quote.h"
#include "common/shell_words.h"
#include "common/status.h"
#include "common/task_kind.h"
#include "coordinator/report/text_table.h"
#include "coordinator/result_json.h"

namespace taskfarm {
namespace {

bool IsCancelled(const pb::Result& r) { return r.error_code() == CodeName(Code::kCancelled); }

// A worker refused the task's kind: Console::TaskLine says so once per
// worker even with --quiet, so such a record reaches it either way.
bool IsRefused(const pb::Result& r) { return r.error_code() == CodeName(Code::kPermissionDenied); }

}  // namespace

RecordSink::RecordSink(const CoordinatorConfig& config, const Clock& clock, Console& console, RunStats& stats,
                       Scheduler& scheduler)
    : config_(config),
      clock_(clock),
      console_(console),
      stats_(stats),
      scheduler_(scheduler),
      want_spans_(!config.report_path.empty()) {}

Status RecordSink::Open(const TaskSource& source) {
  input_name_ = source.name();
  // The report files are written at the end; a path that cannot take them
  // is found now, before an hour of work, not after.
  if (config_.output_path == "-" && config_.json_path == "-") {
    return InvalidArgument("--output - and --json - would both write to standard output: give one of them a file");
  }
  for (const auto& [flag, path] : {std::pair{"--report", &config_.report_path}, {"--json", &config_.json_path}}) {
    bool to_stdout = path == &config_.json_path && *path == "-";
    if (Status s = path->empty() || to_stdout ? Status::Ok() : CheckCanWrite(*path); !s.ok()) {
      return Status(s.code(), std::string(flag) + " " + s.message());
    }
  }
  if (!config_.journal_path.empty()) {
    StatusOr<std::unique_ptr<Journal>> journal =
        Journal::Open(config_.journal_path, source.fingerprint(), source.total(), config_.resume, &recovered_);
    if (!journal.ok()) return journal.status();
    journal_ = std::move(journal).value();
    if (!recovered_.note.empty()) std::fprintf(stderr, "%s\n", recovered_.note.c_str());
  } else if (config_.resume) {
    return InvalidArgument("--resume needs --journal FILE (the journal of the run to continue)");
  }
  if (!config_.output_path.empty()) {
    StatusOr<std::unique_ptr<OutputFile>> output = OutputFile::Open(config_.output_path);
    if (!output.ok()) return output.status();
    output_ = std::move(output).value();
  }
  // A resumed run's output holds the whole picture: the journal's records
  // first, then what this run adds.
  auto replay = [&](const std::vector<std::string>& lines, bool ok) {
    for (const std::string& line : lines) {
      if (output_) {
        out_buffer_ += line;
        out_buffer_ += '\n';
      }
      stats_.AddResumed(ok);
    }
  };
  if (recovered_.by_position) {
    // A stream is not known before it is read: each record waits for the
    // task with its id, to be checked against it (Resume); records past the
    // stream's end are never reported.
    auto keep = [&](std::vector<std::string>& lines) {
      for (std::string& line : lines) {
        uint32_t id;
        bool ok;
        if (ParseJournalRecord(line, &id, &ok)) journal_by_id_.emplace(id, std::move(line));
      }
      std::vector<std::string>().swap(lines);
    };
    keep(recovered_.ok_lines);
    if (!config_.retry_failed) keep(recovered_.failed_lines);
  }
  replay(recovered_.ok_lines, true);
  if (!config_.retry_failed) replay(recovered_.failed_lines, false);
  bool written = !output_ || output_->Append(out_buffer_);
  out_buffer_.clear();
  out_buffer_.shrink_to_fit();
  if (!written) return Unavailable(output_->error());
  return Status::Ok();
}

// A streamed resume: the journal's record for `id` is reported now, if it is
// of the same task; if not, the input is not the one that journal was
// written for.
RecordSink::Resumed RecordSink::Resume(uint32_t id, const pb::TaskSpec& spec) {
  if (id >= recovered_.ok.size() || !(recovered_.ok[id] || (recovered_.failed[id] && !config_.retry_failed))) {
    return Resumed::kRun;
  }
  if (!recovered_.by_position) return Resumed::kRecorded;
  // Every id asked about here has a record (the journal's by-id flags and
  // these lines come from the same reading).
  auto it = journal_by_id_.find(id);
  std::string task = FormatTask(spec);
  auto record = it == journal_by_id_.end() ? nlohmann::json() : nlohmann::json::parse(it->second, nullptr, false);
  std::string recorded = record.is_object() ? record.value("task", "") : "";
  if (recorded != task) {
    input_mismatch_ = true;
    console_.Note(Wrap("coordinator: " + input_name_ + ": task " + std::to_string(id) + " is " +
                       Quote(Excerpt(task, 60)) + ", but the journal's task " + std::to_string(id) + " is " +
                       Quote(Excerpt(recorded, 60)) +
                       ": this is not the input of the run being resumed; nothing more of it is read"));
    return Resumed::kWrongInput;
  }
  bool ok = record.value("ok", false);
  if (output_) {
    out_buffer_ += it->second;
    out_buffer_ += '\n';
  }
  stats_.AddResumed(ok);
  journal_by_id_.erase(it);
  ++replayed_;
  return Resumed::kReplayed;
}

void RecordSink::FlushReplayed() {
  if (!out_buffer_.empty() && output_ && !output_->failed()) {
    if (!output_->Append(out_buffer_)) WriteFailed(config_.output_path, output_->error(), true);
  }
  out_buffer_.clear();
}

void RecordSink::WriteFinished(double run_origin_ms) {
  std::vector<FinishedTask>& finished = finished_;
  scheduler_.TakeFinishedRaw(&finished);
  if (finished.empty()) return;
  bool to_output = output_ && !output_->failed();
  bool as_json = journal_ || to_output;
  // Names and JSON cost allocations; only pay for them if a record is shown.
  bool shown = as_json || console_.WantsRecords();
  // Durable first, then reported: the batch's finished records go to the
  // journal and are synced before any of them is written anywhere else.
  Encode(finished, as_json, shown, run_origin_ms);
  bool journalled = SyncJournal();
  size_t begin = 0;
  for (size_t i = 0; i < finished.size(); ++i) {
    std::string_view json = std::string_view(batch_json_).substr(begin, batch_ends_[i] - begin);
    begin = batch_ends_[i];
    if (!journalled && !IsCancelled(finished[i].result)) {
      ++unjournalled_;  // not durable, so not done: --resume runs it again
      continue;
    }
    Report(finished[i], json, shown, to_output);
  }
  if (to_output && !out_buffer_.empty()) {
    if (!output_->Append(out_buffer_)) WriteFailed(config_.output_path, output_->error(), true);
    out_buffer_.clear();
  }
  // Written: the records go (their memory with them), the room stays.
  finished.clear();
  console_.Flush();
}

void RecordSink::Encode(std::vector<FinishedTask>& finished, bool as_json, bool shown, double run_origin_ms) {
  double now_unix = UnixMs();
  double run_start_unix = now_unix - (clock_.NowMs() - run_origin_ms);
  batch_json_.clear();
  batch_ends_.clear();
  for (FinishedTask& f : finished) {
    pb::Result& r = f.result;
    // Cancelled while it ran: it started duration_ms before now, as far
    // as this clock knows (the worker never said when it ended).
    if (!r.has_start_ms() && f.worker >= 0 && !f.cancelled_waiting && IsCancelled(r)) {
      r.set_start_ms(now_unix - r.duration_ms());
    }
    if (r.has_start_ms()) r.set_start_ms(r.start_ms() - run_start_unix);
    if (shown || IsRefused(r)) scheduler_.Decorate(f);
    size_t begin = batch_json_.size();
    if (as_json) AppendResultJson(r, &batch_json_);
    // A cancelled task never finished: --resume runs it.
    if (journal_ && !IsCancelled(r)) journal_->Append(std::string_view(batch_json_).substr(begin));
    batch_ends_.push_back(batch_json_.size());
  }
}

bool RecordSink::SyncJournal() {
  if (!journal_) return true;
  bool failed_before = journal_->failed();
  double sync_start_ms = clock_.NowMs();
  Status synced = journal_->Sync();
  if (metrics_) metrics_->CountJournalSync((clock_.NowMs() - sync_start_ms) / 1000);
  if (!synced.ok() && !failed_before) WriteFailed(config_.journal_path, synced.message(), true);
  return synced.ok();
}

void RecordSink::Report(FinishedTask& f, std::string_view json, bool shown, bool to_output) {
  pb::Result& r = f.result;
  stats_.Add(KindName(f.spec), r);
  if (metrics_) metrics_->CountRecord(KindName(f.spec), r, f.spec, f.worker);
  if (want_spans_ && spans_.size() < config_.report_max_spans) {
    if (!shown) scheduler_.Decorate(f);
    spans_.push_back(
        TaskSpan{r.id(), r.worker(), r.kind(), r.start_ms(), r.duration_ms(), r.ok(), r.attempts(), r.error()});
  } else if (want_spans_) {
    ++spans_left_out_;
  }
  if (to_output) {
    out_buffer_ += json;
    out_buffer_ += '\n';
  }
  // A task cancelled while it waited says nothing one line at a time
  // (an interrupted run may have millions): they are counted, and said
  // in one line at the end.
  if (IsCancelled(r) && f.cancelled_waiting) {
    ++cancelled_unstarted_;
  } else if (shown || IsRefused(r)) {
    console_.TaskLine(r);
  }
}

void RecordSink::SayCancelledUnstarted() {
  if (cancelled_unstarted_ == 0) return;
  console_.Text(std::to_string(cancelled_unstarted_) + " task(s) cancelled before they started" +
                (output_ && !output_->failed() ? " (each has a record in " + output_->path() + ")" : ""));
  console_.Flush();
}

void RecordSink::Close() {
  if (output_) {
    bool failed_before = output_->failed();
    if (!output_->Close() && !failed_before) WriteFailed(config_.output_path, output_->error(), false);
  }
  output_.reset();
  journal_.reset();
}

void RecordSink::WriteFailed(const std::string& path, const std::string& what, bool during_run) {
  write_failures_.push_back(what);
  bool stopping = during_run && scheduler_.dispatching();
  console_.Note("coordinator: " + what + (stopping ? "; no new tasks start" : ""));
  // Running tasks finish into what can still be written (the console, the
  // other file); queued ones are cancelled, so --resume knows to run them.
  if (during_run) scheduler_.StopDispatching(path + " could not be written");
}

void RecordSink::WriteReports(const RunSummary& summary) {
  if (want_spans_) WriteHtmlReport(summary);
  if (!config_.json_path.empty()) WriteRunJson(summary);
}

// The HTML report (--report); its tables come from `summary`.
void RecordSink::WriteHtmlReport(const RunSummary& summary) {
  double run_ms = summary.run_ms;
  ReportData data;
  data.title = "taskfarm run";
  data.generated_at = LocalTimestamp();
  data.machine = std::to_string(std::thread::hardware_concurrency()) + " cores";
  data.command = config_.command_line;
  // The terminal's own tables, cell for cell, with captions for the page.
  for (auto [table, caption] : {std::pair{summary.KindTable(), "by kind"},
                                {summary.HostTable(), "by host"},
                                {summary.WorkerTable(), "by worker"}}) {
    if (table.rows.empty()) continue;
    table.title = caption;
    data.tables.push_back(std::move(table));
  }
  RunTimeline t;
  t.title = "Tasks per worker: " + std::to_string(summary.completed()) + " tasks on " +
            std::to_string(summary.workers.size()) + " workers";
  if (spans_left_out_) t.title += " (the first " + std::to_string(spans_.size()) + " shown)";
  t.wall_ms = run_ms;
  data.histograms = BuildHistograms(spans_);
  t.spans = std::move(spans_);
  data.timelines.push_back(std::move(t));
  // The terminal's words and numbers (cancelled tasks apart).
  std::string done = Format("Completed %llu tasks (%llu failed", static_cast<unsigned long long>(summary.completed()),
                            static_cast<unsigned long long>(summary.failed));
  if (summary.cancelled) done += Format(", %llu cancelled", static_cast<unsigned long long>(summary.cancelled));
  data.conclusions.push_back(done + Format(") in %.2f seconds.", run_ms / 1000));
  WriteWhole(config_.report_path, RenderHtmlReport(data));
}

// The --json of a run: the summary's numbers ("-": standard output, where
// nothing else goes then; see Console::out).
void RecordSink::WriteRunJson(const RunSummary& summary) {
  // The command line as typed: JoinShellWords in main() reads back word for word.
  std::string json = summary.Json(SplitShellWords(config_.command_line).words);
  if (config_.json_path != "-") {
    WriteWhole(config_.json_path, json);
    return;
  }
  if (std::fwrite(json.data(), 1, json.size(), stdout) != json.size() || std::fflush(stdout) != 0) {
    WriteFailed(config_.json_path, std::string("standard output: cannot write: ") + std::strerror(errno), false);
  }
}

void RecordSink::WriteWhole(const std::string& path, const std::string& contents) {
  if (Status s = WriteWholeFile(path, contents); s.ok()) {
    console_.Note("wrote " + path);
  } else {
    WriteFailed(path, s.message(), false);
  }
}

}  // namespace taskfarm
