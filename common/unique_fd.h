// A file descriptor with one owner: closed when the owner goes away, or
// explicitly with Close() when the caller needs to know that closing worked
// (close(2) is where some file systems report a failed write).
//
//   UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
//   if (!fd) return error;
//   ... write(fd.get(), ...) ...
//   if (!fd.Close()) return error;  // errno says why
#pragma once

#include <unistd.h>

#include <utility>

namespace taskfarm {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  [[nodiscard]] int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

  // Closes now. False (errno set) if close(2) failed; the descriptor is
  // released either way (Linux frees it even on EINTR or EIO).
  [[nodiscard]] bool Close() {
    int fd = std::exchange(fd_, -1);
    return fd < 0 || ::close(fd) == 0;
  }

 private:
  int fd_ = -1;
};

}  // namespace taskfarm
