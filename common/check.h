// TASKFARM_CHECK: an invariant that stays checked in Release builds, unlike
// assert. A broken invariant means the program's own state is wrong, so it
// stops at once and loudly (docs/ARCHITECTURE.md, "three kinds of failure")
// rather than run on with corrupt state. Bad input or a failed operation is
// not an invariant: return a Status for those.
//
//   auto [it, inserted] = tasks_.emplace(id, std::move(t));
//   TASKFARM_CHECK(inserted) << "task ids are unique; " << id << " came twice";
//
// On failure it writes "FILE:LINE: check failed: COND: MESSAGE" to stderr and
// calls std::abort() (a core dump, and a death a test can see). When the
// condition holds it costs one branch: the message operands are not evaluated.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace taskfarm::check_internal {

// Collects the message of one failed check; its destructor reports and aborts.
class Failure {
 public:
  Failure(const char* file, int line, const char* condition) {
    message_ << file << ':' << line << ": check failed: " << condition;
  }
  Failure(const Failure&) = delete;
  Failure& operator=(const Failure&) = delete;
  [[noreturn]] ~Failure() {
    std::string text = message_.str();
    // One write, flushed: stderr is unbuffered, and abort() flushes nothing.
    std::fprintf(stderr, "%s\n", text.c_str());
    std::abort();
  }
  // The first `<<` after the macro adds the ": " before the message.
  template <typename T>
  Failure& operator<<(const T& value) {
    if (!has_message_) message_ << ": ";
    has_message_ = true;
    message_ << value;
    return *this;
  }

 private:
  std::ostringstream message_;
  bool has_message_ = false;
};

// Lets both arms of the macro's ?: have type void (as glog's LogMessageVoidify):
// `&` binds more loosely than `<<`, so the whole message is built first.
struct Voidify {
  void operator&(const Failure&) {}
};

}  // namespace taskfarm::check_internal

// Not parenthesized as a whole (bugprone-macro-parentheses), on purpose: the
// message's `<<` must bind to the Failure inside.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define TASKFARM_CHECK(condition) \
  (condition)                     \
      ? static_cast<void>(0)      \
      : ::taskfarm::check_internal::Voidify() & ::taskfarm::check_internal::Failure(__FILE__, __LINE__, #condition)
// NOLINTEND(bugprone-macro-parentheses)
