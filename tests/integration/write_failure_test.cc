// Result files that cannot be written: the run says which file and why,
// starts no new task, exits 3, and loses nothing: no torn record, no record
// reported done that the journal does not hold, and --resume (once there is
// space again) ends with every id exactly once. The full disk is a real
// 64 KiB tmpfs (root only; skipped otherwise) or /dev/full.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;

// A small tmpfs mounted on a fresh directory for the test's lifetime.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& dir, size_t bytes) : dir_(dir) {
    ::mkdir(dir.c_str(), 0755);
    std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0;
  }
  ~SmallTmpfs() { Unmount(); }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

  bool mounted() const { return mounted_; }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }
  void Unmount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    mounted_ = false;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

#define REQUIRE_SMALL_TMPFS(fs)                                                                 \
  do {                                                                                          \
    if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";                          \
    if (!(fs).mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno); \
  } while (0)

// The journal's records (the header left out).
std::vector<nlohmann::json> JournalRecords(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (auto& rec : ReadJsonLines(path)) {
    if (!rec.contains("taskfarm_journal")) out.push_back(rec);
  }
  return out;
}

class WriteFailTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  std::string Noops(int n) { return dir_.Write("noop.txt", Repeat("noop", n)); }
};

TEST_F(WriteFailTest, OutputToDevFullIsOneClearErrorAndExit3) {
  Subprocess p(Coordinator({"--workers", "2", "--tasks", Noops(2000), "--quiet", "--output", "/dev/full"}));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("coordinator: /dev/full: cannot write: No space left on device; no new tasks start"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(CountLines(r.err, "/dev/full"), 1) << r.err;  // said once, not once a batch
  EXPECT_NE(r.out.find("not written: /dev/full: cannot write: No space left on device"), std::string::npos) << r.out;
}

TEST_F(WriteFailTest, OutputOnAFullFileSystemKeepsWholeRecordsAndExits3) {
  SmallTmpfs fs(dir_.File("small"), 64 << 10);
  REQUIRE_SMALL_TMPFS(fs);
  std::string out = fs.File("out.jsonl");
  Subprocess p(Coordinator({"--workers", "2", "--tasks", Noops(2000), "--quiet", "--output", out}));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(out + ": cannot write: No space left on device"), std::string::npos) << r.err;
  std::string text = ReadText(out);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the last record was cut mid-object";
  std::set<int> ids;
  for (auto& rec : ReadJsonLines(out)) EXPECT_TRUE(ids.insert(rec["id"].get<int>()).second) << rec.dump();
  EXPECT_LT(ids.size(), 2000u);  // the point of the test: it did not fit
}

TEST_F(WriteFailTest, FullJournalReportsNothingItDoesNotHoldAndResumeCompletesTheRun) {
  const int n = 2000;
  SmallTmpfs fs(dir_.File("small"), 64 << 10);
  REQUIRE_SMALL_TMPFS(fs);
  // Small batches (a few tasks in flight), so the journal takes some before
  // it fills up, and queued tasks are left to be cancelled when it does.
  std::string tasks = dir_.Write("sleep.txt", Repeat("sleep 1", n));
  std::string journal = fs.File("journal");
  std::string out1 = dir_.File("R1.jsonl"), out2 = dir_.File("R2.jsonl");
  // Not quiet: what is printed counts as reported too.
  Subprocess p(
      Coordinator({"--workers", "2", "--concurrency", "2", "--tasks", tasks, "--journal", journal, "--output", out1}));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("coordinator: " + journal + ": cannot write: No space left on device; no new tasks start"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("could not be journalled: --resume will run them again"), std::string::npos) << r.out;

  std::set<int> journalled;
  for (auto& rec : JournalRecords(journal)) {
    EXPECT_TRUE(journalled.insert(rec["id"].get<int>()).second) << rec.dump();
  }
  ASSERT_LT(journalled.size(), static_cast<size_t>(n));  // the point of the test: it did not fit
  // Everything reported done is in the journal: in --output...
  int done_in_output = 0;
  for (auto& rec : ReadJsonLines(out1)) {
    if (rec.value("error_code", "") == "cancelled") continue;
    ++done_in_output;
    EXPECT_TRUE(journalled.count(rec["id"].get<int>())) << "reported but not journalled: " << rec.dump();
  }
  EXPECT_EQ(done_in_output, static_cast<int>(journalled.size()));
  // ...and on the console (a sleep's line has no id: count them).
  EXPECT_EQ(CountLines(r.out, "Slept 1 ms (worker"), static_cast<int>(journalled.size()));
  EXPECT_NE(r.out.find("tasks: " + std::to_string(journalled.size()) + " ok"), std::string::npos) << r.out;

  // Space again: the journal moves to a roomy place and the run resumes.
  std::string roomy = dir_.File("journal");
  std::filesystem::copy_file(journal, roomy);
  fs.Unmount();
  Subprocess q(
      Coordinator({"--workers", "2", "--tasks", tasks, "--journal", roomy, "--resume", "--output", out2, "-q"}));
  ProcessResult r2 = q.Wait(seconds(60));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  for (auto& [id, rec] : ById(ReadJsonLines(out2), n)) EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
  ById(JournalRecords(roomy), n);
}

TEST_F(WriteFailTest, ReportOrJsonIntoAMissingDirectoryIsRefusedBeforeAnythingRuns) {
  std::string tasks = Noops(10);
  for (std::string flag : {"--report", "--json"}) {
    std::string path = dir_.File("no-such-dir/report");
    std::string out = dir_.File("R.jsonl");
    Subprocess p(Coordinator({"--workers", "1", "--tasks", tasks, "--output", out, flag, path}));
    ProcessResult r = p.Wait(seconds(30));
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.err;
    EXPECT_NE(r.err.find(flag + " " + path + ": cannot write: No such file or directory"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Completed"), std::string::npos) << "it ran: " << r.out;
    EXPECT_FALSE(std::filesystem::exists(out)) << "nothing runs, nothing is written";
  }
}

TEST_F(WriteFailTest, ReportThatCannotBeWrittenAtTheEndSaysWhyAndExits3) {
  Subprocess p(Coordinator({"--workers", "1", "--tasks", Noops(10), "-q", "--report", "/dev/full"}));
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("coordinator: /dev/full: cannot write: No space left on device"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("wrote"), std::string::npos) << r.err;
}

TEST_F(WriteFailTest, JsonReportOnAFullFileSystemExits3AndLeavesNoTemporaryFile) {
  SmallTmpfs fs(dir_.File("small"), 64 << 10);
  REQUIRE_SMALL_TMPFS(fs);
  {
    // Fill it: creating a file still works, writing one does not.
    std::ofstream filler(fs.File("filler"), std::ios::binary);
    std::string block(4096, 'x');
    for (int i = 0; i < 64 && filler; ++i) filler << block;
  }
  std::string json = fs.File("report.json");
  Subprocess p(Coordinator({"--workers", "1", "--tasks", Noops(200), "-q", "--json", json}));
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("coordinator: " + json + ": cannot write: No space left on device"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("wrote"), std::string::npos) << r.err;
  std::vector<std::string> left;
  for (auto& e : std::filesystem::directory_iterator(dir_.File("small"))) left.push_back(e.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"filler"});
}

}  // namespace
}  // namespace taskfarm::testing
