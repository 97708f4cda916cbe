// Validation of a worker's outcome against its task's kind.
#include "coordinator/result_check.h"

#include <cmath>

#include "common/status.h"
#include "common/task_kind.h"

namespace taskfarm {
namespace {

bool KnownCode(const std::string& code) {
  for (Code c : kFailureCodes) {
    if (code == CodeName(c)) return true;
  }
  return false;
}

}  // namespace

Status CheckOutcome(const pb::TaskSpec& spec, const pb::Outcome& outcome) {
  if (!outcome.has_result()) return InvalidArgument("no result");
  const pb::Result& r = outcome.result();
  Status why;
  auto ms = [&](const char* name, double v) {
    if (why.ok()) why = CheckReportedMs(name, v);
  };
  ms("duration_ms", r.duration_ms());
  if (r.has_cpu_user_ms()) ms("cpu_user_ms", r.cpu_user_ms());
  if (r.has_cpu_sys_ms()) ms("cpu_sys_ms", r.cpu_sys_ms());
  if (r.has_cpu_wait_ms()) ms("cpu_wait_ms", r.cpu_wait_ms());
  if (!std::isfinite(outcome.started_unix_ms()) || outcome.started_unix_ms() < 0) {
    if (why.ok()) why = InvalidArgument("started_unix_ms is not a finite non-negative number");
  }
  if (!why.ok()) return why;

  if (r.ok()) {
    if (r.has_error() || r.has_error_code()) return InvalidArgument("ok is true but an error is set");
  } else {
    if (r.has_error_code() && !KnownCode(r.error_code())) return InvalidArgument("unknown error_code");
    if (r.error().size() > kMaxResultErrorBytes) return InvalidArgument("error is longer than 8 KiB");
  }

  // Each kind's own fields only on its own tasks, and believable there.
  const TaskKind& kind = KindOf(spec);
  for (const TaskKind* other : KindsWithOwnFields()) {
    // Kinds that share their result fields (exec and sh) share the test.
    if (other->code.has_own_fields != kind.code.has_own_fields && other->code.has_own_fields(r)) {
      return InvalidArgument("fields of " + std::string(other->name) + " tasks on a " + std::string(kind.name) +
                             " task");
    }
  }
  return kind.code.check(spec, r);
}

void ClearCoordinatorFields(pb::Result* r) {
  r->clear_id();
  r->clear_kind();
  r->clear_task();
  r->clear_url();
  r->clear_worker();
  r->clear_host();
  r->clear_attempts();
  r->clear_failures();
  r->clear_start_ms();
}

}  // namespace taskfarm
