// The input options, checked together.
#include "coordinator/input_options.h"

namespace taskfarm {

std::string InputOptions(const CoordinatorConfig& config, TaskSourceOptions* src, bool* demo) {
  *demo = false;
  src->allow_test_kinds = config.allow_test_kinds;
  if (!config.tasks_path.empty() && !config.urls_path.empty()) return "--tasks and --urls do not go together";
  if (!config.tasks_path.empty()) {
    src->path = config.tasks_path;
  } else if (!config.urls_path.empty()) {
    src->path = config.urls_path;
    src->urls_only = true;
  } else {
    *demo = true;
  }
  return "";
}

}  // namespace taskfarm
