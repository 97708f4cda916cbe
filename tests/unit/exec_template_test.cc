// ExecTemplate: GNU parallel's replacement strings, and task lines that read
// back (exec) or run under the real /bin/sh (sh) as the argument they carry.
//
//   build/bin/unit_tests --gtest_filter='ExecTemplate*'
#include "common/exec_template.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/shell_words.h"
#include "common/temp_dir.h"
#include "tests/support/subprocess.h"

namespace taskfarm {
namespace {

using Words = std::vector<std::string>;
using namespace std::string_literals;

ExecTemplate MustParse(std::string_view text) {
  StatusOr<ExecTemplate> parsed = ExecTemplate::Parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? *parsed : *ExecTemplate::Parse("true");
}

// The argv an `exec` line carries, as the task parser will read it.
Words ExecArgv(const std::string& line) {
  EXPECT_EQ(line.rfind("exec ", 0), 0u) << line;
  ShellSplit split = SplitShellWords(std::string_view(line).substr(5));
  EXPECT_EQ(split.error, "") << line;
  return split.words;
}

// The command line an `sh` line carries: exactly one word after "sh ".
std::string ShCommandLine(const std::string& line) {
  EXPECT_EQ(line.rfind("sh ", 0), 0u) << line;
  ShellSplit split = SplitShellWords(std::string_view(line).substr(3));
  EXPECT_EQ(split.error, "") << line;
  EXPECT_EQ(split.words.size(), 1u) << line;
  return split.words.empty() ? "" : split.words[0];
}

std::string RunSh(const std::string& command_line) {
  testing::Subprocess sh({"/bin/sh", "-c", command_line});
  testing::ProcessResult result = sh.Wait(std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 0) << "command line: " << command_line << "\nstderr: " << result.err;
  return result.out;
}

// Names that break naive quoting; none holds a newline (an argument is a line).
const std::vector<std::string>& NastyNames() {
  static const std::vector<std::string> names = {
      // quotes, expansions, globs, a tilde, a comment, options
      "a b'c.txt", "\"q\".txt", "$(rm -rf x)", "`id`", "*", "?", "[ab]", "~", "~/x", "#not a comment", "-rf", "--",
      // blanks, quotes and backslashes alone, operators, replacement strings
      "", " ", "\t lead and trail \t", "it's", "'", "\\", "a\\'b", "x; y", "a|b&c", "{}", "{.}", "FOO=1", "%s\\n",
      // control bytes, UTF-8, bytes that are not UTF-8, a path with spaces
      "\x01\x1b[31m\x7f", "caf\xc3\xa9 \xe2\x9c\x93.txt", "\xff\xfe.\x80", "dir with space/file name.tar.gz"};
  return names;
}

TEST(ExecTemplateTest, ReplacementStringsComputeWhatGnuParallelComputes) {
  // Each row checked against GNU parallel 20221122:
  //   printf '%s\n' ARG | parallel printf "'[%s] [%s] [%s] [%s] [%s]\n'" {} {.} {/} {//} {/.}
  struct Row {
    std::string arg, no_extension, basename, dirname, basename_no_extension;
  };
  const std::vector<Row> rows = {
      {"a.tar.gz", "a.tar", "a.tar.gz", ".", "a.tar"},
      {"dir.d/file", "dir.d/file", "file", "dir.d", "file"},
      {".bashrc", "", ".bashrc", ".", ""},
      {"dir/.bashrc", "dir/", ".bashrc", "dir", ""},
      {"file", "file", "file", ".", "file"},
      {"/abs/x.c", "/abs/x", "x.c", "/abs", "x"},
      {"/x", "/x", "x", "/", "x"},
      {"x/", "x/", "", ".", ""},
      {"a/b/", "a/b/", "", "a", ""},
      {"/x/", "/x/", "", "/", ""},
      {"a//", "a//", "", ".", ""},
      {"a//b.c", "a//b", "b.c", "a", "b"},
      {"//x", "//x", "x", "/", "x"},
      {"/", "/", "", "/", ""},
      {"//", "//", "", "/", ""},
      {"", "", "", ".", ""},
      {".", "", ".", ".", ""},
      {"..", ".", "..", ".", "."},
      {"a.", "a", "a.", ".", "a"},
      {"a..b", "a.", "a..b", ".", "a."},
      {"./a.c", "./a", "a.c", ".", "a"},
      {"x/.", "x/", ".", "x", ""},
      {"a/..", "a/.", "..", "a", "."},
      {"a.b/c.", "a.b/c", "c.", "a.b", "c"},
      {"a/b/c.d.e", "a/b/c.d", "c.d.e", "a/b", "c.d"},
      {"a b.c", "a b", "a b.c", ".", "a b"},
      {" .x", " ", " .x", ".", " "},
  };
  ExecTemplate t = MustParse("printf '[%s]' {} {.} {/} {//} {/.} {#}");
  ASSERT_FALSE(t.uses_shell());
  for (const Row& row : rows) {
    EXPECT_EQ(ExecArgv(t.TaskLine(row.arg, 12)), (Words{"printf", "[%s]", row.arg, row.no_extension, row.basename,
                                                        row.dirname, row.basename_no_extension, "12"}))
        << "argument: " << row.arg;
  }
}

TEST(ExecTemplateTest, AnExecLineIsTheTemplatesWordsWithTheArgumentInsideOneWord) {
  ExecTemplate t = MustParse("gzip -9 {}");
  EXPECT_EQ(t.TaskLine("my file.txt", 1), "exec gzip -9 'my file.txt'");
  EXPECT_EQ(t.TaskLine("plain.txt", 1), "exec gzip -9 plain.txt");
  EXPECT_EQ(t.TaskLine("", 1), "exec gzip -9 ''");
  for (const std::string& name : NastyNames()) {
    EXPECT_EQ(ExecArgv(t.TaskLine(name, 1)), (Words{"gzip", "-9", name})) << t.TaskLine(name, 1);
  }
}

TEST(ExecTemplateTest, ReplacementStringsInsideAWordStayInThatWord) {
  ExecTemplate t = MustParse("cp {} --to={//}/{/.}.{#}.bak 'x {} y'");
  for (const std::string& name : NastyNames()) {
    Words argv = ExecArgv(t.TaskLine(name, 3));
    ASSERT_EQ(argv.size(), 4u) << t.TaskLine(name, 3);
    EXPECT_EQ(argv[0], "cp");
    EXPECT_EQ(argv[1], name);
    EXPECT_TRUE(argv[2].starts_with("--to=") && argv[2].ends_with(".3.bak")) << argv[2];
    EXPECT_EQ(argv[3], "x " + name + " y");
  }
  EXPECT_EQ(ExecArgv(t.TaskLine("d ir/a b.txt", 3)),
            (Words{"cp", "d ir/a b.txt", "--to=d ir/a b.3.bak", "x d ir/a b.txt y"}));
}

TEST(ExecTemplateTest, TemplateQuotingIsRemovedBeforeTheTaskLineIsWritten) {
  ExecTemplate t = MustParse(R"(printf "%s|%s\n" 'two words' {})");
  EXPECT_FALSE(t.uses_shell());
  EXPECT_EQ(t.TaskLine("a", 1), R"(exec printf '%s|%s\n' 'two words' a)");
}

TEST(ExecTemplateTest, ATemplateWithoutAReplacementStringGetsTheArgumentAppended) {
  EXPECT_EQ(MustParse("gzip").TaskLine("a b", 1), "exec gzip 'a b'");
  EXPECT_EQ(MustParse("gzip -9 # keep the originals").TaskLine("a", 1), "exec gzip -9 a");
  EXPECT_EQ(MustParse("echo {#}").TaskLine("a", 5), "exec echo 5") << "{#} is a replacement string too";
  EXPECT_EQ(MustParse("echo {/}").TaskLine("d/a", 5), "exec echo a");
  ExecTemplate shell = MustParse("wc -c <");
  EXPECT_TRUE(shell.uses_shell());
  EXPECT_EQ(shell.TaskLine("a b", 1), R"(sh 'wc -c < '\''a b'\')");
}

TEST(ExecTemplateTest, BracesThatAreNotReplacementStringsAreLeftAsTheyAre) {
  ExecTemplate awk = MustParse("awk '{print $1}'");
  EXPECT_FALSE(awk.uses_shell());
  EXPECT_EQ(ExecArgv(awk.TaskLine("f.txt", 1)), (Words{"awk", "{print $1}", "f.txt"}));
  EXPECT_EQ(ExecArgv(MustParse("echo {%} {1} {..} { } {{}} {/x} {").TaskLine("a", 1)),
            (Words{"echo", "{%}", "{1}", "{..}", "{", "}", "{a}", "{/x}", "{"}));
  ExecTemplate shell_awk = MustParse("awk '{print $1}' {} | sort");
  EXPECT_EQ(ShCommandLine(shell_awk.TaskLine("a b", 1)), "awk '{print $1}' 'a b' | sort");
}

TEST(ExecTemplateTest, ShellSyntaxMakesAnShLineWithEachValueShellQuoted) {
  ExecTemplate t = MustParse("gzip -9 < {} > {.}.gz");
  EXPECT_TRUE(t.uses_shell());
  EXPECT_EQ(t.TaskLine("a b.txt", 2), R"(sh 'gzip -9 < '\''a b.txt'\'' > '\''a b'\''.gz')");
  EXPECT_EQ(ShCommandLine(t.TaskLine("a b.txt", 2)), "gzip -9 < 'a b.txt' > 'a b'.gz");
  EXPECT_EQ(ShCommandLine(t.TaskLine("x", 2)), "gzip -9 < x > x.gz");
}

TEST(ExecTemplateTest, InsideSingleQuotesShellModeStillReplacesAsGnuParallelDoes) {
  // parallel --dry-run "echo '{}' {} {.}x | cat" ::: 'a b'  ->  echo ''a b'' 'a b' 'a b'x | cat
  EXPECT_EQ(ShCommandLine(MustParse("echo '{}' {} {.}x | cat").TaskLine("a b", 1)), "echo ''a b'' 'a b' 'a b'x | cat");
}

TEST(ExecTemplateTest, BinShPrintsEveryValueOfAnShLineByteForByte) {
  ExecTemplate t = MustParse(R"(printf '[%s]\n' {} {/} {.} {//} {/.} {#} | cat)");
  ASSERT_TRUE(t.uses_shell());
  ExecTemplate plain = MustParse(R"(printf '[%s]\n' {} {/} {.} {//} {/.} {#})");
  ASSERT_FALSE(plain.uses_shell());
  for (const std::string& dir : {""s, "some dir/"s, "/tmp/$x `y`/"s}) {
    for (const std::string& base : NastyNames()) {
      const std::string arg = dir + base;
      // The exec line's argv, printed by printf itself, is what sh must print.
      std::string expected;
      Words argv = ExecArgv(plain.TaskLine(arg, 9));
      for (size_t i = 2; i < argv.size(); ++i) expected += "[" + argv[i] + "]\n";
      ASSERT_EQ(argv.size(), 8u);
      EXPECT_EQ(argv[2], arg);
      EXPECT_EQ(argv[7], "9");
      EXPECT_EQ(RunSh(ShCommandLine(t.TaskLine(arg, 9))), expected) << t.TaskLine(arg, 9);
    }
  }
}

TEST(ExecTemplateTest, AnShLineRedirectsToAndFromFilesWithAnyName) {
  TempDir dir("taskfarm-exec-template");
  ASSERT_FALSE(dir.path().empty());
  // Bare names, relative to the directory: a name run as a command would
  // leave `pwned` there.
  ExecTemplate t = MustParse("cd " + ShellQuote(dir.path()) + " && cat < {} > {.}.copy");
  for (const std::string& name : {"a b'c.txt"s, "\"q\".txt"s, "$(touch pwned).txt"s, "*.txt"s, "-n.txt"s,
                                  "\x01\x7f\xff.txt"s, "it's here.txt"s}) {
    std::ofstream(dir.File(name)) << "content of " << name;
    RunSh(ShCommandLine(t.TaskLine(name, 1)));
    std::ifstream copy(dir.File(name.substr(0, name.size() - 4) + ".copy"));
    std::stringstream text;
    text << copy.rdbuf();
    EXPECT_EQ(text.str(), "content of " + name) << t.TaskLine(name, 1);
  }
  EXPECT_FALSE(std::ifstream(dir.File("pwned")).good()) << "a name is never run as a command";
}

TEST(ExecTemplateTest, UsesShellOnlyForShellSyntax) {
  EXPECT_FALSE(MustParse("gzip -9 {}").uses_shell());
  EXPECT_FALSE(MustParse("echo '$HOME | *' \\; {}").uses_shell());
  EXPECT_TRUE(MustParse("gzip -9 {} && rm {}").uses_shell());
  EXPECT_TRUE(MustParse("echo $HOME {}").uses_shell());
  EXPECT_TRUE(MustParse("LC_ALL=C sort {}").uses_shell());
  EXPECT_TRUE(MustParse("ls *.c {}").uses_shell());
}

TEST(ExecTemplateTest, ATemplateThatDoesNotSplitOrHoldsNoCommandIsRejectedWithAReason) {
  auto error = [](std::string_view text) { return ExecTemplate::Parse(text).status(); };
  EXPECT_EQ(error("gzip 'x {}"),
            InvalidArgument(
                "the exec template 'gzip 'x {}' does not split into words: unbalanced ' quote (opened at column 6)"));
  EXPECT_EQ(error("a | \"b {}"),
            InvalidArgument(
                "the exec template 'a | \"b {}' does not split into words: unbalanced \" quote (opened at column 5)"));
  EXPECT_EQ(error("gzip {} \\"), InvalidArgument("the exec template 'gzip {} \\' does not split into words: trailing "
                                                 "backslash at column 9 escapes nothing"));
  EXPECT_EQ(error(""), InvalidArgument("the exec template '' holds no command"));
  EXPECT_EQ(error(" \t "), InvalidArgument("the exec template ' \t ' holds no command"));
  EXPECT_EQ(error("# gzip {}"), InvalidArgument("the exec template '# gzip {}' holds no command"));
}

TEST(ExecTemplateTest, AnEmptyQuotedWordIsACommand) { EXPECT_EQ(MustParse("''").TaskLine("a", 1), "exec '' a"); }

}  // namespace
}  // namespace taskfarm
