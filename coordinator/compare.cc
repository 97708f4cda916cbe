// `coordinator compare`: each mode is a real run of this program (its own
// coordinator and worker processes), timed from outside, start-up included;
// its records give CPU time per task and the timeline.
#include "coordinator/compare.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "common/file_writer.h"
#include "common/stats.h"
#include "common/temp_dir.h"
#include "coordinator/report.h"
#include "coordinator/verdict.h"
#include "proto/taskfarm.pb.h"
#include "testserver/http_test_server.h"

extern char** environ;

namespace taskfarm {
namespace {

struct Workload {
  std::string name;
  std::string path;
  size_t tasks = 0;
  bool cpu_heavy = false;  // mostly `cpu` tasks: parallelism is threads, not slots
};

struct RunOutcome {
  double wall_s = 0;
  double task_cpu_ms = 0;   // summed over tasks (measured in the workers)
  double task_wall_ms = 0;  // summed durations
  double task_wait_ms = 0;  // summed run-queue waits
  double process_cpu_s = 0; // coordinator + workers, from wait4
  bool ok = false;
  std::string error;
  std::vector<TaskSpan> spans;
};

std::string Fmt(const char* format, auto... args) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf), format, args...);
  return buf;
}

std::string SelfPath() {
  char buf[PATH_MAX] = {0};
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "coordinator";
}

size_t CountTasks(const std::string& path, bool* cpu_heavy) {
  std::ifstream in(path);
  std::string line;
  size_t n = 0, cpu = 0;
  while (std::getline(in, line)) {
    size_t s = line.find_first_not_of(" \t");
    if (s == std::string::npos || line[s] == '#') continue;
    ++n;
    cpu += line.compare(s, 4, "cpu ") == 0;
  }
  *cpu_heavy = cpu * 2 > n;
  return n;
}

// Runs one farm run as a child process; times it from outside.
RunOutcome RunOnce(const std::string& binary, const ModePreset& m, const Workload& w, const TempDir& tmp) {
  RunOutcome out;
  std::string records = tmp.File("records.jsonl");
  std::string log = tmp.File("run.log");
  std::vector<std::string> args{binary, "--workers", std::to_string(m.workers), "--concurrency",
                                std::to_string(m.concurrency), "--threads", std::to_string(m.threads),
                                "--tasks", w.path, "--output", records, "--quiet", "--no-progress"};
  if (m.no_reuse) args.push_back("--no-reuse");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  auto start = std::chrono::steady_clock::now();
  pid_t pid;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    out.error = "cannot start " + binary + ": " + std::strerror(rc);
    return out;
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // wait4 counts the child and the workers it reaped.
  out.process_cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  out.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!out.ok) {
    std::ifstream in(log);
    std::string last, line;
    while (std::getline(in, line)) {
      if (line.find("FAILED") != std::string::npos || line.find("coordinator:") != std::string::npos) last = line;
    }
    out.error = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "killed";
    if (!last.empty()) out.error += ": " + last;
  }
  std::ifstream in(records);
  std::string line;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  while (std::getline(in, line)) {
    pb::Result r;
    if (!google::protobuf::util::JsonStringToMessage(line, &r, opts).ok()) continue;
    out.task_cpu_ms += r.cpu_user_ms() + r.cpu_sys_ms();
    out.task_wall_ms += r.duration_ms();
    out.task_wait_ms += r.cpu_wait_ms();
    out.spans.push_back(TaskSpan{r.id(), r.worker(), r.kind(), r.start_ms(), r.duration_ms(), r.ok(), r.attempts(),
                                 r.error()});
  }
  return out;
}

double Parallelism(const ModePreset& m, const Workload& w) {
  double per_worker = w.cpu_heavy ? std::min(m.threads, m.concurrency) : m.concurrency;
  return std::max(1.0, std::min<double>(static_cast<double>(w.tasks), m.workers * per_worker));
}

struct ModeResult {
  ModePreset mode;
  ModeRow row;
  RunOutcome last;
  double cpu_share = 0;
};

