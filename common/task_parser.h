// The task-file language: one task a line, its first word the kind (the
// table in task_kind.h: `url URL`, `cpu primes N`, `sleep MS`, `noop`);
// blank lines and `#` comments are not tasks. A `#` that starts a word
// (after a blank) begins a comment to the end of the line, so a line may
// end in one (`sleep 250  # why`); `exec` and `sh` lines follow the
// shell's rules for it, so a quoted '#' stays.
//
//   auto parsed = ParseTaskLine("cpu primes 125000", {});
//   if (parsed.error.empty() && parsed.spec) Run(*parsed.spec);
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/task_kind.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

// Longest task line accepted, newline excluded. A task travels inside a
// TaskBatch that must stay under kMaxFrameBytes (4 MiB, frame_codec.h), and
// its line is echoed in every record and journal line: 1 MiB leaves room for
// the frame's own fields and is far past any URL a server takes (most stop
// at 8 KiB), so a longer line is a mistake caught before anything runs.
inline constexpr size_t kMaxTaskLineBytes = 1024 * 1024;
// The largest body a url line's -d @FILE sends, and the most bytes the run's
// --header lines take together: each travels in the task next to its line,
// so even the largest url task (3 MiB) fits one frame.
inline constexpr size_t kMaxBodyFileBytes = 1024 * 1024;
inline constexpr size_t kMaxRunHeaderBytes = 1024 * 1024;

// "the task line is 10,000,004 bytes; the limit is 1 MiB (1,048,576 bytes)"
[[nodiscard]] std::string TaskLineTooLong(size_t bytes);

struct ParsedLine {
  // Set when the line is a task. Unset with an empty error: blank/comment.
  std::optional<pb::TaskSpec> spec;
  // Non-empty when the line is not valid: what is wrong, for a person.
  std::string error;
};

// Parses one line (without its newline). Never throws. Errors quote at most
// kQuoteMaxBytes of the offending word; a line over kMaxTaskLineBytes is an
// error without being split.
[[nodiscard]] ParsedLine ParseTaskLine(std::string_view line, const ParseOptions& options);

// The kind's name: "url", "cpu", ... (KindOf(spec).name).
[[nodiscard]] std::string_view KindName(const pb::TaskSpec& spec);

// The line that ParseTaskLine reads back into `spec` (for journals, logs).
[[nodiscard]] std::string FormatTask(const pb::TaskSpec& spec);

}  // namespace taskfarm
