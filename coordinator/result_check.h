// What a worker may say about a task it ran. A worker's Outcome is its word,
// not a fact: before it becomes a record it must carry only the fields of
// its task's kind, finite non-negative numbers and bounded strings. The
// fields the coordinator owns (id, kind, task, url, worker, host, attempts,
// failures, start_ms) are not the worker's to set and are cleared.
//
//   if (Status s = CheckOutcome(spec, outcome); !s.ok()) Drop(s.message());
//   ClearCoordinatorFields(outcome.mutable_result());
#pragma once

#include <cstddef>

#include "common/status.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

// Longest `error` a worker may send; the worker cuts its own messages well
// below this, so a longer one is a lie or a bug.
inline constexpr size_t kMaxResultErrorBytes = 8192;

// OK if `outcome` is a believable answer for a task of `spec`'s kind,
// otherwise InvalidArgument saying what is wrong with it ("duration_ms is
// not a finite number"). Never throws.
Status CheckOutcome(const pb::TaskSpec& spec, const pb::Outcome& outcome);

// Removes what only the coordinator may fill in.
void ClearCoordinatorFields(pb::Result* result);

}  // namespace taskfarm
