// coordinator: runs a task list over a farm of worker processes. Parses
// flags into a CoordinatorConfig and calls RunCoordinator.

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <exception>
#include <thread>

#include "common/cli_help.h"
#include "common/curve_keys.h"
#include "common/duration.h"
#include "common/main_guard.h"
#include "common/rate.h"
#include "common/shell_words.h"
#include "common/tls_flags.h"
#include "common/zmq_util.h"
#include "coordinator/compare/compare.h"
#include "coordinator/coordinator.h"
#include "coordinator/input_options.h"
#include "coordinator/merge.h"
#include "coordinator/report/text_table.h"
#include "coordinator/task_source.h"
#include "worker/worker_main.h"

namespace {

int Main(int argc, char** argv) {
  taskfarm::CoordinatorConfig c;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  c.workers = static_cast<int>(cores);
  CLI::App app{
      "taskfarm coordinator: starts worker processes, hands them url / cpu / sleep / exec tasks over\n"
      "ZeroMQ and collects the results. With no task file it runs a built-in demo on loopback.",
      "coordinator"};
  app.get_formatter()->column_width(36);
  app.footer(taskfarm::TaskLanguageHelp() + "\n" + taskfarm::kDurationHelp +
             "\nExit status: 0 every task succeeded; 1 some failed, or a stream had a bad line; 2 bad command\n"
             "line or task file, or an output file that cannot be written (nothing ran); 3 a result file\n"
             "(--output, --journal, --report, --json) could not be written during the run (wins over 130 and\n"
             "1); 130 interrupted (Ctrl-C, SIGTERM).");
  taskfarm::AddVersionFlag(app);
  taskfarm::AddNumber(
      app, "--workers,-w", &c.workers,
      "Local worker processes to start (default: one per core;\n0: only workers started elsewhere, with --bind)", 0,
      4096);
  auto* tasks = app.add_option("--tasks,-t", c.tasks_path, "Task file, one task a line ('-': standard input)");
  auto* urls = app.add_option("--urls", c.urls_path, "File of URLs, one a line (each a url task)");
  tasks->excludes(urls);
  app.add_option("--output,-o", c.output_path, "Write one JSON result a line to FILE ('-': standard output)");
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
  taskfarm::AddNumber(app, "--capture", &c.capture_bytes,
                      "Last bytes of each task's stdout and stderr kept in its record", 0, 256 * 1024)
      ->group(own);
  app.add_option("--retry-exit-codes", c.retry_exit_codes, "Exit codes that are retried (default: none; signals are)")
      ->delimiter(',')
      ->check(CLI::Range(1, 255))
      ->group(own);
  app.add_flag("--print-output", c.print_output, "After each task's line, its captured stdout")->group(own);

  auto* http = "HTTP requests (url tasks and --urls lines)";
  app.add_option("--method", c.method, "Method of url tasks whose line has no -X (default: GET;\nPOST with -d)")
      ->type_name("METHOD")
      ->group(http);
  app.add_option("--header", c.headers,
                 "'Name: value' for every url task, sent before its line's own\n-H (repeat --header for more)")
      ->type_name("'NAME: VALUE'")
      ->allow_extra_args(false)
      ->group(http);
  app.add_option("--expect", c.expect,
                 "The statuses that succeed (CODE[,CODE]), for url lines\nwithout --expect (default: any below 400)")
      ->delimiter(',')
      ->type_name("CODES")
      ->allow_extra_args(false)
      ->group(http);
  app.add_option("--save", c.save_dir,
                 "Write each response body to a file in DIR, on the machine\n"
                 "where the worker runs (as --results); whole files only")
      ->type_name("DIR")
      ->group(http);
  app.add_option("--save-name", c.save_name,
                 "The files' names: id (the task id) or url (the URL's last\n"
                 "path segment, made unique: page, page.1, ...; / is index.html)")
      ->capture_default_str()
      ->check(CLI::IsMember({"id", "url"}))
      ->group(http);
  app.add_flag("--compressed", c.compressed, "Ask for gzip, br or zstd; records count wire and decoded bytes")
      ->group(http);

  auto* perf = "Speed";
  taskfarm::AddNumber(app, "--concurrency,-c", &c.concurrency,
                      "Tasks in flight per worker (url/sleep overlap on one event loop)", 1, 100000)
      ->group(perf);
  taskfarm::AddNumber(
      app, "--processes", &c.processes,
      "exec/sh tasks at once per worker (with the default one worker\nper core: one per core, as GNU parallel)", 1,
      1024)
      ->group(perf);
  taskfarm::AddNumber(app, "--threads", &c.threads, "CPU tasks at once per worker, one thread each", 1, 1024)
      ->group(perf);
  app.add_flag("--no-reuse", c.no_reuse, "A new HTTP connection per URL (no keep-alive)")->group(perf);
  // How URL tasks speak HTTPS: passed on to the local workers.
  taskfarm::AddTlsFlags(app, &c.http2, &c.cacert, &c.insecure_tls, perf);
  taskfarm::AddNumber(app, "--batch", &c.batch, "Most tasks or results per message (1: no batching)", 1, 65536)
      ->group(perf);
  bool no_batch = false;
  app.add_flag("--no-batch", no_batch, "Same as --batch 1")->group(perf);
  taskfarm::AddNumber(app, "--max-body", &c.max_body, "Largest HTTP response body accepted, bytes", 1, 4294967295ULL)
      ->group(perf);
  // Durations: seconds, or with a unit (200ms, 5s, 1m), the same in both
  // programs. libcurl counts the stall time in whole seconds.
  double stall_timeout_s = c.stall_timeout_s;
  taskfarm::AddDuration(app, "--stall-timeout", &stall_timeout_s,
                        "Give up on a download below 1 byte/s this long (seconds,\nor 1m; rounded up to whole seconds)",
                        {.min_s = 1, .max_s = 86400})
      ->group(perf);
  app.add_option("--worker-bin", c.worker_binary,
                 "Start local workers by running this worker program (default:\nforked from this one, which has the "
                 "worker built in)")
      ->group(perf);

  auto* pace = "Pace (for servers that are not yours)";
  app.add_option("--rate", c.rate_per_s,
                 "Task starts per second across all workers together, spread\n"
                 "evenly over time: a global limit, not per worker; retries\n"
                 "count, they are requests too (200/s, 12000/min, 0.5/s, 3/h)")
      ->transform(CLI::Validator(
          [](std::string& text) -> std::string {
            std::optional<double> r = taskfarm::ParseRate(text);
            if (r && *r == 0) return "'" + text + "' would start nothing: leave --rate out for no limit";
            if (!r) return "'" + text + "' is not a rate: write tasks per second or minute (200/s, 12000/min)";
            if (*r > 1e6) return "'" + text + "' is above the most, 1000000/s";
            char buf[64];
            std::snprintf(buf, sizeof(buf), "%.17g", *r);
            text = buf;
            return "";
          },
          ""))
      ->type_name("RATE")
      ->group(pace);
  app.add_option("--per-host", c.per_host,
                 "URL tasks in flight to one host across the farm (a host:\n"
                 "scheme, host and port; the host's case does not matter)")
      ->check(CLI::Range(1, 100000))
      ->type_name("K")
      ->group(pace);

  auto* rel = "Reliability";
  taskfarm::AddNumber(app, "--retries", &c.retries, "Extra attempts after a transient failure or a lost worker", 0, 100)
      ->group(rel);
  taskfarm::AddDuration(app, "--heartbeat-timeout", &c.heartbeat_timeout_s,
                        "Silence before a worker is lost (seconds, or 500ms, 1m)", {.min_s = 0.2, .max_s = 3600})
      ->group(rel);
  taskfarm::AddDuration(app, "--task-timeout", &c.task_timeout_s,
                        "Time a task may run, from its start on a worker (seconds,\nor 200ms, 5m; 0: no limit)",
                        {.max_s = 1e6, .nonzero_min_s = 1e-3})
      ->group(rel);
  taskfarm::AddDuration(app, "--grace", &c.grace_s, "Time running tasks get to finish after Ctrl-C (seconds, or 1m)",
                        {.max_s = 3600})
      ->group(rel);
  app.add_option("--journal", c.journal_path, "Durable record of finished tasks, for --resume")->group(rel);
  app.add_flag("--resume", c.resume,
               "Run only what the journal has no record of (its failures\nstay failed unless --retry-failed)")
      ->group(rel);
  app.add_flag("--retry-failed", c.retry_failed, "With --resume: also rerun the journal's failures")->group(rel);
  std::string shard;
  app.add_option("--shard", shard,
                 "Run only shard K of N of the input (the tasks whose id % N\n"
                 "is K; K from 0): N coordinators split one input, each with\n"
                 "its own workers, --output and --journal; coordinator merge\n"
                 "joins their outputs")
      ->type_name("K/N")
      ->check(CLI::Validator([](std::string& text) { return taskfarm::ParseShard(text).status().message(); }, ""))
      ->group(rel);
  app.add_flag("--enable-fault-tasks", c.allow_test_kinds, "Accept test-only `fault` tasks")->group("");

  auto* net = "Network";
  app.add_option("--bind", c.bind, "Endpoint workers connect to (default: a private ipc:// socket)")->group(net);
  app.add_flag("--insecure", c.insecure, "Allow a non-loopback --bind without CURVE keys, or --metrics")->group(net);
  app.add_option("--curve-secret", c.curve_secret_file, "Coordinator's CURVE secret key file")->group(net);
  app.add_option("--authorized-keys", c.authorized_keys_dir, "Directory of workers' .pub keys")->group(net);
  taskfarm::AddNumber(app, "--min-workers", &c.min_workers, "Workers to wait for before the first task", 0, 100000)
      ->group(net);
  taskfarm::AddDuration(app, "--wait-workers", &c.wait_workers_s,
                        "Time to wait for them, then give up (seconds, or 1m; 0: forever)", {.max_s = 1e6})
      ->group(net);
  auto* metrics =
      app.add_option("--metrics", c.metrics,
                     "Serve a live page at / and Prometheus metrics at /metrics on\nHOST:PORT, e.g. 127.0.0.1:9464 "
                     "(no authentication: loopback\nunless --insecure; port 0: any free port)");
  taskfarm::AddDuration(app, "--metrics-linger", &c.metrics_linger_s,
                        "After the run, keep serving its final numbers this long\n(for a last scrape; Ctrl-C ends it)",
                        {.max_s = 86400})
      ->needs(metrics);
  app.add_option("--report", c.report_path, "Write an HTML report: a timeline per worker, latency histograms");
  app.add_option("--json", c.json_path, "Write the run summary's numbers as JSON ('-': standard output)");
  double demo_delay_s = c.demo_delay_ms / 1000.0;
  taskfarm::AddDuration(app, "--demo-delay", &demo_delay_s, "Demo: the server's delay per page (seconds, or 100ms)",
                        {.max_s = 60})
      ->group("");
  app.add_flag("--demo-https", c.demo_https,
               "Demo: serve the pages over HTTPS, with a CA made for the run that the workers are given")
      ->group("");
  // `run` is the default: `coordinator run --workers 4 ...` is `coordinator --workers 4 ...`.
  auto* run = app.add_subcommand("run", "Run a task list (the default when no subcommand is given)");
  run->fallthrough();

  taskfarm::CompareConfig cmp;
  // The reports show the command as typed, quoted so that it pastes back.
  c.command_line = cmp.command_line = taskfarm::JoinShellWords(std::vector<std::string>(argv, argv + argc));
  auto* compare = app.add_subcommand("compare",
                                     "Run one workload the tutorials' ways (sequential, session,\n"
                                     "threads, async, processes, hybrid) and say which kind of\n"
                                     "concurrency pays. Without --tasks: the built-in I/O and CPU\n"
                                     "workloads (--workload downloads: the Session lesson over HTTPS\n"
                                     "at 20 ms round trip). A task file of exec/sh commands runs\n"
                                     "sequential, processes (1 per core) and oversubscribed.");
  compare->add_option("--tasks,-t", cmp.tasks_path, "Task file to compare the modes on");
  compare
      ->add_option("--workload", cmp.workloads,
                   taskfarm::Wrap("Built-in workloads (default: io,cpu): io, cpu, downloads (160 HTTPS pages "
                                  "through a latency proxy, a stand-in for a network), all",
                                  62))
      ->delimiter(',');
  compare
      ->add_option(
          "--modes", cmp.modes,
          // The help column is 62 characters wide.
          taskfarm::Wrap("Modes to run (default: all that apply): " + taskfarm::ModeNames(taskfarm::AllModes(cores)) +
                             "; for exec/sh tasks: " + taskfarm::ModeNames(taskfarm::CommandModes(cores)),
                         62))
      ->delimiter(',');
  taskfarm::AddNumber(*compare, "--runs", &cmp.runs, "Runs per mode (the median is reported)", 1, 100);
  compare->add_option("--sweep", cmp.sweep,
                      "Also sweep a parameter: workers=1,2,4,8 or concurrency=1,10,100\n(exec/sh: commands at once)");
  compare->add_option("--report", cmp.report_path, "Write a self-contained HTML report");
  compare->add_option("--json", cmp.json_path, "Write the numbers as JSON");
  taskfarm::AddNumber(*compare, "--io-pages", &cmp.io_pages, "Built-in I/O workload: pages", 1, 100000);
  // The server's delay is written like its ?delay=MS: a bare number is ms.
  double delay_s = cmp.delay_ms / 1000.0;
  taskfarm::AddDuration(*compare, "--delay", &delay_s,
                        "Built-in I/O workload: the server's delay per page\n(milliseconds, as in ?delay=MS; or 1s)",
                        {.max_s = 60, .bare_ms = true});
  taskfarm::AddNumber(*compare, "--cpu-tasks", &cmp.cpu_tasks, "Built-in CPU workload: tasks", 1, 100000);
  taskfarm::AddNumber(*compare, "--cpu-n", &cmp.cpu_n, "Built-in CPU workload: count primes below N", uint64_t{3},
                      uint64_t{4000000000ULL});
  taskfarm::AddNumber(*compare, "--downloads", &cmp.downloads, "Built-in downloads workload: pages", 1, 100000);
  // Written like the test server's --rtt MS: a bare number is ms.
  double rtt_s = cmp.rtt_ms / 1000.0;
  taskfarm::AddDuration(*compare, "--rtt", &rtt_s,
                        "Built-in downloads workload: the latency proxy's round-trip\ntime (milliseconds; or 1s)",
                        {.max_s = 60, .bare_ms = true});

  taskfarm::MergeOptions merge_options;
  taskfarm::CoordinatorConfig merge_input;
  auto* merge = app.add_subcommand("merge",
                                   "Join the outputs of the shards of one input (--shard K/N) into\n"
                                   "OUT, sorted by id, checking that every id is there exactly once");
  merge->add_option("OUT", merge_options.out_path, "The merged record file ('-': standard output)")->required();
  merge->add_option("SHARD", merge_options.shard_paths, "Each shard's --output (or --journal)")->required();
  merge->add_option("--tasks,-t", merge_input.tasks_path, "The shards' task file (or their journals tell its size)");
  merge->add_option("--urls", merge_input.urls_path, "The shards' --urls file");
  merge->add_option("--args", merge_input.args_path, "The shards' --args file");
  merge->footer(
      "Exit status: 0 every id once and every task ok; 1 every id once, some tasks failed; 2 bad\n"
      "command line, an unreadable or malformed file, or ids missing or twice (each named with its\n"
      "shard; nothing is written); 3 OUT could not be written.");

  std::string keygen_path;
  auto* keygen = app.add_subcommand("keygen", "Write a CURVE keypair: PATH.key (secret, mode 0600) and PATH.pub");
  keygen
      ->add_option("PATH", keygen_path,
                   "Path without extension, e.g. keys/worker1 (missing\ndirectories are made, mode 0700)")
      ->required();
  keygen->footer(
      "Exit status: 0 both files written; 1 a key file exists or cannot be written (nothing\n"
      "is overwritten); 2 bad command line.");
  if (std::optional<int> code = taskfarm::ParseCommandLine(app, argc, argv, "a task file is given as --tasks FILE")) {
    return *code;
  }
  if (compare->parsed()) {
    cmp.delay_ms = static_cast<int>(std::lround(delay_s * 1000));
    cmp.rtt_ms = rtt_s * 1000;
    return taskfarm::RunCompare(cmp);
  }
  if (merge->parsed()) {
    std::string input = !merge_input.tasks_path.empty()  ? merge_input.tasks_path
                        : !merge_input.urls_path.empty() ? merge_input.urls_path
                                                         : merge_input.args_path;
    if (!input.empty()) {
      // The input is read as the shards read it, only to count its tasks.
      taskfarm::TaskSourceOptions src;
      bool demo = false;
      if (!merge_input.args_path.empty()) merge_input.exec_template = "true {}";
      merge_input.allow_test_kinds = true;  // counted, never run
      if (taskfarm::Status s = taskfarm::InputOptions(merge_input, &src, &demo); !s.ok()) {
        std::fprintf(stderr, "coordinator merge: %s\n", s.message().c_str());
        return 2;
      }
      if (input == "-") {
        std::fprintf(stderr, "coordinator merge: give the input file itself, not standard input\n");
        return 2;
      }
      taskfarm::TaskSource::Opened opened = taskfarm::TaskSource::Open(src);
      for (const std::string& e : opened.errors) std::fprintf(stderr, "%s\n", e.c_str());
      if (!opened.source) return 2;
      if (opened.source->streamed()) {
        std::fprintf(stderr, "coordinator merge: %s is not a regular file: give the input file itself\n",
                     input.c_str());
        return 2;
      }
      merge_options.input_tasks = opened.source->total();
      merge_options.input_name = input;
    }
    return taskfarm::RunMerge(merge_options, stdout, stderr);
  }
  if (keygen->parsed()) {
    if (taskfarm::Status written = taskfarm::WriteKeyPair(keygen_path); !written.ok()) {
      std::fprintf(stderr, "coordinator keygen: %s\n", written.message().c_str());
      return 1;
    }
    std::printf("wrote %s.key (secret: keep it on this machine) and %s.pub (public: share it)\n", keygen_path.c_str(),
                keygen_path.c_str());
    return 0;
  }
  if (!shard.empty()) c.shard = *taskfarm::ParseShard(shard);  // checked by CLI11 above
  c.stall_timeout_s = static_cast<int>(std::ceil(stall_timeout_s));
  c.demo_delay_ms = static_cast<int>(std::lround(demo_delay_s * 1000));
  if (!c.dry_run && c.bind.empty()) {
    // Without --bind the workers meet the coordinator on a private ipc://
    // socket: only the local ones can ever come.
    if (c.workers == 0) {
      std::fprintf(stderr,
                   "coordinator: --workers 0 starts no local worker, and no other worker can reach the private\n"
                   "ipc:// socket: give --bind ENDPOINT\n");
      return 2;
    }
    if (c.min_workers > c.workers) {
      std::fprintf(stderr,
                   "coordinator: --min-workers %d waits for more than the %d local workers, and no other worker\n"
                   "can reach the private ipc:// socket: give --bind ENDPOINT\n",
                   c.min_workers, c.workers);
      return 2;
    }
  }
  if (!c.dry_run && c.workers > 4 * static_cast<int>(cores)) {
    std::fprintf(stderr,
                 "coordinator: %d local workers on %u cores: each is a process;\n"
                 "--concurrency/--threads/--processes raise the work per worker instead\n",
                 c.workers, cores);
  }
  if (no_batch) c.batch = 1;
  c.progress = !no_progress;
  if (!c.bind.empty()) {
    if (taskfarm::Status s = taskfarm::CheckEndpoint(c.bind); !s.ok()) {
      std::fprintf(stderr, "coordinator: --bind: %s\n", s.message().c_str());
      return 2;
    }
  }
  if (taskfarm::Status s = taskfarm::CheckTlsFlags(c.cacert, c.insecure_tls); !s.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", s.message().c_str());
    return 2;
  }
  if (c.insecure_tls && !c.dry_run) std::fprintf(stderr, "coordinator: %s\n", taskfarm::kInsecureTlsNote);
  if (c.retry_failed && !c.resume) {
    std::fprintf(stderr, "coordinator: --retry-failed only makes sense with --resume\n");
    return 2;
  }
  // Local workers are forked from a fork server running the worker program
  // linked into this one, unless --worker-bin names another program.
  c.worker_program = taskfarm::WorkerProgramMain;
  c.warm_up_worker = taskfarm::WarmUpWorkerProgram;
  return taskfarm::RunCoordinator(c);
}

}  // namespace

int main(int argc, char** argv) { return taskfarm::RunMain("coordinator", Main, argc, argv); }