std::string Times(double x) { return x >= 10 ? Fmt("%.0fx", x) : Fmt("%.1fx", x); }

const ModeResult* Find(const std::vector<ModeResult>& rs, const std::string& name) {
  for (auto& r : rs) {
    if (r.mode.name == name) return &r;
  }
  return nullptr;
}

// What the table shows, in words, from the numbers.
std::vector<std::string> Conclude(const Workload& w, const std::vector<ModeResult>& rs, unsigned cores) {
  std::vector<std::string> out;
  if (rs.empty()) return out;
  const ModeResult* seq = Find(rs, "sequential");
  const ModeResult* base = seq ? seq : &rs.front();
  const ModeResult* best = &rs.front();
  for (auto& r : rs) {
    if (r.row.ok && r.row.median_s < best->row.median_s) best = &r;
  }
  std::string verdict = base->row.verdict;
  std::string s = w.name + " is " + verdict + ": with the least overlap, its tasks kept a core busy " +
                  Fmt("%.0f%%", 100 * base->cpu_share) + " of the time they ran.";
  s += " Fastest: " + best->mode.name + " (" + best->mode.description + "), " + Times(best->row.speedup) +
       " faster than " + base->mode.name + ".";
  out.push_back(s);
  auto speed = [&](const char* name) -> double {
    const ModeResult* r = Find(rs, name);
    return r ? r->row.speedup : -1;
  };
  double async = speed("async"), processes = speed("processes"), hybrid = speed("hybrid");
  double threads100 = speed("threads-100"), threads5 = speed("threads-5");
  if (verdict == "I/O-bound") {
    std::string p = "Overlapping waits is what pays.";
    if (async > 0) p += " One worker with up to 100 tasks in flight on one event loop (async) is " + Times(async) + " faster than sequential";
    if (processes > 0) {
      p += std::string(async > 0 ? "; " : " ") + "5 processes taking one task at a time (processes, the tutorials' multiprocessing.Pool(5)) reach " +
           Times(processes);
    }
    if (async > 0 || processes > 0) p += ".";
    if (hybrid > 0 && async > 0) {
      double ratio = hybrid / async;
      if (ratio < 1.25) {
        p += " Adding processes to the event loop (hybrid, " + Times(hybrid) +
             ") adds little: the wait, not the CPU, is the limit.";
      } else {
        p += " Spreading the event loop over " + std::to_string(cores) + " processes (hybrid) adds " +
             Fmt("%.0f%%", 100 * (ratio - 1)) + ": at this rate one process's CPU starts to matter.";
      }
    }
    if (threads5 > 0 && processes > 0) {
      p += " Five at a time is five at a time, whether threads (" + Times(threads5) + ") or processes (" +
           Times(processes) + ").";
    }
    out.push_back(p);
    const ModeResult* session = Find(rs, "session");
    if (session && seq && w.cpu_heavy == false) {
      double saved = 1 - session->row.median_s / seq->row.median_s;
      out.push_back("Reusing one connection (session) instead of opening one per request (sequential) " +
                    std::string(saved >= 0 ? "saves " : "costs ") + Fmt("%.0f%%", 100 * std::fabs(saved)) +
                    " of the wall time here, on loopback; over a real network each new connection costs a round "
                    "trip more (and a TLS handshake for https).");
    }
  } else if (verdict == "CPU-bound") {
    std::string p = "Overlapping does not help CPU work";
    if (async > 0) p += ": one event loop (async) runs at " + Times(async) + " the speed of sequential";
    p += ". Only more cores help";
    double best_cores = std::max({processes, hybrid, threads100, threads5});
    if (best_cores > 0) {
      p += ": the best multi-core mode reaches " + Times(best_cores) + " on this " + std::to_string(cores) +
           "-core machine (ideal " + std::to_string(cores) + "x)";
    }
    p += ".";
    if (processes > 0 && hybrid > 0) {
      p += " Five processes (" + Times(processes) + ") do no better than " + std::to_string(cores) + " (hybrid, " +
           Times(hybrid) + "): past the number of cores, more workers only take turns.";
    }
    if (threads100 > 1.3) {
      p += " Threads (threads-100, " + Times(threads100) +
           ") scale too: C++ threads run on every core, where Python's are held to one by the GIL.";
    }
    out.push_back(p);
  } else {
    out.push_back("Mixed: tasks spent " + Fmt("%.0f%%", 100 * base->cpu_share) +
                  " of their time on a CPU, so both overlapping waits and more cores help; compare async with "
                  "hybrid to see which dominates.");
  }
  return out;
}

