// The table of task kinds, and the helpers their files share.
#include <array>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

#include "common/quote.h"
#include "common/task_kind.h"

namespace taskfarm {

std::string DescribeDone(const pb::Result& r, const std::string& who) { return r.task() + " done (" + who + ")"; }
bool NoOwnFields(const pb::Result&) { return false; }
Status NoOwnFieldsToCheck(const pb::TaskSpec&, const pb::Result&) { return Status::Ok(); }

Status CheckReportedMs(const char* name, double value) {
  if (!std::isfinite(value)) return InvalidArgument(std::string(name) + " is not a finite number");
  if (value < 0) return InvalidArgument(std::string(name) + " is negative");
  if (value > 1e9) return InvalidArgument(std::string(name) + " is over 10^9 ms");
  return Status::Ok();
}

// Defined in common/kinds/, one file each.
extern const TaskKind kUrlKind, kCpuKind, kSleepKind, kNoopKind, kExecKind, kShKind, kFaultKind;

namespace {

// The table: one row per kind, in the order --help and errors list them,
// with the TaskSpec field that holds a task of that kind.
struct Row {
  pb::TaskSpec::WhatCase what;
  const TaskKind* kind;
};
constexpr Row kRows[] = {{pb::TaskSpec::kUrl, &kUrlKind},     {pb::TaskSpec::kCpu, &kCpuKind},
                         {pb::TaskSpec::kSleep, &kSleepKind}, {pb::TaskSpec::kNoop, &kNoopKind},
                         {pb::TaskSpec::kExec, &kExecKind},   {pb::TaskSpec::kSh, &kShKind},
                         {pb::TaskSpec::kFault, &kFaultKind}};

constexpr std::array<const TaskKind*, std::size(kRows)> KindsInOrder() {
  std::array<const TaskKind*, std::size(kRows)> kinds{};
  for (size_t i = 0; i < kinds.size(); ++i) kinds[i] = kRows[i].kind;
  return kinds;
}
constexpr std::array<const TaskKind*, std::size(kRows)> kKinds = KindsInOrder();

Status Refuse(std::string_view, const ParseOptions&, pb::TaskSpec*) { return InvalidArgument("unknown task kind"); }
std::string Empty(const pb::TaskSpec&) { return ""; }
std::string Nothing(const pb::Result&, const std::string&) { return ""; }

constexpr TaskKind kUnknownKind{.name = "unknown",
                                .resource = Resource::kInline,
                                .test_only = true,
                                .text = {"", "", "", "#94a3b8"},
                                .code = {Refuse, Empty, Nothing}};

// KindOf runs for every task the scheduler touches: a lookup by field number.
constexpr size_t kMaxField = 64;
constexpr bool FieldsBelowMax() {
  for (const Row& row : kRows) {
    if (row.what >= kMaxKindField) return false;
  }
  return true;
}
static_assert(FieldsBelowMax(), "a kind's TaskSpec field is past kMaxKindField: raise it");

std::array<const TaskKind*, kMaxField> ByField() {
  std::array<const TaskKind*, kMaxField> by{};
  for (const TaskKind*& k : by) k = &kUnknownKind;
  for (const Row& row : kRows) by[static_cast<size_t>(row.what)] = row.kind;
  return by;
}

}  // namespace

const TaskKind* FindKind(std::string_view name) {
  for (const TaskKind* k : kKinds) {
    if (k->name == name) return k;
  }
  return nullptr;
}

namespace {

// Built at start-up from rows that are constants (constant-initialized,
// whatever the order of files), so KindOf pays no guard per call.
const std::array<const TaskKind*, kMaxField> kByField = ByField();

// The kinds with result fields of their own, each set of fields once (exec
// and sh share theirs): what CheckOutcome walks for every result.
std::vector<const TaskKind*> WithOwnFields() {
  std::vector<const TaskKind*> out;
  for (const TaskKind* k : kKinds) {
    bool seen = false;
    for (const TaskKind* o : out) seen |= o->code.has_own_fields == k->code.has_own_fields;
    if (!seen && k->code.has_own_fields != NoOwnFields) out.push_back(k);
  }
  return out;
}
const std::vector<const TaskKind*> kWithOwnFields = WithOwnFields();

}  // namespace

const TaskKind& KindOf(const pb::TaskSpec& spec) {
  size_t field = static_cast<size_t>(spec.what_case());
  return field < kMaxField ? *kByField[field] : kUnknownKind;
}

std::span<const TaskKind* const> KindsWithOwnFields() { return kWithOwnFields; }

std::span<const TaskKind* const> AllKinds() { return kKinds; }

std::string KindList() {
  std::string out;
  size_t n = 0, shown = 0;
  for (const TaskKind* k : kKinds) n += !k->test_only;
  for (const TaskKind* k : kKinds) {
    if (k->test_only) continue;
    if (shown > 0)
      out += ++shown == n ? " or " : ", ";
    else
      ++shown;
    out += k->name;
  }
  return out;
}

Words SplitWords(std::string_view line) {
  Words words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    if (i < line.size() && line[i] == '#') break;  // a comment, to the end
    size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) {
      if (words.size < 4) words.word[words.size] = line.substr(start, i - start);
      ++words.size;
    }
  }
  return words;
}

StatusOr<uint64_t> ParseNumber(std::string_view word, uint64_t min, uint64_t max, std::string_view what) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  // One sentence for every way to miss (not digits, a sign, too large, out
  // of range): what is wanted, then what was written.
  if (ec != std::errc() || ptr != word.data() + word.size() || value < min || value > max) {
    return InvalidArgument(std::string(what) + " must be a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max) + ", not " + Quote(word));
  }
  return value;
}

std::string Format(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  return buf;
}

}  // namespace taskfarm
