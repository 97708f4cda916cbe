// Which input a run's options name (--tasks, --urls, ...) and how its lines
// become tasks: the TaskSource options for a CoordinatorConfig.
//
//   TaskSourceOptions src;
//   bool demo = false;
//   if (Status s = InputOptions(config, &src, &demo); !s.ok()) fail(s.message());
//   if (demo) ...start the built-in demo and point src.path at its task list
#pragma once

#include <string>

#include "common/status.h"
#include "coordinator/coordinator.h"
#include "coordinator/task_source.h"

namespace taskfarm {

// OK, or InvalidArgument with a sentence saying which options do not go
// together. `*demo` is true when no input is named (the built-in demo runs).
Status InputOptions(const CoordinatorConfig& config, TaskSourceOptions* src, bool* demo);

}  // namespace taskfarm
