// common/posix: a real signal on a real signalfd, real spawns and their exit
// statuses, the self path, the timestamp's format.
#include "common/posix.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/temp_dir.h"

namespace taskfarm {
namespace {

// Restores the calling thread's signal mask when the test ends, so a signal
// it blocked does not stay blocked for the tests after it.
class MaskRestorer {
 public:
  MaskRestorer() { pthread_sigmask(SIG_SETMASK, nullptr, &saved_); }
  ~MaskRestorer() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

 private:
  sigset_t saved_;
};

// Waits for `pid` and returns its wait status.
int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

TEST(BlockSignalsToFdTest, ARaisedSignalIsReadFromTheDescriptorNotDelivered) {
  MaskRestorer restore;
  UniqueFd fd = BlockSignalsToFd({SIGUSR1, SIGUSR2});
  ASSERT_TRUE(fd);
  EXPECT_EQ(NextSignal(fd.get()), 0);  // nothing pending yet, and no blocking
  // raise() sends to this thread, which has both blocked: without the mask
  // SIGUSR1's default action would end the test program.
  ASSERT_EQ(raise(SIGUSR2), 0);
  ASSERT_EQ(raise(SIGUSR1), 0);
  std::vector<int> got;
  while (int sig = NextSignal(fd.get())) got.push_back(sig);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{SIGUSR1, SIGUSR2}));
  EXPECT_EQ(NextSignal(fd.get()), 0);
}

TEST(BlockSignalsToFdTest, TheDescriptorIsNonBlockingAndClosedOnExec) {
  MaskRestorer restore;
  UniqueFd fd = BlockSignalsToFd({SIGUSR1});
  ASSERT_TRUE(fd);
  EXPECT_TRUE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  EXPECT_EQ(sigismember(&now, SIGUSR1), 1);
}

TEST(SpawnProcessTest, ReportsTheChildsExitStatus) {
  int ok = Reap(SpawnProcess({"/bin/true"}));
  ASSERT_TRUE(WIFEXITED(ok));
  EXPECT_EQ(WEXITSTATUS(ok), 0);
  int three = Reap(SpawnProcess({"/bin/sh", "-c", "exit 3"}));
  ASSERT_TRUE(WIFEXITED(three));
  EXPECT_EQ(WEXITSTATUS(three), 3);
}

TEST(SpawnProcessTest, AMissingProgramThrowsNamingItAndItsErrno) {
  try {
    (void)SpawnProcess({"/nonexistent/taskfarm/prog", "x"});
    FAIL() << "no SpawnError";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.error, ENOENT);
    EXPECT_EQ(std::string(e.what()), "cannot start /nonexistent/taskfarm/prog: No such file or directory");
  }
  EXPECT_THROW((void)SpawnProcess({}), SpawnError);
}

TEST(SpawnProcessTest, TheProgramIsNotLookedUpInPath) { EXPECT_THROW((void)SpawnProcess({"true"}), SpawnError); }

TEST(SpawnProcessTest, OutputFileTakesStdoutAndStderrAndStdinIsEmpty) {
  TempDir dir("posix-test");
  std::string log = dir.File("log");
  // `cat` reads the child's stdin: /dev/null ends it at once.
  pid_t pid = SpawnProcess({"/bin/sh", "-c", "echo out; echo err >&2; cat"}, {.output_file = log, .stdin_null = true});
  int status = Reap(pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "out\nerr\n");
}

TEST(SpawnProcessTest, TheEnvironmentIsTheOneGivenOrElseThisProcesss) {
  std::vector<std::string> env{"TASKFARM_POSIX_TEST=given"};
  int given = Reap(
      SpawnProcess({"/bin/sh", "-c", "test \"$TASKFARM_POSIX_TEST\" = given && test -z \"$HOME\""}, {.env = &env}));
  EXPECT_TRUE(WIFEXITED(given) && WEXITSTATUS(given) == 0) << given;
  ASSERT_EQ(setenv("TASKFARM_POSIX_TEST", "inherited", 1), 0);
  int inherited = Reap(SpawnProcess({"/bin/sh", "-c", "test \"$TASKFARM_POSIX_TEST\" = inherited"}));
  unsetenv("TASKFARM_POSIX_TEST");
  EXPECT_TRUE(WIFEXITED(inherited) && WEXITSTATUS(inherited) == 0) << inherited;
}

TEST(SpawnProcessTest, TheChildGetsSignalsThisProcessBlocked) {
  MaskRestorer restore;
  UniqueFd fd = BlockSignalsToFd({SIGTERM});
  // Blocked here, unblocked and at its default action there: the shell
  // dies of its own SIGTERM instead of reaching `exit 0`.
  int status = Reap(SpawnProcess({"/bin/sh", "-c", "kill -TERM $$; exit 0"}));
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(NextSignal(fd.get()), 0);  // it was the child's, not ours
}

TEST(SpawnProcessTest, OwnProcessGroupOnlyWhenAsked) {
  pid_t own = SpawnProcess({"/bin/true"}, {.own_process_group = true});
  pid_t shared = SpawnProcess({"/bin/true"});
  // A child that has exited keeps its group until it is reaped.
  EXPECT_EQ(getpgid(own), own);
  EXPECT_EQ(getpgid(shared), getpgrp());
  Reap(own);
  Reap(shared);
}

TEST(SelfExePathTest, IsThisTestProgram) {
  std::string self = SelfExePath();
  ASSERT_FALSE(self.empty());
  EXPECT_EQ(self.front(), '/');
  EXPECT_TRUE(self.ends_with("/unit_tests")) << self;
}

TEST(LocalTimestampTest, IsDateTimeAndZoneInLocalTime) {
  const char* saved = std::getenv("TZ");
  std::string saved_tz = saved ? saved : "";
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(LocalTimestamp(0), "1970-01-01 00:00:00 UTC");
  EXPECT_EQ(LocalTimestamp(1'700'000'000), "2023-11-14 22:13:20 UTC");
  setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
  tzset();
  EXPECT_EQ(LocalTimestamp(1'700'000'000), "2023-11-14 23:13:20 CET");
  EXPECT_EQ(LocalTimestamp(1'690'000'000), "2023-07-22 06:26:40 CEST");
  if (saved) {
    setenv("TZ", saved_tz.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  EXPECT_TRUE(std::regex_match(LocalTimestamp(), std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+)")))
      << LocalTimestamp();
}

}  // namespace
}  // namespace taskfarm