std::string MachineLine(unsigned cores) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::to_string(cores) + " cores, " + model;
}

bool ParseSweep(const std::string& spec, std::string* param, std::vector<int>* values, std::string* error) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos) {
    *error = "--sweep takes PARAM=V1,V2,...: workers=1,2,4,8 or concurrency=1,10,100";
    return false;
  }
  *param = spec.substr(0, eq);
  if (*param != "workers" && *param != "concurrency") {
    *error = "--sweep: unknown parameter '" + *param + "' (workers or concurrency)";
    return false;
  }
  std::stringstream ss(spec.substr(eq + 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 4096) {
      *error = "--sweep: '" + item + "' is not a count from 1 to 4096";
      return false;
    }
    values->push_back(static_cast<int>(v));
  }
  if (values->size() < 2) {
    *error = "--sweep needs at least two values";
    return false;
  }
  return true;
}

void PrintRows(const Workload& w, const std::vector<ModeResult>& rs, int runs, const std::string& base) {
  std::printf("\n== %s (%zu tasks, %d run%s per mode) ==\n", w.name.c_str(), w.tasks, runs, runs == 1 ? "" : "s");
  std::printf("%-12s %-44s %22s %9s %8s %7s %7s %8s  %s\n", "mode", "what", "wall s median [min-max]", "tasks/s",
              ("vs " + base.substr(0, 4)).c_str(), "effic.", "CPU s", "CPU/wall", "verdict");
  for (const ModeResult& r : rs) {
    const ModeRow& row = r.row;
    std::string wall = Fmt("%.2f [%.2f-%.2f]", row.median_s, row.min_s, row.max_s);
    std::printf("%-12s %-44s %22s %9.1f %7.1fx %6.0f%% %7.2f %7.0f%%  %s%s\n", row.mode.c_str(),
                row.description.c_str(), wall.c_str(), row.tasks_per_s, row.speedup, 100 * row.efficiency, row.cpu_s,
                100 * row.cpu_over_wall, row.verdict.c_str(), row.ok ? "" : "  (FAILED)");
  }
}

}  // namespace

std::vector<ModePreset> AllModes(unsigned cores) {
  int c = static_cast<int>(std::max(1u, cores));
  return {
      {"sequential", "1 worker, 1 at a time, new connection per URL", 1, 1, 1, true},
      {"session", "1 worker, 1 at a time, one reused connection", 1, 1, 1, false},
      {"threads-5", "1 worker, 5 threads / 5 in flight", 1, 5, 5, false},
      {"threads-100", "1 worker, 100 threads / 100 in flight", 1, 100, 100, false},
      {"async", "1 worker, one event loop, 100 in flight", 1, 100, 1, false},
      {"processes", "5 workers, 1 at a time each (Pool(5))", 5, 1, 1, false},
      {"hybrid", std::to_string(c) + " workers (1 per core), event loop each", c, std::max(1, 100 / c), 1, false},
  };
}

double FitSerialFraction(const std::vector<double>& n, const std::vector<double>& speedup) {
  double best_s = 0, best_err = 1e300;
  for (int i = 0; i <= 1000; ++i) {
    double s = i / 1000.0, err = 0;
    for (size_t k = 0; k < n.size(); ++k) {
      double model = 1.0 / (s + (1 - s) / n[k]);
      err += (model - speedup[k]) * (model - speedup[k]);
    }
    if (err < best_err) {
      best_err = err;
      best_s = s;
    }
  }
  return best_s;
}

