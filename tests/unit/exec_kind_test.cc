// The exec and sh kinds: their task lines, the defaults the run's options
// give them, and what a worker may report for them.
#include <gtest/gtest.h>

#include "common/task_kind.h"
#include "common/task_parser.h"
#include "coordinator/result_check.h"

namespace taskfarm {
namespace {

pb::TaskSpec MustParse(std::string_view line, const ParseOptions& options = {}) {
  ParsedLine p = ParseTaskLine(line, options);
  EXPECT_EQ(p.error, "") << line;
  return p.spec.value_or(pb::TaskSpec());
}

std::string ErrorOf(std::string_view line) { return ParseTaskLine(line, {}).error; }

TEST(ExecKindTest, ExecSplitsItsWordsByShellQuotingWithoutExpandingAnything) {
  pb::TaskSpec s = MustParse(R"(exec gzip -9 'a b'"'"'c.txt' "$HOME" \*)");
  ASSERT_TRUE(s.has_exec());
  EXPECT_EQ(KindName(s), "exec");
  ASSERT_EQ(s.exec().argv_size(), 5);
  EXPECT_EQ(s.exec().argv(2), "a b'c.txt");
  EXPECT_EQ(s.exec().argv(3), "$HOME");
  EXPECT_EQ(s.exec().argv(4), "*");
  EXPECT_EQ(s.exec().capture_bytes(), 4096u);  // the default without options
}

TEST(ExecKindTest, AnExecLineFormatsToALineThatParsesToTheSameArgv) {
  pb::TaskSpec s = MustParse(R"(exec printf '%s\n' 'it'\''s' "two words" '')");
  pb::TaskSpec again = MustParse(FormatTask(s));
  EXPECT_EQ(again.exec().SerializeAsString(), s.exec().SerializeAsString()) << FormatTask(s);
}

TEST(ExecKindTest, ShRunsOneQuotedCommandLineUnderBinSh) {
  pb::TaskSpec s = MustParse("sh 'sort -u big.txt | gzip > big.gz'");
  ASSERT_TRUE(s.has_sh());
  EXPECT_EQ(KindName(s), "sh");
  ASSERT_EQ(s.sh().argv_size(), 3);
  EXPECT_EQ(s.sh().argv(0), "/bin/sh");
  EXPECT_EQ(s.sh().argv(1), "-c");
  EXPECT_EQ(s.sh().argv(2), "sort -u big.txt | gzip > big.gz");
  EXPECT_EQ(FormatTask(s), "sh 'sort -u big.txt | gzip > big.gz'");
}

TEST(ExecKindTest, BadLinesSayWhatIsWrong) {
  EXPECT_EQ(ErrorOf("exec"), "'exec' takes a program and its arguments: exec PROGRAM ARG...");
  EXPECT_EQ(ErrorOf("exec echo 'unclosed"), "'exec': unbalanced ' quote (opened at column 6) in the command");
  EXPECT_EQ(ErrorOf("sh echo hi | wc"), "'sh' takes one quoted command line: sh 'gzip < a.txt > a.txt.gz'");
  EXPECT_EQ(ErrorOf("sh ''"), "'sh' takes one quoted command line: sh 'gzip < a.txt > a.txt.gz'");
  EXPECT_EQ(ErrorOf(std::string("exec echo a\\\0b", 14)), "a command cannot hold a NUL byte");
}

TEST(ExecKindTest, TheRunsOptionsAreCopiedIntoEveryExecAndShTask) {
  pb::ExecTask defaults;
  defaults.set_workdir("/srv/work");
  defaults.set_results_dir("out");
  defaults.set_capture_bytes(100);
  defaults.add_retry_exit_codes(75);
  defaults.add_argv("never copied");
  ParseOptions options{.exec_defaults = &defaults};
  pb::TaskSpec s = MustParse("exec true", options);
  EXPECT_EQ(s.exec().workdir(), "/srv/work");
  EXPECT_EQ(s.exec().results_dir(), "out");
  EXPECT_EQ(s.exec().capture_bytes(), 100u);
  ASSERT_EQ(s.exec().retry_exit_codes_size(), 1);
  ASSERT_EQ(s.exec().argv_size(), 1);
  EXPECT_EQ(s.exec().argv(0), "true");
  defaults.set_capture_bytes(1u << 30);  // past what a frame could carry
  EXPECT_EQ(MustParse("sh 'true'", options).sh().capture_bytes(), 256u * 1024);
}

pb::Outcome ExecOutcome(bool ok, int exit_code) {
  pb::Outcome o;
  o.mutable_result()->set_ok(ok);
  if (!ok) {
    o.mutable_result()->set_error("exit 3: false");
    o.mutable_result()->set_error_code("command_failed");
  }
  o.mutable_result()->mutable_exec()->set_exit_code(exit_code);
  return o;
}

TEST(ExecKindTest, AWorkerCannotCallANonZeroExitASuccessOrSendExecFieldsForOtherKinds) {
  pb::TaskSpec exec = MustParse("exec true");
  EXPECT_EQ(CheckOutcome(exec, ExecOutcome(true, 0)), Status::Ok());
  EXPECT_EQ(CheckOutcome(exec, ExecOutcome(false, 3)), Status::Ok());
  EXPECT_EQ(CheckOutcome(exec, ExecOutcome(true, 3)), InvalidArgument("an exec task reported ok without exit 0"));
  EXPECT_EQ(CheckOutcome(MustParse("sh 'true'"), ExecOutcome(true, 0)), Status::Ok());
  EXPECT_EQ(CheckOutcome(MustParse("sleep 5"), ExecOutcome(true, 0)),
            InvalidArgument("fields of exec tasks on a sleep task"));
  pb::Outcome tail = ExecOutcome(true, 0);
  tail.mutable_result()->mutable_exec()->set_stdout(std::string(5000, 'x'));
  tail.mutable_result()->mutable_exec()->set_stdout_bytes(5000);
  pb::TaskSpec small = exec;
  small.mutable_exec()->set_capture_bytes(10);
  EXPECT_EQ(CheckOutcome(small, tail), InvalidArgument("exec output tail is longer than --capture"));
}

}  // namespace
}  // namespace taskfarm
