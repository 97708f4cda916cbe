// The TLS options' help texts and the CA file's check.
#include "common/tls_flags.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace taskfarm {

void AddTlsFlags(CLI::App& app, bool* http2, std::string* ca_file, bool* insecure_tls, const std::string& group) {
  app.add_flag("--http2", *http2,
               "HTTPS over HTTP/2: a worker's tasks to one host share one\n"
               "connection. Default HTTP/1.1: a connection per task in\n"
               "flight, as that many separate clients would load a server")
      ->group(group);
  app.add_option("--cacert", *ca_file, "Trust this CA (PEM file) besides the system's, for HTTPS")
      ->type_name("FILE")
      ->group(group);
  app.add_flag("--insecure-tls", *insecure_tls, "Do not verify HTTPS servers' certificates (says so at start)")
      ->group(group);
}

Status CheckTlsFlags(const std::string& path, bool insecure_tls) {
  if (path.empty()) return Status::Ok();
  if (insecure_tls) return InvalidArgument("--cacert and --insecure-tls contradict each other: give one");
  auto unreadable = [&](int error) {
    return InvalidArgument("--cacert " + path + ": cannot read it: " + std::strerror(error));
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd || fstat(fd.get(), &st) != 0) return unreadable(errno);
  if (S_ISDIR(st.st_mode)) return unreadable(EISDIR);
  std::string text;
  char buf[64 * 1024];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof(buf))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unreadable(errno);
    text.append(buf, static_cast<size_t>(n));
  }
  if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return InvalidArgument("--cacert " + path + ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
  }
  return Status::Ok();
}

}  // namespace taskfarm
