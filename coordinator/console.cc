// Task lines and the progress line.
#include "coordinator/console.h"

#include <unistd.h>

#include <cstdio>

#include "common/clock.h"
#include "common/quote.h"
#include "common/status.h"
#include "common/task_kind.h"

namespace taskfarm {
namespace {

std::string Fmt(const char* format, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), format, args...);
  return buf;
}

}  // namespace

Console::Console(const CoordinatorConfig& config)
    : quiet_(config.quiet),
      progress_(config.progress && isatty(STDERR_FILENO)),
      print_output_(config.print_output),
      out_(config.output_path == "-" || config.json_path == "-" ? stderr : stdout) {}

Console::~Console() { Flush(); }

std::string Console::Describe(const pb::Result& r) {
  std::string who = Fmt("worker %s, %.0f ms", r.worker().c_str(), r.duration_ms());
  if (r.attempts() > 1) who += Fmt(", attempt %u", r.attempts());
  if (!r.ok()) {
    // "GET URL failed: ..." names its task already, as does a command's
    // ("exit 1: gzip -9 a.txt; ..."); a bare reason does not.
    bool named = r.has_exec() || (!r.url().empty() && r.error().find(r.url()) != std::string::npos) ||
                 (!r.task().empty() && r.error().find(r.task()) != std::string::npos);
    std::string task = named || r.task().empty() ? "" : Excerpt(r.task(), 200) + ": ";
    // A cancelled task did not fail: the summary counts it apart, and so
    // does a `grep FAILED`.
    const char* what = r.error_code() == CodeName(Code::kCancelled) ? "CANCELLED" : "FAILED";
    return Fmt("task %u %s: ", r.id(), what) + task + r.error() + (r.worker().empty() ? "" : " (" + who + ")");
  }
  const TaskKind* kind = FindKind(r.kind());
  return Fmt("task %u: ", r.id()) + (kind ? kind->code.describe : DescribeDone)(r, who);
}

void Console::TaskLine(const pb::Result& result) {
  // A worker that refuses a kind is said once, whatever --quiet says: every
  // such task fails there until it is restarted with the kind's flag.
  if (!result.ok() && result.error_code() == "permission_denied" && refusing_.insert(result.worker()).second) {
    const TaskKind* kind = FindKind(result.kind());
    Note("coordinator: worker " + result.worker() + " refuses " + result.kind() + " tasks (started without " +
         (kind ? std::string(kind->worker_flag) : std::string("its flag")) + "); they fail there");
  }
  if (!quiet_) {
    lines_ += Describe(result);
    lines_ += '\n';
  }
  // --print-output: the task's captured stdout, whole lines together after
  // its own line (GNU parallel's grouping), never interleaved with another's;
  // with --quiet, the outputs alone.
  if (print_output_ && result.has_exec() && !result.exec().stdout().empty()) {
    lines_ += result.exec().stdout();
    if (lines_.back() != '\n') lines_ += '\n';
  }
}

void Console::Text(const std::string& line) {
  if (quiet_) return;
  lines_ += line;
  lines_ += '\n';
}

void Console::Flush() {
  if (lines_.empty()) return;
  if (drawn_) {
    std::fputs("\r\x1b[K", stderr);
    drawn_ = false;
    last_draw_ms_ = -1e9;  // redraw right after
  }
  std::fwrite(lines_.data(), 1, lines_.size(), out_);
  std::fflush(out_);
  lines_.clear();
}

void Console::Progress(uint64_t done, uint64_t total, uint64_t failed, double elapsed_ms, bool force) {
  if (!progress_) return;
  SteadyClock clock;
  double now = clock.NowMs();
  if (!force && now - last_draw_ms_ < 100) return;  // at most 10 redraws a second
  last_draw_ms_ = now;
  double rate = elapsed_ms > 0 ? done * 1000.0 / elapsed_ms : 0;
  if (total == 0) {  // a stream still being read: no total, so no ETA
    std::fprintf(stderr, "\r\x1b[K[%llu done] %.1f tasks/s, reading input, %llu failed",
                 static_cast<unsigned long long>(done), rate, static_cast<unsigned long long>(failed));
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  std::string eta = rate > 0 && total >= done ? Fmt("%.0f s", (total - done) / rate) : std::string("?");
  std::fprintf(stderr, "\r\x1b[K[%llu/%llu] %.1f tasks/s, ETA %s, %llu failed", static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total), rate, eta.c_str(), static_cast<unsigned long long>(failed));
  std::fflush(stderr);
  drawn_ = true;
}

void Console::ClearProgress() {
  if (drawn_) std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void Console::Note(const std::string& text) {
  ClearProgress();
  std::fprintf(stderr, "%s\n", text.c_str());
}

}  // namespace taskfarm
