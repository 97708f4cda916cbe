// Key files for CURVE.
#include "common/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace taskfarm {
namespace {

std::string WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return path + ": " + std::strerror(errno);
  fchmod(fd, mode);  // whatever the umask says
  ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return path + ": short write";
  return "";
}

}  // namespace

std::string WriteKeyPair(const std::string& path) {
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0) {
    return std::string("cannot generate a CURVE keypair: ") + zmq_strerror(zmq_errno());
  }
  if (std::string err = WriteFile(path + ".key", std::string(sec) + "\n", 0600); !err.empty()) return err;
  if (std::string err = WriteFile(path + ".pub", std::string(pub) + "\n", 0644); !err.empty()) {
    ::unlink((path + ".key").c_str());
    return err;
  }
  return "";
}

std::string ReadZ85Key(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read: " + std::strerror(errno));
  std::string key;
  in >> key;
  if (key.size() != 40) {
    throw std::runtime_error(path + ": not a CURVE key (expected one 40-character Z85 line, as written by "
                                    "`coordinator keygen`)");
  }
  uint8_t raw[32];
  if (!zmq_z85_decode(raw, key.c_str())) throw std::runtime_error(path + ": not valid Z85 text");
  return key;
}

std::string PublicKeyOf(const std::string& secret_z85) {
  char pub[41] = {0};
  if (zmq_curve_public(pub, secret_z85.c_str()) != 0) {
    throw std::runtime_error("not a CURVE secret key");
  }
  return pub;
}

}  // namespace taskfarm
