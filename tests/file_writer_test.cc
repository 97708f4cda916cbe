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
  std::string error;
  ASSERT_TRUE(CheckCanWrite(path, &error)) << error;
  EXPECT_EQ(Entries(dir.path()), 0u);  // the check leaves nothing behind
  ASSERT_TRUE(WriteWholeFile(path, "first", &error)) << error;
  EXPECT_EQ(Read(path), "first");
  ASSERT_TRUE(WriteWholeFile(path, "second, longer", &error)) << error;
  EXPECT_EQ(Read(path), "second, longer");
  EXPECT_EQ(Entries(dir.path()), 1u);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_NE(st.st_mode & S_IRGRP, 0u) << "a report is for sharing: not mkstemp's 0600";
}

TEST(FileWriterTest, MissingDirectoryIsNamedInTheError) {
  TempDir dir("file-writer-test");
  std::string path = dir.File("no-such-dir/r.html");
  std::string error;
  EXPECT_FALSE(CheckCanWrite(path, &error));
  EXPECT_EQ(error, path + ": cannot write: No such file or directory");
  error.clear();
  EXPECT_FALSE(WriteWholeFile(path, "x", &error));
  EXPECT_EQ(error, path + ": cannot write: No such file or directory");
}

TEST(FileWriterTest, DirectoryIsNotAFile) {
  TempDir dir("file-writer-test");
  std::string error;
  EXPECT_FALSE(CheckCanWrite(dir.path(), &error));
  EXPECT_NE(error.find("Is a directory"), std::string::npos) << error;
  EXPECT_FALSE(CheckCanWrite(dir.path() + "/", &error));
}

TEST(FileWriterTest, DeviceIsWrittenInPlaceAndItsFailureReported) {
  std::string error;
  ASSERT_TRUE(CheckCanWrite("/dev/null", &error)) << error;
  EXPECT_TRUE(WriteWholeFile("/dev/null", "gone", &error)) << error;
  // /dev/full opens fine and takes no byte: only the write can tell.
  ASSERT_TRUE(CheckCanWrite("/dev/full", &error)) << error;
  EXPECT_FALSE(WriteWholeFile("/dev/full", "data", &error));
  EXPECT_EQ(error, "/dev/full: cannot write: No space left on device");
}

}  // namespace
}  // namespace taskfarm
