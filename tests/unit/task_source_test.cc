// TaskSource: checking a task file, numbering errors by line, reading
// tasks with ids, --urls mode, the input fingerprint, and streams (pipes,
// FIFOs) read line by line as they arrive.
#include "coordinator/task_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace taskfarm {
namespace {

class TaskSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "task_source_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  static std::vector<SourcedTask> Drain(TaskSource& source) {
    std::vector<SourcedTask> out;
    while (auto t = source.Next()) out.push_back(std::move(*t));
    return out;
  }
  // Opens content that must be valid; returns its source.
  std::unique_ptr<TaskSource> OpenValid(const std::string& content, TaskSourceOptions options = {}) {
    options.path = Write("valid" + std::to_string(++files_) + ".txt", content);
    TaskSource::Opened opened = TaskSource::Open(options);
    EXPECT_TRUE(opened.errors.empty()) << (opened.errors.empty() ? "" : opened.errors[0]);
    EXPECT_EQ(opened.error_lines, 0u);
    EXPECT_NE(opened.source, nullptr);
    return std::move(opened.source);
  }
  uint64_t Fingerprint(const std::string& content) {
    auto source = OpenValid(content);
    return source ? source->fingerprint() : 0;
  }

  // Standard input comes from `fd` while this lives, then is put back.
  class StdinFrom {
   public:
    explicit StdinFrom(int fd) : saved_(dup(STDIN_FILENO)) {
      EXPECT_GE(saved_.get(), 0);
      EXPECT_EQ(dup2(fd, STDIN_FILENO), STDIN_FILENO);
      clearerr(stdin);
    }
    ~StdinFrom() {
      dup2(saved_.get(), STDIN_FILENO);
      clearerr(stdin);
    }

   private:
    UniqueFd saved_;
  };

  // A pipe whose read end is the input, as `generate | coordinator` or
  // `--tasks <(generate)` hand it over.
  struct Pipe {
    UniqueFd read, write;
    Pipe() {
      int fds[2];
      EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
      read = UniqueFd(fds[0]);
      write = UniqueFd(fds[1]);
    }
    std::string path() const { return "/proc/self/fd/" + std::to_string(read.get()); }
    void Send(std::string_view text) const {
      EXPECT_EQ(::write(write.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
    }
  };
  static std::unique_ptr<TaskSource> OpenStream(const std::string& path, TaskSourceOptions options = {}) {
    options.path = path;
    TaskSource::Opened opened = TaskSource::Open(options);
    EXPECT_TRUE(opened.errors.empty()) << opened.errors[0];
    EXPECT_NE(opened.source, nullptr);
    if (opened.source) {
      EXPECT_TRUE(opened.source->streamed());
    }
    return std::move(opened.source);
  }
  // Waits (bounded) until the stream has something to read.
  static void AwaitInput(const TaskSource& source) {
    pollfd p{source.fd(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 10'000), 1);
  }
  // Every task until the stream ends (its writer must be closed).
  static std::vector<SourcedTask> DrainStream(TaskSource& source) {
    std::vector<SourcedTask> out;
    while (!source.ended()) {
      if (auto t = source.Next()) {
        out.push_back(std::move(*t));
      } else if (!source.ended()) {
        AwaitInput(source);
      }
    }
    return out;
  }

  std::filesystem::path dir_;
  int files_ = 0;
};

TEST_F(TaskSourceTest, StreamsTasksWithIdsSkippingBlankAndCommentLines) {
  auto source = OpenValid(
      "# tasks for the test\n"
      "url http://127.0.0.1:1/a\n"
      "\n"
      "   \n"
      "cpu primes 1000\n"
      "  # indented comment\n"
      "sleep 5\n"
      "noop\n");
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->total(), 4u);
  std::vector<SourcedTask> tasks = Drain(*source);
  ASSERT_EQ(tasks.size(), 4u);
  for (uint32_t i = 0; i < tasks.size(); ++i) EXPECT_EQ(tasks[i].id, i);
  EXPECT_EQ(FormatTask(tasks[0].spec), "url http://127.0.0.1:1/a");
  EXPECT_EQ(FormatTask(tasks[1].spec), "cpu primes 1000");
  EXPECT_EQ(FormatTask(tasks[2].spec), "sleep 5");
  EXPECT_EQ(FormatTask(tasks[3].spec), "noop");
  EXPECT_FALSE(source->Next().has_value());
  EXPECT_FALSE(source->Next().has_value());
}

TEST_F(TaskSourceTest, EmptyAndCommentOnlyFilesHaveNoTasks) {
  for (const char* content : {"", "\n\n", "# nothing\n  \n#\n"}) {
    auto source = OpenValid(content);
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(source->total(), 0u);
    EXPECT_FALSE(source->Next().has_value());
  }
}

TEST_F(TaskSourceTest, LastLineWithoutNewlineAndCrlf) {
  auto source = OpenValid("noop\r\n\r\nsleep 7\r\n# c\r\ncpu primes 10");
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->total(), 3u);
  std::vector<SourcedTask> tasks = Drain(*source);
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(FormatTask(tasks[0].spec), "noop");
  EXPECT_EQ(FormatTask(tasks[1].spec), "sleep 7");
  EXPECT_EQ(FormatTask(tasks[2].spec), "cpu primes 10");
  EXPECT_EQ(tasks[2].id, 2u);
}

TEST_F(TaskSourceTest, ErrorsNameFileAndLine) {
  std::string path = Write("bad.txt",
                           "# comment: line 1\n"
                           "\n"
                           "noop\n"
                           "bogus thing\n"
                           "   \n"
                           "cpu primes x\n"
                           "sleep 5\r\n"
                           "sleep 99999999999\r\n"
                           "noop");
  TaskSource::Opened opened = TaskSource::Open({.path = path});
  EXPECT_EQ(opened.source, nullptr);
  EXPECT_EQ(opened.error_lines, 3u);
  ASSERT_EQ(opened.errors.size(), 3u);
  EXPECT_EQ(opened.errors[0], path + ":4: unknown task kind 'bogus' (expected url, cpu, sleep, noop, exec or sh)");
  EXPECT_EQ(opened.errors[1], path + ":6: 'cpu primes N': N must be a whole number from 0 to 4000000000, not 'x'");
  EXPECT_EQ(opened.errors[2].rfind(path + ":8: 'sleep MS': milliseconds must be a whole number", 0), 0u)
      << opened.errors[2];
}

TEST_F(TaskSourceTest, ReportsAtMostMaxErrorsButCountsAll) {
  std::string content;
  for (int i = 0; i < 30; ++i) content += (i % 2 ? "noop\n" : "nope\n");  // lines 1,3,5,... bad
  std::string path = Write("many.txt", content);
  TaskSource::Opened opened = TaskSource::Open({.path = path, .max_errors = 5});
  EXPECT_EQ(opened.source, nullptr);
  EXPECT_EQ(opened.error_lines, 15u);
  ASSERT_EQ(opened.errors.size(), 5u);
  for (size_t i = 0; i < opened.errors.size(); ++i) {
    std::string prefix = path + ":" + std::to_string(2 * i + 1) + ": unknown task kind 'nope'";
    EXPECT_EQ(opened.errors[i].rfind(prefix, 0), 0u) << opened.errors[i];
  }
}

TEST_F(TaskSourceTest, DefaultMaxErrorsIsTwenty) {
  std::string content;
  for (int i = 0; i < 25; ++i) content += "noop 1\n";
  TaskSource::Opened opened = TaskSource::Open({.path = Write("many.txt", content)});
  EXPECT_EQ(opened.source, nullptr);
  EXPECT_EQ(opened.errors.size(), 20u);
  EXPECT_EQ(opened.error_lines, 25u);
}

TEST_F(TaskSourceTest, BadLinesNeverYieldASourceEvenWithMaxErrorsZero) {
  std::string path = Write("bad.txt", "noop\nbogus\nnoop\n");
  TaskSource::Opened opened = TaskSource::Open({.path = path, .max_errors = 0});
  EXPECT_EQ(opened.error_lines, 1u);
  EXPECT_TRUE(opened.errors.empty());
  if (opened.source != nullptr) {
    FAIL() << "regression: coordinator/task_source.cc TaskSource::Open decides on "
              "`!out.errors.empty()` rather than `out.error_lines > 0`: with max_errors = 0 "
              "an input with bad lines is accepted and the bad lines are silently skipped";
  }
}

TEST_F(TaskSourceTest, FaultTasksOnlyWhenAllowed) {
  std::string path = Write("fault.txt", "noop\nfault kill\n");
  TaskSource::Opened refused = TaskSource::Open({.path = path});
  EXPECT_EQ(refused.source, nullptr);
  ASSERT_EQ(refused.errors.size(), 1u);
  EXPECT_EQ(refused.errors[0].rfind(path + ":2: unknown task kind 'fault'", 0), 0u) << refused.errors[0];

  TaskSource::Opened allowed = TaskSource::Open({.path = path, .allow_test_kinds = true});
  ASSERT_NE(allowed.source, nullptr);
  std::vector<SourcedTask> tasks = Drain(*allowed.source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_TRUE(tasks[1].spec.has_fault());
  EXPECT_EQ(tasks[1].id, 1u);
}

TEST_F(TaskSourceTest, UrlsOnlyMode) {
  TaskSourceOptions options;
  options.urls_only = true;
  auto source = OpenValid(
      "# a list of URLs\n"
      "http://127.0.0.1:1/a\n"
      "\n"
      "   https://example.com/b   \n"
      "\t# comment\n"
      "\r\n"
      "http://127.0.0.1:1/c\r\n",
      options);
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->total(), 3u);
  std::vector<SourcedTask> tasks = Drain(*source);
  ASSERT_EQ(tasks.size(), 3u);
  const char* urls[] = {"http://127.0.0.1:1/a", "https://example.com/b", "http://127.0.0.1:1/c"};
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(tasks[i].id, i);
    ASSERT_TRUE(tasks[i].spec.has_url());
    EXPECT_EQ(tasks[i].spec.url().url(), urls[i]);
  }
}