int RunCompare(const CompareConfig& config) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::string binary = config.coordinator_binary.empty() ? SelfPath() : config.coordinator_binary;
  std::vector<ModePreset> modes;
  for (const ModePreset& m : AllModes(cores)) {
    if (config.modes.empty() || std::find(config.modes.begin(), config.modes.end(), m.name) != config.modes.end()) {
      modes.push_back(m);
    }
  }
  for (const std::string& name : config.modes) {
    bool known = false;
    for (const ModePreset& m : AllModes(cores)) known |= m.name == name;
    if (!known) {
      std::fprintf(stderr,
                   "coordinator compare: unknown mode '%s' (sequential, session, threads-5, threads-100, async, "
                   "processes, hybrid)\n",
                   name.c_str());
      return 2;
    }
  }
  std::string sweep_param;
  std::vector<int> sweep_values;
  if (!config.sweep.empty()) {
    std::string error;
    if (!ParseSweep(config.sweep, &sweep_param, &sweep_values, &error)) {
      std::fprintf(stderr, "coordinator compare: %s\n", error.c_str());
      return 2;
    }
  }
  // Minutes of measuring are not thrown away on a typo in a path.
  for (const auto& [flag, path] : {std::pair{"--report", &config.report_path}, {"--json", &config.json_path}}) {
    std::string error;
    if (!path->empty() && !CheckCanWrite(*path, &error)) {
      std::fprintf(stderr, "coordinator compare: %s %s\n", flag, error.c_str());
      return 2;
    }
  }
  if (config.runs < 1) {
    std::fprintf(stderr, "coordinator compare: --runs must be at least 1\n");
    return 2;
  }

  TempDir tmp("taskfarm-compare");
  std::unique_ptr<testserver::HttpTestServer> server;
  std::vector<Workload> workloads;
  if (!config.tasks_path.empty()) {
    Workload w;
    w.name = config.tasks_path;
    w.path = config.tasks_path;
    if (access(w.path.c_str(), R_OK) != 0) {
      std::fprintf(stderr, "coordinator compare: cannot read %s\n", w.path.c_str());
      return 2;
    }
    w.tasks = CountTasks(w.path, &w.cpu_heavy);
    workloads.push_back(w);
  } else {
    server = std::make_unique<testserver::HttpTestServer>(testserver::Options{});
    Workload io{Fmt("I/O: %d pages, %d ms delay", config.io_pages, config.delay_ms), tmp.File("io.txt"), 0, false};
    std::string io_lines, cpu_lines, error;
    for (int i = 0; i < config.io_pages; ++i) {
      io_lines += "url " + server->BaseUrl() + "/page/" + std::to_string(i % 3 + 1) +
                  "?delay=" + std::to_string(config.delay_ms) + "\n";
    }
    io.tasks = static_cast<size_t>(config.io_pages);
    Workload cpu{Fmt("CPU: %d x primes below %llu", config.cpu_tasks, static_cast<unsigned long long>(config.cpu_n)),
                 tmp.File("cpu.txt"), static_cast<size_t>(config.cpu_tasks), true};
    for (int i = 0; i < config.cpu_tasks; ++i) cpu_lines += "cpu primes " + std::to_string(config.cpu_n) + "\n";
    // A workload cut short by a full /tmp would compare the wrong thing.
    if (!WriteWholeFile(io.path, io_lines, &error) || !WriteWholeFile(cpu.path, cpu_lines, &error)) {
      std::fprintf(stderr, "coordinator compare: %s\n", error.c_str());
      return 1;
    }
    workloads.push_back(io);
    workloads.push_back(cpu);
    std::fprintf(stderr, "Comparing %zu modes on the built-in workloads (a loopback web server at %s)...\n",
                 modes.size(), server->BaseUrl().c_str());
  }

  ReportData report;
  report.title = "taskfarm compare";
  report.machine = MachineLine(cores);
  {
    char buf[64];
    std::time_t now = std::time(nullptr);
    std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
    report.generated_at = buf;
  }
  report.command = "coordinator compare";
  if (!config.tasks_path.empty()) report.command += " --tasks " + config.tasks_path;
  if (!config.modes.empty()) {
    report.command += " --modes ";
    for (size_t i = 0; i < config.modes.size(); ++i) report.command += (i ? "," : "") + config.modes[i];
  }
  report.command += " --runs " + std::to_string(config.runs);
  if (!config.sweep.empty()) report.command += " --sweep " + config.sweep;

  bool all_ok = true;
  for (const Workload& w : workloads) {
    std::vector<ModeResult> results;
    for (const ModePreset& m : modes) {
      std::fprintf(stderr, "  %s: %s ...", w.name.c_str(), m.name.c_str());
      std::fflush(stderr);
      ModeResult mr;
      mr.mode = m;
      ModeRow& row = mr.row;
      row.workload = w.name;
      row.mode = m.name;
      row.description = m.description;
      row.workers = m.workers;
      row.concurrency = m.concurrency;
      row.threads = m.threads;
      row.parallelism = Parallelism(m, w);
      double task_cpu = 0, task_wall = 0, task_wait = 0, proc_cpu = 0;
      for (int run = 0; run < config.runs; ++run) {
        RunOutcome o = RunOnce(binary, m, w, tmp);
        row.wall_s.push_back(o.wall_s);
        task_cpu += o.task_cpu_ms;
        task_wall += o.task_wall_ms;
        task_wait += o.task_wait_ms;
        proc_cpu += o.process_cpu_s;
        if (!o.ok) {
          row.ok = false;
          std::fprintf(stderr, " run %d failed (%s)", run + 1, o.error.c_str());
        }
        mr.last = std::move(o);
      }
      row.median_s = Median(row.wall_s);
      row.min_s = *std::min_element(row.wall_s.begin(), row.wall_s.end());
      row.max_s = *std::max_element(row.wall_s.begin(), row.wall_s.end());
      row.tasks_per_s = row.median_s > 0 ? w.tasks / row.median_s : 0;
      row.cpu_s = proc_cpu / config.runs;
      row.cpu_over_wall = row.median_s > 0 ? row.cpu_s / row.median_s : 0;
      Boundness b = Judge(task_cpu, task_wall, task_wait);
      row.verdict = b.verdict;
      mr.cpu_share = b.cpu_share;
      all_ok &= row.ok;
      std::fprintf(stderr, " %.2f s\n", row.median_s);
      results.push_back(std::move(mr));
    }
    // The workload's nature does not change with the mode; contention does.
    // Judge it where tasks ran with the least company (sequential, when run),
    // since a machine busy with other work would otherwise make CPU-bound
    // tasks that waited for a core look like waiting tasks.
    const ModeResult* alone = nullptr;
    for (auto& r : results) {
      if (!alone || r.row.parallelism < alone->row.parallelism) alone = &r;
    }
    for (auto& r : results) {
      r.row.verdict = alone->row.verdict;
      r.cpu_share = alone->cpu_share;
    }
    const ModeResult* base = Find(results, "sequential");
    if (!base && !results.empty()) base = &results.front();
    for (ModeResult& r : results) {
      r.row.speedup = r.row.median_s > 0 ? base->row.median_s / r.row.median_s : 0;
      r.row.efficiency = r.row.speedup / r.row.parallelism;
    }
    PrintRows(w, results, config.runs, base ? base->mode.name : "-");
    std::vector<std::string> words = Conclude(w, results, cores);
    for (const std::string& p : words) std::printf("\n%s\n", p.c_str());
    report.conclusions.insert(report.conclusions.end(), words.begin(), words.end());
    // The fastest mode's last run, as a timeline, and its latencies.
    const ModeResult* best = nullptr;
    for (auto& r : results) {
      if (!best || r.row.median_s < best->row.median_s) best = &r;
    }
    if (best) {
      RunTimeline t;
      t.title = w.name + " - " + best->mode.name + " (" + best->mode.description + ")";
      t.wall_ms = best->last.wall_s * 1000;
      t.spans = best->last.spans;
      for (auto& h : BuildHistograms(t.spans)) {
        h.kind = w.name + ": " + h.kind;
        report.histograms.push_back(std::move(h));
      }
      report.timelines.push_back(std::move(t));
    }
    for (auto& r : results) report.rows.push_back(r.row);

    if (!sweep_param.empty()) {
      SweepResult sweep;
      sweep.workload = w.name;
      sweep.param = sweep_param;
      std::printf("\n-- sweep %s on %s --\n%12s %10s %9s %10s %9s\n", sweep_param.c_str(), w.name.c_str(),
                  sweep_param.c_str(), "wall s", "speedup", "efficiency", "ideal");
      std::vector<double> rel, speedups;
      double first_wall = 0;
      for (int v : sweep_values) {
        ModePreset m{sweep_param + "=" + std::to_string(v), "", 1, 1, 1, false};
        if (sweep_param == "workers") {
          m.workers = v;
        } else {
          m.concurrency = v;
          m.threads = v;
        }
        std::vector<double> walls;
        for (int run = 0; run < config.runs; ++run) {
          RunOutcome o = RunOnce(binary, m, w, tmp);
          all_ok &= o.ok;
          walls.push_back(o.wall_s);
        }
        SweepPoint p;
        p.value = v;
        p.median_s = Median(walls);
        if (first_wall == 0) first_wall = p.median_s;
        p.speedup = first_wall / p.median_s;
        p.ideal = static_cast<double>(v) / sweep_values.front();
        p.efficiency = p.speedup / p.ideal;
        rel.push_back(p.ideal);
        speedups.push_back(p.speedup);
        std::printf("%12d %10.2f %8.2fx %9.0f%% %8.0fx\n", v, p.median_s, p.speedup, 100 * p.efficiency, p.ideal);
        sweep.points.push_back(p);
      }
      sweep.serial_fraction = FitSerialFraction(rel, speedups);
      for (size_t i = 0; i < sweep.points.size(); ++i) {
        sweep.points[i].amdahl = 1.0 / (sweep.serial_fraction + (1 - sweep.serial_fraction) / rel[i]);
      }
      // Where adding more stops paying: less than 10% faster than the previous step.
      std::string note;
      for (size_t i = 1; i < sweep.points.size(); ++i) {
        if (sweep.points[i].speedup < 1.10 * sweep.points[i - 1].speedup) {
          note = "Past " + sweep_param + "=" + std::to_string(sweep.points[i - 1].value) + ", adding more stops paying (" +
                 Fmt("%.2fx", sweep.points[i - 1].speedup) + " -> " + Fmt("%.2fx", sweep.points[i].speedup) + ")";
          if (sweep_param == "workers" && w.cpu_heavy) {
            note += ": this machine has " + std::to_string(cores) + " cores";
          }
          note += ".";
          break;
        }
      }
      if (note.empty()) note = "Every step still paid off: the workload has room for more.";
      sweep.note = Fmt("Amdahl fit: serial fraction %.2f (at most %.1fx however many you add). ",
                       sweep.serial_fraction, sweep.serial_fraction > 0 ? 1 / sweep.serial_fraction : INFINITY) +
                   note;
      std::printf("%s\n", sweep.note.c_str());
      report.sweeps.push_back(std::move(sweep));
    }
  }
  std::fflush(stdout);
  bool written = true;
  auto write = [&](const std::string& path, const std::string& contents) {
    std::string error;
    if (WriteWholeFile(path, contents, &error)) {
      std::fprintf(stderr, "wrote %s\n", path.c_str());
    } else {
      std::fprintf(stderr, "coordinator compare: %s\n", error.c_str());
      written = false;
    }
  };
  if (!config.report_path.empty()) write(config.report_path, RenderHtmlReport(report));
  if (!config.json_path.empty()) write(config.json_path, RenderReportJson(report));
  if (!written) return 3;
  return all_ok ? 0 : 1;
}

}  // namespace taskfarm
