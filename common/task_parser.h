// The task-file language: one task a line, `url URL`, `cpu primes N`,
// `sleep MS`, `noop`; blank lines and `#` comments are not tasks.
//
//   auto parsed = ParseTaskLine("cpu primes 125000", {});
//   if (parsed.error.empty() && parsed.spec) Run(*parsed.spec);
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proto/taskfarm.pb.h"

namespace taskfarm {

struct ParseOptions {
  bool allow_fault_tasks = false;  // accept the test-only `fault kill|hang`
};

struct ParsedLine {
  // Set when the line is a task. Unset with an empty error: blank/comment.
  std::optional<pb::TaskSpec> spec;
  // Non-empty when the line is not valid: what is wrong, for a person.
  std::string error;
};

// Parses one line (without its newline). Never throws.
[[nodiscard]] ParsedLine ParseTaskLine(std::string_view line,
                                       const ParseOptions& options);

// "url", "cpu", "sleep", "noop", "fault".
[[nodiscard]] std::string_view KindName(const pb::TaskSpec& spec);

// The line that ParseTaskLine reads back into `spec` (for journals, logs).
[[nodiscard]] std::string FormatTask(const pb::TaskSpec& spec);

}  // namespace taskfarm