TEST_F(TaskSourceTest, UrlsOnlyModeTakesTrailingComments) {
  auto source = OpenValid("http://h/a   # the first\nhttp://h/b#frag\t# the second\n", {.path = "", .urls_only = true});
  ASSERT_NE(source, nullptr);
  std::vector<SourcedTask> tasks = Drain(*source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].spec.url().url(), "http://h/a");
  EXPECT_EQ(tasks[1].spec.url().url(), "http://h/b#frag");
}

// The errors speak of the URL list the user wrote, not of a `url` task
// line they never did.
TEST_F(TaskSourceTest, UrlsOnlyModeErrorsAreAboutTheList) {
  std::string path = Write("urls.txt",
                           "http://a/\n\nhttp://b/ http://c/\nhttp://x/a b  # spaces\nftp://f/\nexample.com\n"
                           "https://\nurl http://u/\n");
  TaskSource::Opened opened = TaskSource::Open({.path = path, .urls_only = true});
  EXPECT_EQ(opened.source, nullptr);
  ASSERT_EQ(opened.errors.size(), 6u);
  EXPECT_EQ(opened.errors[0], path + ":3: not a URL (a URL has no spaces): http://b/ http://c/");
  EXPECT_EQ(opened.errors[1], path + ":4: not a URL (a URL has no spaces): http://x/a b");
  EXPECT_EQ(opened.errors[2], path + ":5: not an http:// or https:// URL: ftp://f/");
  EXPECT_EQ(opened.errors[3], path + ":6: not an http:// or https:// URL: example.com");
  EXPECT_EQ(opened.errors[4], path + ":7: not an http:// or https:// URL with a host: https://");
  EXPECT_EQ(opened.errors[5], path + ":8: not a URL (a URL has no spaces): url http://u/");
}

