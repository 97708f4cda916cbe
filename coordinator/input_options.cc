// The input options, checked together.
#include "coordinator/input_options.h"

namespace taskfarm {

std::string InputOptions(const CoordinatorConfig& config, TaskSourceOptions* src, bool* demo) {
  *demo = false;
  src->allow_test_kinds = config.allow_test_kinds;
  if (!config.tasks_path.empty() && !config.urls_path.empty()) return "--tasks and --urls do not go together";
  // What exec and sh tasks carry from the options, whichever input names them.
  pb::ExecTask exec;
  exec.set_workdir(config.workdir);
  exec.set_results_dir(config.results_dir);
  exec.set_capture_bytes(config.capture_bytes);
  for (uint32_t code : config.retry_exit_codes) exec.add_retry_exit_codes(code);
  src->exec_defaults = std::move(exec);
  if (config.exec_template.empty() != config.args_path.empty()) {
    return config.args_path.empty() ? "--exec needs --args FILE: one argument a line (- for standard input)"
                                    : "--args needs --exec 'COMMAND {}': the command each line is an argument of";
  }
  if (!config.exec_template.empty()) {
    if (!config.tasks_path.empty() || !config.urls_path.empty()) return "--exec does not go with --tasks or --urls";
    std::string error;
    src->exec_template = ExecTemplate::Parse(config.exec_template, &error);
    if (!src->exec_template) return "--exec: " + error;
    src->path = config.args_path;
    return "";
  }
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
