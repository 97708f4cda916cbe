// One error vocabulary for operational failures (abseil's status codes, cut
// down): the code says whether running the task again may help.
#pragma once

#include <string>
#include <string_view>

namespace taskfarm {

enum class Code {
  kOk,
  kInvalidArgument,   // bad input: retrying cannot help (bad URL, a body over --max-body)
  kUnavailable,       // transient: refused, reset, stalled; retry
  kHttpError,         // the server answered an HTTP error status: 5xx and 429 retried, other 4xx not
  kDeadlineExceeded,  // the task ran past its timeout; retry
  kWorkerDied,        // the worker running it died or was lost; retry
  kCancelled,         // the run was interrupted before the task finished
  kPermissionDenied,  // the worker refuses the task's kind (not started with its flag)
  kCommandFailed,     // the user's command ran and exited non-zero (retried only for --retry-exit-codes)
  kInternal,          // a bug or an unexpected library failure
};

// Lower-case name used in results ("unavailable", ...).
constexpr std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kHttpError:
      return "http_error";
    case Code::kDeadlineExceeded:
      return "deadline_exceeded";
    case Code::kWorkerDied:
      return "worker_died";
    case Code::kCancelled:
      return "cancelled";
    case Code::kPermissionDenied:
      return "permission_denied";
    case Code::kCommandFailed:
      return "command_failed";
    case Code::kInternal:
      return "internal";
  }
  return "internal";
}

// Every code a failed task may carry.
inline constexpr Code kFailureCodes[] = {Code::kInvalidArgument,  Code::kUnavailable,   Code::kHttpError,
                                         Code::kDeadlineExceeded, Code::kWorkerDied,    Code::kCancelled,
                                         Code::kPermissionDenied, Code::kCommandFailed, Code::kInternal};

// Whether a failure with this code may succeed on another attempt. An
// HTTP error depends on its status: see IsRetryableHttpStatus.
constexpr bool IsRetryable(Code code) {
  return code == Code::kUnavailable || code == Code::kDeadlineExceeded || code == Code::kWorkerDied;
}

// Whether an HTTP error status may pass on another attempt: a server error
// (5xx) or "too many requests" (429); any other 4xx will not.
constexpr bool IsRetryableHttpStatus(long status) { return status >= 500 || status == 429; }

}  // namespace taskfarm