TEST_F(TaskSourceTest, AByteOrderMarkAtTheStartIsSkippedInEveryMode) {
  EXPECT_EQ(Drain(*OpenValid("\xEF\xBB\xBFnoop\n")).size(), 1u);
  auto urls = OpenValid("\xEF\xBB\xBFhttp://h/\n", {.path = "", .urls_only = true});
  EXPECT_EQ(Drain(*urls).at(0).spec.url().url(), "http://h/");
  TaskSourceOptions args{.path = "", .exec_template = *ExecTemplate::Parse("gzip {}")};
  auto source = OpenValid(
      "\xEF\xBB\xBF"
      "a.txt\n",
      args);
  EXPECT_EQ(Drain(*source).at(0).spec.exec().argv(1), "a.txt");
  // Only at the start: later, it is part of its line.
  TaskSource::Opened opened = TaskSource::Open({.path = Write("bom2.txt", "noop\n\xEF\xBB\xBFnoop\n")});
  ASSERT_EQ(opened.errors.size(), 1u);
  EXPECT_EQ(opened.errors[0].rfind(opened.errors[0].substr(0, opened.errors[0].find(':')) + ":2: unknown task kind", 0),
            0u)
      << opened.errors[0];
}

TEST_F(TaskSourceTest, ArgsLinesEndingInCrLfLoseTheCrAndABlankOneIsNoTask) {
  TaskSourceOptions args{.path = "", .exec_template = *ExecTemplate::Parse("ls {}")};
  std::vector<SourcedTask> tasks = Drain(*OpenValid("a.txt\r\n\r\nb c.txt\r\n", args));
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].spec.exec().argv(1), "a.txt");
  EXPECT_EQ(tasks[1].spec.exec().argv(1), "b c.txt");
}

