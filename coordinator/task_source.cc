// Two passes over the input: check everything, then stream.
#include "coordinator/task_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace taskfarm {
namespace {

// `number`: the 1-based number the line's task would get ({#}).
ParsedLine ParseOne(std::string_view line, uint64_t number, const TaskSourceOptions& options) {
  ParseOptions parse{.allow_test_kinds = options.allow_test_kinds,
                     .exec_defaults = options.exec_defaults ? &*options.exec_defaults : nullptr};
  if (options.exec_template) {
    // --args: each line is one argument, verbatim; an empty line is none.
    if (line.empty()) return {};
    return ParseTaskLine(options.exec_template->TaskLine(line, number), parse);
  }
  if (!options.urls_only) return ParseTaskLine(line, parse);
  // --urls: the same language, with the `url` prefix implied.
  size_t start = line.find_first_not_of(" \t\r");
  if (start == std::string_view::npos || line[start] == '#') return {};
  return ParseTaskLine("url " + std::string(line.substr(start)), {});
}

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= '\n';
  return h * 1099511628211ULL;
}

}  // namespace

TaskSource::Opened TaskSource::Open(const TaskSourceOptions& options) {
  Opened out;
  std::unique_ptr<TaskSource> src(new TaskSource());
  src->options_ = options;
  bool from_stdin = options.path == "-";
  std::string label = from_stdin ? "<stdin>" : options.path;
  std::FILE* in = from_stdin ? stdin : std::fopen(options.path.c_str(), "re");
  if (!in) {
    out.errors.push_back(label + ": cannot open: " + std::strerror(errno));
    return out;
  }
  // A pipe or a FIFO (`--tasks <(generate)`) cannot be read twice: it is
  // copied to a temporary file on the first pass, like standard input.
  struct stat st {};
  bool regular = fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode);
  std::FILE* spool = nullptr;
  if (from_stdin || !regular) {
    spool = std::tmpfile();
    if (!spool) {
      out.errors.push_back("cannot create a temporary file to hold standard input: " +
                           std::string(std::strerror(errno)));
      return out;
    }
  }
  uint64_t h = 1469598103934665603ULL;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t len;
  uint64_t lineno = 0, tasks = 0;
  while ((len = getline(&line, &cap, in)) >= 0) {
    ++lineno;
    if (spool) std::fwrite(line, 1, static_cast<size_t>(len), spool);
    std::string_view text(line, static_cast<size_t>(len));
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    // Checked here, on the line as written, before --urls copies it to add
    // its `url ` prefix.
    ParsedLine parsed = text.size() > kMaxTaskLineBytes ? ParsedLine{std::nullopt, TaskLineTooLong(text.size())}
                                                        : ParseOne(text, tasks + 1, options);
    if (!parsed.error.empty()) {
      ++out.error_lines;
      if (out.errors.size() < options.max_errors) {
        out.errors.push_back(label + ":" + std::to_string(lineno) + ": " + parsed.error);
      }
      continue;
    }
    if (parsed.spec) {
      ++tasks;
      h = Fnv(h, FormatTask(*parsed.spec));
    }
  }
  std::free(line);
  if (std::ferror(in)) out.errors.push_back(label + ": read error: " + std::strerror(errno));
  if (tasks > 4'000'000'000ULL) out.errors.push_back(label + ": more than 4,000,000,000 tasks");
  if (!out.errors.empty() || out.error_lines > 0) {
    if (!from_stdin) std::fclose(in);
    if (spool) std::fclose(spool);
    return out;
  }
  if (spool) {
    if (!from_stdin) std::fclose(in);
    std::rewind(spool);
    src->file_ = spool;
  } else {
    std::rewind(in);
    src->file_ = in;
  }
  src->total_ = static_cast<uint32_t>(tasks);
  src->fingerprint_ = h;
  out.source = std::move(src);
  return out;
}

TaskSource::~TaskSource() {
  if (file_) std::fclose(file_);
  std::free(line_);
}

std::optional<SourcedTask> TaskSource::Next() {
  ssize_t len;
  while ((len = getline(&line_, &line_cap_, file_)) >= 0) {
    std::string_view text(line_, static_cast<size_t>(len));
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    ParsedLine parsed = ParseOne(text, next_id_ + 1ULL, options_);
    if (parsed.spec) return SourcedTask{next_id_++, std::move(*parsed.spec)};
  }
  return std::nullopt;
}

}  // namespace taskfarm
