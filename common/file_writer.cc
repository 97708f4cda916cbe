// Checked whole-file writes: temporary file + fsync + rename for regular
// files, a checked write + close for everything else.
#include "common/file_writer.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "common/unique_fd.h"

namespace taskfarm {
namespace {

Status Failure(const std::string& path, int error) {
  return Unavailable(path + ": cannot write: " + std::strerror(error));
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Regular files and paths that do not exist yet get the temporary-file
// treatment; renaming over a device or a symlink would replace it.
bool WriteInPlace(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
}

// The mode open(2) with 0666 would give a new file: mkstemp makes 0600, and
// a report is meant to be shared. Read from /proc rather than umask(2),
// which can only be read by changing it (racy with other threads).
mode_t NewFileMode() {
  mode_t mask = 022;
  if (std::FILE* f = std::fopen("/proc/self/status", "re")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      unsigned m;
      if (std::sscanf(line, "Umask: %o", &m) == 1) {
        mask = static_cast<mode_t>(m);
        break;
      }
    }
    std::fclose(f);
  }
  return 0666 & ~mask;
}

// Writes all of `data`; false with errno set on failure.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;  // no progress and no reason: do not spin
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// fsync, where the file has a disk behind it: a pipe or /dev/null says EINVAL.
bool Sync(int fd) { return ::fsync(fd) == 0 || errno == EINVAL; }

// The descriptor a write of `path` goes through: `path` itself when it is
// written in place (see WriteInPlace), opened with `in_place_flags` besides
// O_WRONLY and O_NONBLOCK (a FIFO whose reader has gone fails, ENXIO,
// instead of blocking the end of the run); else a new temporary file beside
// it, named so that a reader can tell what it was for if a crash leaves it,
// and `*temp_path` is its name ("" for in place).
StatusOr<UniqueFd> OpenForWrite(const std::string& path, int in_place_flags, std::string* temp_path) {
  temp_path->clear();
  UniqueFd fd;
  if (WriteInPlace(path)) {
    fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK | in_place_flags));
  } else {
    std::string tmpl = DirectoryOf(path) + "/." + BaseName(path) + ".tmp-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    fd = UniqueFd(mkostemp(buf.data(), O_CLOEXEC));
    if (fd) *temp_path = buf.data();
  }
  if (!fd) return Failure(path, errno);
  return fd;
}

}  // namespace

Status CheckCanWrite(const std::string& path) {
  if (path.empty() || path.back() == '/') {
    return InvalidArgument((path.empty() ? std::string("(empty path)") : path) + ": cannot write: not a file name");
  }
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Failure(path, EISDIR);
  }
  // O_APPEND: opening must not truncate what is there; only the end does.
  std::string temp;
  StatusOr<UniqueFd> fd = OpenForWrite(path, O_APPEND, &temp);
  if (!fd.ok()) return fd.status();
  if (!temp.empty()) ::unlink(temp.c_str());
  return Status::Ok();
}

Status WriteWholeFile(const std::string& path, std::string_view contents) {
  std::string temp;
  StatusOr<UniqueFd> opened = OpenForWrite(path, O_TRUNC, &temp);
  if (!opened.ok()) return opened.status();
  UniqueFd fd = std::move(opened).value();
  if (temp.empty()) {  // in place: blocking writes, once it is open
    (void)::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    if (!WriteAll(fd.get(), contents) || !Sync(fd.get()) || !fd.Close()) {
      return Failure(path, errno);
    }
    return Status::Ok();
  }
  bool ok = ::fchmod(fd.get(), NewFileMode()) == 0 && WriteAll(fd.get(), contents) && Sync(fd.get()) && fd.Close() &&
            ::rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) {
    int saved = errno;
    ::unlink(temp.c_str());
    return Failure(path, saved);
  }
  // The rename is durable only once the directory is: sync it too.
  UniqueFd d(::open(DirectoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::fsync(d.get()) != 0) {
    return Failure(path, errno);
  }
  return Status::Ok();
}

}  // namespace taskfarm
