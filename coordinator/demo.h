// The built-in demo, run when no task source is given: a loopback web
// server and the tutorial's workload against it.
//
//   Demo demo;
//   if (!demo.Start(&config, &error)) return 1;  // may set config.cacert
//   src.path = demo.task_file();
//   ... open the task source ...
//   demo.RemoveTaskFile();
//   ... run: the server lives as long as `demo` ...
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/temp_dir.h"
#include "coordinator/coordinator.h"
#include "testserver/http_test_server.h"

namespace taskfarm {

// The demo's task lines against a server at base_url: the tutorial's 90
// pages (with `delay_ms`) and 20 `cpu primes` tasks.
std::vector<std::string> DemoTaskLines(const std::string& base_url, int delay_ms);

class Demo {
 public:
  Demo() = default;
  ~Demo() { RemoveTaskFile(); }
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;

  // Starts the server (HTTPS with --demo-https, its CA made for the run and
  // given to the workers as --cacert unless one is given), writes the task
  // list to a temporary file and says on stderr what runs. A failed Status,
  // its message for the user, when either fails.
  Status Start(CoordinatorConfig* config);
  [[nodiscard]] const std::string& task_file() const { return task_file_; }
  // Once the task source has it open, the file is not needed.
  void RemoveTaskFile();

 private:
  std::unique_ptr<TempDir> tls_;  // before the server: it outlives it
  std::unique_ptr<testserver::HttpTestServer> server_;
  std::string task_file_;
};

}  // namespace taskfarm
