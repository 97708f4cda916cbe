// The worker program: flags into a WorkerConfig, then RunWorker. Both the
// `worker` executable and the coordinator's fork server run it.
#include "worker/worker_main.h"

#include <curl/curl.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <set>

#include "common/cli_help.h"
#include "common/main_guard.h"
#include "common/task_kind.h"
#include "common/tls_flags.h"
#include "common/zmq_util.h"
#include "worker/worker.h"

namespace taskfarm {
namespace {

int WorkerMain(int argc, char** argv) {
  WorkerConfig config;
  CLI::App app{"taskfarm worker: connects to a coordinator and runs the tasks it hands out", "worker"};
  app.footer(std::string(kDurationHelp) +
             "\nExit status: 0 the run ended, or Ctrl-C / SIGTERM (unfinished tasks are handed back); 1 a fatal\n"
             "error (a key file that cannot be read); 2 bad command line or --cacert file.");
  AddVersionFlag(app);
  app.add_option("--connect", config.connect, "Coordinator endpoint, e.g. tcp://10.0.0.1:5555")->required();
  app.add_option("--name", config.name, "Name shown in results (default HOST:PID)");
  app.add_option("--concurrency", config.concurrency, "Tasks in flight at once, any kind (URLs and sleeps overlap)")
      ->default_val(32)
      ->check(CLI::Range(1, 100000));
  app.add_option("--threads", config.threads, "Of those, CPU tasks at once, one thread each")
      ->default_val(1)
      ->check(CLI::Range(1, 1024));
  app.add_option("--processes", config.processes, "Of those, tasks that run a child process, at once")
      ->default_val(1)
      ->check(CLI::Range(1, 1024));
  bool no_reuse = false;
  app.add_flag("--no-reuse", no_reuse, "Open a new HTTP connection for every URL");
  AddTlsFlags(app, &config.http2, &config.ca_file, &config.insecure_tls, "Options");
  app.add_option("--max-body", config.max_body_bytes, "Largest response body accepted, in bytes")
      ->default_val(1ULL << 30)
      ->check(CLI::Range(uint64_t{1}, uint64_t{4294967295ULL}));
  // libcurl counts the stall time in whole seconds.
  double stall_timeout_s = config.stall_timeout_s;
  AddDuration(app, "--stall-timeout", &stall_timeout_s,
              "Give up on a download below 1 byte/s this long\n(seconds, or 1m; rounded up to whole seconds)",
              {.min_s = 1, .max_s = 86400});
  app.add_option("--batch", config.max_batch, "Most results per message (1: no batching)")
      ->default_val(256)
      ->check(CLI::Range(1, 65536));
  double batch_delay_s = config.batch_delay_ms / 1000;
  AddDuration(app, "--batch-delay", &batch_delay_s, "Longest a result waits to share a message (seconds, or 2ms)",
              {.max_s = 1});
  app.add_option("--parent-pid", config.parent_pid, "Exit when this process is no longer the parent")
      ->group("");  // set by the coordinator for the workers it starts
  // One flag per kind that needs the worker's consent (the kinds table says
  // which); test-only ones stay out of --help.
  std::set<std::string> flags_given;
  std::map<std::string_view, std::pair<std::string, bool>> flags;  // flag -> (its kinds, test-only)
  for (const TaskKind* kind : AllKinds()) {
    if (kind->worker_flag.empty()) continue;
    auto& [names, test_only] = flags[kind->worker_flag];
    names += (names.empty() ? "" : " and ") + std::string(kind->name);
    test_only = kind->test_only;
  }
  for (const auto& [flag_view, what] : flags) {
    std::string flag(flag_view);
    std::string help = "Run " + what.first + " tasks" +
                       (what.second ? ""
                                    : ": whoever can reach this worker (holds an\naccepted key) can then run "
                                      "them here, as this user");
    app.add_flag_callback(
           flag, [&flags_given, flag] { flags_given.insert(flag); }, help)
        ->group(what.second ? "" : "Options");
  }
  app.add_flag("--allow-save", config.allow_save,
               "Save url tasks' bodies where the run's --save says: whoever can\nreach this worker (holds an "
               "accepted key) can then\nwrite files here, as this user");
  app.add_flag("--forever", config.forever, "After a run ends, wait for the next one");
  double coordinator_timeout_s = config.coordinator_timeout_ms / 1000;
  // Its bare number once counted milliseconds: a bare 5000 now is most likely a leftover.
  AddDuration(app, "--coordinator-timeout", &coordinator_timeout_s,
              "Silence from the coordinator before reconnecting\n(seconds, or 500ms, 2m)",
              {.min_s = 0.1, .max_s = 86400, .bare_was_ms = true});
  app.add_option("--curve-secret", config.curve_secret_file, "This worker's CURVE secret key file (.key)");
  app.add_option("--server-key", config.server_key_file, "The coordinator's CURVE public key file (.pub)");
  if (std::optional<int> code = ParseCommandLine(app, argc, argv, "the coordinator is given as --connect ENDPOINT")) {
    return *code;
  }
  config.reuse_connections = !no_reuse;
  config.opt_ins.assign(flags_given.begin(), flags_given.end());
  config.coordinator_timeout_ms = coordinator_timeout_s * 1000;
  config.batch_delay_ms = batch_delay_s * 1000;
  config.stall_timeout_s = static_cast<int>(std::ceil(stall_timeout_s));
  if (Status s = CheckEndpoint(config.connect); !s.ok()) {
    std::fprintf(stderr, "worker: %s\n", s.message().c_str());
    return 2;
  }
  if (Status s = CheckTlsFlags(config.ca_file, config.insecure_tls); !s.ok()) {
    std::fprintf(stderr, "worker: %s\n", s.message().c_str());
    return 2;
  }
  // A local worker's coordinator has said it once for all of them.
  if (config.insecure_tls && config.parent_pid == 0) std::fprintf(stderr, "worker: %s\n", kInsecureTlsNote);
  if (config.curve_secret_file.empty() != config.server_key_file.empty()) {
    std::fprintf(stderr, "worker: --curve-secret and --server-key go together\n");
    return 2;
  }
  return RunWorker(config);
}

}  // namespace

int WorkerProgramMain(int argc, char** argv) { return RunMain("worker", WorkerMain, argc, argv); }

void WarmUpWorkerProgram() {
  // Never cleaned up: it lasts as long as the process, and each worker's
  // own curl_global_init and cleanup then only count up and down.
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

}  // namespace taskfarm
