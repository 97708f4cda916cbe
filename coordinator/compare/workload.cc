// The workloads of `coordinator compare`: counting a task file, and the
// built-in ones written for the run against servers started for it.
#include "coordinator/compare/workload.h"

#include <fstream>
#include <map>

#include "common/file_writer.h"
#include "common/task_parser.h"
#include "testserver/test_ca.h"

namespace taskfarm::compare {

size_t CountTasks(const std::string& path, Resource* resource) {
  std::ifstream in(path);
  std::string line;
  size_t n = 0;
  std::map<Resource, size_t> by_resource;
  while (std::getline(in, line)) {
    ParsedLine parsed = ParseTaskLine(line, {});
    if (!parsed.spec && parsed.error.empty()) continue;  // blank or a comment
    ++n;
    if (parsed.spec) ++by_resource[KindOf(*parsed.spec).resource];
  }
  *resource = Resource::kIo;
  for (Resource r : {Resource::kCpu, Resource::kProcess}) {
    if (by_resource[r] * 2 > n) *resource = r;
  }
  return n;
}

Status WorkloadRig::Make(const std::string& name, const CompareConfig& config, Workload* w) {
  std::string lines = name == "io" ? Io(config, w) : name == "cpu" ? Cpu(config, w) : Downloads(config, w);
  // A workload cut short by a full /tmp would compare the wrong thing.
  return WriteWholeFile(w->path, lines);
}

std::string WorkloadRig::Io(const CompareConfig& config, Workload* w) {
  server_ = std::make_unique<testserver::HttpTestServer>(testserver::Options{});
  w->name = Format("I/O: %d pages, %d ms delay", config.io_pages, config.delay_ms);
  w->path = tmp_.File("io.txt");
  w->tasks = static_cast<size_t>(config.io_pages);
  std::string lines;
  for (int i = 0; i < config.io_pages; ++i) {
    lines += "url " + server_->BaseUrl() + "/page/" + std::to_string(i % 3 + 1) +
             "?delay=" + std::to_string(config.delay_ms) + "\n";
  }
  servers_.push_back("I/O: a loopback web server at " + server_->BaseUrl() + ".");
  return lines;
}

std::string WorkloadRig::Cpu(const CompareConfig& config, Workload* w) {
  w->name = Format("CPU: %d x primes below %llu", config.cpu_tasks, static_cast<unsigned long long>(config.cpu_n));
  w->path = tmp_.File("cpu.txt");
  w->tasks = static_cast<size_t>(config.cpu_tasks);
  w->resource = Resource::kCpu;
  std::string lines;
  for (int i = 0; i < config.cpu_tasks; ++i) lines += "cpu primes " + std::to_string(config.cpu_n) + "\n";
  return lines;
}

// HTTPS with a CA made for this run, behind the latency proxy.
std::string WorkloadRig::Downloads(const CompareConfig& config, Workload* w) {
  testserver::TestCa ca = testserver::MakeTestCa(tmp_.path());
  tls_server_ = std::make_unique<testserver::HttpTestServer>(
      testserver::Options{.tls_cert_file = ca.cert_file, .tls_key_file = ca.key_file});
  proxy_ = std::make_unique<testserver::LatencyProxy>(
      testserver::LatencyProxyOptions{.upstream_port = tls_server_->port(), .rtt_ms = config.rtt_ms});
  std::string base = "https://127.0.0.1:" + std::to_string(proxy_->port());
  w->name = Format("Downloads: %d HTTPS pages at %g ms round trip", config.downloads, config.rtt_ms);
  w->path = tmp_.File("downloads.txt");
  w->tasks = static_cast<size_t>(config.downloads);
  w->run_args = {"--cacert", ca.ca_file};
  w->rtt_ms = config.rtt_ms;
  std::string lines;
  for (int i = 0; i < config.downloads; ++i) lines += "url " + base + "/page/" + std::to_string(i % 3 + 1) + "\n";
  servers_.push_back(
      Format("Downloads: HTTPS from %s, a latency proxy in front of a loopback test server that "
             "makes each round trip %g ms (a stand-in for a network; no netem needed).",
             base.c_str(), config.rtt_ms));
  return lines;
}

}  // namespace taskfarm::compare
