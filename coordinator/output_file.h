// The --output file: JSON lines appended a batch at a time, every write
// checked. A batch that cannot be written completely is cut back to its
// last whole line, so the file never ends in a torn record, and the file is
// failed for good (a later batch would leave a gap nobody could see).
//
//   StatusOr<std::unique_ptr<OutputFile>> out = OutputFile::Open("results.jsonl");
//   if (!(*out)->Append(lines)) report((*out)->error());   // each loop turn
//   if (!(*out)->Close()) report((*out)->error());         // fdatasync + close
//
// Not thread-safe: one thread writes it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace taskfarm {

class OutputFile {
 public:
  // Creates `path` or truncates it; "-" is standard output (a copy of fd 1,
  // so Close leaves standard output open; never truncated, since it may be
  // a file opened for appending). Unavailable ("PATH: cannot write: WHY")
  // on failure.
  static StatusOr<std::unique_ptr<OutputFile>> Open(const std::string& path);

  // Appends `lines` (whole lines, each ending in '\n'). False on failure,
  // now or earlier: error() says why ("PATH: cannot write: WHY").
  [[nodiscard]] bool Append(std::string_view lines);
  // Makes what was written durable and closes the file. False on failure
  // (also if an Append failed before).
  [[nodiscard]] bool Close();

  [[nodiscard]] bool failed() const { return !error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }
  // The path, or "standard output" for "-".
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  OutputFile(UniqueFd fd, std::string path, bool regular)
      : fd_(std::move(fd)), path_(std::move(path)), regular_(regular) {}
  void Fail(int error);

  UniqueFd fd_;
  std::string path_;
  bool regular_;    // a file with a size, which a torn batch can be cut back to
  off_t size_ = 0;  // bytes of whole lines written so far
  std::string error_;
};

}  // namespace taskfarm
