// Joins the system's CA bundle and --cacert's file in a memfd: no file to
// clean up after a killed worker, and nothing another user could swap.
#include "worker/ca_bundle.h"

#include <curl/curl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "worker/curl_handles.h"

namespace taskfarm {

namespace {

bool ReadWhole(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return false;
  *out = text.str();
  return true;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string BuiltInCaBundle() {
  CurlEasy easy = CurlEasy::Make();
  char* path = nullptr;
  if (curl_easy_getinfo(easy.get(), CURLINFO_CAINFO, &path) != CURLE_OK || path == nullptr) return "";
  return path;
}

CaBundle CaBundle::Make(const std::string& system_bundle, const std::string& extra_ca) {
  CaBundle bundle;
  const std::string system = system_bundle.empty() ? BuiltInCaBundle() : system_bundle;
  if (system.empty()) return bundle;
  if (extra_ca.empty()) {
    bundle.path_ = system;
    return bundle;
  }
  std::string system_pem, extra_pem;
  if (!ReadWhole(system, &system_pem) || !ReadWhole(extra_ca, &extra_pem)) return bundle;
  UniqueFd fd(memfd_create("taskfarm-ca-bundle", MFD_CLOEXEC));
  if (fd.get() < 0) return bundle;
  // A PEM file need not end in a newline; the next BEGIN line must start one.
  if (!WriteAll(fd.get(), system_pem + "\n" + extra_pem + "\n")) return bundle;
  bundle.path_ = "/proc/self/fd/" + std::to_string(fd.get());
  bundle.memfd_ = std::move(fd);
  return bundle;
}

}  // namespace taskfarm
