// The fork server (coordinator/fork_server.h): local workers forked from it,
// a replacement too once the coordinator has its threads, holding none of
// the coordinator's descriptors and dying with it; --worker-bin and a lost
// fork server spawn instead. Real coordinators and workers; every wait is
// bounded.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

std::string ReadLink(const std::string& path) {
  std::error_code ec;
  std::filesystem::path target = std::filesystem::read_symlink(path, ec);
  return ec ? "" : target.string();
}

std::string Comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// What each of a process's descriptors past stdio is, by the kernel's own
// name for it (socket:[INODE], pipe:[INODE], a path): two processes holding
// one of these hold the same thing. anon_inode: descriptors (eventfd,
// epoll, signalfd) all read alike and are left out.
std::set<std::string> OpenThings(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    int fd = std::stoi(entry.path().filename().string());
    if (fd <= 2) continue;
    std::string what = ReadLink(entry.path().string());
    if (!what.empty() && what.rfind("anon_inode:", 0) != 0) out.insert(what);
  }
  return out;
}

size_t Threads(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    ++n;
  }
  return n;
}

// The first live worker of `coordinator` other than those in `not_these`.
pid_t AwaitNewWorker(pid_t coordinator, const std::set<pid_t>& not_these, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (pid_t kid : LiveChildren(coordinator)) {
      if (!not_these.count(kid) && Comm(kid) == "worker") return kid;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return 0;
}

bool GoneWithin(pid_t pid, milliseconds within) {
  auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    if (!ProcessExists(pid) || IsZombie(pid)) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

class ForkServerTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
};

TEST_F(ForkServerTest, AReplacementForkedMidRunRunsTasksHoldsNothingOfTheCoordinatorsAndDiesWithIt) {
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 200", 200));
  std::string out = dir_.File("out.jsonl");
  std::string journal = dir_.File("run.journal");
  // A descriptor the coordinator inherits from whoever started it (no
  // O_CLOEXEC): the fork server must close it, not hand it on.
  std::string inherited = dir_.File("inherited");
  int fd = open(inherited.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  Subprocess p(Coordinator(
      {"--workers", "1", "--concurrency", "1", "--tasks", tasks, "--output", out, "--journal", journal, "-q"}));
  close(fd);
  pid_t first = AwaitNewWorker(p.pid(), {}, milliseconds(10000));
  ASSERT_GT(first, 0) << "no worker started";
  // Forked, not exec'd: its program is the coordinator's. Its name and
  // command line are the worker's.
  EXPECT_EQ(ReadLink("/proc/" + std::to_string(first) + "/exe"), BinaryPath("coordinator"));
  std::ifstream cmdline("/proc/" + std::to_string(first) + "/cmdline");
  std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  EXPECT_EQ(args.rfind(BinaryPath("worker") + " --connect ", 0), 0u) << args;
  EXPECT_NE(args.find("--name w1"), std::string::npos) << args;

  // Mid-run: the coordinator's ZeroMQ threads are running, its files and
  // sockets open. The first worker's death makes it ask for another.
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_GT(Threads(p.pid()), 1u) << "the coordinator has no threads yet";
  kill(first, SIGKILL);
  pid_t second = AwaitNewWorker(p.pid(), {first}, milliseconds(10000));
  ASSERT_GT(second, 0) << "no replacement started";
  EXPECT_EQ(ReadLink("/proc/" + std::to_string(second) + "/exe"), BinaryPath("coordinator"));

  // Nothing the coordinator holds (its output, its journal, its sockets,
  // the task file, what it inherited) is held by the worker.
  std::set<std::string> coordinators = OpenThings(p.pid());
  EXPECT_TRUE(coordinators.count(out)) << "the coordinator does not hold its output open: the check would be vacuous";
  EXPECT_TRUE(coordinators.count(inherited)) << "the coordinator did not inherit the test's descriptor";
  for (const std::string& what : OpenThings(second)) {
    EXPECT_FALSE(coordinators.count(what)) << "the forked worker holds the coordinator's " << what;
  }

  // It runs tasks: its records reach the output.
  auto deadline = Clock::now() + seconds(20);
  bool ran = false;
  while (!ran && Clock::now() < deadline) {
    for (const auto& rec : ReadJsonLines(out)) ran |= rec.value("worker", "") == "w2";
    if (!ran) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(ran) << "the replacement w2 wrote no record";

  // The coordinator dies without a word: its worker goes with it.
  p.Signal(SIGKILL);
  (void)p.Wait(seconds(10));
  EXPECT_TRUE(GoneWithin(second, milliseconds(5000))) << "worker " << second << " outlived its coordinator";
}

TEST_F(ForkServerTest, WorkerBinIsSpawnedNotForked) {
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 100", 20));
  Subprocess p(Coordinator({"--workers", "1", "--worker-bin", BinaryPath("worker"), "--tasks", tasks, "-q"}));
  pid_t worker = AwaitNewWorker(p.pid(), {}, milliseconds(10000));
  ASSERT_GT(worker, 0);
  EXPECT_EQ(ReadLink("/proc/" + std::to_string(worker) + "/exe"), BinaryPath("worker"));
  for (pid_t kid : ChildrenOf(p.pid())) EXPECT_FALSE(IsForkServer(kid)) << "a fork server nobody uses";
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// A fork server that is gone (killed by a user's stray kill, say) costs
// speed, not work: the replacement is spawned, and every task still ends
// in one good record.
TEST_F(ForkServerTest, WithTheForkServerGoneAReplacementIsSpawned) {
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 50", 60));
  std::string out = dir_.File("out.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--concurrency", "1", "--tasks", tasks, "--output", out, "-q"}));
  pid_t first = AwaitNewWorker(p.pid(), {}, milliseconds(10000));
  ASSERT_GT(first, 0);
  pid_t server = 0;
  for (pid_t kid : ChildrenOf(p.pid())) {
    if (IsForkServer(kid)) server = kid;
  }
  ASSERT_GT(server, 0) << "no fork server among the coordinator's children";
  kill(server, SIGKILL);
  std::this_thread::sleep_for(milliseconds(200));
  kill(first, SIGKILL);
  pid_t second = AwaitNewWorker(p.pid(), {first}, milliseconds(10000));
  ASSERT_GT(second, 0) << "no replacement started";
  EXPECT_EQ(ReadLink("/proc/" + std::to_string(second) + "/exe"), BinaryPath("worker"));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto by_id = ById(ReadJsonLines(out), 60);
  for (auto& [id, rec] : by_id) EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
}

}  // namespace
}  // namespace taskfarm::testing
