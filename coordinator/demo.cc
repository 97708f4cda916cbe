// The built-in demo: a loopback server and the tutorial's workload.
#include "coordinator/demo.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "common/unique_fd.h"
#include "testserver/test_ca.h"

namespace taskfarm {

std::vector<std::string> DemoTaskLines(const std::string& base_url, int delay_ms) {
  std::vector<std::string> lines;
  lines.push_back("# the tutorial's 90 pages: 30 x three pages, served with a delay");
  for (int i = 0; i < 30; ++i) {
    for (int page = 1; page <= 3; ++page) {
      lines.push_back("url " + base_url + "/page/" + std::to_string(page) + "?delay=" + std::to_string(delay_ms));
    }
  }
  lines.push_back("# CPU-bound work: count primes");
  for (int i = 0; i < 20; ++i) lines.push_back("cpu primes 1000000");
  return lines;
}

Status Demo::Start(CoordinatorConfig* config) {
  try {
    testserver::Options options;
    if (config->demo_https) {
      // The run's own CA, trusted by the workers this run starts.
      tls_ = std::make_unique<TempDir>("taskfarm-demo-tls");
      const testserver::TestCa ca = testserver::MakeTestCa(tls_->path());
      options.tls_cert_file = ca.cert_file;
      options.tls_key_file = ca.key_file;
      if (config->cacert.empty() && !config->insecure_tls) config->cacert = ca.ca_file;
    }
    server_ = std::make_unique<testserver::HttpTestServer>(options);
  } catch (const std::exception& e) {
    return Unavailable(std::string("cannot start the demo web server: ") + e.what());
  }
  char tmpl[] = "/tmp/taskfarm-demo-XXXXXX";
  UniqueFd fd(mkstemp(tmpl));
  if (!fd) {
    return Unavailable(std::string("cannot write the demo task list: ") + std::strerror(errno));
  }
  task_file_ = tmpl;
  std::string text;
  for (const auto& l : DemoTaskLines(server_->BaseUrl(), config->demo_delay_ms)) text += l + "\n";
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return Unavailable("cannot write the demo task list " + task_file_ + ": " + std::strerror(errno));
  }
  std::fprintf(stderr,
               "No task file given: running the built-in demo. A web server on %s\n"
               "serves the tutorial's three pages with a %d ms delay; %d workers fetch 90 pages and count\n"
               "primes 20 times.\n",
               server_->BaseUrl().c_str(), config->demo_delay_ms, config->workers);
  // `generate | coordinator` without --tasks -: what was piped in is not
  // read, and a user expecting xargs' habit should hear why.
  struct stat in {};
  if (fstat(STDIN_FILENO, &in) == 0 && (S_ISFIFO(in.st_mode) || (S_ISREG(in.st_mode) && in.st_size > 0))) {
    std::fprintf(stderr, "(standard input is not read: give --tasks - to run the task lines piped in)\n");
  }
  return Status::Ok();
}

void Demo::RemoveTaskFile() {
  if (task_file_.empty()) return;
  unlink(task_file_.c_str());
  task_file_.clear();
}

}  // namespace taskfarm
