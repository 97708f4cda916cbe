// Key files for CURVE.
#include "common/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace taskfarm {
namespace {

Status AlreadyThere(const std::string& path) {
  return InvalidArgument(path + " already exists (keygen never overwrites a key)");
}

Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0 && errno == EEXIST) return AlreadyThere(path);
  if (fd < 0) return Unavailable(path + ": " + std::strerror(errno));
  fchmod(fd, mode);  // whatever the umask says
  ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Unavailable(path + ": short write");
  return Status::Ok();
}

// Makes the missing directories above `path` (`keygen keys/coord` in a
// fresh directory), each mode 0700: a directory made for keys holds secrets.
Status MakeParents(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) == 0) {
      ::chmod(dir.c_str(), 0700);  // whatever the umask says
    } else if (errno != EEXIST) {
      return Unavailable("cannot create directory " + dir + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

}  // namespace

Status WriteKeyPair(const std::string& path) {
  // PATH is a name without its extension: `keys/` would write the hidden
  // `keys/.key`, and `host1.key` would write `host1.key.key`.
  std::string base = path.substr(path.rfind('/') + 1);
  if (base.empty() || base == "." || base == "..") {
    return InvalidArgument("'" + path + "' names a directory: give the keys' name without extension, e.g. keys/host1");
  }
  for (const char* ext : {".key", ".pub"}) {
    if (base.size() > 4 && base.compare(base.size() - 4, 4, ext) == 0) {
      return InvalidArgument("give the name without " + std::string(ext) + ": keygen " +
                             path.substr(0, path.size() - 4) + " writes " + path.substr(0, path.size() - 4) +
                             ".key and .pub");
    }
  }
  // Both names checked first, so an existing .pub is not found only after
  // a new .key was written (O_EXCL below still decides a race).
  for (const char* ext : {".key", ".pub"}) {
    struct stat st;
    if (::lstat((path + ext).c_str(), &st) == 0) return AlreadyThere(path + ext);
  }
  if (Status made = MakeParents(path); !made.ok()) return made;
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Internal(std::string("cannot generate a CURVE keypair: ") + zmq_strerror(zmq_errno()));
  }
  if (Status written = WriteFile(path + ".key", std::string(sec) + "\n", 0600); !written.ok()) return written;
  if (Status written = WriteFile(path + ".pub", std::string(pub) + "\n", 0644); !written.ok()) {
    ::unlink((path + ".key").c_str());
    return written;
  }
  return Status::Ok();
}

StatusOr<std::string> ReadZ85Key(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument(path + ": cannot read: " + std::strerror(errno));
  std::string key;
  in >> key;
  if (key.size() != 40) {
    return InvalidArgument(path +
                           ": not a CURVE key (expected one 40-character Z85 line, as written by "
                           "`coordinator keygen`)");
  }
  uint8_t raw[32];
  if (!zmq_z85_decode(raw, key.c_str())) return InvalidArgument(path + ": not valid Z85 text");
  return key;
}

StatusOr<std::string> PublicKeyOf(const std::string& secret_z85) {
  char pub[41] = {0};
  if (zmq_curve_public(pub, secret_z85.c_str()) != 0) return InvalidArgument("not a CURVE secret key");
  return std::string(pub);
}

}  // namespace taskfarm
