// Task-line parsing: strict on shape (kind, argument count, numbers), lenient
// on URLs, whose problems the worker reports as a failed task.
#include "common/task_parser.h"

#include <charconv>
#include <vector>

#include "common/frame_codec.h"
#include "common/quote.h"

namespace taskfarm {
namespace {

// Up to four words; `size` counts all of them (a fifth makes the line
// wrong for every kind anyway). No allocation: this runs once per task.
struct Words {
  std::string_view word[4];
  size_t size = 0;
  std::string_view operator[](size_t i) const { return word[i]; }
  bool empty() const { return size == 0; }
};

// Any ASCII whitespace separates words: a stray CR (a file edited on
// Windows) or form feed never ends up inside a URL or a number.
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

Words SplitWords(std::string_view line) {
  Words words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) {
      if (words.size < 4) words.word[words.size] = line.substr(start, i - start);
      ++words.size;
    }
  }
  return words;
}

// Parses a decimal number in [min, max]; returns an error sentence or "".
std::string ParseNumber(std::string_view word, uint64_t min, uint64_t max,
                        std::string_view what, uint64_t* out) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return std::string(what) + " " + Quote(word) + " is too large (at most " + std::to_string(max) + ")";
  }
  if (ec != std::errc() || ptr != word.data() + word.size()) {
    return std::string(what) + " " + Quote(word) + " is not a number";
  }
  if (value < min || value > max) {
    return std::string(what) + " " + std::to_string(value) + " is out of range (" +
           std::to_string(min) + " to " + std::to_string(max) + ")";
  }
  *out = value;
  return "";
}

ParsedLine Error(std::string message) { return ParsedLine{std::nullopt, std::move(message)}; }

}  // namespace

// One assignment must fit a frame with room to spare, whatever its line.
static_assert(kMaxTaskLineBytes + 1024 < kMaxFrameBytes / 2);

std::string TaskLineTooLong(size_t bytes) {
  return "the task line is " + WithThousands(bytes) + " bytes; the limit is 1 MiB (" +
         WithThousands(kMaxTaskLineBytes) + " bytes)";
}

ParsedLine ParseTaskLine(std::string_view line, const ParseOptions& options) {
  if (line.size() > kMaxTaskLineBytes) return Error(TaskLineTooLong(line.size()));
  Words words = SplitWords(line);
  if (words.empty() || words[0].front() == '#') return {};
  std::string_view kind = words[0];
  pb::TaskSpec spec;
  if (kind == "url") {
    if (words.size != 2) return Error("'url' takes one URL: url http://host/path");
    spec.mutable_url()->set_url(std::string(words[1]));
  } else if (kind == "cpu") {
    if (words.size != 3) return Error("'cpu' takes a kernel and a number: cpu primes N");
    if (words[1] != "primes") {
      return Error("unknown cpu kernel " + Quote(words[1]) + " (known: primes)");
    }
    uint64_t n = 0;
    // Primes below 2^32 keep the answer in 32 bits and any run finite.
    std::string err = ParseNumber(words[2], 0, 4'000'000'000ULL, "cpu primes limit", &n);
    if (!err.empty()) return Error(err);
    spec.mutable_cpu()->set_kernel("primes");
    spec.mutable_cpu()->set_n(n);
  } else if (kind == "sleep") {
    if (words.size != 2) return Error("'sleep' takes milliseconds: sleep MS");
    uint64_t ms = 0;
    std::string err = ParseNumber(words[1], 0, 86'400'000, "sleep duration", &ms);
    if (!err.empty()) return Error(err);
    spec.mutable_sleep()->set_ms(static_cast<uint32_t>(ms));
  } else if (kind == "noop") {
    if (words.size != 1) return Error("'noop' takes no argument");
    spec.set_noop(true);
  } else if (kind == "fault" && options.allow_fault_tasks) {
    if (words.size != 2 || (words[1] != "kill" && words[1] != "hang")) {
      return Error("'fault' takes kill or hang");
    }
    spec.mutable_fault()->set_action(std::string(words[1]));
  } else {
    return Error("unknown task kind " + Quote(kind) + " (expected url, cpu, sleep or noop)");
  }
  return ParsedLine{std::move(spec), ""};
}

std::string_view KindName(const pb::TaskSpec& spec) {
  switch (spec.what_case()) {
    case pb::TaskSpec::kUrl: return "url";
    case pb::TaskSpec::kCpu: return "cpu";
    case pb::TaskSpec::kSleep: return "sleep";
    case pb::TaskSpec::kNoop: return "noop";
    case pb::TaskSpec::kFault: return "fault";
    case pb::TaskSpec::WHAT_NOT_SET: break;
  }
  return "unknown";
}

std::string FormatTask(const pb::TaskSpec& spec) {
  switch (spec.what_case()) {
    case pb::TaskSpec::kUrl: return "url " + spec.url().url();
    case pb::TaskSpec::kCpu: return "cpu " + spec.cpu().kernel() + " " + std::to_string(spec.cpu().n());
    case pb::TaskSpec::kSleep: return "sleep " + std::to_string(spec.sleep().ms());
    case pb::TaskSpec::kNoop: return "noop";
    case pb::TaskSpec::kFault: return "fault " + spec.fault().action();
    case pb::TaskSpec::WHAT_NOT_SET: break;
  }
  return "";
}

}  // namespace taskfarm
