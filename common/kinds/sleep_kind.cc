// `sleep MS`: a timer on the worker's loop; stands in for a task that waits
// on I/O without using the CPU.
#include "common/task_kind.h"

namespace taskfarm {
namespace {

std::string Parse(std::string_view args, const ParseOptions&, pb::TaskSpec* spec) {
  Words words = SplitWords(args);
  if (words.size != 1) return "'sleep' takes milliseconds: sleep MS";
  uint64_t ms = 0;
  std::string err = ParseNumber(words[0], 0, 86'400'000, "'sleep MS': milliseconds", &ms);
  if (!err.empty()) return err;
  spec->mutable_sleep()->set_ms(static_cast<uint32_t>(ms));
  return "";
}

std::string Print(const pb::TaskSpec& spec) { return "sleep " + std::to_string(spec.sleep().ms()); }

std::string Describe(const pb::Result& r, const std::string& who) {
  return "Slept " + r.task().substr(r.task().find(' ') + 1) + " ms (" + who + ")";
}

}  // namespace

extern const TaskKind kSleepKind{
    .name = "sleep",
    .what = pb::TaskSpec::kSleep,
    .usage = "sleep MS",
    .example = "sleep 250",
    .summary = "wait MS milliseconds (stands in for waiting on something)",
    .resource = Resource::kIo,
    .worker_flag = "",
    .test_only = false,
    .color = "#10b981",
    .parse = Parse,
    .format = Print,
    .describe = Describe,
};

}  // namespace taskfarm
