// libFuzzer target: task files are read line by line through ParseTaskLine.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/task_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  taskfarm::ParsedLine parsed = taskfarm::ParseTaskLine(line, {.allow_test_kinds = true});
  if (parsed.spec) {
    // A parsed task formats back to a line that parses to the same task.
    taskfarm::ParsedLine again = taskfarm::ParseTaskLine(taskfarm::FormatTask(*parsed.spec), {true});
    if (!again.spec || again.spec->SerializeAsString() != parsed.spec->SerializeAsString()) __builtin_trap();
  }
  return 0;
}
