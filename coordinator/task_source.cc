// A file: two passes, check everything, then read it again. A stream: one
// pass, line by line as it arrives, through a bounded buffer.
#include "coordinator/task_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/quote.h"

namespace taskfarm {
namespace {

// Task ids are 32 bits; a run stops short of where they would wrap.
constexpr uint64_t kMaxTasks = 4'000'000'000ULL;
// What one read(2) of a stream takes: a pipe's whole buffer.
constexpr size_t kReadBytes = 64 * 1024;

// The text before a `#` that starts a word, without blanks around it.
std::string_view WithoutComment(std::string_view line) {
  size_t end = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || IsBlank(line[i - 1]))) break;
    if (!IsBlank(line[i])) end = i + 1;
  }
  size_t start = 0;
  while (start < end && IsBlank(line[start])) ++start;
  return line.substr(start, end - start);
}

// A --urls line: one URL, or a blank or comment line. Its errors speak of
// the list the user wrote, not of a `url` task line they never did.
ParsedLine ParseUrlLine(std::string_view line, const ParseOptions& options) {
  Words words = SplitWords(line);
  if (words.size == 0) return {};
  if (words.size > 1) return {std::nullopt, "not a URL (a URL has no spaces): " + Excerpt(WithoutComment(line))};
  if (Status wanted = HttpUrlWanted(words[0]); !wanted.ok()) {
    return {std::nullopt, "not " + wanted.message() + ": " + Excerpt(words[0])};
  }
  pb::TaskSpec spec;
  spec.mutable_url()->set_url(std::string(words[0]));
  ApplyUrlDefaults(options, spec.mutable_url());
  return {std::move(spec), ""};
}

// `number`: the 1-based number the line's task would get ({#}).
ParsedLine ParseOne(std::string_view line, uint64_t number, const TaskSourceOptions& options) {
  ParseOptions parse{.allow_test_kinds = options.allow_test_kinds,
                     .exec_defaults = options.exec_defaults ? &*options.exec_defaults : nullptr,
                     .url_defaults = options.url_defaults ? &*options.url_defaults : nullptr};
  if (options.exec_template) {
    // --args: each line is one argument, verbatim; an empty line is none.
    // But a line ending in CR LF (a file saved on Windows) loses its CR: no
    // real file name ends in one, and an invisible \r would fail the task
    // with a name that looks right.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return {};
    return ParseTaskLine(options.exec_template->TaskLine(line, number), parse);
  }
  if (options.urls_only) return ParseUrlLine(line, parse);
  return ParseTaskLine(line, parse);
}

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= '\n';
  return h * 1099511628211ULL;
}

std::string_view WithoutNewline(const char* line, ssize_t len) {
  std::string_view text(line, static_cast<size_t>(len));
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

}  // namespace

TaskSource::Opened TaskSource::Open(const TaskSourceOptions& options) {
  Opened out;
  std::unique_ptr<TaskSource> src(new TaskSource());
  src->options_ = options;
  bool from_stdin = options.path == "-";
  src->name_ = from_stdin ? "<stdin>" : options.path;
  const std::string& name = src->name_;
  int fd = STDIN_FILENO;
  if (!from_stdin) {
    // O_NONBLOCK: a FIFO opens at once, before its writer has; the wait for
    // it is then a poll in the coordinator's loop, which hears Ctrl-C.
    src->owned_fd_ = UniqueFd(::open(options.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!src->owned_fd_) {
      out.errors.push_back(name + ": cannot open: " + std::strerror(errno));
      return out;
    }
    fd = src->owned_fd_.get();
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    out.errors.push_back(name + ": cannot open: " + std::strerror(errno));
    return out;
  }
  if (S_ISDIR(st.st_mode)) {
    out.errors.push_back(name + ": is a directory, not a list of tasks");
    return out;
  }
  if (options.url_defaults && options.url_defaults->save_name() == "url") src->save_names_.emplace();
  if (!S_ISREG(st.st_mode)) {
    src->fd_ = fd;  // a stream: nothing is read before the run
    out.source = std::move(src);
    return out;
  }

  // A regular file: checked whole before anything runs. Standard input is
  // read from where it stands, and comes back there.
  std::FILE* in = stdin;
  off_t begin = 0;
  if (from_stdin) {
    begin = ftello(stdin);
    if (begin < 0) begin = 0;
  } else {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    in = copy >= 0 ? fdopen(copy, "r") : nullptr;
    src->owned_fd_ = UniqueFd();
    if (!in) {
      out.errors.push_back(name + ": cannot open: " + std::strerror(errno));
      if (copy >= 0) ::close(copy);
      return out;
    }
  }
  src->file_ = in;
  uint64_t h = 1469598103934665603ULL;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) >= 0) {
    ParsedLine parsed = src->Parse(WithoutNewline(line, len));
    if (!parsed.error.empty()) {
      ++out.error_lines;
      if (out.errors.size() < options.max_errors) {
        out.errors.push_back(name + ":" + std::to_string(src->line_number_) + ": " + parsed.error);
      }
      continue;
    }
    if (parsed.spec) {
      ++src->next_id_;
      h = Fnv(h, FormatTask(*parsed.spec));
    }
  }
  std::free(line);
  if (std::ferror(in)) out.errors.push_back(name + ": read error: " + std::strerror(errno));
  if (src->next_id_ > kMaxTasks) out.errors.push_back(name + ": more than 4,000,000,000 tasks");
  if (!out.errors.empty() || out.error_lines > 0) {
    if (from_stdin) src->file_ = nullptr;  // stdin stays open
    return out;
  }
  if (fseeko(in, begin, SEEK_SET) != 0) {
    out.errors.push_back(name + ": cannot read it again: " + std::strerror(errno));
    if (from_stdin) src->file_ = nullptr;
    return out;
  }
  src->total_ = static_cast<uint32_t>(src->next_id_);
  // Another shard's journal is another run's: resuming from it would skip
  // tasks this shard never ran.
  if (options.shard) h = Fnv(h, "shard " + options.shard->Name());
  src->fingerprint_ = h;
  src->next_id_ = 0;
  src->line_number_ = 0;
  src->ended_ = src->total_ == 0;
  out.source = std::move(src);
  return out;
}

