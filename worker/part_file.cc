// Temporary name, checked writes, close, rename; unlink on every other way out.
#include "worker/part_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/quote.h"
#include "worker/make_dirs.h"

namespace taskfarm {

bool IsFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

PartFile::~PartFile() { Abandon(); }

Status PartFile::Open(const std::string& dir, const std::string& name, uint64_t token) {
  if (!IsFileName(name)) return InvalidArgument("--save: " + Quote(name) + " is not a file name");
  if (Status s = MakeDirs(dir, "--save"); !s.ok()) return s;
  std::string base = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  final_path_ = base + name;
  temp_path_ = base + "." + name + ".part." + std::to_string(getpid()) + "." + std::to_string(token);
  fd_ = UniqueFd(::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd_) {
    Status s = Unavailable("--save: cannot create " + temp_path_ + ": " + std::strerror(errno));
    temp_path_.clear();
    return s;
  }
  return Status::Ok();
}

bool PartFile::Write(const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_.get(), data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      // write(2) returns 0 only for n == 0; say "no space" rather than loop.
      error_ = "cannot write " + final_path_ + ": " + std::strerror(w < 0 ? errno : ENOSPC);
      Abandon();
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

Status PartFile::Commit() {
  // close(2) is where some file systems (NFS) report a failed write.
  if (!fd_.Close()) {
    error_ = "cannot write " + final_path_ + ": " + std::strerror(errno);
  } else if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    error_ = "cannot rename " + temp_path_ + " to " + final_path_ + ": " + std::strerror(errno);
  } else {
    temp_path_.clear();
    return Status::Ok();
  }
  Abandon();
  return Unavailable(error_);
}

void PartFile::Abandon() {
  (void)fd_.Close();
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

}  // namespace taskfarm
