// `noop`: does nothing, at once. What a task costs the farm itself.
#include "common/task_kind.h"

namespace taskfarm {
namespace {

Status Parse(std::string_view args, const ParseOptions&, pb::TaskSpec* spec) {
  if (SplitWords(args).size != 0) return InvalidArgument("'noop' takes no argument");
  spec->set_noop(true);
  return Status::Ok();
}

std::string Print(const pb::TaskSpec&) { return "noop"; }
std::string Describe(const pb::Result&, const std::string& who) { return "noop done (" + who + ")"; }
}  // namespace

extern const TaskKind kNoopKind{
    .name = "noop",
    .what = pb::TaskSpec::kNoop,
    .usage = "noop",
    .example = "noop",
    .summary = "nothing: measures the farm's own overhead",
    .resource = Resource::kInline,
    .worker_flag = "",
    .test_only = false,
    .color = "#94a3b8",
    .parse = Parse,
    .format = Print,
    .describe = Describe,
};

}  // namespace taskfarm
