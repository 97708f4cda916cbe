// What `coordinator compare` measures: a workload is a task file and what
// its tasks occupy. Your own task file is counted as it is; the built-in
// ones (io, cpu, downloads) are written for the run, with the servers they
// fetch from (WorkloadRig).
//
//   WorkloadRig rig(tmp);
//   Workload w;
//   if (!rig.Make("io", config, &w, &error)) ...;  // w.path: 90 url tasks
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/task_kind.h"
#include "common/temp_dir.h"
#include "coordinator/compare/compare.h"
#include "testserver/http_test_server.h"
#include "testserver/latency_proxy.h"

namespace taskfarm::compare {

struct Workload {
  std::string name;
  std::string path;
  size_t tasks = 0;
  // What most of its tasks occupy on a worker (kIo when none has a majority).
  Resource resource = Resource::kIo;
  // Mostly `cpu` tasks: parallelism is threads, not slots.
  bool cpu_heavy() const { return resource == Resource::kCpu; }
  // Mostly exec/sh tasks: parallelism is child processes (--processes).
  bool commands() const { return resource == Resource::kProcess; }
  // What every run of it needs besides the mode's flags (--cacert CA).
  std::vector<std::string> run_args;
  // The round trip a latency proxy in front of its server adds; 0: loopback.
  double rtt_ms = 0;
};

// Tasks in the file, and the resource more than half of them use. A line
// that does not parse counts as a task of no resource: the runs report it.
[[nodiscard]] size_t CountTasks(const std::string& path, Resource* resource);

// The built-in workloads' servers (started as a workload needs one, stopped
// with the rig) and their task files, written into `tmp`. Declare it after
// `tmp`: the servers stop before the CA's files go.
class WorkloadRig {
 public:
  explicit WorkloadRig(const TempDir& tmp) : tmp_(tmp) {}
  WorkloadRig(const WorkloadRig&) = delete;
  WorkloadRig& operator=(const WorkloadRig&) = delete;

  // Built-in workload `name` ("io", "cpu" or "downloads"), sized by
  // `config`, its task file written whole. A failed Status when the file
  // could not be written; throws when a server, the proxy or the CA fails.
  Status Make(const std::string& name, const CompareConfig& config, Workload* w);

  // A sentence per server started, for the start line.
  [[nodiscard]] const std::vector<std::string>& servers() const { return servers_; }

 private:
  std::string Io(const CompareConfig& config, Workload* w);
  std::string Cpu(const CompareConfig& config, Workload* w);
  std::string Downloads(const CompareConfig& config, Workload* w);

  const TempDir& tmp_;
  std::unique_ptr<testserver::HttpTestServer> server_, tls_server_;
  std::unique_ptr<testserver::LatencyProxy> proxy_;
  std::vector<std::string> servers_;
};

}  // namespace taskfarm::compare
