// Checked whole-file writes: a new file, a replaced one, and the failures
// (missing directory, a device that takes no write) reported with the path.
#include "common/file_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/temp_dir.h"

namespace taskfarm {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(FileWriterTest, WritesANewFileAndReplacesAnOldOneLeavingNoTemporary) {
  TempDir dir("file-writer-test");
  std::string path = dir.File("report.html");
  ASSERT_TRUE(CheckCanWrite(path).ok());
  EXPECT_EQ(Entries(dir.path()), 0u);  // the check leaves nothing behind
  Status s = WriteWholeFile(path, "first");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Read(path), "first");
  s = WriteWholeFile(path, "second, longer");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Read(path), "second, longer");
  EXPECT_EQ(Entries(dir.path()), 1u);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_NE(st.st_mode & S_IRGRP, 0u) << "a report is for sharing: not mkstemp's 0600";
}

TEST(FileWriterTest, MissingDirectoryIsNamedInTheError) {
  TempDir dir("file-writer-test");
  std::string path = dir.File("no-such-dir/r.html");
  EXPECT_EQ(CheckCanWrite(path).message(), path + ": cannot write: No such file or directory");
  EXPECT_EQ(WriteWholeFile(path, "x").message(), path + ": cannot write: No such file or directory");
}

TEST(FileWriterTest, DirectoryIsNotAFile) {
  TempDir dir("file-writer-test");
  Status s = CheckCanWrite(dir.path());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Is a directory"), std::string::npos) << s.message();
  EXPECT_EQ(CheckCanWrite(dir.path() + "/").code(), Code::kInvalidArgument);
}

TEST(FileWriterTest, DeviceIsWrittenInPlaceAndItsFailureReported) {
  EXPECT_TRUE(CheckCanWrite("/dev/null").ok());
  EXPECT_TRUE(WriteWholeFile("/dev/null", "gone").ok());
  // /dev/full opens fine and takes no byte: only the write can tell.
  EXPECT_TRUE(CheckCanWrite("/dev/full").ok());
  EXPECT_EQ(WriteWholeFile("/dev/full", "data"), Unavailable("/dev/full: cannot write: No space left on device"));
}

}  // namespace
}  // namespace taskfarm
