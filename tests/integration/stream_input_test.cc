// Input that is a stream (a pipe, a FIFO) is read line by line as it
// arrives (issue 13): a task starts when its line comes, a bad line is said
// and skipped while the run goes on, a million lines pass in bounded
// memory; a file, even on standard input, is still checked whole first.
// Real coordinator, real workers, real generator processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/shell_words.h"
#include "common/unique_fd.h"
#include "tests/support/farm_test_util.h"

extern char** environ;

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

size_t LinesIn(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

// Waits (bounded) until `path` holds at least `lines` lines.
bool AwaitLines(const std::string& path, size_t lines, seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (LinesIn(path) < lines) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// `generator | coordinator ARGS...` through /bin/sh, the coordinator
// exec'd so the shell's exit status is its own.
std::vector<std::string> Piped(const std::string& generator, const std::vector<std::string>& args) {
  std::string command = "(" + generator + ") | exec " + ShellQuote(BinaryPath("coordinator"));
  for (const std::string& a : args) command += " " + ShellQuote(a);
  return {"/bin/sh", "-c", command};
}

TEST(StreamInputTest, ASlowPipesFirstRecordIsWrittenBeforeItsNextLineComes) {
  ScratchDir dir;
  std::string out = dir.File("R.jsonl");
  auto start = Clock::now();
  Subprocess p(Piped("for i in 1 2 3 4 5; do echo noop; sleep 1; done", {"--tasks", "-", "--output", out, "-q"}));
  ASSERT_TRUE(AwaitLines(out, 1, seconds(10)));
  double first_s = SecondsSince(start);
  RecordProperty("first_record_s", std::to_string(first_s));
  std::printf("first record of a slow pipe after %.3f s\n", first_s);
  EXPECT_LT(first_s, 1.5) << "the first record waited for more input";
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (auto& [id, rec] : ById(ReadJsonLines(out), 5)) EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
  EXPECT_GE(SecondsSince(start), 4.0) << "the run lasted as long as its input";
}

TEST(StreamInputTest, AMillionLinesFromAGeneratorRunInBoundedMemory) {
  ScratchDir dir;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  std::string summary = dir.File("summary.txt"), errors = dir.File("errors.txt");
  auto spawn = [](std::vector<std::string> argv, int in, int out, const std::string& out_path,
                  const std::string& err_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in >= 0) posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
    if (out >= 0) posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
    if (!out_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    if (!err_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ), 0) << argv[0];
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  };
  auto start = Clock::now();
  pid_t generator = spawn({"/bin/sh", "-c", "yes noop | head -n 1000000"}, -1, write_end.get(), "", "");
  pid_t coordinator =
      spawn({BinaryPath("coordinator"), "--workers", "2", "--tasks", "-", "-q"}, read_end.get(), -1, summary, errors);
  ASSERT_GT(generator, 0);
  ASSERT_GT(coordinator, 0);
  read_end = UniqueFd();
  write_end = UniqueFd();
  // wait4 gives the coordinator's peak resident set as the kernel saw it
  // (the largest of it and its reaped children, the local workers).
  int status = 0;
  rusage usage{};
  pid_t waited = 0;
  while ((waited = wait4(coordinator, &status, WNOHANG, &usage)) == 0 && SecondsSince(start) < 120) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  double took_s = SecondsSince(start);
  if (waited == 0) {
    kill(coordinator, SIGKILL);
    waited = wait4(coordinator, &status, 0, &usage);
  }
  kill(generator, SIGKILL);
  waitpid(generator, nullptr, 0);
  ASSERT_EQ(waited, coordinator);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status);
  std::ifstream err_in(errors);
  std::string err((std::istreambuf_iterator<char>(err_in)), {});
  EXPECT_EQ(WEXITSTATUS(status), 0) << err;
  std::ifstream sum_in(summary);
  std::string out((std::istreambuf_iterator<char>(sum_in)), {});
  EXPECT_NE(out.find("Completed 1000000 tasks"), std::string::npos) << out;
  double peak_mb = usage.ru_maxrss / 1024.0;
  RecordProperty("peak_rss_mb", std::to_string(peak_mb));
  RecordProperty("seconds", std::to_string(took_s));
  EXPECT_LT(peak_mb, 100.0);
  std::printf("1,000,000 lines through a pipe: %.2f s, peak RSS %.1f MB\n", took_s, peak_mb);
}

