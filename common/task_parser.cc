// Task-line parsing: the kind word picks a row of the kinds table, whose
// own parser reads the rest. Strict on shape (kind, argument count,
// numbers, a URL's scheme and host); what else is wrong with a URL the
// worker reports as a failed task.
#include "common/task_parser.h"

#include "common/frame_codec.h"
#include "common/quote.h"
#include "common/utf8.h"

namespace taskfarm {

// One assignment must fit a frame with room to spare, whatever its line.
static_assert(kMaxTaskLineBytes + 1024 < kMaxFrameBytes / 2);
static_assert(kMaxTaskLineBytes + kMaxBodyFileBytes + kMaxRunHeaderBytes + 1024 < kMaxFrameBytes);

std::string TaskLineTooLong(size_t bytes) {
  return "the task line is " + WithThousands(bytes) + " bytes; the limit is 1 MiB (" +
         WithThousands(kMaxTaskLineBytes) + " bytes)";
}

ParsedLine ParseTaskLine(std::string_view line, const ParseOptions& options) {
  if (line.size() > kMaxTaskLineBytes) return {std::nullopt, TaskLineTooLong(line.size())};
  size_t i = 0;
  while (i < line.size() && IsBlank(line[i])) ++i;
  if (i == line.size() || line[i] == '#') return {};
  size_t end = i;
  while (end < line.size() && !IsBlank(line[end])) ++end;
  std::string_view name = line.substr(i, end - i);
  const TaskKind* kind = FindKind(name);
  if (!kind || (kind->test_only && !options.allow_test_kinds)) {
    return {std::nullopt, "unknown task kind " + Quote(name) + " (expected " + KindList() + ")"};
  }
  while (end < line.size() && IsBlank(line[end])) ++end;
  pb::TaskSpec spec;
  if (Status s = kind->code.parse(line.substr(end), options, &spec); !s.ok()) {
    // An error quotes the line: shown as UTF-8 too, wherever it is written.
    return {std::nullopt, IsValidUtf8(s.message()) ? s.message() : ValidUtf8(s.message())};
  }
  // A task, its record and its journal line carry the line in protobuf
  // `string` fields, which a worker refuses to decode unless they are UTF-8:
  // such a task would be sent, refused and sent again, without end.
  if (!IsValidUtf8(line)) {
    return {std::nullopt, "the line is not UTF-8 text: " + Quote(ValidUtf8(line.substr(i))) +
                              " (tasks travel as UTF-8; a name in another encoding can be matched with a glob)"};
  }
  return {std::move(spec), ""};
}

std::string_view KindName(const pb::TaskSpec& spec) { return KindOf(spec).name; }

std::string FormatTask(const pb::TaskSpec& spec) { return KindOf(spec).code.format(spec); }

}  // namespace taskfarm