TEST_F(TaskSourceTest, ADirectoryIsAnErrorNamingIt) {
  TaskSource::Opened opened = TaskSource::Open({.path = dir_.string()});
  EXPECT_EQ(opened.source, nullptr);
  ASSERT_EQ(opened.errors.size(), 1u);
  EXPECT_EQ(opened.errors[0], dir_.string() + ": is a directory, not a list of tasks");
}

TEST_F(TaskSourceTest, ATaskLineOverOneMebibyteIsAFileLineErrorInBothModes) {
  std::string url = "http://127.0.0.1/?q=" + std::string(10'000'000, 'a');
  struct Case {
    bool urls_only;
    std::string line;
  };
  for (const Case& c : {Case{false, "url " + url}, Case{true, url}}) {
    std::string other = c.urls_only ? "http://127.0.0.1/a\n" : "noop\n";
    std::string path = Write("big" + std::to_string(c.urls_only) + ".txt", other + c.line + "\n" + other);
    TaskSource::Opened opened = TaskSource::Open({.path = path, .urls_only = c.urls_only});
    EXPECT_EQ(opened.source, nullptr);
    ASSERT_EQ(opened.errors.size(), 1u);
    EXPECT_EQ(opened.errors[0], path + ":2: the task line is " + (c.urls_only ? "10,000,020" : "10,000,024") +
                                    " bytes; the limit is 1 MiB (1,048,576 bytes)");
  }
}

TEST_F(TaskSourceTest, MissingFileNamesTheFile) {
  std::string path = (dir_ / "no-such-dir" / "tasks.txt").string();
  TaskSource::Opened opened = TaskSource::Open({.path = path});
  EXPECT_EQ(opened.source, nullptr);
  ASSERT_EQ(opened.errors.size(), 1u);
  EXPECT_EQ(opened.errors[0].rfind(path + ": cannot open", 0), 0u) << opened.errors[0];
  EXPECT_NE(opened.errors[0].find("No such file"), std::string::npos) << opened.errors[0];
}

