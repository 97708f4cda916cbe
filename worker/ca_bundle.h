// The certificates a worker's HTTPS verifies against, as one PEM file that
// libcurl parses once per multi handle instead of once per connection.
//
//   CaBundle trust = CaBundle::Make("", "ca.pem");   // the system's CAs + ca.pem
//   curl_easy_setopt(e, CURLOPT_CAINFO, trust.path().c_str());
//   curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
//
// Why: libcurl keeps the CA store it built (CURLOPT_CA_CACHE_TIMEOUT) only
// when no CA directory is set, and Debian's libcurl has a directory built in
// (/etc/ssl/certs) beside its bundle file. So each new connection read and
// parsed its CA file again and searched the directory: a sixth of a
// handshake's CPU. The bundle holds the certificates the directory does
// (update-ca-certificates writes both), so what is trusted does not change.
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace taskfarm {

class CaBundle {
 public:
  // `system_bundle`: the system's CA file ("": libcurl's built-in one).
  // `extra_ca`: --cacert's file, added to it ("": none). When the two must
  // be joined, they are copied into an anonymous in-memory file (memfd)
  // named by /proc/self/fd/N. Returns a bundle whose path() is "" when that
  // cannot be done: the caller then keeps libcurl's own settings, which
  // report any problem with the files as a task's failure.
  [[nodiscard]] static CaBundle Make(const std::string& system_bundle, const std::string& extra_ca);

  // The file to give CURLOPT_CAINFO, or "" (see Make).
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  UniqueFd memfd_;  // the joined bundle, alive as long as the fetcher
  std::string path_;
};

// libcurl's built-in CA bundle file (CURLINFO_CAINFO), or "" if it has none.
[[nodiscard]] std::string BuiltInCaBundle();

}  // namespace taskfarm
