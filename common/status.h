// One error type for every module edge (abseil's Status and StatusOr, cut
// down): a Code that says whether running the task again may help, and the
// sentence a person reads. A function that can fail returns Status (or
// StatusOr<T> when it also yields a value) instead of a bool and an
// out-string, a string where "" means OK, or an exception.
//
//   StatusOr<Shard> shard = ParseShard("2/4");
//   if (!shard.ok()) return Fail(shard.status().message());
//   Use(shard->index);
//
//   Status Check(...) { if (bad) return InvalidArgument("why"); return Status::Ok(); }
//
// Codes outside tasks: kInvalidArgument for what the user's input or
// command line makes impossible (a bad flag, a file that cannot be read),
// kUnavailable for the system failing an operation that may pass later (a
// write, an fsync, a bind), kInternal for a bug or a library failing
// unexpectedly. The message is the whole sentence shown to the user; the
// code is never printed into it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

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

// Lower-case name used in results ("unavailable", ...): the enumerator's
// name in snake case, in Code's order.
inline constexpr std::string_view kCodeNames[] = {
    "ok",          "invalid_argument", "unavailable",       "http_error",     "deadline_exceeded",
    "worker_died", "cancelled",        "permission_denied", "command_failed", "internal"};
static_assert(std::size(kCodeNames) == static_cast<size_t>(Code::kInternal) + 1, "every Code has a name");
constexpr std::string_view CodeName(Code code) {
  size_t i = static_cast<size_t>(code);
  return i < std::size(kCodeNames) ? kCodeNames[i] : "internal";
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

// Success, or a failure's code and message. Cheap to return when OK (no
// allocation). Ignoring one is a bug: the class is [[nodiscard]].
class [[nodiscard]] Status {
 public:
  // OK.
  Status() = default;
  // A status with `code`; an OK code drops the message (an OK status has none).
  Status(Code code, std::string message)
      : code_(code), message_(code == Code::kOk ? std::string() : std::move(message)) {}

  static Status Ok() { return Status(); }

  [[nodiscard]] bool ok() const { return code_ == Code::kOk; }
  [[nodiscard]] Code code() const { return code_; }
  // The sentence for the user; "" when OK.
  [[nodiscard]] const std::string& message() const { return message_; }
  // "ok", or "invalid_argument: MESSAGE": for logs and test failures.
  [[nodiscard]] std::string ToString() const {
    return ok() ? std::string(CodeName(code_)) : std::string(CodeName(code_)) + ": " + message_;
  }

  friend bool operator==(const Status& a, const Status& b) = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// The failures a module edge reports, one helper a code.
inline Status InvalidArgument(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }
inline Status Unavailable(std::string message) { return Status(Code::kUnavailable, std::move(message)); }
inline Status DeadlineExceeded(std::string message) { return Status(Code::kDeadlineExceeded, std::move(message)); }
inline Status Cancelled(std::string message) { return Status(Code::kCancelled, std::move(message)); }
inline Status PermissionDenied(std::string message) { return Status(Code::kPermissionDenied, std::move(message)); }
inline Status Internal(std::string message) { return Status(Code::kInternal, std::move(message)); }

// A T, or the non-OK Status saying why there is none. Built implicitly from
// either, so a function returns `value` or `InvalidArgument(...)` alike.
// value(), * and -> on a failed one abort with its message (a broken
// invariant: the caller did not check ok()).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  // From anything a T is built from: `return "text";` in a StatusOr<std::string>.
  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Status> &&
                                        !std::is_same_v<std::decay_t<U>, StatusOr>>>
  StatusOr(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT(google-explicit-constructor)
  // `status` must be a failure; an OK one without a value becomes kInternal.
  StatusOr(Status status)  // NOLINT(google-explicit-constructor)
      : status_(status.ok() ? Internal("StatusOr built from an OK status without a value") : std::move(status)) {}

  [[nodiscard]] bool ok() const { return value_.has_value(); }
  // OK when there is a value.
  [[nodiscard]] const Status& status() const& { return status_; }
  [[nodiscard]] Status status() && { return std::move(status_); }

  [[nodiscard]] T& value() & { return Checked(), *value_; }
  [[nodiscard]] const T& value() const& { return Checked(), *value_; }
  [[nodiscard]] T&& value() && { return Checked(), std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void Checked() const {
    if (value_) return;
    std::fprintf(stderr, "StatusOr: value() of a failed result: %s\n", status_.ToString().c_str());
    std::abort();
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace taskfarm