TEST_F(TaskSourceTest, StandardInputThatIsAFileIsCheckedFirstAndReadFromWhereItStood) {
  UniqueFd file(open(Write("stdin.txt", "sleep 9\n# from a file\nnoop\n\nsleep 3\n").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(lseek(file.get(), 8, SEEK_SET), 8);  // `(read first; coordinator --tasks -) < file`
  StdinFrom redirect(file.get());
  TaskSource::Opened opened = TaskSource::Open({.path = "-"});
  ASSERT_TRUE(opened.errors.empty()) << opened.errors[0];
  ASSERT_NE(opened.source, nullptr);
  EXPECT_FALSE(opened.source->streamed());
  EXPECT_EQ(opened.source->name(), "<stdin>");
  EXPECT_EQ(opened.source->total(), 2u);
  std::vector<SourcedTask> tasks = Drain(*opened.source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(FormatTask(tasks[0].spec), "noop");
  EXPECT_EQ(FormatTask(tasks[1].spec), "sleep 3");
  EXPECT_EQ(tasks[1].id, 1u);
  EXPECT_EQ(opened.source->fingerprint(), Fingerprint("noop\nsleep 3\n"));
}

TEST_F(TaskSourceTest, StandardInputErrorsAreLabelled) {
  UniqueFd file(open(Write("stdin.txt", "noop\nsleep soon\n").c_str(), O_RDONLY | O_CLOEXEC));
  StdinFrom redirect(file.get());
  TaskSource::Opened opened = TaskSource::Open({.path = "-"});
  EXPECT_EQ(opened.source, nullptr);
  ASSERT_EQ(opened.errors.size(), 1u);
  EXPECT_EQ(opened.errors[0],
            "<stdin>:2: 'sleep MS': milliseconds must be a whole number from 0 to 86400000, not 'soon'");
}

TEST_F(TaskSourceTest, FingerprintFollowsContent) {
  const std::string base = "url http://h/a\ncpu primes 100\nsleep 5\n";
  uint64_t a = Fingerprint(base);
  EXPECT_EQ(a, Fingerprint(base));
  // Differences in the tasks change it.
  EXPECT_NE(a, Fingerprint("url http://h/a\ncpu primes 100\nsleep 6\n"));
  EXPECT_NE(a, Fingerprint("url http://h/b\ncpu primes 100\nsleep 5\n"));
  EXPECT_NE(a, Fingerprint("cpu primes 100\nurl http://h/a\nsleep 5\n"));
  EXPECT_NE(a, Fingerprint(base + "noop\n"));
  EXPECT_NE(a, Fingerprint("url http://h/a\ncpu primes 100\n"));
  EXPECT_NE(Fingerprint(""), Fingerprint("noop\n"));
  EXPECT_NE(Fingerprint("noop\n"), Fingerprint("noop\nnoop\n"));
  // It is taken over the tasks as parsed: comments, blank lines, spacing
  // and line endings do not change which tasks run.
  EXPECT_EQ(a, Fingerprint("# header\n\nurl   http://h/a\r\n\tcpu primes 100\nsleep 5"));
}

// ---------------------------------------------------------------- streams

TEST_F(TaskSourceTest, AStreamYieldsEachTaskAsItsLineArrivesAndSaysWhenNothingIsThereYet) {
  Pipe pipe;
  auto source = OpenStream(pipe.path());
  ASSERT_NE(source, nullptr);
  EXPECT_GE(source->fd(), 0);
  EXPECT_EQ(source->name(), pipe.path());
  EXPECT_FALSE(source->Next().has_value()) << "nothing was written yet";
  EXPECT_FALSE(source->ended());
  pipe.Send("# generated\nnoop\nsle");
  AwaitInput(*source);
  std::optional<SourcedTask> first = source->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->id, 0u);
  EXPECT_TRUE(first->spec.has_noop());
  EXPECT_FALSE(source->Next().has_value()) << "half a line is not a task yet";
  EXPECT_FALSE(source->ended());
  EXPECT_EQ(source->total(), 0u) << "unknown until the stream ends";
  pipe.Send("ep 5\n");
  AwaitInput(*source);
  std::optional<SourcedTask> second = source->Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->id, 1u);
  EXPECT_EQ(FormatTask(second->spec), "sleep 5");
  ASSERT_TRUE(pipe.write.Close());
  EXPECT_TRUE(DrainStream(*source).empty());
  EXPECT_TRUE(source->ended());
  EXPECT_FALSE(source->Next().has_value());
  EXPECT_EQ(source->total(), 2u);
  EXPECT_EQ(source->fingerprint(), 0u);
  EXPECT_EQ(source->bad_lines(), 0u);
  EXPECT_TRUE(source->TakeErrors().empty());
}

TEST_F(TaskSourceTest, AStreamsLastLineWithoutANewlineCounts) {
  Pipe pipe;
  auto source = OpenStream(pipe.path());
  ASSERT_NE(source, nullptr);
  pipe.Send("\xEF\xBB\xBFnoop\r\ncpu primes 10");
  ASSERT_TRUE(pipe.write.Close());
  std::vector<SourcedTask> tasks = DrainStream(*source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_TRUE(tasks[0].spec.has_noop()) << "the byte-order mark is skipped";
  EXPECT_EQ(FormatTask(tasks[1].spec), "cpu primes 10");
}

TEST_F(TaskSourceTest, AnEmptyStreamEndsWithNoTasks) {
  Pipe pipe;
  auto source = OpenStream(pipe.path());
  ASSERT_NE(source, nullptr);
  pipe.Send("# nothing here\n\n");
  ASSERT_TRUE(pipe.write.Close());
  EXPECT_TRUE(DrainStream(*source).empty());
  EXPECT_EQ(source->total(), 0u);
  EXPECT_EQ(source->bad_lines(), 0u);
}

TEST_F(TaskSourceTest, AStreamsBadLinesAreSkippedCountedAndNamedByLine) {
  Pipe pipe;
  StdinFrom redirect(pipe.read.get());
  auto source = OpenStream("-");
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->fd(), STDIN_FILENO);
  pipe.Send("noop\nbogus\nsleep 5 # fine\ncpu primes -5\nnoop\n");
  ASSERT_TRUE(pipe.write.Close());
  std::vector<SourcedTask> tasks = DrainStream(*source);
  ASSERT_EQ(tasks.size(), 3u);
  // A bad line keeps its number, so that --resume can run it once fixed.
  EXPECT_EQ(tasks[0].id, 0u);
  EXPECT_EQ(tasks[1].id, 2u);
  EXPECT_EQ(tasks[2].id, 4u);
  EXPECT_EQ(FormatTask(tasks[1].spec), "sleep 5");
  EXPECT_EQ(source->bad_lines(), 2u);
  std::vector<std::string> errors = source->TakeErrors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "<stdin>:2: unknown task kind 'bogus' (expected url, cpu, sleep, noop, exec or sh)");
  EXPECT_EQ(errors[1], "<stdin>:4: 'cpu primes N': N must be a whole number from 0 to 4000000000, not '-5'");
  EXPECT_TRUE(source->TakeErrors().empty()) << "each said once";
}