TaskSource::~TaskSource() {
  if (file_ && file_ != stdin) std::fclose(file_);
  std::free(line_);
}

ParsedLine TaskSource::Parse(std::string_view text) {
  // A UTF-8 byte-order mark (what some editors put first) is not text.
  if (++line_number_ == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  // Checked on the line as written, before --exec makes a task line of it.
  if (text.size() > kMaxTaskLineBytes) return {std::nullopt, TaskLineTooLong(text.size())};
  return ParseOne(text, next_id_ + 1, options_);
}

void TaskSource::BadLine(const std::string& error) {
  ++bad_lines_;
  if (bad_lines_ <= options_.max_errors) {
    errors_.push_back(name_ + ":" + std::to_string(line_number_) + ": " + error);
  } else if (bad_lines_ == options_.max_errors + 1) {
    errors_.push_back(name_ + ": further bad lines are counted, not shown");
  }
}

std::optional<SourcedTask> TaskSource::Take(ParsedLine parsed) {
  if (!parsed.error.empty()) {
    // Only a stream has any (a file was checked). The line keeps its
    // number: no task gets its id, so once it is fixed, --resume runs it
    // under that id and the tasks after it keep theirs.
    BadLine(parsed.error);
    ++next_id_;
    return std::nullopt;
  }
  if (!parsed.spec) return std::nullopt;
  if (next_id_ >= kMaxTasks) {  // >=: a bad line also takes a number
    BadLine("more than 4,000,000,000 tasks; the rest of the input is not read");
    stopped_ = true;
    buffer_.clear();
    start_ = scanned_ = 0;
    return std::nullopt;
  }
  SourcedTask task{static_cast<uint32_t>(next_id_++), std::move(*parsed.spec)};
  // Named here, as each task is taken in input order, and not while a file
  // is checked (that pass takes none).
  if (save_names_ && task.spec.has_url()) {
    task.spec.mutable_url()->set_save_name(save_names_->Next(task.spec.url().url()));
  }
  return task;
}

std::optional<SourcedTask> TaskSource::Next() {
  for (;;) {
    std::optional<SourcedTask> task = NextOfInput();
    if (!task || !options_.shard || options_.shard->Owns(task->id)) return task;
  }
}

std::optional<SourcedTask> TaskSource::NextOfInput() {
  if (ended_) return std::nullopt;
  return streamed() ? NextFromStream() : NextFromFile();
}

std::optional<SourcedTask> TaskSource::NextFromFile() {
  ssize_t len;
  while ((len = getline(&line_, &line_cap_, file_)) >= 0) {
    if (auto task = Take(Parse(WithoutNewline(line_, len)))) return task;
  }
  ended_ = true;
  return std::nullopt;
}

std::optional<SourcedTask> TaskSource::NextFromStream() {
  for (;;) {
    size_t newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos) {
      std::string_view text(buffer_.data() + start_, newline - start_);
      size_t skipped = skipping_ + text.size();
      start_ = scanned_ = newline + 1;
      if (skipping_ > 0) {
        skipping_ = 0;
        ++line_number_;
        BadLine(TaskLineTooLong(skipped));
        ++next_id_;  // keeps its number, as any bad line (see Take)
        continue;
      }
      if (auto task = Take(Parse(text))) return task;
      continue;
    }
    scanned_ = buffer_.size();
    if (stopped_) break;  // a line not whole yet was never read
    if (skipping_ > 0 || buffer_.size() - start_ > kMaxTaskLineBytes) {
      // Too long to be a task: counted up to its newline, not kept.
      skipping_ += buffer_.size() - start_;
      buffer_.clear();
      start_ = scanned_ = 0;
    }
    if (eof_) {
      // A last line without a newline is a line all the same.
      if (skipping_ == 0 && start_ == buffer_.size()) break;
      buffer_ += '\n';
      continue;
    }
    buffer_.erase(0, start_);
    scanned_ -= start_;
    start_ = 0;
    if (!ReadMore()) return std::nullopt;
  }
  ended_ = true;
  total_ = static_cast<uint32_t>(next_id_);
  std::string().swap(buffer_);
  return std::nullopt;
}

bool TaskSource::ReadMore() {
  // Standard input keeps its flags (it may be the terminal, shared with
  // the shell): it is read only when poll says a read will not wait.
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  size_t old = buffer_.size();
  buffer_.resize(old + kReadBytes);
  ssize_t n;
  do {
    n = ::read(fd_, buffer_.data() + old, kReadBytes);
  } while (n < 0 && errno == EINTR);
  int error = errno;
  buffer_.resize(old + static_cast<size_t>(n > 0 ? n : 0));
  if (n > 0) return true;
  if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) return false;
  if (n < 0) {
    ++bad_lines_;  // what it held is lost: not everything asked was done
    errors_.push_back(name_ + ": read error: " + std::strerror(error) + "; the rest of the input is not read");
    // A line cut short by the error is not a task: a truncated command
    // must not run.
    buffer_.resize(start_);
    scanned_ = start_;
    skipping_ = 0;
  }
  eof_ = true;
  return true;
}

void TaskSource::StopReading() {
  if (streamed()) stopped_ = true;
}

std::vector<std::string> TaskSource::TakeErrors() {
  std::vector<std::string> out;
  out.swap(errors_);
  return out;
}

}  // namespace taskfarm
