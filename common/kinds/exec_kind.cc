// `exec PROGRAM ARG...` and `sh 'CMDLINE'`: the user's own commands. Both
// are ExecTask; exec splits its words by POSIX shell quoting (no shell runs,
// nothing is expanded), sh hands one quoted command line to /bin/sh -c for
// pipes and redirections. Workers run them only with --allow-exec.
#include "common/quote.h"
#include "common/shell_words.h"
#include "common/task_kind.h"

namespace taskfarm {
namespace {

// The most of each stream a record carries: two tails at this size, grown
// threefold by U+FFFD replacement in the worst case, stay well inside one
// frame (kMaxFrameBytes, 4 MiB).
constexpr uint32_t kMaxCaptureBytes = 256 * 1024;

void ApplyDefaults(const ParseOptions& options, pb::ExecTask* task) {
  if (!options.exec_defaults) {
    task->set_capture_bytes(4096);
    return;
  }
  pb::ExecTask argv;
  argv.mutable_argv()->Swap(task->mutable_argv());
  *task = *options.exec_defaults;
  task->mutable_argv()->Swap(argv.mutable_argv());
  if (task->capture_bytes() > kMaxCaptureBytes) task->set_capture_bytes(kMaxCaptureBytes);
}

Status NoNul(const pb::ExecTask& task) {
  for (const std::string& word : task.argv()) {
    if (word.find('\0') != std::string::npos) return InvalidArgument("a command cannot hold a NUL byte");
  }
  return Status::Ok();
}

Status ParseExec(std::string_view args, const ParseOptions& options, pb::TaskSpec* spec) {
  ShellSplit split = SplitShellWords(args);
  if (!split.error.empty()) return InvalidArgument("'exec': " + split.error + " in the command");
  if (split.words.empty()) return InvalidArgument("'exec' takes a program and its arguments: exec PROGRAM ARG...");
  pb::ExecTask* task = spec->mutable_exec();
  for (std::string& word : split.words) task->add_argv(std::move(word));
  ApplyDefaults(options, task);
  return NoNul(*task);
}

Status ParseSh(std::string_view args, const ParseOptions& options, pb::TaskSpec* spec) {
  ShellSplit split = SplitShellWords(args);
  if (!split.error.empty()) return InvalidArgument("'sh': " + split.error + " in the command");
  if (split.words.size() != 1 || split.words[0].empty()) {
    return InvalidArgument("'sh' takes one quoted command line: sh 'gzip < a.txt > a.txt.gz'");
  }
  pb::ExecTask* task = spec->mutable_sh();
  task->add_argv("/bin/sh");
  task->add_argv("-c");
  task->add_argv(std::move(split.words[0]));
  ApplyDefaults(options, task);
  return NoNul(*task);
}

std::string PrintExec(const pb::TaskSpec& spec) {
  return "exec " + JoinShellWords({spec.exec().argv().begin(), spec.exec().argv().end()});
}

std::string PrintSh(const pb::TaskSpec& spec) {
  const auto& argv = spec.sh().argv();
  return "sh " + ShellQuote(argv.size() == 3 ? argv[2] : "");
}

std::string Megabytes(uint64_t kb) {
  return kb < 1000 ? std::to_string(kb * 1024 / 1000) + " kB" : Format("%.1f MB", kb * 1024.0 / 1e6);
}

// "exit 0: gzip -9 a.txt (worker w2, 120 ms, cpu 110 ms, rss 3.2 MB)"
std::string Describe(const pb::Result& r, const std::string& who) {
  std::string command = r.task().rfind("exec ", 0) == 0 ? r.task().substr(5) : r.task();
  std::string rss = r.exec().max_rss_kb() > 0 ? ", rss " + Megabytes(r.exec().max_rss_kb()) : "";
  return "exit " + std::to_string(r.exec().exit_code()) + ": " + Excerpt(command, 200) + " (" + who +
         Format(", cpu %.0f ms", r.cpu_user_ms() + r.cpu_sys_ms()) + rss + ")";
}

bool HasOwnFields(const pb::Result& r) { return r.has_exec(); }

Status Check(const pb::TaskSpec& spec, const pb::Result& r) {
  const pb::ExecTask& task = spec.has_exec() ? spec.exec() : spec.sh();
  if (!r.has_exec()) return r.ok() ? InvalidArgument("an exec task reported ok without its exit") : Status::Ok();
  const pb::ExecResult& e = r.exec();
  if (r.ok() && (!e.has_exit_code() || e.exit_code() != 0)) {
    return InvalidArgument("an exec task reported ok without exit 0");
  }
  if (e.has_exit_code() && !e.signal().empty()) {
    return InvalidArgument("an exec task reported both an exit code and a signal");
  }
  if (e.signal().size() > 16) return InvalidArgument("exec signal name is longer than 16 bytes");
  // A tail is at most capture_bytes, each byte at most three after U+FFFD.
  size_t most = 3 * static_cast<size_t>(std::min(task.capture_bytes(), kMaxCaptureBytes)) + 3;
  if (e.stdout().size() > most || e.stderr().size() > most) {
    return InvalidArgument("exec output tail is longer than --capture");
  }
  if (e.stdout().size() > 3ULL * e.stdout_bytes() || e.stderr().size() > 3ULL * e.stderr_bytes()) {
    return InvalidArgument("exec output tail is longer than the output");
  }
  return Status::Ok();
}

// exec and sh differ in how a line reads and prints; what runs, where, with
// which worker flag, and what a result may say are the same.
constexpr TaskKind ProcessKind(std::string_view name, KindText text, decltype(KindCode::parse) parse,
                               decltype(KindCode::format) format) {
  return {.name = name,
          .resource = Resource::kProcess,
          .worker_flag = "--allow-exec",
          .text = text,
          .code = {parse, format, Describe, HasOwnFields, Check}};
}

}  // namespace

extern const TaskKind kExecKind = ProcessKind("exec",
                                              {"exec PROGRAM ARG...", "exec gzip -9 'my file.txt'",
                                               "run PROGRAM with its ARGs, no shell (quoted as in sh)", "#d946ef"},
                                              ParseExec, PrintExec);
extern const TaskKind kShKind = ProcessKind("sh",
                                            {"sh 'CMDLINE'", "sh 'gzip -9 < a.txt > a.txt.gz'",
                                             "run CMDLINE with /bin/sh -c (pipes, redirections, globs)", "#0ea5e9"},
                                            ParseSh, PrintSh);

}  // namespace taskfarm