TEST_F(TaskSourceTest, AStreamSaysAtMostMaxErrorsThenThatTheRestAreCounted) {
  Pipe pipe;
  auto source = OpenStream(pipe.path(), {.path = "", .max_errors = 3});
  ASSERT_NE(source, nullptr);
  pipe.Send(std::string("nope\n") + "nope\n" + "noop\n" + "nope\n" + "nope\n" + "nope\n");
  ASSERT_TRUE(pipe.write.Close());
  EXPECT_EQ(DrainStream(*source).size(), 1u);
  EXPECT_EQ(source->bad_lines(), 5u);
  std::vector<std::string> errors = source->TakeErrors();
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[2].rfind(pipe.path() + ":4: unknown task kind 'nope'", 0), 0u) << errors[2];
  EXPECT_EQ(errors[3], pipe.path() + ": further bad lines are counted, not shown");
}

TEST_F(TaskSourceTest, AStreamsOverLongLineIsSkippedToItsNewlineAndReported) {
  Pipe pipe;
  auto source = OpenStream(pipe.path());
  ASSERT_NE(source, nullptr);
  // Three lines over the limit: one ending in the middle, one at the end
  // without a newline; the pipe holds 64 KiB, so a thread writes.
  std::string big(3'000'000, 'a');
  std::thread writer([&] {
    pipe.Send("noop\nurl http://h/?" + big + "\nsleep 1\n" + big + big + "\nnoop\n" + big);
    EXPECT_TRUE(pipe.write.Close());
  });
  std::vector<SourcedTask> tasks = DrainStream(*source);
  writer.join();
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(FormatTask(tasks[1].spec), "sleep 1");
  EXPECT_EQ(tasks[2].id, 4u) << "the over-long lines keep their numbers";
  EXPECT_EQ(source->bad_lines(), 3u);
  std::vector<std::string> errors = source->TakeErrors();
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], pipe.path() + ":2: the task line is 3,000,014 bytes; the limit is 1 MiB (1,048,576 bytes)");
  EXPECT_EQ(errors[1], pipe.path() + ":4: the task line is 6,000,000 bytes; the limit is 1 MiB (1,048,576 bytes)");
  EXPECT_EQ(errors[2], pipe.path() + ":6: the task line is 3,000,000 bytes; the limit is 1 MiB (1,048,576 bytes)");
}

