// `fault kill|hang`: test-only hooks that make the worker running them die
// (SIGKILL) or stop answering, for the reliability tests.
#include "common/task_kind.h"

namespace taskfarm {
namespace {

Status Parse(std::string_view args, const ParseOptions&, pb::TaskSpec* spec) {
  Words words = SplitWords(args);
  if (words.size != 1 || (words[0] != "kill" && words[0] != "hang")) {
    return InvalidArgument("'fault' takes kill or hang");
  }
  spec->mutable_fault()->set_action(std::string(words[0]));
  return Status::Ok();
}

std::string Print(const pb::TaskSpec& spec) { return "fault " + spec.fault().action(); }
}  // namespace

extern const TaskKind kFaultKind{
    .name = "fault",
    .resource = Resource::kInline,
    .worker_flag = "--enable-fault-tasks",
    .test_only = true,
    .text = {"fault kill|hang", "fault kill", "test only: kill or hang the worker that runs it", "#a855f7"},
    .code = {Parse, Print},
};

}  // namespace taskfarm
