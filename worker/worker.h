// The worker: connects to a coordinator, says Hello, runs the tasks it is
// leased on one event loop (libcurl multi for URLs, timers for sleeps, a
// thread pool for CPU kernels) and sends results back in batches.
//
//   WorkerConfig config;
//   config.connect = "tcp://10.0.0.1:5555";
//   return RunWorker(config);  // until Shutdown, a signal, or the coordinator is gone
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace taskfarm {

struct WorkerConfig {
  std::string connect;            // coordinator endpoint, e.g. tcp://host:5555
  std::string name;               // shown in results; default "HOST:PID"
  int concurrency = 32;           // url/sleep tasks in flight at once
  int threads = 1;                // cpu tasks at once (one thread each)
  int processes = 1;              // tasks that run a child process, at once
  bool reuse_connections = true;  // false: new HTTP connection per URL
  uint64_t max_body_bytes = 1ULL << 30;
  bool http2 = false;         // HTTP/2 over TLS, many transfers on one connection
  std::string ca_file;        // --cacert: a CA trusted besides the system's
  bool insecure_tls = false;  // --insecure-tls: no certificate verification
  // --allow-save: url tasks may write their bodies where --save says. Off,
  // such a task is refused: the coordinator would choose where this
  // worker's user writes files.
  bool allow_save = false;
  int stall_timeout_s = 10;   // a transfer below 1 byte/s this long fails
  int max_batch = 256;        // results per message (1: no batching)
  double batch_delay_ms = 2;  // a result waits at most this for company
  pid_t parent_pid = 0;       // local worker: exit when this parent is gone
  // The kinds' worker flags given ("--allow-exec"): a kind whose
  // TaskKind::worker_flag is not here is refused (see task_kind.h).
  std::vector<std::string> opt_ins;
  bool forever = false;                    // after a run ends, wait for the next one
  double coordinator_timeout_ms = 10'000;  // silence before reconnecting
  std::string curve_secret_file;           // own CURVE secret key (Z85), optional
  std::string server_key_file;             // coordinator's CURVE public key (Z85)
  std::string local_token;                 // default: $TASKFARM_LOCAL_TOKEN (set by the coordinator)
};

// Runs until the coordinator says Shutdown (and not --forever), SIGINT or
// SIGTERM (unfinished tasks are handed back), or the parent is gone.
// Returns the process exit code: 0 on a clean end, 1 on a fatal error.
[[nodiscard]] int RunWorker(const WorkerConfig& config);

}  // namespace taskfarm
