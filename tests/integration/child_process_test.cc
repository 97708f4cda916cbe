// ChildProcess and GroupReaper with real processes: exit codes and signals,
// failures to start told as sentences, environment and working directory,
// output streamed and tailed, background children killed and reaped, and
// the resource usage of the leader.
//
//   build/bin/child_process_test --gtest_filter='*Background*'
#include "worker/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/posix.h"
#include "common/temp_dir.h"
#include "tests/support/subprocess.h"

namespace taskfarm {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The worker's signal state, which commands must not inherit: SIGINT and
// SIGTERM blocked (they arrive through its signalfd), SIGPIPE ignored. Set
// before any test runs, so every test checks the reset.
const UniqueFd kWorkerSignals = [] {
  signal(SIGPIPE, SIG_IGN);
  return BlockSignalsToFd({SIGINT, SIGTERM});
}();

std::unique_ptr<ChildProcess> Start(const SpawnSpec& spec, GroupReaper* reaper) {
  bool missing = true;
  auto child = ChildProcess::Spawn(spec, reaper, &missing);
  if (!child.ok()) {
    ADD_FAILURE() << "cannot start " << spec.argv.at(0) << ": " << child.status().message();
    return nullptr;
  }
  EXPECT_FALSE(missing);
  return std::move(child).value();
}

// What the worker's loop does: wait on the descriptors, then Advance.
// False if it had not finished by `limit`.
bool RunToEnd(ChildProcess* child, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = Clock::now() + limit;
  std::vector<int> fds;
  while (!child->Advance()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) return false;
    fds.clear();
    child->AppendFds(&fds);
    std::vector<pollfd> pfds;
    for (int fd : fds) pfds.push_back({fd, POLLIN, 0});
    int timeout = static_cast<int>(child->needs_polling() ? std::min<int64_t>(left.count(), 10) : left.count());
    ::poll(pfds.data(), pfds.size(), timeout);
  }
  return true;
}

std::string SpawnError(const SpawnSpec& spec, bool* missing) {
  auto child = ChildProcess::Spawn(spec, nullptr, missing);
  EXPECT_FALSE(child.ok());
  EXPECT_FALSE(child.status().message().empty());
  return child.status().message();
}

// Reaps until no group lingers; false if some still did after `limit`.
bool ReapAll(GroupReaper* reaper, std::chrono::milliseconds limit = 2000ms) {
  auto deadline = Clock::now() + limit;
  reaper->Reap();
  while (reaper->lingering() && Clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    reaper->Reap();
  }
  return !reaper->lingering();
}

