// `testserver`: runs HttpTestServer until SIGINT/SIGTERM, announcing its URL
// on stdout (and optionally its port in a file) for scripts and other tests.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>

#include "testserver/http_test_server.h"

namespace {

// Writes `port` to `path` through a temporary and rename(), so a reader
// polling for the file never sees it half-written.
bool WritePortFile(const std::string& path, uint16_t port, std::string* error) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.close();
    if (!out) {
      *error = "cannot write " + tmp;
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  taskfarm::testserver::Options options;
  std::string port_file;
  CLI::App app{"Loopback HTTP/1.1 test server (see testserver/http_test_server.h for routes)"};
  app.add_option("--address", options.address, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "Port to listen on (0: any free port)")->capture_default_str();
  app.add_option("--delay", options.default_delay_ms, "Delay in ms for requests without ?delay=")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--port-file", port_file, "Write the bound port to this file (atomically)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "testserver: " << e.what() << std::endl;
    return 2;
  }

  // Blocked before any thread exists so that every thread inherits the mask
  // and the signals wait for sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  taskfarm::testserver::RaiseOpenFileLimit();
  try {
    taskfarm::testserver::HttpTestServer server(options);
    if (!port_file.empty()) {
      std::string error;
      if (!WritePortFile(port_file, server.port(), &error)) {
        std::cerr << "testserver: " << error << std::endl;
        return 1;
      }
    }
    std::cout << "listening on " << server.BaseUrl() << std::endl;

    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.Stop();
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
  return 0;
}
