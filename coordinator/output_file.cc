// Checked appends to --output; see output_file.h.
#include "coordinator/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace taskfarm {

StatusOr<std::unique_ptr<OutputFile>> OutputFile::Open(const std::string& path) {
  if (path == "-") {
    UniqueFd fd(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
    if (!fd) return Unavailable("standard output: cannot write: " + std::string(std::strerror(errno)));
    return std::unique_ptr<OutputFile>(new OutputFile(std::move(fd), "standard output", false));
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (!fd) return Unavailable(path + ": cannot write: " + std::strerror(errno));
  struct stat st {};
  bool regular = fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode);
  return std::unique_ptr<OutputFile>(new OutputFile(std::move(fd), path, regular));
}

bool OutputFile::Append(std::string_view lines) {
  if (failed()) return false;
  std::string_view left = lines;
  while (!left.empty()) {
    ssize_t n = ::write(fd_.get(), left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = n == 0 ? EIO : errno;
      // Keep the whole lines that made it; cut the torn one off.
      size_t written = lines.size() - left.size();
      size_t last_newline = lines.substr(0, written).rfind('\n');
      size_t whole = last_newline == std::string_view::npos ? 0 : last_newline + 1;
      size_ += static_cast<off_t>(whole);
      Fail(error);
      return false;
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
  size_ += static_cast<off_t>(lines.size());
  return true;
}

bool OutputFile::Close() {
  if (!fd_) return !failed();
  if (failed()) {
    (void)fd_.Close();
    return false;
  }
  // A pipe, a terminal or /dev/null has nothing to sync: EINVAL.
  if (::fdatasync(fd_.get()) != 0 && errno != EINVAL) {
    Fail(errno);
    (void)fd_.Close();
    return false;
  }
  if (!fd_.Close()) {
    error_ = path_ + ": cannot write: " + std::strerror(errno);
    return false;
  }
  return true;
}

void OutputFile::Fail(int error) {
  error_ = path_ + ": cannot write: " + std::strerror(error);
  if (regular_) (void)::ftruncate(fd_.get(), size_);  // best effort: a reader skips a torn tail anyway
}

}  // namespace taskfarm