TEST(StreamInputTest, ABadLineMidStreamIsSaidAndSkippedAndTheRunGoesOnToExitOne) {
  ScratchDir dir;
  std::string out = dir.File("R.jsonl");
  Subprocess p(Piped("echo noop; sleep 0.3; echo 'bogus line'; echo 'sleep 10  # after it'; sleep 0.3; echo noop",
                     {"--tasks", "-", "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("<stdin>:2: unknown task kind 'bogus'"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("input: 1 bad line(s) skipped"), std::string::npos) << r.out;
  // The bad line keeps its number (1): the tasks after it keep theirs.
  std::map<int, nlohmann::json> by_id;
  for (const auto& rec : ReadJsonLines(out)) by_id.emplace(rec.value("id", -1), rec);
  ASSERT_EQ(by_id.size(), 3u);
  for (auto& [id, rec] : by_id) EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
  EXPECT_EQ(by_id.count(1), 0u);
  EXPECT_EQ(by_id[2]["task"], "sleep 10");
  EXPECT_EQ(by_id[3]["task"], "noop");
}

// The workflow after a bad line: fix it, resume. The fixed line runs under
// the number it kept; the rest come from the journal, each checked.
TEST(StreamInputTest, AFixedBadLineRunsOnResumeAndAnotherInputIsRefused) {
  ScratchDir dir;
  std::string journal = dir.File("J.jsonl"), out = dir.File("R.jsonl"), marker = dir.File("marker");
  ProcessResult first = Subprocess(Piped("printf 'noop\\nbogus\\nnoop\\n'",
                                         {"--workers", "1", "--tasks", "-", "--journal", journal, "-q"}))
                            .Wait(seconds(60));
  ASSERT_EQ(first.exit_code, 1) << first.err;
  ProcessResult fixed =
      Subprocess(Piped("printf 'noop\\nexec touch " + marker + "\\nnoop\\n'",
                       {"--workers", "1", "--tasks", "-", "--journal", journal, "--resume", "--output", out, "-q"}))
          .Wait(seconds(60));
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_TRUE(std::filesystem::exists(marker)) << "the fixed line ran";
  EXPECT_NE(fixed.out.find("(2 from the journal)"), std::string::npos) << fixed.out;
  auto by_id = ById(ReadJsonLines(out), 3);
  EXPECT_EQ(by_id[1]["kind"], "exec");

  // Another input: refused at its first task that differs, and none of the
  // journal's records past it is reported.
  std::string other = dir.File("O.jsonl");
  ProcessResult wrong = Subprocess(Piped("printf 'noop\\nsleep 5\\n'", {"--workers", "1", "--tasks", "-", "--journal",
                                                                        journal, "--resume", "--output", other, "-q"}))
                            .Wait(seconds(60));
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find("task 1 is 'sleep 5', but the journal's task 1 is 'exec touch"), std::string::npos)
      << wrong.err;
  EXPECT_EQ(LinesIn(other), 1u) << "only task 0, the one that matched";
}

TEST(StreamInputTest, AFifoStreamsToo) {
  ScratchDir dir;
  std::string fifo = dir.File("tasks.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string out = dir.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--tasks", fifo, "--output", out, "-q"}));
  bool first_before_second = false;
  std::thread writer([&] {
    UniqueFd fd(open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
    EXPECT_EQ(write(fd.get(), "noop\n", 5), 5);
    first_before_second = AwaitLines(out, 1, seconds(10));
    EXPECT_EQ(write(fd.get(), "sleep 5\n", 8), 8);
  });
  ProcessResult r = p.Wait(seconds(60));
  writer.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(first_before_second) << "the first task waited for the rest of the FIFO";
  ById(ReadJsonLines(out), 2);
}

TEST(StreamInputTest, CtrlCOnAStreamRecordsWhatWasReadAndStopsReading) {
  ScratchDir dir;
  std::string fifo = dir.File("tasks.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string out = dir.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--grace", "0", "--tasks", fifo, "--output", out, "-q"}));
  UniqueFd writer(open(fifo.c_str(), O_WRONLY | O_CLOEXEC));  // waits for the coordinator to open it
  ASSERT_TRUE(writer);
  ASSERT_EQ(write(writer.get(), "noop\nsleep 60000\nsleep 60000\n", 30), 30);
  ASSERT_TRUE(AwaitLines(out, 1, seconds(10)));
  std::this_thread::sleep_for(milliseconds(300));  // the sleeps are running
  p.Signal(SIGINT);
  ProcessResult r = p.Wait(seconds(20));
  EXPECT_FALSE(r.timed_out) << "a coordinator waiting on its stream heard Ctrl-C";
  EXPECT_EQ(r.exit_code, 130) << r.err;
  auto by_id = ById(ReadJsonLines(out), 3);
  EXPECT_TRUE(by_id[0]["ok"].get<bool>());
  for (int id : {1, 2}) EXPECT_EQ(by_id[id]["error_code"], "cancelled") << by_id[id].dump();
}

TEST(StreamInputTest, DryRunPrintsEachTaskOfAStreamAsItsLineArrives) {
  auto start = Clock::now();
  Subprocess p(Piped("echo noop; sleep 3; echo 'sleep 5'", {"--tasks", "-", "--dry-run"}));
  ASSERT_TRUE(p.WaitForLine([](const std::string& line) { return line == "noop"; }, seconds(10)).has_value());
  EXPECT_LT(SecondsSince(start), 2.5) << "the first task line waited for the rest of the input";
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "noop\nsleep 5\n");
}

TEST(StreamInputTest, AFileOnStandardInputWithABadLineStillRunsNothing) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", "noop\nsleep forever\nnoop\n");
  std::string out = dir.File("R.jsonl");
  std::string command = "exec " + ShellQuote(BinaryPath("coordinator")) + " --tasks - --output " + ShellQuote(out) +
                        " < " + ShellQuote(tasks);
  Subprocess p({"/bin/sh", "-c", command});
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("<stdin>:2: 'sleep MS': milliseconds must be a whole number", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("nothing was run"), std::string::npos) << r.err;
  struct stat st {};
  EXPECT_NE(stat(out.c_str(), &st), 0) << "no records: nothing ran";
}

TEST(StreamInputTest, AnInputWithNoTasksSaysSoAndExitsZeroWithoutASummary) {
  ScratchDir dir;
  std::string empty = dir.Write("empty.txt", "# nothing yet\n\n");
  std::string out = dir.File("R.jsonl");
  Subprocess p(Coordinator({"--tasks", empty, "--output", out}));
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, empty + ": no tasks (every line is blank or a comment)\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(LinesIn(out), 0u) << "--output is made, empty";

  Subprocess q(Piped("echo '# nothing'", {"--tasks", "-"}));
  ProcessResult s = q.Wait(seconds(30));
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(s.err, "<stdin>: no tasks (every line is blank or a comment)\n");
  EXPECT_EQ(s.out, "");
}

}  // namespace
}  // namespace taskfarm::testing
