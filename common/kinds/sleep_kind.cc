// `sleep MS`: a timer on the worker's loop; stands in for a task that waits
// on I/O without using the CPU.
#include "common/task_kind.h"

namespace taskfarm {
namespace {

Status Parse(std::string_view args, const ParseOptions&, pb::TaskSpec* spec) {
  Words words = SplitWords(args);
  if (words.size != 1) return InvalidArgument("'sleep' takes milliseconds: sleep MS");
  StatusOr<uint64_t> ms = ParseNumber(words[0], 0, 86'400'000, "'sleep MS': milliseconds");
  if (!ms.ok()) return std::move(ms).status();
  spec->mutable_sleep()->set_ms(static_cast<uint32_t>(*ms));
  return Status::Ok();
}

std::string Print(const pb::TaskSpec& spec) { return "sleep " + std::to_string(spec.sleep().ms()); }

std::string Describe(const pb::Result& r, const std::string& who) {
  return "Slept " + r.task().substr(r.task().find(' ') + 1) + " ms (" + who + ")";
}

}  // namespace

extern const TaskKind kSleepKind{
    .name = "sleep",
    .resource = Resource::kIo,
    .text = {"sleep MS", "sleep 250", "wait MS milliseconds (stands in for waiting on something)", "#10b981"},
    .code = {Parse, Print, Describe},
};

}  // namespace taskfarm
