// A downloaded body's file (url --save): written under a temporary name
// beside its final one and renamed when complete, so a failed, cancelled or
// killed transfer never leaves part of a body under the final name.
//
//   PartFile file;
//   if (Status s = file.Open("out", "7", token); !s.ok()) fail(s.message());
//   if (!file.Write(data, n)) fail(file.error());   // as the body comes
//   if (Status s = file.Commit(); !s.ok()) fail(s.message());
//   file.final_path();                                // "out/7"
// Not committed (a failure, a cancel, the owner gone): the temporary file
// is removed. A worker killed mid-write leaves its hidden temporary file
// (.NAME.part.PID.TOKEN), never a file under NAME.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace taskfarm {

// Whether `name` stays inside the directory it is saved in: not empty, not
// "." or "..", no '/'. The name comes from the coordinator.
[[nodiscard]] bool IsFileName(const std::string& name);

class PartFile {
 public:
  PartFile() = default;
  ~PartFile();
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  // Makes `dir` (and its parents) if missing and creates DIR/.NAME.part.PID.TOKEN
  // (O_EXCL, mode 0644 before the umask). A NAME that is not IsFileName is
  // InvalidArgument; a directory or file that cannot be made is Unavailable
  // (this worker's disk, not the task), its sentence saying why ("cannot
  // create --save directory 'x': Permission denied").
  Status Open(const std::string& dir, const std::string& name, uint64_t token);

  // Appends all of data. False on a write error: the file is then
  // abandoned and error() says why ("cannot write out/7: No space left on
  // device").
  [[nodiscard]] bool Write(const char* data, size_t n);

  // Closes the file and renames it to DIR/NAME (replacing a file there).
  // OK, or Unavailable with the sentence saying why (error() too), and the
  // temporary file is removed.
  Status Commit();

  bool is_open() const { return static_cast<bool>(fd_); }
  const std::string& error() const { return error_; }
  const std::string& final_path() const { return final_path_; }

 private:
  void Abandon();

  UniqueFd fd_;
  std::string temp_path_;   // "" once renamed or removed
  std::string final_path_;  // DIR/NAME
  std::string error_;
};

}  // namespace taskfarm
