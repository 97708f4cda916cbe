// The coordinator: reads tasks, starts local workers, leases tasks to every
// registered worker (local or remote) over one ROUTER socket, writes results
// and the summary.
//
//   CoordinatorConfig config;
//   config.workers = 5;
//   config.tasks_path = "tasks.txt";
//   return RunCoordinator(config);  // the process exit code
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/shard.h"

namespace taskfarm {

struct CoordinatorConfig {
  int workers = 0;          // local workers to start (default: cores)
  std::string tasks_path;   // task file, "-" for stdin
  std::string urls_path;    // a file of URLs, one per line
  std::string output_path;  // JSON lines, one per task
  bool quiet = false;       // no per-task lines
  bool dry_run = false;     // print the tasks as task lines, run nothing
  bool progress = true;     // live progress line on a terminal

  // Passed to the local workers.
  int concurrency = 32;
  int threads = 1;
  int processes = 1;  // tasks running a child process at once, per worker
  bool no_reuse = false;
  int batch = 256;  // tasks / results per message; 1: off
  uint64_t max_body = 1ULL << 30;
  int stall_timeout_s = 10;   // give up on a transfer slower than 1 B/s this long
  std::string worker_binary;  // default: `worker` beside this program
  // The worker program's main (WorkerProgramMain), when this binary has it
  // linked in: local workers are then forked from a fork server running it
  // (coordinator/fork_server.h) instead of spawned. Not with worker_binary.
  int (*worker_program)(int argc, char** argv) = nullptr;
  void (*warm_up_worker)() = nullptr;  // run once in the fork server (WarmUpWorkerProgram)
  bool http2 = false;                  // --http2: HTTP/2 over TLS (one connection per worker)
  std::string cacert;                  // --cacert FILE: a CA the workers trust besides the system's
  bool insecure_tls = false;           // --insecure-tls: workers do not verify certificates

  // URL tasks: run-wide defaults folded into every url task (see UrlTask).
  std::string method;                // --method: for lines without -X
  std::vector<std::string> headers;  // --header 'Name: value', before each line's own -H
  std::vector<uint32_t> expect;      // --expect CODES: for lines without --expect
  std::string save_dir;              // --save DIR: every body to a file, on the worker
  std::string save_name = "id";      // --save-name id|url
  bool compressed = false;           // --compressed
  double rate_per_s = 0;             // --rate N/s: task starts per second, farm-wide (0: no limit)
  int per_host = 0;                  // --per-host K: url tasks in flight per host, farm-wide (0: no limit)

  // Reliability.
  int retries = 2;
  double heartbeat_timeout_s = 5;
  double task_timeout_s = 0;
  double grace_s = 5;
  std::string journal_path;
  bool resume = false;
  bool retry_failed = false;
  bool allow_test_kinds = false;
  std::optional<Shard> shard;  // --shard K/N: only this shard's tasks of the input

  // Network.
  std::string bind;  // default: a private ipc:// endpoint
  bool insecure = false;
  std::string curve_secret_file;
  std::string authorized_keys_dir;
  std::string metrics;          // --metrics HOST:PORT: /metrics and the live page ("": off)
  double metrics_linger_s = 0;  // after the run, the final numbers stay served this long
  int min_workers = 1;
  double wait_workers_s = 0;  // 0: wait forever for the first worker

  // Single-run report: timeline per worker and latency histograms.
  std::string report_path;           // HTML
  std::string json_path;             // the same numbers for scripts
  size_t report_max_spans = 100000;  // bounded: later tasks are left out of the timeline
  std::string command_line;          // as typed, shell-quoted, for the report's header

  // Your own commands: exec and sh tasks.
  std::string exec_template;      // --exec 'gzip -9 {}': one task per line of --args
  std::string args_path;          // --args FILE ("-": standard input)
  std::string workdir;            // where commands run on the worker ("": the worker's own)
  std::string results_dir;        // --results DIR: full stdout/stderr per task, on the worker
  uint32_t capture_bytes = 4096;  // tail of each stream kept in the record
  std::vector<uint32_t> retry_exit_codes;
  bool print_output = false;  // show each task's captured stdout after its line

  // Built-in demo (no task source given).
  int demo_delay_ms = 100;
  bool demo_https = false;  // the demo's server speaks HTTPS (a CA made for the run, given to the workers)
};

// Runs one farm run. Returns 0 if every task succeeded, 1 if some failed,
// 2 for a bad command line or task file, or an output file that cannot be
// opened or written before the run starts (nothing runs), 3 if a result
// file (--output, --journal, --report, --json) could not be written during
// the run, 130 if interrupted. 3 takes precedence over 130 and 1. After a
// failed write no new task starts and running ones finish; every file keeps
// whole records only, and nothing the journal lacks is reported done.
[[nodiscard]] int RunCoordinator(const CoordinatorConfig& config);

}  // namespace taskfarm
