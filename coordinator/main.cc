// coordinator: runs a task list over a farm of worker processes. Parses
// flags into a CoordinatorConfig and calls RunCoordinator.
#include <CLI/CLI.hpp>
#include <thread>

#include "common/curve_keys.h"
#include "common/duration.h"
#include "common/shell_words.h"
#include "common/zmq_util.h"
#include "coordinator/compare.h"
#include "coordinator/coordinator.h"

int main(int argc, char** argv) {
  taskfarm::CoordinatorConfig c;
  c.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CLI::App app{
      "taskfarm coordinator: starts worker processes, hands them url / cpu / sleep / exec tasks over\n"
      "ZeroMQ and collects the results. With no task file it runs a built-in demo on loopback."};
  app.get_formatter()->column_width(36);
  app.footer(
      "Exit status: 0 every task succeeded; 1 some failed; 2 bad command line or task file, or an output\n"
      "file that cannot be written (nothing ran); 3 a result file (--output, --journal, --report, --json)\n"
      "could not be written during the run (wins over 130 and 1); 130 interrupted (Ctrl-C, SIGTERM).");
  app.add_option("--workers,-w", c.workers, "Local worker processes to start (0: only remote workers)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  auto* tasks = app.add_option("--tasks,-t", c.tasks_path, "Task file, one task a line ('-': standard input)");
  auto* urls = app.add_option("--urls", c.urls_path, "File of URLs, one a line (each a url task)");
  tasks->excludes(urls);
  app.add_option("--output,-o", c.output_path, "Write one JSON result a line to FILE");
  app.add_flag("--quiet,-q", c.quiet, "No line per task; only the summary");
  app.add_flag("--dry-run", c.dry_run, "Check the input and print its tasks as task lines; run nothing");
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "No live progress line on the terminal");

  auto* own = "Your own commands (exec and sh tasks; see README: Run your own commands)";
  auto* exec = app.add_option("--exec", c.exec_template,
                              "COMMAND run once per --args line (GNU parallel's way): {} the\n"
                              "line, {.} no extension, {/} basename, {//} dirname, {#} number")
                   ->group(own);
  auto* args = app.add_option("--args", c.args_path, "FILE of arguments for --exec, one a line ('-': standard input)")
                   ->group(own);
  exec->excludes(tasks)->excludes(urls);
  args->excludes(tasks)->excludes(urls);
  app.add_option("--workdir", c.workdir, "Directory commands run in on each worker (default: the worker's)")
      ->group(own);
  app.add_option("--results", c.results_dir,
                 "Keep each task's whole output in DIR/ID.stdout, DIR/ID.stderr\n(on the worker)")
      ->group(own);
  app.add_option("--capture", c.capture_bytes, "Last bytes of each task's stdout and stderr kept in its record")
      ->capture_default_str()
      ->check(CLI::Range(0, 256 * 1024))
      ->group(own);
  app.add_option("--retry-exit-codes", c.retry_exit_codes, "Exit codes that are retried (default: none; signals are)")
      ->delimiter(',')
      ->check(CLI::Range(1, 255))
      ->group(own);
  app.add_flag("--print-output", c.print_output, "After each task's line, its captured stdout")->group(own);

  auto* perf = "Speed";
  app.add_option("--concurrency,-c", c.concurrency, "Tasks in flight per worker (url/sleep overlap on one event loop)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000))
      ->group(perf);
  app.add_option(
         "--processes", c.processes,
         "exec/sh tasks at once per worker (with the default one worker\nper core: one per core, as GNU parallel)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024))
      ->group(perf);
  app.add_option("--threads", c.threads, "CPU tasks at once per worker, one thread each")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024))
      ->group(perf);
  app.add_flag("--no-reuse", c.no_reuse, "A new HTTP connection per URL (no keep-alive)")->group(perf);
  app.add_option("--batch", c.batch, "Most tasks or results per message (1: no batching)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536))
      ->group(perf);
  bool no_batch = false;
  app.add_flag("--no-batch", no_batch, "Same as --batch 1")->group(perf);
  app.add_option("--max-body", c.max_body, "Largest HTTP response body accepted, bytes")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{4294967295ULL}))
      ->group(perf);
  app.add_option("--stall-timeout", c.stall_timeout_s, "Give up on a download stalled (< 1 byte/s) this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400))
      ->group(perf);
  app.add_option("--worker-bin", c.worker_binary, "The worker program (default: beside this one)")->group(perf);

  auto* rel = "Reliability";
  app.add_option("--retries", c.retries, "Extra attempts for a task that failed transiently or lost its worker")
      ->capture_default_str()
      ->check(CLI::Range(0, 100))
      ->group(rel);
  // Durations: seconds, or with a unit (200ms, 5s, 2m), the same in both programs.
  CLI::Validator duration(taskfarm::DurationToSeconds, "DURATION");
  app.add_option("--heartbeat-timeout", c.heartbeat_timeout_s,
                 "Silence before a worker is lost (seconds, or 500ms, 1m)")
      ->capture_default_str()
      ->transform(duration)
      ->check(CLI::Range(0.2, 3600.0))
      ->group(rel);
  app.add_option("--task-timeout", c.task_timeout_s,
                 "Time a task may run, from its start on a worker (seconds, or 200ms, 5m; 0: no limit)")
      ->capture_default_str()
      ->transform(duration)
      ->check(CLI::Range(0.0, 1e6))
      ->group(rel);
  app.add_option("--grace", c.grace_s, "Time running tasks get to finish after Ctrl-C (seconds)")
      ->capture_default_str()
      ->transform(duration)
      ->check(CLI::Range(0.0, 3600.0))
      ->group(rel);
  app.add_option("--journal", c.journal_path, "Durable record of finished tasks, for --resume")->group(rel);
  app.add_flag("--resume", c.resume, "Run only what the journal has no successful record of")->group(rel);
  app.add_flag("--retry-failed", c.retry_failed, "With --resume: also rerun the journal's failures")->group(rel);
  app.add_flag("--enable-fault-tasks", c.allow_test_kinds, "Accept test-only `fault` tasks")->group("");

  auto* net = "Network";
  app.add_option("--bind", c.bind, "Endpoint workers connect to (default: a private ipc:// socket)")->group(net);
  app.add_flag("--insecure", c.insecure, "Allow a non-loopback --bind without CURVE keys")->group(net);
  app.add_option("--curve-secret", c.curve_secret_file, "Coordinator's CURVE secret key file")->group(net);
  app.add_option("--authorized-keys", c.authorized_keys_dir, "Directory of workers' .pub keys")->group(net);
  app.add_option("--min-workers", c.min_workers, "Workers to wait for before the first task")
      ->capture_default_str()
      ->group(net);
  app.add_option("--wait-workers", c.wait_workers_s, "Time to wait for them (seconds; 0: forever)")
      ->transform(duration)
      ->group(net);
  app.add_option("--report", c.report_path, "Write an HTML report: a timeline per worker, latency histograms");
  app.add_option("--json", c.json_path, "Write the report's numbers as JSON");
  app.add_option("--demo-delay", c.demo_delay_ms, "Demo: server delay per page, ms")->capture_default_str()->group("");
  // `run` is the default: `coordinator run --workers 4 ...` is `coordinator --workers 4 ...`.
  auto* run = app.add_subcommand("run", "Run a task list (the default when no subcommand is given)");
  run->fallthrough();

  taskfarm::CompareConfig cmp;
  // The reports show the command as typed, quoted so that it pastes back.
  c.command_line = cmp.command_line = taskfarm::JoinShellWords(std::vector<std::string>(argv, argv + argc));
  auto* compare = app.add_subcommand(
      "compare",
      "Run one workload the tutorials' ways (sequential, session, threads, async, processes, hybrid)\n"
      "and say which kind of concurrency pays. Without --tasks: the built-in I/O and CPU workloads.\n"
      "A task file of exec/sh commands runs sequential, processes (1 per core) and oversubscribed.");
  compare->add_option("--tasks,-t", cmp.tasks_path, "Task file to compare the modes on");
  compare->add_option("--modes", cmp.modes, "Modes to run (default all)")->delimiter(',');
  compare->add_option("--runs", cmp.runs, "Runs per mode (the median is reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  compare->add_option("--sweep", cmp.sweep,
                      "Also sweep a parameter: workers=1,2,4,8 or concurrency=1,10,100 (exec/sh: commands at once)");
  compare->add_option("--report", cmp.report_path, "Write a self-contained HTML report");
  compare->add_option("--json", cmp.json_path, "Write the numbers as JSON");
  compare->add_option("--io-pages", cmp.io_pages, "Built-in I/O workload: pages")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  compare->add_option("--delay", cmp.delay_ms, "Built-in I/O workload: server delay, ms")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  compare->add_option("--cpu-tasks", cmp.cpu_tasks, "Built-in CPU workload: tasks")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  compare->add_option("--cpu-n", cmp.cpu_n, "Built-in CPU workload: count primes below N")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{3}, uint64_t{4000000000ULL}));

  std::string keygen_path;
  auto* keygen = app.add_subcommand("keygen", "Write a CURVE keypair: PATH.key (secret, mode 0600) and PATH.pub");
  keygen->add_option("path", keygen_path, "Path without extension, e.g. keys/worker1")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "coordinator: %s\nRun with --help for the options.\n", e.what());
    return 2;
  }
  if (compare->parsed()) return taskfarm::RunCompare(cmp);
  if (keygen->parsed()) {
    std::string err = taskfarm::WriteKeyPair(keygen_path);
    if (!err.empty()) {
      std::fprintf(stderr, "coordinator keygen: %s\n", err.c_str());
      return 1;
    }
    std::printf("wrote %s.key (secret: keep it on this machine) and %s.pub (public: share it)\n", keygen_path.c_str(),
                keygen_path.c_str());
    return 0;
  }
  if (no_batch) c.batch = 1;
  c.progress = !no_progress;
  if (!c.bind.empty()) {
    if (std::string err = taskfarm::CheckEndpoint(c.bind); !err.empty()) {
      std::fprintf(stderr, "coordinator: --bind: %s\n", err.c_str());
      return 2;
    }
  }
  if (c.retry_failed && !c.resume) {
    std::fprintf(stderr, "coordinator: --retry-failed only makes sense with --resume\n");
    return 2;
  }
  return taskfarm::RunCoordinator(c);
}