TEST_F(TaskSourceTest, AStreamThatStopsReadingYieldsTheWholeLinesItHasThenEnds) {
  Pipe pipe;
  auto source = OpenStream(pipe.path());
  ASSERT_NE(source, nullptr);
  pipe.Send("noop\nnoop\nnoop\nno");
  AwaitInput(*source);
  ASSERT_TRUE(source->Next().has_value());
  source->StopReading();
  pipe.Send("op\nnoop\n");  // never read
  EXPECT_TRUE(source->Next().has_value());
  EXPECT_TRUE(source->Next().has_value());
  EXPECT_FALSE(source->Next().has_value());
  EXPECT_TRUE(source->ended());
  EXPECT_EQ(source->total(), 3u);
}

TEST_F(TaskSourceTest, AFifoOpensAtOnceAndStreamsOnceItsWriterComes) {
  std::string fifo = (dir_ / "tasks.fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto source = OpenStream(fifo);  // no writer yet: does not wait for one
  ASSERT_NE(source, nullptr);
  EXPECT_FALSE(source->Next().has_value());
  EXPECT_FALSE(source->ended()) << "no writer yet is not the end";
  UniqueFd writer(open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(writer);
  ASSERT_EQ(write(writer.get(), "sleep 2\nnoop\n", 13), 13);
  ASSERT_TRUE(writer.Close());
  std::vector<SourcedTask> tasks = DrainStream(*source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(FormatTask(tasks[0].spec), "sleep 2");
}

TEST_F(TaskSourceTest, UrlAndArgumentListsStreamToo) {
  Pipe urls;
  auto url_source = OpenStream(urls.path(), {.path = "", .urls_only = true});
  ASSERT_NE(url_source, nullptr);
  urls.Send("http://h/a # first\nhttp://x/a b\nhttp://h/b\n");
  ASSERT_TRUE(urls.write.Close());
  std::vector<SourcedTask> tasks = DrainStream(*url_source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[1].spec.url().url(), "http://h/b");
  std::vector<std::string> errors = url_source->TakeErrors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], urls.path() + ":2: not a URL (a URL has no spaces): http://x/a b");

  Pipe args;
  auto arg_source = OpenStream(args.path(), {.path = "", .exec_template = *ExecTemplate::Parse("gzip {}")});
  ASSERT_NE(arg_source, nullptr);
  args.Send("a b.txt\n\nc.txt");
  ASSERT_TRUE(args.write.Close());
  tasks = DrainStream(*arg_source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].spec.exec().argv(1), "a b.txt");
  EXPECT_EQ(tasks[1].spec.exec().argv(1), "c.txt");
}

