// Tests for the integration-test helpers themselves: Subprocess (exit codes,
// signals, timeouts, pipes, stdin, environment) and the /proc queries.
#include "tests/support/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

Subprocess Shell(const std::string& script, std::vector<std::string> env = {},
                 std::optional<std::string> stdin_data = std::nullopt) {
  return Subprocess({"/bin/sh", "-c", script}, std::move(env), std::move(stdin_data));
}

bool Contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

TEST(SubprocessTest, CapturesExitCodeAndBothStreams) {
  ProcessResult result = Shell("echo out; echo err >&2; exit 3").Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.term_signal, 0);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.out, "out\n");
  EXPECT_EQ(result.err, "err\n");
}

TEST(SubprocessTest, ReportsTerminatingSignal) {
  ProcessResult result = Shell("kill -TERM $$; sleep 5").Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_EQ(result.term_signal, SIGTERM);
}

TEST(SubprocessTest, TimeoutKillsAndReaps) {
  Subprocess child({"/bin/sleep", "30"});
  const pid_t pid = child.pid();
  const auto start = Clock::now();
  ProcessResult result = child.Wait(milliseconds(200));
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.term_signal, SIGKILL);
  EXPECT_GE(Clock::now() - start, milliseconds(200));
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_FALSE(child.Running());
}

TEST(SubprocessTest, ChattyChildOnBothPipesDoesNotBlock) {
  // Far more than a pipe buffer on each stream, stderr first.
  ProcessResult result = Shell(
                             "head -c 3000000 /dev/zero >&2; head -c 5000000 /dev/zero; "
                             "head -c 3000000 /dev/zero >&2")
                             .Wait(milliseconds(30000));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out.size(), 5000000u);
  EXPECT_EQ(result.err.size(), 6000000u);
}

TEST(SubprocessTest, LargeStdinIsStreamedWhileOutputIsDrained) {
  std::string input(8 << 20, 'x');
  for (size_t i = 0; i < input.size(); i += 1000) input[i] = '\n';
  ProcessResult result = Subprocess({"/bin/cat"}, {}, input).Wait(milliseconds(30000));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(result.out == input);
}

TEST(SubprocessTest, ChildIgnoringStdinDoesNotKillTheTestWithSigpipe) {
  ProcessResult result = Subprocess({"/bin/true"}, {}, std::string(16 << 20, 'y')).Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, 0);
}

TEST(SubprocessTest, GrandchildHoldingStdinDoesNotHangWait) {
  // The grandchild keeps the stdin pipe open and never reads it.
  Subprocess child = Shell("sleep 30 0<&0 >/dev/null 2>&1 & echo $!; exit 0", {}, std::string(16 << 20, 'z'));
  const auto start = Clock::now();
  ProcessResult result = child.Wait(milliseconds(20000));
  EXPECT_LT(Clock::now() - start, milliseconds(10000));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0);
  const pid_t grandchild = static_cast<pid_t>(std::stol(result.out));
  ASSERT_GT(grandchild, 0);
  kill(grandchild, SIGKILL);
}

TEST(SubprocessTest, StdinDefaultsToDevNull) {
  ProcessResult result = Subprocess({"/bin/cat"}).Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "");
}

TEST(SubprocessTest, EnvironmentIsInheritedAndExtended) {
  ASSERT_EQ(setenv("TASKFARM_SUBPROCESS_INHERITED", "yes", 1), 0);
  ProcessResult result = Shell(R"(echo "$TASKFARM_SUBPROCESS_INHERITED $EXTRA $HOME")", {"EXTRA=a=b", "HOME=/nowhere"})
                             .Wait(milliseconds(10000));
  unsetenv("TASKFARM_SUBPROCESS_INHERITED");
  EXPECT_EQ(result.out, "yes a=b /nowhere\n");
}

TEST(SubprocessTest, WaitForLineFindsMatchingLineAndKeepsOutput) {
  Subprocess child = Shell("echo first; sleep 0.1; echo 'ready 42'; echo after; sleep 30");
  std::optional<std::string> line =
      child.WaitForLine([](const std::string& l) { return l.rfind("ready", 0) == 0; }, milliseconds(10000));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "ready 42");
  std::optional<std::string> next = child.WaitForLine([](const std::string&) { return true; }, milliseconds(10000));
  EXPECT_EQ(next, "after");
  EXPECT_FALSE(child.WaitForLine([](const std::string&) { return true; }, milliseconds(100)));
  EXPECT_TRUE(child.Running());
  child.Signal(SIGTERM);
  ProcessResult result = child.Wait(milliseconds(10000));
  EXPECT_EQ(result.term_signal, SIGTERM);
  EXPECT_EQ(result.out, "first\nready 42\nafter\n");
}

