// --http2, --cacert FILE and --insecure-tls: how URL tasks speak HTTPS, the
// same options, help, checks and warning in the coordinator (which passes
// them to its local workers) and the worker.
//
//   AddTlsFlags(app, &config.http2, &config.ca_file, &config.insecure_tls, "HTTPS");
//   ... parse ...
//   if (std::string err = CheckTlsFlags(config.ca_file, config.insecure_tls); !err.empty()) {
//     say err; return 2;
//   }
//   if (config.insecure_tls) std::fprintf(stderr, "worker: %s\n", kInsecureTlsNote);
#pragma once

#include <string>

#include "common/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace taskfarm {

// Adds the three options to `group` of `app`.
void AddTlsFlags(CLI::App& app, bool* http2, std::string* ca_file, bool* insecure_tls, const std::string& group);

// OK when `ca_file` is "" or a readable file with a PEM certificate in it
// (and no --insecure-tls beside it); else InvalidArgument with the sentence
// to exit 2 with:
// "--cacert ca.pem: cannot read it: No such file or directory",
// "--cacert key.pem: no PEM certificate in it (-----BEGIN CERTIFICATE-----)".
Status CheckTlsFlags(const std::string& ca_file, bool insecure_tls);

// Said once on stderr when a program starts with --insecure-tls.
inline constexpr const char* kInsecureTlsNote =
    "--insecure-tls: certificates are not verified (anyone in between can pose as a server)";

}  // namespace taskfarm