// The run's --method, --header, ... for url tasks: on task lines and on the
// --urls list's lines alike.
TEST_F(TaskSourceTest, TheRunsUrlDefaultsReachTaskLinesAndUrlListsAlike) {
  pb::UrlTask run;
  run.set_method("POST");
  run.add_headers("X-Run: 1");
  run.set_save_dir("/out");
  for (bool urls_only : {false, true}) {
    auto source = OpenValid(urls_only ? "http://h/a\n" : "url -H 'X-Line: 2' http://h/a\nnoop\n",
                            {.path = "", .urls_only = urls_only, .url_defaults = run});
    ASSERT_NE(source, nullptr);
    std::vector<SourcedTask> tasks = Drain(*source);
    ASSERT_FALSE(tasks.empty());
    const pb::UrlTask& task = tasks[0].spec.url();
    EXPECT_EQ(task.method(), "POST") << urls_only;
    EXPECT_EQ(task.headers(0), "X-Run: 1") << urls_only;
    EXPECT_EQ(task.headers_size(), urls_only ? 1 : 2);
    EXPECT_EQ(task.save_dir(), "/out");
    EXPECT_EQ(task.save_name(), "") << "--save-name id: the worker names the file by task id";
  }
}

// --save-name url: names unique in input order, the same at every reading
// of the same input (a --resume), from a file or a stream.
TEST_F(TaskSourceTest, SaveNamesFromUrlsAreUniqueInInputOrderAndTheSameEveryTime) {
  pb::UrlTask run;
  run.set_save_dir("/out");
  run.set_save_name("url");
  std::string content =
      "url http://a/1\nnoop\nurl -X POST http://b/1\n# comment\nurl http://c/1.1\nurl http://h/\n"
      "url http://h/%2e%2e\nurl http://h/x?y=1\nurl http://h/x?y=2\n";
  std::vector<std::string> expected = {"1", "", "1.1", "1.1.1", "index.html", "%2E.", "x", "x.1"};
  auto names = [](std::vector<SourcedTask> tasks) {
    std::vector<std::string> out;
    for (const SourcedTask& t : tasks) out.push_back(t.spec.has_url() ? t.spec.url().save_name() : "");
    return out;
  };
  for (int reading = 0; reading < 2; ++reading) {
    auto source = OpenValid(content, {.path = "", .url_defaults = run});
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(names(Drain(*source)), expected) << "reading " << reading;
  }
  Pipe pipe;
  auto stream = OpenStream(pipe.path(), {.path = "", .url_defaults = run});
  ASSERT_NE(stream, nullptr);
  pipe.Send(content);
  ASSERT_TRUE(pipe.write.Close());
  EXPECT_EQ(names(DrainStream(*stream)), expected);
  // A --urls list is named the same way.
  auto list = OpenValid("http://a/1\nhttp://b/1\n", {.path = "", .urls_only = true, .url_defaults = run});
  EXPECT_EQ(names(Drain(*list)), (std::vector<std::string>{"1", "1.1"}));
}

}  // namespace
}  // namespace taskfarm
