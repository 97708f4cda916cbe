// The input options, checked together.
#include "coordinator/input_options.h"

#include "common/http_syntax.h"
#include "common/quote.h"
#include "common/task_parser.h"
#include "common/utf8.h"

namespace taskfarm {
namespace {

// What url tasks carry from the options (ApplyUrlDefaults), checked as a
// line's own -X, -H and --expect are.
Status UrlDefaults(const CoordinatorConfig& config, TaskSourceOptions* src) {
  pb::UrlTask url;
  if (!config.method.empty()) {
    if (Status s = MethodProblem(config.method); !s.ok()) return InvalidArgument("--method: " + s.message());
    url.set_method(config.method);
  }
  size_t header_bytes = 0;
  for (const std::string& header : config.headers) {
    if (Status s = HeaderProblem(header); !s.ok()) return InvalidArgument("--header: " + s.message());
    header_bytes += header.size();
    url.add_headers(header);
  }
  if (header_bytes > kMaxRunHeaderBytes) {
    return InvalidArgument("--header: the headers are " + WithThousands(header_bytes) +
                           " bytes together; the limit is 1 MiB (" + WithThousands(kMaxRunHeaderBytes) + " bytes)");
  }
  for (uint32_t code : config.expect) {
    if (code < 100 || code > 599) {
      return InvalidArgument("--expect: a status code must be a whole number from 100 to 599, not " +
                             std::to_string(code));
    }
    url.add_expect(code);
  }
  if (config.save_name != "id" && config.save_name != "url") {
    return InvalidArgument("--save-name is id or url, not " + Quote(config.save_name));
  }
  if (config.save_name == "url" && config.save_dir.empty()) {
    return InvalidArgument("--save-name url names the files of --save DIR: give --save too");
  }
  // The directory travels in every task, in a protobuf string.
  if (!IsValidUtf8(config.save_dir)) return InvalidArgument("--save: the directory's name must be UTF-8 text");
  url.set_save_dir(config.save_dir);
  if (config.save_name == "url") url.set_save_name("url");
  url.set_compressed(config.compressed);
  src->url_defaults = std::move(url);
  return Status::Ok();
}

}  // namespace

Status InputOptions(const CoordinatorConfig& config, TaskSourceOptions* src, bool* demo) {
  *demo = false;
  src->allow_test_kinds = config.allow_test_kinds;
  src->shard = config.shard;
  if (!config.tasks_path.empty() && !config.urls_path.empty())
    return InvalidArgument("--tasks and --urls do not go together");
  // What exec and sh tasks carry from the options, whichever input names them.
  pb::ExecTask exec;
  exec.set_workdir(config.workdir);
  exec.set_results_dir(config.results_dir);
  exec.set_capture_bytes(config.capture_bytes);
  for (uint32_t code : config.retry_exit_codes) exec.add_retry_exit_codes(code);
  src->exec_defaults = std::move(exec);
  if (Status s = UrlDefaults(config, src); !s.ok()) return s;
  if (config.exec_template.empty() != config.args_path.empty()) {
    return InvalidArgument(config.args_path.empty()
                               ? "--exec needs --args FILE: one argument a line (- for standard input)"
                               : "--args needs --exec 'COMMAND {}': the command each line is an argument of");
  }
  if (!config.exec_template.empty()) {
    if (!config.tasks_path.empty() || !config.urls_path.empty())
      return InvalidArgument("--exec does not go with --tasks or --urls");
    StatusOr<ExecTemplate> parsed = ExecTemplate::Parse(config.exec_template);
    if (!parsed.ok()) return InvalidArgument("--exec: " + parsed.status().message());
    src->exec_template = std::move(parsed).value();
    src->path = config.args_path;
    return Status::Ok();
  }
  if (!config.tasks_path.empty()) {
    src->path = config.tasks_path;
  } else if (!config.urls_path.empty()) {
    src->path = config.urls_path;
    src->urls_only = true;
  } else if (config.shard) {
    return InvalidArgument("--shard splits an input between coordinators: give it --tasks, --urls or --args");
  } else {
    *demo = true;
  }
  return Status::Ok();
}

}  // namespace taskfarm
