// Where tasks come from: a task file, standard input, or a URL list. The
// whole input is checked before anything runs (bad lines are reported as
// FILE:LINE: ...), then streamed: never held in memory at once.
//
//   auto opened = TaskSource::Open({.path = "tasks.txt"});
//   if (!opened.errors.empty()) { print them; return 2; }
//   while (auto task = opened.source->Next()) Schedule(task->id, task->spec);
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/exec_template.h"
#include "common/task_parser.h"

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
  size_t max_errors = 20;  // report at most this many bad lines
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
  // Reads the input once to check it; standard input is copied to an
  // unlinked temporary file on the way, so it can be read a second time.
  [[nodiscard]] static Opened Open(const TaskSourceOptions& options);

  ~TaskSource();
  TaskSource(const TaskSource&) = delete;
  TaskSource& operator=(const TaskSource&) = delete;

  // The next task in input order, or nullopt at the end.
  [[nodiscard]] std::optional<SourcedTask> Next();
  [[nodiscard]] uint32_t total() const { return total_; }
  // FNV-1a of the task lines as parsed: tells a journal which input it
  // belongs to.
  [[nodiscard]] uint64_t fingerprint() const { return fingerprint_; }

 private:
  TaskSource() = default;
  std::FILE* file_ = nullptr;
  TaskSourceOptions options_;
  uint32_t total_ = 0;
  uint32_t next_id_ = 0;
  uint64_t fingerprint_ = 0;
  char* line_ = nullptr;
  size_t line_cap_ = 0;
};

}  // namespace taskfarm