std::vector<pid_t> ZombieChildren() {
  std::vector<pid_t> out;
  for (pid_t pid : testing::ChildrenOf(getpid())) {
    if (testing::IsZombie(pid)) out.push_back(pid);
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& contents, mode_t mode) {
  std::ofstream(path, std::ios::binary) << contents;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

uint64_t VmRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

TEST(ChildProcessTest, TrueExitsWithZero) {
  GroupReaper reaper;
  auto child = Start({.argv = {"true"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_TRUE(child->finished());
  EXPECT_TRUE(child->exit_status().exited);
  EXPECT_EQ(child->exit_status().exit_code, 0);
  EXPECT_EQ(child->exit_status().signal, 0);
  std::vector<int> fds;
  child->AppendFds(&fds);
  EXPECT_TRUE(fds.empty()) << "a finished command has nothing left to wait on";
}

TEST(ChildProcessTest, FalseExitsWithOne) {
  GroupReaper reaper;
  auto child = Start({.argv = {"false"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_TRUE(child->exit_status().exited);
  EXPECT_EQ(child->exit_status().exit_code, 1);
}

TEST(ChildProcessTest, AShellsExitCodeComesThrough) {
  GroupReaper reaper;
  auto child = Start({.argv = {"sh", "-c", "exit 7"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_TRUE(child->exit_status().exited);
  EXPECT_EQ(child->exit_status().exit_code, 7);
}

TEST(ChildProcessTest, TheSignalThatKilledItIsReported) {
  GroupReaper reaper;
  auto child = Start({.argv = {"sh", "-c", "kill -9 $$"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_FALSE(child->exit_status().exited);
  EXPECT_EQ(child->exit_status().signal, SIGKILL);
}

TEST(ChildProcessTest, AProgramNotInPathIsMissingAndTheSentenceSaysWhereItLooked) {
  bool missing = false;
  std::string error = SpawnError({.argv = {"taskfarm-no-such-program"}}, &missing);
  EXPECT_TRUE(missing);
  EXPECT_EQ(error.rfind("no such program 'taskfarm-no-such-program' (searched PATH=", 0), 0) << error;
}

TEST(ChildProcessTest, APathThatDoesNotExistIsMissing) {
  bool missing = false;
  std::string error = SpawnError({.argv = {"/nonexistent/taskfarm/prog"}}, &missing);
  EXPECT_TRUE(missing);
  EXPECT_EQ(error, "no such program '/nonexistent/taskfarm/prog'");
}

TEST(ChildProcessTest, ADirectoryIsNotAProgram) {
  bool missing = true;
  std::string error = SpawnError({.argv = {"/etc"}}, &missing);
  EXPECT_FALSE(missing);
  EXPECT_EQ(error, "'/etc' is a directory");
}

TEST(ChildProcessTest, ANonExecutableFileSaysSoAndHowToFixIt) {
  TempDir dir("child-process-test");
  WriteFile(dir.File("x.sh"), "#!/bin/sh\necho hi\n", 0644);
  bool missing = true;
  std::string error = SpawnError({.argv = {"./x.sh"}, .workdir = dir.path()}, &missing);
  EXPECT_FALSE(missing);
  EXPECT_EQ(error, "'./x.sh' (in '" + dir.path() + "') is not executable (mode 0644): chmod +x it");
}

TEST(ChildProcessTest, ANonExecutableFileFoundInPathSaysSo) {
  TempDir dir("child-process-test");
  WriteFile(dir.File("taskfarm-tool"), "#!/bin/sh\necho hi\n", 0600);
  bool missing = true;
  std::string error = SpawnError({.argv = {"taskfarm-tool"}, .env_extra = {"PATH=" + dir.path()}}, &missing);
  EXPECT_FALSE(missing);
  EXPECT_EQ(error, "'" + dir.File("taskfarm-tool") +
                       "', found in PATH for 'taskfarm-tool', is not executable (mode 0600): chmod +x it");
}

TEST(ChildProcessTest, AScriptWithoutAHashBangLineSaysItNeedsOne) {
  TempDir dir("child-process-test");
  WriteFile(dir.File("x"), "echo hi\n", 0755);
  bool missing = true;
  std::string error = SpawnError({.argv = {dir.File("x")}}, &missing);
  EXPECT_FALSE(missing);
  EXPECT_EQ(error, "'" + dir.File("x") +
                       "' is not a program this system can run: a script needs a first line such as #!/bin/sh");
}

TEST(ChildProcessTest, AMissingInterpreterIsNamedAndTheProgramIsNotMissing) {
  TempDir dir("child-process-test");
  WriteFile(dir.File("x"), "#!/nonexistent/sh -e\necho hi\n", 0755);
  bool missing = true;
  std::string error = SpawnError({.argv = {dir.File("x")}}, &missing);
  EXPECT_FALSE(missing);
  EXPECT_EQ(error,
            "'" + dir.File("x") + "' cannot start: its interpreter '/nonexistent/sh' (its #! line) does not exist");
}

TEST(ChildProcessTest, AWorkingDirectoryThatDoesNotExistIsNamed) {
  bool missing = true;
  std::string error = SpawnError({.argv = {"true"}, .workdir = "/nonexistent/taskfarm"}, &missing);
  EXPECT_FALSE(missing);
  EXPECT_EQ(error, "the working directory '/nonexistent/taskfarm' cannot be used: No such file or directory");
}

TEST(ChildProcessTest, AnEmptyCommandIsRefused) {
  bool missing = false;
  EXPECT_EQ(SpawnError({}, &missing), "no command to run: its argument list is empty");
  EXPECT_EQ(SpawnError({.argv = {"sh", "-c", "true", std::string("bad\0arg", 7)}}, &missing),
            "argument 3 of 'sh' holds a NUL byte, which no command line can carry");
}

TEST(ChildProcessTest, ExtraEnvironmentReachesTheCommandAndReplacesTheWorkers) {
  GroupReaper reaper;
  ASSERT_NE(std::getenv("PATH"), nullptr);
  auto child = Start({.argv = {"sh", "-c", R"(printf '%s %s ' "$TASKFARM_CP_TEST" "$HOME"; env | grep -c '^HOME=')"},
                      .env_extra = {"TASKFARM_CP_TEST=first", "HOME=/nowhere", "TASKFARM_CP_TEST=hello"}},
                     &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->stdout_tail(), "hello /nowhere 1\n");
}

TEST(ChildProcessTest, APathInTheExtraEnvironmentIsTheOneSearched) {
  GroupReaper reaper;
  TempDir dir("child-process-test");
  WriteFile(dir.File("taskfarm-tool"), "#!/bin/sh\necho tool ran\n", 0755);
  auto child =
      Start({.argv = {"taskfarm-tool"}, .env_extra = {"PATH=/nonexistent:" + dir.path() + ":/usr/bin:/bin"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->stdout_tail(), "tool ran\n");
}

TEST(ChildProcessTest, TheCommandRunsInItsWorkingDirectory) {
  GroupReaper reaper;
  TempDir dir("child-process-test");
  WriteFile(dir.File("here.sh"), "#!/bin/sh\npwd -P\n", 0755);
  auto child = Start({.argv = {"./here.sh"}, .workdir = dir.path()}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->stdout_tail(), std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(ChildProcessTest, BothStreamsAreCountedAndTailed) {
  GroupReaper reaper;
  auto child = Start({.argv = {"sh", "-c", "printf abc; printf defgh >&2"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->stdout_bytes(), 3u);
  EXPECT_EQ(child->stderr_bytes(), 5u);
  EXPECT_EQ(child->stdout_tail(), "abc");
  EXPECT_EQ(child->stderr_tail(), "defgh");
  EXPECT_EQ(child->write_error(), "");
}

TEST(ChildProcessTest, ACaptureOfZeroBytesKeepsNoTailButCountsEverything) {
  GroupReaper reaper;
  auto child = Start({.argv = {"printf", "hello"}, .capture_bytes = 0}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->stdout_tail(), "");
  EXPECT_EQ(child->stdout_bytes(), 5u);
}

TEST(ChildProcessTest, BinaryOutputWithNulsIsKeptAsBytes) {
  GroupReaper reaper;
  auto child = Start({.argv = {"printf", R"(a\000b\377)"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->stdout_tail(), std::string("a\0b\xff", 4));
}

TEST(ChildProcessTest, TheTailOfALargeOutputIsExactlyItsLastCaptureBytes) {
  GroupReaper reaper;
  TempDir dir("child-process-test");
  auto child = Start({.argv = {"head", "-c", "3000000", "/dev/urandom"},
                      .stdout_path = dir.File("out"),
                      .stderr_path = dir.File("err"),
                      .capture_bytes = 4096},
                     &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  std::string file = ReadFile(dir.File("out"));
  ASSERT_EQ(file.size(), 3000000u);
  EXPECT_EQ(child->stdout_bytes(), 3000000u);
  EXPECT_EQ(child->stdout_tail(), file.substr(file.size() - 4096));
  EXPECT_EQ(ReadFile(dir.File("err")), "");
  EXPECT_EQ(child->write_error(), "");
}

TEST(ChildProcessTest, AnOutputFileThatCannotBeWrittenIsReportedAndTheOutputStillCounted) {
  GroupReaper reaper;
  auto child = Start({.argv = {"printf", "hello"}, .stdout_path = "/nonexistent/taskfarm/out"}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->write_error(), "/nonexistent/taskfarm/out: cannot write: No such file or directory");
  EXPECT_EQ(child->stdout_bytes(), 5u);
  EXPECT_EQ(child->stdout_tail(), "hello");
  EXPECT_EQ(child->exit_status().exit_code, 0);
}

TEST(ChildProcessTest, AHundredMegabytesStreamToAFileWithoutGrowingMemory) {
  GroupReaper reaper;
  TempDir dir("child-process-test");
  uint64_t rss_before = VmRssKb();
  auto start = Clock::now();
  auto child = Start({.argv = {"sh", "-c", "yes | head -c 100000000"}, .stdout_path = dir.File("out")}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get(), 30000ms));
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  uint64_t rss_after = VmRssKb();
  EXPECT_EQ(std::filesystem::file_size(dir.File("out")), 100000000u);
  EXPECT_EQ(child->stdout_bytes(), 100000000u);
  EXPECT_EQ(child->stdout_tail().size(), 4096u);
  EXPECT_LT(rss_after, rss_before + 20 * 1024) << "VmRSS " << rss_before << " kB before, " << rss_after << " after";
  std::printf("100 MB through the pipe to a file in %.3f s (%.0f MB/s); VmRSS %llu -> %llu kB\n", seconds,
              100 / seconds, static_cast<unsigned long long>(rss_before), static_cast<unsigned long long>(rss_after));
}

TEST(ChildProcessTest, AChattyCommandIsReadAtMostAMebibyteACall) {
  GroupReaper reaper;
  auto child = Start({.argv = {"head", "-c", "20000000", "/dev/zero"}}, &reaper);
  ASSERT_TRUE(child);
  auto deadline = Clock::now() + 10s;
  uint64_t before = 0;
  int calls = 0;
  while (Clock::now() < deadline) {
    bool done = child->Advance();
    uint64_t got = child->stdout_bytes() - before;
    before = child->stdout_bytes();
    ++calls;
    if (done) break;
    ASSERT_LE(got, 1024u * 1024u);
    std::vector<int> fds;
    child->AppendFds(&fds);
    std::vector<pollfd> pfds;
    for (int fd : fds) pfds.push_back({fd, POLLIN, 0});
    ::poll(pfds.data(), pfds.size(), 100);
  }
  ASSERT_TRUE(child->finished());
  EXPECT_EQ(child->stdout_bytes(), 20000000u);
  EXPECT_GE(calls, 10);
}

TEST(ChildProcessTest, ABackgroundChildDiesWithItsTaskAndLeavesNoZombie) {
  GroupReaper reaper;
  auto start = Clock::now();
  auto child = Start({.argv = {"sh", "-c", "sleep 1000 & echo started"}}, &reaper);
  ASSERT_TRUE(child);
  pid_t pgid = child->pid();
  ASSERT_TRUE(RunToEnd(child.get(), 2000ms)) << "the background sleep kept the task from finishing";
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(child->stdout_tail(), "started\n");
  EXPECT_EQ(child->exit_status().exit_code, 0);
  ASSERT_TRUE(ReapAll(&reaper));
  EXPECT_EQ(testing::InGroup(pgid), std::vector<pid_t>{});
  EXPECT_EQ(ZombieChildren(), std::vector<pid_t>{});
}

TEST(ChildProcessTest, SignalGroupTerminatesASleepingCommand) {
  GroupReaper reaper;
  auto child = Start({.argv = {"sleep", "30"}}, &reaper);
  ASSERT_TRUE(child);
  child->SignalGroup(SIGTERM);
  ASSERT_TRUE(RunToEnd(child.get(), 2000ms));
  EXPECT_FALSE(child->exit_status().exited);
  EXPECT_EQ(child->exit_status().signal, SIGTERM);
}

TEST(ChildProcessTest, SignalGroupReachesAStoppedCommandToo) {
  GroupReaper reaper;
  auto child = Start({.argv = {"sh", "-c", "kill -STOP $$; sleep 30"}}, &reaper);
  ASSERT_TRUE(child);
  auto deadline = Clock::now() + 2s;
  std::string state;
  while (Clock::now() < deadline && state.find("T (stopped)") == std::string::npos) {
    std::this_thread::sleep_for(1ms);
    std::ifstream in("/proc/" + std::to_string(child->pid()) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("State:", 0) == 0) state = line;
    }
  }
  ASSERT_NE(state.find("T (stopped)"), std::string::npos) << state;
  child->SignalGroup(SIGTERM);
  ASSERT_TRUE(RunToEnd(child.get(), 2000ms));
  EXPECT_EQ(child->exit_status().signal, SIGTERM);
}

TEST(ChildProcessTest, DestroyingARunningCommandLeavesNoProcessAndNoZombie) {
  GroupReaper reaper;
  pid_t pgid = 0;
  {
    auto child = Start({.argv = {"sh", "-c", "sleep 30 & sleep 30"}}, &reaper);
    ASSERT_TRUE(child);
    pgid = child->pid();
    std::this_thread::sleep_for(50ms);  // let the shell start both
  }
  ASSERT_TRUE(ReapAll(&reaper));
  EXPECT_EQ(testing::InGroup(pgid), std::vector<pid_t>{});
  EXPECT_EQ(ZombieChildren(), std::vector<pid_t>{});
}

TEST(ChildProcessTest, SigpipeIsAtItsDefaultSoYesIntoHeadEndsCleanly) {
  GroupReaper reaper;
  auto start = Clock::now();
  auto child = Start({.argv = {"sh", "-c", "yes | head -c 10"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get(), 2000ms));
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(child->exit_status().exit_code, 0);
  EXPECT_EQ(child->stdout_tail(), "y\ny\ny\ny\ny\n");
  // With SIGPIPE ignored, yes would live on to see EPIPE and complain.
  EXPECT_EQ(child->stderr_tail(), "");
}

TEST(ChildProcessTest, TheCommandStartsWithNoBlockedOrIgnoredSignals) {
  GroupReaper reaper;
  auto child = Start({.argv = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  EXPECT_EQ(child->stdout_tail(), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST(ChildProcessTest, TheCommandGetsNoneOfTheWorkersDescriptors) {
  GroupReaper reaper;
  int leaked = ::fcntl(STDERR_FILENO, F_DUPFD, 200);  // not close-on-exec, as libcurl's sockets are not
  ASSERT_GE(leaked, 200);
  auto child = Start({.argv = {"ls", "/proc/self/fd"}}, &reaper);
  ::close(leaked);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get()));
  // ls's own directory descriptor is 3.
  EXPECT_EQ(child->stdout_tail(), "0\n1\n2\n3\n");
}

TEST(ChildProcessTest, ACpuBurningCommandReportsItsUserTime) {
  GroupReaper reaper;
  auto child = Start({.argv = {"sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get(), 20000ms));
  EXPECT_GT(child->exit_status().user_ms, 100) << "sys " << child->exit_status().sys_ms << " ms";
}

TEST(ChildProcessTest, APythonThatAllocatesReportsItsPeakMemory) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "/usr/bin/python3 is not installed";
  GroupReaper reaper;
  auto child = Start({.argv = {"/usr/bin/python3", "-c", "x=bytearray(100*1024*1024)"}}, &reaper);
  ASSERT_TRUE(child);
  ASSERT_TRUE(RunToEnd(child.get(), 20000ms));
  EXPECT_EQ(child->exit_status().exit_code, 0) << child->stderr_tail();
  EXPECT_GT(child->exit_status().max_rss_kb, 100000u);
}

TEST(ChildProcessTest, AReaperWithNothingLingeringReturnsAtOnce) {
  GroupReaper reaper;
  EXPECT_FALSE(reaper.lingering());
  auto start = Clock::now();
  reaper.ReapAll(1000);
  EXPECT_LT(Clock::now() - start, 50ms);
}

// Not a pass/fail bound worth the name on a shared machine (a loose one
// catches a regression to fork-sized costs); the numbers are printed.
TEST(ChildProcessTest, StartingAndFinishingTrueCostsWellUnderAMillisecondOfTheLoop) {
  GroupReaper reaper;
  constexpr int kRuns = 500;
  Clock::duration spawning{}, total{};
  for (int i = 0; i < kRuns; ++i) {
    auto t0 = Clock::now();
    auto child = Start({.argv = {"true"}}, &reaper);
    auto t1 = Clock::now();
    ASSERT_TRUE(child);
    ASSERT_TRUE(RunToEnd(child.get()));
    ASSERT_EQ(child->exit_status().exit_code, 0);
    child.reset();
    total += Clock::now() - t0;
    spawning += t1 - t0;
    reaper.Reap();
  }
  double spawn_ms = std::chrono::duration<double, std::milli>(spawning).count() / kRuns;
  double total_ms = std::chrono::duration<double, std::milli>(total).count() / kRuns;
  std::printf("true x %d: Spawn %.3f ms, Spawn to finished %.3f ms each\n", kRuns, spawn_ms, total_ms);
  RecordProperty("spawn_us", static_cast<int>(spawn_ms * 1000));
  RecordProperty("spawn_to_finished_us", static_cast<int>(total_ms * 1000));
  EXPECT_LT(spawn_ms, 5.0);
}

}  // namespace
}  // namespace taskfarm
