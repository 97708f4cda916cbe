// A certificate authority made for one test run, and a server certificate
// it signed: what the rig's HTTPS (the test server, nginx) serves and what
// clients are told to trust with --cacert.
//
//   TestCa ca = MakeTestCa(tmp.path());    // ca.pem, server.pem, server.key
//   Options o{.tls_cert_file = ca.cert_file, .tls_key_file = ca.key_file};
#pragma once

#include <string>
#include <vector>

namespace taskfarm::testserver {

struct TestCa {
  std::string ca_file;    // DIR/ca.pem: the CA's certificate (what clients trust)
  std::string cert_file;  // DIR/server.pem: the server's certificate, then the CA's
  std::string key_file;   // DIR/server.key: the server's private key (mode 0600)
};

// Makes a fresh CA and a server certificate for `hosts` (IP addresses or
// DNS names, as subjectAltNames), valid from an hour ago for a week, and
// writes them under `dir` (which must exist). Throws std::runtime_error
// naming the file or the OpenSSL step that failed.
[[nodiscard]] TestCa MakeTestCa(const std::string& dir,
                                const std::vector<std::string>& hosts = {"127.0.0.1", "localhost", "::1"});

}  // namespace taskfarm::testserver
