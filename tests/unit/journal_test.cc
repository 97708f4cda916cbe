// The journal: header on a fresh file, refusal without --resume, recovery
// of ok/failed ids on resume, tolerance of a torn last line, and a failed
// write cut back to the last durable size.
#include "coordinator/journal.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "proto/taskfarm.pb.h"

namespace taskfarm {
namespace {

constexpr uint64_t kFingerprint = 0x0123456789abcdefULL;
constexpr uint32_t kTotal = 5;
const char kHeader[] = R"({"taskfarm_journal":1,"fingerprint":"0123456789abcdef","total":5})";

// A journal record as the coordinator writes it: protobuf JSON of a Result.
std::string Record(uint32_t id, bool ok, const std::string& error = "") {
  pb::Result r;
  r.set_id(id);
  r.set_kind("noop");
  r.set_ok(ok);
  r.set_worker("w1");
  r.set_attempts(1);
  r.set_duration_ms(1.5);
  if (!ok) r.set_error(error.empty() ? "boom" : error);
  r.set_task("noop");
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(r, &json, opts).ok());
  return json;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "journal_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "run.journal").string();
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::string ReadAll() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void WriteAll(const std::string& content) const {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << content;
  }
  // Writes a fresh journal holding `records`.
  void WriteJournal(const std::vector<std::string>& records) {
    Journal::Recovered rec;
    auto opened = Journal::Open(path_, kFingerprint, kTotal, false, &rec);
    ASSERT_EQ(opened.status().ToString(), "ok");
    std::unique_ptr<Journal> j = std::move(opened).value();
    for (const std::string& r : records) j->Append(r);
    ASSERT_EQ(j->Sync().ToString(), "ok");
  }
  std::unique_ptr<Journal> Resume(Journal::Recovered* rec, uint32_t total = kTotal,
                                  uint64_t fingerprint = kFingerprint) {
    auto j = Journal::Open(path_, fingerprint, total, true, rec);
    EXPECT_EQ(j.status().ToString(), "ok");
    return j.ok() ? std::move(j).value() : nullptr;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(JournalTest, FreshJournalWritesHeader) {
  Journal::Recovered rec;
  auto opened = Journal::Open(path_, kFingerprint, kTotal, false, &rec);
  ASSERT_EQ(opened.status().ToString(), "ok");
  std::unique_ptr<Journal> j = std::move(opened).value();
  EXPECT_EQ(ReadAll(), std::string(kHeader) + "\n");  // durable at once
  j->Append(Record(0, true));
  j->Append(Record(1, false));
  j.reset();  // destruction syncs
  EXPECT_EQ(ReadAll(), std::string(kHeader) + "\n" + Record(0, true) + "\n" + Record(1, false) + "\n");
}

TEST_F(JournalTest, AppendIsWrittenBySync) {
  Journal::Recovered rec;
  auto opened = Journal::Open(path_, kFingerprint, kTotal, false, &rec);
  ASSERT_EQ(opened.status().ToString(), "ok");
  std::unique_ptr<Journal> j = std::move(opened).value();
  j->Append(Record(2, true));
  ASSERT_EQ(j->Sync().ToString(), "ok");
  EXPECT_EQ(ReadAll(), std::string(kHeader) + "\n" + Record(2, true) + "\n");
  EXPECT_EQ(j->Sync().ToString(), "ok");  // nothing new: no change
  EXPECT_EQ(ReadAll(), std::string(kHeader) + "\n" + Record(2, true) + "\n");
}

TEST_F(JournalTest, FreshJournalInAnEmptyExistingFile) {
  WriteAll("");
  Journal::Recovered rec;
  auto opened = Journal::Open(path_, kFingerprint, kTotal, false, &rec);
  ASSERT_EQ(opened.status().ToString(), "ok");
  std::unique_ptr<Journal> j = std::move(opened).value();
  EXPECT_EQ(ReadAll(), std::string(kHeader) + "\n");
}

TEST_F(JournalTest, ReopenWithoutResumeIsAnError) {
  WriteJournal({Record(0, true)});
  std::string before = ReadAll();
  Journal::Recovered rec;
  std::string error;
  error = Journal::Open(path_, kFingerprint, kTotal, false, &rec).status().message();
  EXPECT_NE(error, "");
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("--resume"), std::string::npos) << error;
  EXPECT_EQ(ReadAll(), before);  // untouched
}

TEST_F(JournalTest, ReopenWithoutResumeIsAnErrorEvenWithOnlyAHeader) {
  WriteJournal({});
  Journal::Recovered rec;
  std::string error;
  error = Journal::Open(path_, kFingerprint, kTotal, false, &rec).status().message();
  EXPECT_NE(error, "");
  EXPECT_FALSE(error.empty());
}

TEST_F(JournalTest, ResumeRecoversOkAndFailedIds) {
  WriteJournal({Record(0, true), Record(1, false), Record(2, false), Record(2, true), Record(3, false),
                Record(3, false, "again"), Record(0, true)});
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(rec.ok, (std::vector<bool>{true, false, true, false, false}));
  EXPECT_EQ(rec.failed, (std::vector<bool>{false, true, false, true, false}));
  // One ok line per id, the first one.
  EXPECT_EQ(rec.ok_lines, (std::vector<std::string>{Record(0, true), Record(2, true)}));
  EXPECT_EQ(rec.torn_lines, 0u);
}

TEST_F(JournalTest, OkSupersedesFailedWhicheverComesFirst) {
  WriteJournal({Record(4, true), Record(4, false), Record(1, false), Record(1, true)});
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(rec.ok, (std::vector<bool>{false, true, false, false, true}));
  EXPECT_EQ(rec.failed, (std::vector<bool>(kTotal, false)));
  EXPECT_EQ(rec.ok_lines.size(), 2u);
}

TEST_F(JournalTest, FailedLinesHoldTheLastFailurePerStillFailedId) {
  // journal.h: failed_lines is "the JSON of each failed record (last one per
  // id)"; the coordinator replays it into --output on resume.
  WriteJournal({Record(1, false, "first"), Record(2, false), Record(2, true), Record(1, false, "second")});
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(rec.failed, (std::vector<bool>{false, true, false, false, false}));
  if (rec.failed_lines != std::vector<std::string>{Record(1, false, "second")}) {
    FAIL() << "regression: coordinator/journal.cc Journal::Open pushes every failed record into "
              "failed_lines (got "
           << rec.failed_lines.size()
           << " lines, want 1): superseded failures of ids later ok, and earlier failures "
              "of ids that failed twice, are replayed into --output on resume";
  }
}

TEST_F(JournalTest, ResumeOfAnEmptyJournalRecoversNothing) {
  WriteJournal({});
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_TRUE(rec.ok_lines.empty());
  EXPECT_TRUE(rec.failed_lines.empty());
  EXPECT_EQ(rec.torn_lines, 0u);
  for (bool b : rec.ok) EXPECT_FALSE(b);
  for (bool b : rec.failed) EXPECT_FALSE(b);
}

TEST_F(JournalTest, TornLastLineIsIgnoredAndCounted) {
  std::string full = Record(0, true);
  std::string torn = Record(1, true);
  torn.resize(torn.size() / 2);
  WriteAll(std::string(kHeader) + "\n" + full + "\n" + torn);  // crash mid-write: no newline
  {
    Journal::Recovered rec;
    auto j = Resume(&rec);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(rec.torn_lines, 1u);
    EXPECT_EQ(rec.ok, (std::vector<bool>{true, false, false, false, false}));
    EXPECT_EQ(rec.ok_lines, std::vector<std::string>{full});
    j->Append(Record(1, true));
  }
  // The next record did not glue itself to the torn one.
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(rec.ok, (std::vector<bool>{true, true, false, false, false}));
  EXPECT_EQ(rec.torn_lines, 1u);
}

TEST_F(JournalTest, ACompleteLastRecordWithoutItsNewlineIsKeptAndNotGluedTo) {
  WriteAll(std::string(kHeader) + "\n" + Record(0, true));  // crash between the record and its newline
  {
    Journal::Recovered rec;
    auto j = Resume(&rec);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(rec.ok, (std::vector<bool>{true, false, false, false, false}));
    j->Append(Record(1, true));
    ASSERT_EQ(j->Sync().ToString(), "ok");
  }
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(rec.ok, (std::vector<bool>{true, true, false, false, false}));
  EXPECT_EQ(rec.torn_lines, 0u);
}

TEST_F(JournalTest, RecordForAnIdPastTheTotalCountsAsTorn) {
  WriteJournal({Record(0, true), Record(kTotal, true), "not json"});
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(rec.torn_lines, 2u);
  EXPECT_EQ(rec.ok_lines.size(), 1u);
}

TEST_F(JournalTest, CleanJournalResumedTwiceHasNoTornLines) {
  WriteJournal({Record(0, true)});
  {
    Journal::Recovered rec;
    auto j = Resume(&rec);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(rec.torn_lines, 0u);
  }
  Journal::Recovered rec;
  auto j = Resume(&rec);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(rec.ok_lines.size(), 1u);
  if (rec.torn_lines != 0) {
    FAIL() << "regression: coordinator/journal.cc Journal::Open appends \"\\n\" on every resume "
              "(to end a torn line) even when the file already ends in a newline; the blank "
              "line it leaves is counted as torn on the next resume (torn_lines = "
           << rec.torn_lines << ")";
  }
}

// A stream has no fingerprint or total before the run (fingerprint 0): its
// journal says it was streamed, and resuming matches tasks by position.
TEST_F(JournalTest, AStreamedInputsJournalSaysSoAndResumesByPosition) {
  const char kStreamed[] = R"({"taskfarm_journal":1,"fingerprint":"0000000000000000","total":0,"streamed":true})";
  {
    Journal::Recovered rec;
    auto opened = Journal::Open(path_, 0, 0, false, &rec);
    ASSERT_EQ(opened.status().ToString(), "ok");
    std::unique_ptr<Journal> j = std::move(opened).value();
    EXPECT_TRUE(rec.note.empty());
    j->Append(Record(0, true));
    j->Append(Record(7, false));
    ASSERT_EQ(j->Sync().ToString(), "ok");
  }
  EXPECT_EQ(ReadAll().substr(0, ReadAll().find('\n')), kStreamed);
  std::string before = ReadAll();
  Journal::Recovered rec;
  std::string error;
  error = Journal::Open(path_, 0, 0, false, &rec).status().message();
  EXPECT_NE(error, "") << "without --resume, as for a file";
  EXPECT_NE(error.find("--resume"), std::string::npos) << error;

  Journal::Recovered streamed;
  ASSERT_NE(Resume(&streamed, 0, 0), nullptr);
  EXPECT_EQ(
      streamed.note,
      path_ + ": the input is a stream: its tasks are matched to the journal by position, each checked as it is read");
  ASSERT_EQ(streamed.ok.size(), 8u) << "ids are not bounded by a total";
  EXPECT_TRUE(streamed.ok[0]);
  EXPECT_TRUE(streamed.failed[7]);
  EXPECT_EQ(streamed.failed_lines.size(), 1u);

  // The same tasks from a file now: by position too, within its total.
  Journal::Recovered from_file;
  ASSERT_NE(Resume(&from_file, kTotal, kFingerprint), nullptr);
  EXPECT_EQ(
      from_file.note,
      path_ +
          ": the journal is of a stream: its tasks are matched to the journal by position, each checked as it is read");
  EXPECT_TRUE(from_file.ok[0]);
  EXPECT_EQ(from_file.torn_lines, 1u) << "id 7 is past the file's 5 tasks";
  EXPECT_EQ(ReadAll(), before) << "resuming rewrites nothing";
}

TEST_F(JournalTest, AStreamResumesAFilesJournalByPosition) {
  WriteJournal({Record(1, true), Record(3, true)});
  Journal::Recovered rec;
  ASSERT_NE(Resume(&rec, 0, 0), nullptr);
  EXPECT_EQ(
      rec.note,
      path_ + ": the input is a stream: its tasks are matched to the journal by position, each checked as it is read");
  ASSERT_GE(rec.ok.size(), 4u);
  EXPECT_TRUE(rec.ok[1]);
  EXPECT_TRUE(rec.ok[3]);
  EXPECT_FALSE(rec.ok[0]);
  // Between two files nothing changes: the fingerprint must match.
  Journal::Recovered exact;
  ASSERT_NE(Resume(&exact), nullptr);
  EXPECT_TRUE(exact.note.empty());
}

TEST_F(JournalTest, MismatchedFingerprintOrTotalIsAnError) {
  WriteJournal({Record(0, true)});
  std::string before = ReadAll();
  for (bool resume : {true, false}) {
    Journal::Recovered rec;
    std::string error;
    error = Journal::Open(path_, kFingerprint + 1, kTotal, resume, &rec).status().message();
    EXPECT_NE(error, "");
    EXPECT_NE(error.find("belongs to another task list"), std::string::npos) << error;
    error.clear();
    error = Journal::Open(path_, kFingerprint, kTotal + 1, resume, &rec).status().message();
    EXPECT_NE(error, "");
    EXPECT_NE(error.find("belongs to another task list"), std::string::npos) << error;
  }
  EXPECT_EQ(ReadAll(), before);
}

TEST_F(JournalTest, NotAJournalIsAnError) {
  WriteAll("hello\n");
  Journal::Recovered rec;
  std::string error;
  error = Journal::Open(path_, kFingerprint, kTotal, true, &rec).status().message();
  EXPECT_NE(error, "");
  EXPECT_FALSE(error.empty());
}

TEST_F(JournalTest, UnwritablePathIsAnError) {
  Journal::Recovered rec;
  std::string error;
  std::string path = (dir_ / "missing-dir" / "j").string();
  error = Journal::Open(path, kFingerprint, kTotal, false, &rec).status().message();
  EXPECT_NE(error, "");
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

// The file-size limit (RLIMIT_FSIZE) makes write(2) fail with EFBIG past a
// size, after writing what fits: a full disk, short write included, without
// needing root to mount a small file system. Restored on destruction.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a core dump
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &limit) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
  bool ok_ = false;
};

TEST_F(JournalTest, FailedSyncCutsTheFileBackToTheLastDurableRecord) {
  Journal::Recovered rec;
  std::string error;
  auto opened = Journal::Open(path_, kFingerprint, kTotal, false, &rec);
  ASSERT_EQ(opened.status().ToString(), "ok");
  std::unique_ptr<Journal> j = std::move(opened).value();
  j->Append(Record(0, true));
  ASSERT_EQ(j->Sync().ToString(), "ok");
  std::string durable = ReadAll();
  {
    // Room for half of the next batch: the first record fits, the second is
    // cut mid-line by a short write.
    FileSizeLimit limit(durable.size() + Record(1, true).size() + 1 + Record(2, true).size() / 2);
    ASSERT_TRUE(limit.ok());
    j->Append(Record(1, true));
    j->Append(Record(2, true));
    error = j->Sync().message();
    EXPECT_NE(error, "");
  }
  EXPECT_NE(error.find(path_ + ": cannot write: "), std::string::npos) << error;
  EXPECT_NE(error.find(std::strerror(EFBIG)), std::string::npos) << error;
  EXPECT_TRUE(j->failed());
  // Neither record of the failed batch stays, not even the whole one: none
  // was reported done, so --resume must run both.
  EXPECT_EQ(ReadAll(), durable);
}

TEST_F(JournalTest, FailedJournalStaysFailedAndWritesNothingMore) {
  Journal::Recovered rec;
  std::string error;
  auto opened = Journal::Open(path_, kFingerprint, kTotal, false, &rec);
  ASSERT_EQ(opened.status().ToString(), "ok");
  std::unique_ptr<Journal> j = std::move(opened).value();
  std::string durable = ReadAll();
  {
    FileSizeLimit limit(durable.size());
    ASSERT_TRUE(limit.ok());
    j->Append(Record(0, true));
    error = j->Sync().message();
    EXPECT_NE(error, "");
  }
  std::string first = error;
  // Space again, but the journal does not resume writing: the records it
  // dropped would leave a gap the caller cannot see.
  j->Append(Record(1, true));
  error.clear();
  error = j->Sync().message();
  EXPECT_NE(error, "");
  EXPECT_EQ(error, first);
  j.reset();  // the destructor's last Sync writes nothing either
  EXPECT_EQ(ReadAll(), durable);
  // What is there resumes cleanly.
  Journal::Recovered again;
  auto k = Resume(&again);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(again.torn_lines, 0u);
  EXPECT_TRUE(again.ok_lines.empty());
}

TEST_F(JournalTest, HeaderThatCannotBeWrittenFailsOpen) {
  FileSizeLimit limit(10);
  ASSERT_TRUE(limit.ok());
  Journal::Recovered rec;
  std::string error;
  error = Journal::Open(path_, kFingerprint, kTotal, false, &rec).status().message();
  EXPECT_NE(error, "");
  EXPECT_NE(error.find(path_ + ": cannot write: "), std::string::npos) << error;
  EXPECT_EQ(ReadAll(), "");  // no torn header left behind
}

TEST_F(JournalTest, DeviceIsNotAJournal) {
  // /dev/full reads as endless zeros and takes no write: refused up front.
  Journal::Recovered rec;
  std::string error;
  error = Journal::Open("/dev/full", kFingerprint, kTotal, true, &rec).status().message();
  EXPECT_NE(error, "");
  EXPECT_NE(error.find("/dev/full"), std::string::npos) << error;
}

TEST(ParseJournalRecordTest, ReadsIdAndOk) {
  uint32_t id = 99;
  bool ok = false;
  EXPECT_TRUE(ParseJournalRecord(Record(3, true), &id, &ok));
  EXPECT_EQ(id, 3u);
  EXPECT_TRUE(ok);
  EXPECT_TRUE(ParseJournalRecord(Record(0, false), &id, &ok));
  EXPECT_EQ(id, 0u);
  EXPECT_FALSE(ok);
  // Fields from a newer version are ignored.
  EXPECT_TRUE(ParseJournalRecord(R"({"id":4,"kind":"cpu","ok":true,"new_field":[1,2]})", &id, &ok));
  EXPECT_EQ(id, 4u);
}

TEST(ParseJournalRecordTest, GarbageIsNotARecord) {
  std::string full = Record(2, true);
  for (const std::string& line :
       std::vector<std::string>{"", " ", "garbage", "{", "}", "[]", "[1,2]", "null", "42", "{}",
                                R"({"id":1,"ok":true})",                   // no kind: not a record
                                R"({"id":"x","kind":"noop","ok":true})",   // id not a number
                                R"({"id":-1,"kind":"noop","ok":true})",    // id negative
                                R"({"id":1,"kind":"noop","ok":"maybe"})",  // ok not a bool
                                kHeader,                                   // the header line
                                full.substr(0, full.size() - 1),           // torn
                                full.substr(0, 10), "\xff\xfe\x00garbage"}) {
    uint32_t id = 0;
    bool ok = false;
    EXPECT_FALSE(ParseJournalRecord(line, &id, &ok)) << line;
  }
}

}  // namespace
}  // namespace taskfarm
