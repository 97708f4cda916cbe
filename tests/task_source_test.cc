// TaskSource: checking a task file, numbering errors by line, streaming
// tasks with ids, --urls mode, and the input fingerprint.
#include "coordinator/task_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

  // Opens "-" with standard input read from `path`, then puts stdin back.
  static TaskSource::Opened OpenAsStdin(const std::string& path) {
    int saved = dup(STDIN_FILENO);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(saved, 0);
    EXPECT_GE(fd, 0);
    dup2(fd, STDIN_FILENO);
    close(fd);
    clearerr(stdin);
    TaskSourceOptions options;
    options.path = "-";
    TaskSource::Opened opened = TaskSource::Open(options);
    dup2(saved, STDIN_FILENO);
    close(saved);
    clearerr(stdin);
    return opened;
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
  EXPECT_EQ(opened.errors[1], path + ":6: cpu primes limit 'x' is not a number");
  EXPECT_EQ(opened.errors[2].rfind(path + ":8: sleep duration 99999999999 is out of range", 0), 0u) << opened.errors[2];
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

TEST_F(TaskSourceTest, UrlsOnlyModeRejectsTwoWordLines) {
  std::string path = Write("urls.txt", "http://a/\n\nhttp://b/ http://c/\n");
  TaskSource::Opened opened = TaskSource::Open({.path = path, .urls_only = true});
  EXPECT_EQ(opened.source, nullptr);
  ASSERT_EQ(opened.errors.size(), 1u);
  EXPECT_EQ(opened.errors[0].rfind(path + ":3: ", 0), 0u) << opened.errors[0];
}

TEST_F(TaskSourceTest, ATaskLineOverOneMebibyteIsAFileLineErrorInBothModes) {
  std::string url = "http://127.0.0.1/?q=" + std::string(10'000'000, 'a');
  struct Case {
    bool urls_only;
    std::string line;
  };
  for (const Case& c : {Case{false, "url " + url}, Case{true, url}}) {
    std::string path = Write("big" + std::to_string(c.urls_only) + ".txt",
                             (c.urls_only ? "http://127.0.0.1/a\n" : "noop\n") + c.line + "\nnoop\n");
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

TEST_F(TaskSourceTest, StandardInputIsSpooledAndReadBack) {
  TaskSource::Opened opened = OpenAsStdin(Write("stdin.txt", "# from a pipe\nnoop\n\nsleep 3\n"));
  ASSERT_TRUE(opened.errors.empty()) << opened.errors[0];
  ASSERT_NE(opened.source, nullptr);
  EXPECT_EQ(opened.source->total(), 2u);
  std::vector<SourcedTask> tasks = Drain(*opened.source);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(FormatTask(tasks[0].spec), "noop");
  EXPECT_EQ(FormatTask(tasks[1].spec), "sleep 3");
  EXPECT_EQ(tasks[1].id, 1u);
  EXPECT_EQ(opened.source->fingerprint(), Fingerprint("noop\nsleep 3\n"));
}

TEST_F(TaskSourceTest, StandardInputErrorsAreLabelled) {
  TaskSource::Opened opened = OpenAsStdin(Write("stdin.txt", "noop\nsleep soon\n"));
  EXPECT_EQ(opened.source, nullptr);
  ASSERT_EQ(opened.errors.size(), 1u);
  EXPECT_EQ(opened.errors[0], "<stdin>:2: sleep duration 'soon' is not a number");
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

}  // namespace
}  // namespace taskfarm
