// Where tasks come from: a task file, standard input, a FIFO, or a list of
// URLs (--urls) or of arguments (--args). What the input is decides how it
// is read:
//
// * A regular file (also `--tasks - < file`) is checked whole first: Open
//   reports its bad lines as FILE:LINE: ... and then gives no source, so
//   nothing runs; a good file is then read again, task by task, never held
//   in memory at once. Next() never waits.
// * Anything else (a pipe, a FIFO, `<(generate)`, a terminal) is a stream:
//   Open reads nothing, Next() parses lines as they arrive and never blocks.
//   A bad line is skipped and counted (bad_lines()); its message waits in
//   TakeErrors(). An over-long line is skipped without being held.
//
//   auto opened = TaskSource::Open({.path = "-"});
//   if (!opened.errors.empty()) { print them; return 2; }
//   TaskSource& src = *opened.source;
//   while (!src.ended()) {
//     while (auto task = src.Next()) Schedule(task->id, task->spec);
//     for (const std::string& e : src.TakeErrors()) Print(e);
//     if (!src.ended()) WaitUntilReadable(src.fd());  // nothing yet: poll
//   }
//
// With --save-name url, Next() gives each url task its file name, in input
// order (see SaveNames): the same input names every task the same way.
//
// Not thread-safe: one thread reads it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/exec_template.h"
#include "common/task_parser.h"
#include "common/unique_fd.h"
#include "coordinator/save_names.h"
#include "coordinator/shard.h"

namespace taskfarm {

struct TaskSourceOptions {
  std::string path;        // "-": standard input
  bool urls_only = false;  // every line is a URL (--urls)
  bool allow_test_kinds = false;
  // --exec: every line is one argument of this template (GNU parallel's
  // habit), which makes it an exec or sh task line.
  std::optional<ExecTemplate> exec_template{};
  // What exec and sh tasks get from the run's options (see ParseOptions).
  std::optional<pb::ExecTask> exec_defaults{};
  // The same for url tasks, --urls lines included. Its save_name "url":
  // each url task gets a name from its URL, unique in the run (SaveNames).
  std::optional<pb::UrlTask> url_defaults{};
  size_t max_errors = 20;  // report at most this many bad lines
  // --shard K/N: Next() gives only this shard's tasks. Ids, line numbers,
  // save names and errors stay the whole input's, so every shard names a
  // task the same way and a bad line is reported by all of them.
  std::optional<Shard> shard{};
};

struct SourcedTask {
  uint32_t id;
  pb::TaskSpec spec;
};

class TaskSource {
 public:
  struct Opened {
    std::unique_ptr<TaskSource> source;  // set when errors is empty
    std::vector<std::string> errors;     // "FILE:LINE: what is wrong"
    size_t error_lines = 0;              // all bad lines, even past max_errors
  };
  // A file is read once to check it (see above); a stream is only opened.
  // A FIFO is opened without waiting for its writer.
  [[nodiscard]] static Opened Open(const TaskSourceOptions& options);

  ~TaskSource();
  TaskSource(const TaskSource&) = delete;
  TaskSource& operator=(const TaskSource&) = delete;

  // The next task in input order. nullopt: the input has ended (ended()),
  // or, for a stream, no whole line has arrived yet: poll fd() for more.
  [[nodiscard]] std::optional<SourcedTask> Next();
  [[nodiscard]] bool ended() const { return ended_; }
  [[nodiscard]] bool streamed() const { return fd_ >= 0; }
  // The stream's descriptor, to poll for input (POLLIN, or POLLHUP at its
  // end); -1 for a file.
  [[nodiscard]] int fd() const { return fd_; }
  // A stream reads no more: Next() yields the tasks whose lines were read
  // already, then the input ends. (A file is read to its end regardless.)
  void StopReading();
  // A stream's messages since the last call, in order: "NAME:LINE: what is
  // wrong" for the first max_errors bad lines, then once "NAME: further bad
  // lines are counted, not shown"; a read error ends the input with one.
  [[nodiscard]] std::vector<std::string> TakeErrors();
  // A stream's bad lines so far, shown or not; a read error counts as one.
  // (A file with a bad line has no source.)
  [[nodiscard]] uint64_t bad_lines() const { return bad_lines_; }

  // The number of tasks: a file's from the start; a stream's is 0 (unknown)
  // until it ends, then the number it had.
  // The input's, every shard's tasks included: ids run from 0 to total - 1.
  [[nodiscard]] uint32_t total() const { return total_; }
  // The tasks Next() gives: total(), or this shard's share of it.
  [[nodiscard]] uint32_t share() const {
    return options_.shard ? static_cast<uint32_t>(options_.shard->ShareOf(total_)) : total_;
  }
  // FNV-1a of the task lines as parsed, and of the shard: tells a journal
  // which input (and share of it) it belongs to. 0 for a stream, whose
  // tasks are not known before the run.
  [[nodiscard]] uint64_t fingerprint() const { return fingerprint_; }
  [[nodiscard]] const std::optional<Shard>& shard() const { return options_.shard; }
  // The input as messages name it: its path, or "<stdin>".
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  TaskSource() = default;
  // One line (without its newline), counted: its task, nothing, or an error.
  ParsedLine Parse(std::string_view text);
  // A stream's bad line: counted, and said while under max_errors.
  void BadLine(const std::string& error);
  // Appends what the stream has without waiting; false if nothing came.
  bool ReadMore();
  std::optional<SourcedTask> NextOfInput();
  std::optional<SourcedTask> NextFromFile();
  std::optional<SourcedTask> NextFromStream();
  std::optional<SourcedTask> Take(ParsedLine parsed);

  TaskSourceOptions options_;
  std::string name_;
  uint64_t line_number_ = 0;
  uint64_t next_id_ = 0;  // the next task's id; while checking a file, its tasks so far
  uint32_t total_ = 0;
  uint64_t fingerprint_ = 0;
  bool ended_ = false;
  std::optional<SaveNames> save_names_;  // --save-name url

  // A file: read with getline.
  std::FILE* file_ = nullptr;
  char* line_ = nullptr;
  size_t line_cap_ = 0;

  // A stream.
  int fd_ = -1;
  UniqueFd owned_fd_;    // unless it is standard input
  std::string buffer_;   // bytes read and not yet taken
  size_t start_ = 0;     // where the next line starts in buffer_
  size_t scanned_ = 0;   // buffer_ before this holds no newline past start_
  size_t skipping_ = 0;  // bytes of an over-long line read so far (0: none)
  bool eof_ = false;
  bool stopped_ = false;
  uint64_t bad_lines_ = 0;
  std::vector<std::string> errors_;
};

}  // namespace taskfarm
