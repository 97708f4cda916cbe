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
}  // namespace

extern const TaskKind kNoopKind{
    .name = "noop",
    .resource = Resource::kInline,
    .text = {"noop", "noop", "nothing: measures the farm's own overhead", "#94a3b8"},
    .code = {Parse, Print},
};

}  // namespace taskfarm