TEST(SubprocessTest, WaitForLineReturnsNulloptWhenStdoutCloses) {
  Subprocess child = Shell("echo one; printf two");
  auto never = [](const std::string&) { return false; };
  EXPECT_FALSE(child.WaitForLine(never, milliseconds(10000)).has_value());
  EXPECT_EQ(child.Wait(milliseconds(10000)).out, "one\ntwo");
}

TEST(SubprocessTest, SignalStateIsResetInTheChild) {
  // The parent ignores SIGINT and blocks SIGTERM; the child must not.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous_int {};
  sigaction(SIGINT, &ignore, &previous_int);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t previous_mask;
  pthread_sigmask(SIG_BLOCK, &term, &previous_mask);

  Subprocess by_int({"/bin/sleep", "30"});
  Subprocess by_term({"/bin/sleep", "30"});

  sigaction(SIGINT, &previous_int, nullptr);
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);

  by_int.Signal(SIGINT);
  by_term.Signal(SIGTERM);
  ProcessResult int_result = by_int.Wait(milliseconds(5000));
  ProcessResult term_result = by_term.Wait(milliseconds(5000));
  EXPECT_FALSE(int_result.timed_out);
  EXPECT_EQ(int_result.term_signal, SIGINT);
  EXPECT_FALSE(term_result.timed_out);
  EXPECT_EQ(term_result.term_signal, SIGTERM);
}

TEST(SubprocessTest, ExecFailureThrowsAndLeavesNoChild) {
  const std::vector<pid_t> before = ChildrenOf(getpid());
  try {
    Subprocess child({"/nonexistent/program"});
    FAIL() << "exec of a missing program succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/program"), std::string::npos);
  }
  EXPECT_EQ(ChildrenOf(getpid()), before);
}

TEST(SubprocessTest, DestructorKillsAndReaps) {
  pid_t pid = 0;
  {
    Subprocess child({"/bin/sleep", "30"});
    pid = child.pid();
    EXPECT_TRUE(Contains(ChildrenOf(getpid()), pid));
    EXPECT_TRUE(child.Running());
  }
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_FALSE(Contains(ChildrenOf(getpid()), pid));
}

TEST(SubprocessTest, DestructorAlsoKillsDescendantsInTheGroup) {
  pid_t grandchild = 0;
  {
    Subprocess child = Shell("sleep 30 & echo $!; wait");
    std::optional<std::string> line = child.WaitForLine([](const std::string&) { return true; }, milliseconds(10000));
    ASSERT_TRUE(line.has_value());
    grandchild = static_cast<pid_t>(std::stol(*line));
    EXPECT_TRUE(ProcessExists(grandchild));
  }
  // Reparented to init, which reaps it at its own pace.
  const auto deadline = Clock::now() + milliseconds(5000);
  while (ProcessExists(grandchild) && !IsZombie(grandchild) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_TRUE(!ProcessExists(grandchild) || IsZombie(grandchild));
}

TEST(SubprocessTest, ExitedChildIsZombieUntilWaited) {
  Subprocess child({"/bin/true"});
  const pid_t pid = child.pid();
  const auto deadline = Clock::now() + milliseconds(5000);
  while (!IsZombie(pid) && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_TRUE(IsZombie(pid));
  EXPECT_TRUE(ProcessExists(pid));
  EXPECT_EQ(child.Wait(milliseconds(1000)).exit_code, 0);
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_FALSE(IsZombie(pid));
}

TEST(SubprocessTest, ProcQueriesOnThisProcess) {
  EXPECT_TRUE(ProcessExists(getpid()));
  EXPECT_FALSE(IsZombie(getpid()));
  EXPECT_TRUE(Contains(ChildrenOf(getppid()), getpid()));
  EXPECT_FALSE(ProcessExists(-1));
}

TEST(BinaryPathTest, PointsIntoTheBuildBinDirectoryUnlessOverridden) {
  const char* inherited = std::getenv("TASKFARM_BIN_DIR");
  const std::optional<std::string> saved = inherited != nullptr ? std::optional<std::string>(inherited) : std::nullopt;
  unsetenv("TASKFARM_BIN_DIR");
  EXPECT_EQ(BinaryPath("worker"), std::string(TASKFARM_BIN_DIR) + "/worker");
  ASSERT_EQ(setenv("TASKFARM_BIN_DIR", "/opt/taskfarm/bin", 1), 0);
  EXPECT_EQ(BinaryPath("worker"), "/opt/taskfarm/bin/worker");
  if (saved) {
    setenv("TASKFARM_BIN_DIR", saved->c_str(), 1);
  } else {
    unsetenv("TASKFARM_BIN_DIR");
  }
}

}  // namespace
}  // namespace taskfarm::testing
