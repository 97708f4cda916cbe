// A private temporary directory (mode 0700, from mkdtemp) removed with
// everything in it when the owner goes away.
//
//   TempDir dir("taskfarm-run");
//   std::string sock = dir.File("coordinator.sock");
#pragma once

#include <string>

namespace taskfarm {

class TempDir {
 public:
  // Creates /tmp/PREFIX-XXXXXX. path() is empty if that failed.
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace taskfarm
