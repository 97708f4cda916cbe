// `testserver`: runs HttpTestServer until SIGINT/SIGTERM, announcing its URL
// (and, with a CA it made for HTTPS, that CA's certificate) on stdout, and
// optionally its port in a file, for scripts and other tests.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/posix.h"
#include "common/status.h"
#include "testserver/http_test_server.h"
#include "testserver/latency_proxy.h"
#include "testserver/test_ca.h"

namespace {

// Writes `port` to `path` through a temporary and rename(), so a reader
// polling for the file never sees it half-written.
taskfarm::Status WritePortFile(const std::string& path, uint16_t port) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      return taskfarm::Unavailable("cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    taskfarm::Status failed =
        taskfarm::Unavailable("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
    std::remove(tmp.c_str());
    return failed;
  }
  return taskfarm::Status::Ok();
}

// A new private directory $TMPDIR/testserver-tls.XXXXXX (TMPDIR unset: /tmp).
std::string MakeTlsDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/testserver-tls.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("testserver: cannot make a directory like " + tmpl + ": " + std::strerror(errno));
  }
  return tmpl;
}

// The certificate's names: the usual loopback ones, and the listening
// address when it is a specific one (a wildcard is served as 127.0.0.1).
std::vector<std::string> CertificateHosts(const std::string& address) {
  std::vector<std::string> hosts = {"127.0.0.1", "localhost", "::1"};
  if (address != "0.0.0.0" && address != "::" && std::find(hosts.begin(), hosts.end(), address) == hosts.end()) {
    hosts.push_back(address);
  }
  return hosts;
}

}  // namespace

int main(int argc, char** argv) {
  taskfarm::testserver::Options options;
  std::string port_file;
  bool https = false;
  std::string tls_dir;
  CLI::App app{"Loopback HTTP/1.1 test server, plain or TLS (see testserver/http_test_server.h for routes)"};
  app.add_option("--address", options.address, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "Port to listen on (0: any free port)")->capture_default_str();
  app.add_option("--delay", options.default_delay_ms, "Delay in ms for requests without ?delay=")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--port-file", port_file, "Write the bound port to this file (atomically)");
  double rtt_ms = 0;
  app.add_option("--rtt", rtt_ms, "Round-trip time in ms, by a latency proxy on --port (0: off)")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  CLI::Option* https_flag =
      app.add_flag("--https", https, "Serve HTTPS with a CA made now; prints 'CA certificate: PATH'");
  CLI::Option* tls_dir_option =
      app.add_option("--tls-dir", tls_dir, "--https's files (default: a new $TMPDIR/testserver-tls.XXXXXX, kept)")
          ->check(CLI::ExistingDirectory)
          ->needs(https_flag);
  CLI::Option* cert_option =
      app.add_option("--cert", options.tls_cert_file, "Serve HTTPS with this PEM certificate chain instead")
          ->check(CLI::ExistingFile)
          ->excludes(tls_dir_option);
  CLI::Option* key_option =
      app.add_option("--key", options.tls_key_file, "The PEM private key for --cert")->check(CLI::ExistingFile);
  cert_option->needs(key_option);
  key_option->needs(cert_option);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "testserver: " << e.what() << std::endl;
    return 2;
  }

  taskfarm::testserver::RaiseOpenFileLimit();
  // With --rtt the proxy takes --port and the server any free port behind it.
  const uint16_t public_port = options.port;
  if (rtt_ms > 0) options.port = 0;
  try {
    // Blocked before any thread exists so that every thread inherits the mask
    // and the signals wait on this descriptor, read below.
    const taskfarm::UniqueFd stop_signals = taskfarm::BlockSignalsToFd({SIGINT, SIGTERM});

    std::string made_ca_file;
    if (https && options.tls_cert_file.empty()) {
      if (tls_dir.empty()) tls_dir = MakeTlsDir();
      const taskfarm::testserver::TestCa ca =
          taskfarm::testserver::MakeTestCa(tls_dir, CertificateHosts(options.address));
      options.tls_cert_file = ca.cert_file;
      options.tls_key_file = ca.key_file;
      made_ca_file = ca.ca_file;
    }
    taskfarm::testserver::HttpTestServer server(options);
    std::unique_ptr<taskfarm::testserver::LatencyProxy> proxy;
    uint16_t port = server.port();
    std::string url = server.BaseUrl();
    if (rtt_ms > 0) {
      proxy = std::make_unique<taskfarm::testserver::LatencyProxy>(
          taskfarm::testserver::LatencyProxyOptions{.listen_address = options.address,
                                                    .listen_port = public_port,
                                                    .upstream_address = options.address,
                                                    .upstream_port = server.port(),
                                                    .rtt_ms = rtt_ms});
      port = proxy->port();
      url = url.substr(0, url.rfind(':') + 1) + std::to_string(port);  // BaseUrl ends in :PORT
    }
    if (!port_file.empty()) {
      if (taskfarm::Status written = WritePortFile(port_file, port); !written.ok()) {
        std::cerr << "testserver: " << written.message() << std::endl;
        return 1;
      }
    }
    std::cout << "listening on " << url << std::endl;
    if (proxy) {
      std::cout << "round-trip time: " << rtt_ms << " ms (a latency proxy in front of port " << server.port()
                << ": a stand-in for a network)" << std::endl;
    }
    if (!made_ca_file.empty()) std::cout << "CA certificate: " << made_ca_file << std::endl;

    pollfd stop{stop_signals.get(), POLLIN, 0};
    while (poll(&stop, 1, -1) < 0 && errno == EINTR) {
    }
    if (proxy) proxy->Stop();
    server.Stop();
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
  return 0;
}
