// A task kind as one unit: its name, how its line parses and prints, how a
// finished task reads to a person, what a worker may report for it, and the
// resource it occupies. The table of kinds (task_kinds.cc) is the only list
// of them; parser, scheduler, console, result checks and reports all ask it.
//
//   const TaskKind* kind = FindKind("cpu");
//   pb::TaskSpec spec;
//   if (Status s = kind->code.parse("primes 1000", {}, &spec); s.ok()) ...
//   KindOf(spec).resource == Resource::kCpu
//
// Adding a kind: one proto message (a TaskSpec field), one file in
// common/kinds/ defining its TaskKind, one row in task_kinds.cc (the kind
// and its TaskSpec field), and one executor on the worker side
// (worker/executor.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

// What a running task occupies on a worker, and so which of its limits
// bound it and whose durations the scheduler's estimates share.
enum class Resource {
  kIo,       // waits on the network or a timer on the worker's loop (--concurrency)
  kCpu,      // a thread of the worker's CPU pool (--threads)
  kProcess,  // a child process (--processes)
  kInline,   // finishes the moment it starts: no slot
};
// TaskSpec field numbers of kinds stay below this, so per-kind arrays
// (the scheduler's estimates) stay small: checked in task_kinds.cc.
inline constexpr int kMaxKindField = 16;

// Resources with slots: kIo, kCpu, kProcess (indexes 0..2).
inline constexpr int kSlotResources = 3;

struct ParseOptions {
  bool allow_test_kinds = false;  // accept the test-only kinds (`fault kill|hang`)
  // What an exec or sh line does not say itself (workdir, --results,
  // --capture, --retry-exit-codes): copied into every such task. nullptr:
  // the ExecTask defaults.
  const pb::ExecTask* exec_defaults = nullptr;
  // The same for url lines (ApplyUrlDefaults): method, headers (put before
  // the line's own), expect, save_dir, compressed. Its save_name ("url": name
  // files from the URL) is read by the task source, which gives each task
  // its unique name; a line's parse leaves the task's save_name "".
  const pb::UrlTask* url_defaults = nullptr;
};

// "TASK done (WHO)": the console's line for a kind with no measure of its
// own to show. The default of TaskKind's describe.
[[nodiscard]] std::string DescribeDone(const pb::Result& result, const std::string& who);

// A kind without result fields of its own: it has none (has_own_fields) and
// there are none to check (check: OK). The defaults of TaskKind.
[[nodiscard]] bool NoOwnFields(const pb::Result& result);
Status NoOwnFieldsToCheck(const pb::TaskSpec& spec, const pb::Result& result);

// A duration a worker reports (`name` in milliseconds): finite, not
// negative, at most 10^9 ms (eleven days: longer than any task a person
// would lease, short enough to keep sums finite). For the kinds' checks and
// the common fields' (coordinator/result_check).
Status CheckReportedMs(const char* name, double value);

// What a person reads of a kind: --help, the parser's sentences, the reports.
struct KindText {
  std::string_view usage;    // "url URL": the line's shape, for --help and errors
  std::string_view example;  // a line of this kind, as a user would write it
  std::string_view summary;  // what a task of this kind does, for --help (under 60 characters)
  std::string_view color;    // its color in every chart of the reports
  // The options its line takes, for --help: one a line, each "-X, --request
  // METHOD" and what it does, two or more blanks apart ("": none).
  std::string_view options = {};
};

// What the farm does with a kind's lines and results.
struct KindCode {
  // Fills `spec` from the text after the kind word (leading blanks skipped;
  // no newline). OK, or InvalidArgument with the sentence saying what is
  // wrong with the line.
  Status (*parse)(std::string_view args, const ParseOptions& options, pb::TaskSpec* spec);
  // The task line that `parse` reads back into `spec`.
  std::string (*format)(const pb::TaskSpec& spec);
  // The console's line for a finished, successful task: what it did, with
  // `who` ("worker w2, 120 ms") in parentheses and any measure of the
  // kind's own: "Read 1024 from URL (worker w2, 3 ms)".
  std::string (*describe)(const pb::Result& result, const std::string& who) = DescribeDone;
  // Whether `result` carries fields only this kind may set.
  bool (*has_own_fields)(const pb::Result& result) = NoOwnFields;
  // The kind's own fields of a worker's result checked: OK when believable,
  // else InvalidArgument saying what is not ("http_status is over 999").
  Status (*check)(const pb::TaskSpec& spec, const pb::Result& result) = NoOwnFieldsToCheck;
};

// A kind's file defines one of these, saying only what differs from the
// defaults: `.text` and `.code` on a line each, positional in their
// structs' order, so that a kind reads as one short declaration.
struct TaskKind {
  std::string_view name;  // the task line's first word and the record's `kind`
  Resource resource;
  // A worker runs this kind only when started with this flag ("": always).
  // Any other worker answers such a task with a permanent failure.
  std::string_view worker_flag = {};
  bool test_only = false;  // parsed only with ParseOptions::allow_test_kinds
  KindText text;
  KindCode code;
};

// The kind named `name`, or nullptr.
[[nodiscard]] const TaskKind* FindKind(std::string_view name);
// The kind of `spec`; a spec of no known kind gets a kind named "unknown"
// whose parse and format refuse everything.
[[nodiscard]] const TaskKind& KindOf(const pb::TaskSpec& spec);
[[nodiscard]] std::span<const TaskKind* const> AllKinds();
// The kinds that have result fields of their own, one per set of fields
// (kinds may share theirs: exec and sh).
[[nodiscard]] std::span<const TaskKind* const> KindsWithOwnFields();
// "url, cpu, sleep, noop, exec or sh": the kinds a user may write.
[[nodiscard]] std::string KindList();

// ---- helpers for the kinds' own files

// Up to four blank-separated words; `size` counts all of them (a fifth makes
// a line wrong for every simple kind anyway). A word that starts with `#`
// begins a comment, which runs to the end of the text: `sleep 250  # why`
// is one word, `http://x/page#frag` keeps its fragment. No allocation.
struct Words {
  std::string_view word[4];
  size_t size = 0;
  std::string_view operator[](size_t i) const { return word[i]; }
};
[[nodiscard]] Words SplitWords(std::string_view text);
// Any ASCII whitespace: a stray CR (a file edited on Windows) or form feed
// never ends up inside a URL or a number.
[[nodiscard]] constexpr bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
// Parses a decimal number in [min, max]; else InvalidArgument with a
// sentence that says what is wanted: "<what> must be a whole number from 0
// to 100, not '-5'".
StatusOr<uint64_t> ParseNumber(std::string_view word, uint64_t min, uint64_t max, std::string_view what);
// OK when `url` is one a worker fetches: http:// or https:// (any case)
// and a host, no blank or control byte, UTF-8. Else InvalidArgument whose
// message is what it should have been, for the caller's sentence: "an
// http:// or https:// URL", "... URL with a host",
// "... URL without spaces or control characters (a space is %20)" or
// "... URL in UTF-8 (other bytes are written %XX)". Defined with the url
// kind (its check, and the --urls list's).
Status HttpUrlWanted(std::string_view url);
// Folds the run's url defaults (options.url_defaults; nothing when unset)
// into `task`, which holds what its line said: the run's method and expect
// when the line has none, the run's headers before the line's own, and
// save_dir and compressed. Not save_name: a unique name is the task
// source's to give. For url task lines and the --urls list's.
void ApplyUrlDefaults(const ParseOptions& options, pb::UrlTask* task);
// printf into a std::string (at most 511 bytes).
[[nodiscard]] std::string Format(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace taskfarm
