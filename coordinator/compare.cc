// `coordinator compare`: each mode is a real run of this program (its own
// coordinator and worker processes), timed from outside, start-up included;
// its records give CPU time per task and the timeline. For exec/sh tasks
// that CPU time is the child's own rusage, so the verdict is the command's.
#include "coordinator/compare.h"

#include <google/protobuf/util/json_util.h>
#include <signal.h>
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
#include <optional>
#include <sstream>
#include <thread>

#include "common/file_writer.h"
#include "common/posix.h"
#include "common/stats.h"
#include "common/task_kind.h"
#include "common/task_parser.h"
#include "common/temp_dir.h"
#include "coordinator/report.h"
#include "coordinator/text_table.h"
#include "coordinator/verdict.h"
#include "proto/taskfarm.pb.h"
#include "testserver/http_test_server.h"
#include "testserver/latency_proxy.h"
#include "testserver/test_ca.h"

namespace taskfarm {
namespace {

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

// More exec/sh commands at once than cores, per core, in `oversubscribed`.
constexpr int kOversubscribe = 4;
// The most `--processes` takes (main.cc).
constexpr int kMaxProcesses = 1024;

struct RunOutcome {
  double wall_s = 0;
  double task_cpu_ms = 0;    // summed over tasks (measured in the workers)
  double task_wall_ms = 0;   // summed durations
  double task_wait_ms = 0;   // summed run-queue waits
  double process_cpu_s = 0;  // coordinator + workers, from wait4
  double other_cores = 0;    // cores' worth of CPU the rest of the machine used meanwhile
  bool ok = false;
  std::string error;
  std::vector<TaskSpan> spans;
  // From the url records: how each request got its connection.
  uint64_t url_records = 0;
  uint64_t new_connections = 0;
  std::vector<double> connect_ms;  // of the records that opened a connection
  std::vector<double> tls_ms;      // ... their appconnect: TCP and TLS handshakes done
  std::vector<double> wait_ms;     // every record's first byte less its handshake
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

// Tasks in the file, and the resource more than half of them use. A line
// that does not parse counts as a task of no resource: the runs report it.
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

// CPU time every core of the machine has spent busy since boot, in seconds
// (/proc/stat's first line); 0 when it cannot be read.
double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return 0;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (user + nice + system + irq + softirq + steal) / ticks;
}

// Runs one farm run as a child process; times it from outside.
RunOutcome RunOnce(const std::string& binary, const ModePreset& m, const Workload& w, const TempDir& tmp) {
  RunOutcome out;
  std::string records = tmp.File("records.jsonl");
  std::string log = tmp.File("run.log");
  std::vector<std::string> args{binary,
                                "--workers",
                                std::to_string(m.workers),
                                "--concurrency",
                                std::to_string(m.concurrency),
                                "--threads",
                                std::to_string(m.threads),
                                "--processes",
                                std::to_string(m.processes),
                                "--tasks",
                                w.path,
                                "--output",
                                records,
                                "--quiet",
                                "--no-progress"};
  if (m.no_reuse) args.push_back("--no-reuse");
  args.insert(args.end(), w.run_args.begin(), w.run_args.end());
  double busy_before = MachineBusySeconds();
  auto start = std::chrono::steady_clock::now();
  pid_t pid;
  try {
    pid = SpawnProcess(args, {.output_file = log, .stdin_null = true});
  } catch (const SpawnError& e) {
    out.error = e.what();
    return out;
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // wait4 counts the child and the workers it reaped.
  out.process_cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  if (busy_before > 0 && out.wall_s > 0) {
    out.other_cores = std::max(0.0, MachineBusySeconds() - busy_before - out.process_cpu_s) / out.wall_s;
  }
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
    out.spans.push_back(
        TaskSpan{r.id(), r.worker(), r.kind(), r.start_ms(), r.duration_ms(), r.ok(), r.attempts(), r.error()});
    if (r.kind() != "url" || !r.ok()) continue;
    // libcurl's times all count from the request's start; a reused
    // connection's connect and appconnect are (near) 0.
    const pb::UrlTimings& t = r.timings();
    ++out.url_records;
    double handshake = std::max(t.connect_ms(), t.tls_ms());
    if (t.new_connections() > 0) {
      out.new_connections += t.new_connections();
      out.connect_ms.push_back(t.connect_ms());
      out.tls_ms.push_back(t.tls_ms());
    }
    out.wait_ms.push_back(std::max(0.0, t.first_byte_ms() - handshake));
  }
  return out;
}

double Parallelism(const ModePreset& m, const Workload& w) {
  double per_worker = w.commands()    ? std::min(m.processes, m.concurrency)
                      : w.cpu_heavy() ? std::min(m.threads, m.concurrency)
                                      : m.concurrency;
  return std::max(1.0, std::min<double>(static_cast<double>(w.tasks), m.workers * per_worker));
}

struct ModeResult {
  ModePreset mode;
  ModeRow row;
  RunOutcome last;
  double cpu_share = 0;
  double other_cores = 0;          // the rest of the machine's load in the run judged
  double busiest_other_cores = 0;  // ... and in its busiest run
  // The url records' connection figures, over all runs (ModeRow's medians).
  std::vector<double> new_connections;  // one per run
  std::vector<double> connect_ms, tls_ms, wait_ms;
};

std::string Times(double x) { return x >= 10 ? Fmt("%.0fx", x) : Fmt("%.1fx", x); }

const ModeResult* Find(const std::vector<ModeResult>& rs, const std::string& name) {
  for (auto& r : rs) {
    if (r.mode.name == name) return &r;
  }
  return nullptr;
}

// "2.0x faster than one at a time", or slower, said as such.
std::string Faster(double speedup, const std::string& than) {
  if (speedup >= 1) return Times(speedup) + " faster than " + than;
  return "slower than " + than + " (" + Fmt("%.2fx", speedup) + ")";
}

std::string Cores(unsigned cores) { return std::to_string(cores) + (cores == 1 ? " core" : " cores"); }

// `ms` in round trips of `rtt_ms`: "2 round trips" when within a quarter of
// a whole number of them, else "1.6 round trips".
std::string RoundTrips(double ms, double rtt_ms) {
  double n = ms / rtt_ms;
  double whole = std::round(n);
  if (whole >= 1 && std::fabs(n - whole) <= 0.25) return Fmt("%.0f round trip%s", whole, whole == 1 ? "" : "s");
  return Fmt("%.1f round trips", n);
}

// The tutorials' Session lesson, from the records: what each of
// sequential's new connections spent on handshakes before its request went
// out, against what a request on session's one connection waited, in round
// trips of the latency proxy; then what the concurrent modes do instead.
std::string ExplainSession(const Workload& w, const ModeResult& seq, const ModeResult& session,
                           const ModeResult& best) {
  const ModeRow& a = seq.row;
  const ModeRow& b = session.row;
  double speedup = b.median_s > 0 ? a.median_s / b.median_s : 0;
  double rtt = w.rtt_ms;
  // A connection is ready at appconnect (https) or connect (http).
  double handshake_ms = std::max(a.connect_ms, a.tls_ms);
  std::string s = "Reusing one connection (session) is " + Faster(speedup, "a new one per request (sequential)");
  s +=
      Fmt(": sequential opened %.0f connections, each spending %.0f ms (median) on the TCP and TLS handshakes "
          "before its request was sent, %s at %g ms, then waiting %.0f ms for its response; session opened %.0f "
          "and then waited %.0f ms per request, %s.",
          a.new_connections, handshake_ms, RoundTrips(handshake_ms, rtt).c_str(), rtt, a.wait_ms, b.new_connections,
          b.wait_ms, RoundTrips(b.wait_ms, rtt).c_str());
  double handshakes_s = (a.new_connections - b.new_connections) * handshake_ms / 1000;
  s +=
      Fmt(" Those handshakes are the difference: %.0f of them at %.0f ms make %.1f s, and sequential took %.1f s "
          "longer.",
          a.new_connections - b.new_connections, handshake_ms, handshakes_s, a.median_s - b.median_s);
  if (&best != &seq && &best != &session) {
    s += Fmt(" The concurrent modes open connections too (%s: %.0f) but overlap their handshakes and waits: %s is ",
             best.mode.name.c_str(), best.row.new_connections, best.mode.name.c_str()) +
         Faster(best.row.median_s > 0 ? a.median_s / best.row.median_s : 0, "sequential") + ".";
  }
  s +=
      Fmt(" The %g ms round trips are a latency proxy's, in front of the loopback test server: a stand-in for a "
          "network, holding each direction's bytes %g ms and a new connection's first flight %g ms more, for its "
          "TCP handshake.",
          rtt, rtt / 2, rtt);
  return s;
}

// The table in words for a workload of the user's own commands (exec/sh):
// what the command is, whether one per core is the most that pays, and how
// to run it. Its modes: sequential, processes, oversubscribed (any may be
// missing when --modes left it out).
std::vector<std::string> ConcludeCommands(const std::vector<ModeResult>& rs, unsigned cores) {
  std::vector<std::string> out;
  const ModeResult* seq = Find(rs, "sequential");
  const ModeResult* base = seq ? seq : &rs.front();
  const ModeResult* per_core = Find(rs, "processes");
  const ModeResult* over = Find(rs, "oversubscribed");
  const std::string& verdict = base->row.verdict;
  std::string than = base == seq ? "one at a time" : base->mode.name;
  auto at_once = [](const ModeResult& r) { return std::to_string(static_cast<int>(r.row.parallelism)) + " at once"; };
  std::string share = base->cpu_share < 0.005 ? "less than 1%" : Fmt("%.0f%%", 100 * base->cpu_share);

  std::string how = " (its own user and system CPU time over its wall time, " +
                    (base == seq ? std::string("one at a time") : "in " + base->mode.name) + ")";
  std::string s;
  if (verdict == "CPU-bound") {
    s = "Your command is CPU-bound: it kept a core busy " + share + " of the time it ran" + how + ".";
  } else if (verdict == "I/O-bound") {
    s = std::string("Your command is I/O-bound: it used a CPU ") + (base->cpu_share < 0.005 ? "" : "only ") + share +
        " of the time it ran" + how + "; the rest it waited, on a timer, a disk, the network or another program.";
  } else {
    s = "Your command is mixed: it used a CPU " + share + " of the time it ran" + how + " and waited the rest.";
  }
  out.push_back(s);

  std::string p;
  bool has_per_core = per_core && per_core != base;
  if (has_per_core) {
    p = "Running one per core (processes, " + at_once(*per_core) + ") is " + Faster(per_core->row.speedup, than);
  }
  if (over && over != base && !has_per_core) {
    p = "Running more at once than cores (oversubscribed, " + at_once(*over) + ") is " +
        Faster(over->row.speedup, than);
  } else if (over && over != base) {
    double ratio = over->row.speedup / per_core->row.speedup;
    std::string more =
        "more at once than cores (oversubscribed, " + at_once(*over) + ", " + Times(over->row.speedup) + ")";
    if (verdict == "CPU-bound") {
      p += ratio < 1.1 ? "; " + more + " adds nothing: on " + Cores(cores) + ", CPU-bound commands only take turns"
                       : "; " + more + " still adds " + Fmt("%.0f%%", 100 * (ratio - 1)) +
                             ": the command waits for something part of the time";
    } else if (verdict == "I/O-bound") {
      p += ratio >= 1.25
               ? ", and " + more + " keeps paying: a command that waits holds no core, so the cores are not the limit"
               : "; " + more +
                     " adds little: what the commands wait on (one disk, one server) is the limit, not "
                     "the cores";
    } else {
      p += ratio >= 1.1 ? "; " + more + " still pays while some commands wait and others compute"
                        : "; " + more + " adds little: the cores are full";
    }
  }
  if (!p.empty()) out.push_back(p + ".");

  // Waiting for a core and waiting on I/O look the same from a command's
  // rusage; a busy machine is said, not silently blamed on the command.
  bool crowded = verdict != "CPU-bound" && base->cpu_share > 0.1 && base->other_cores >= 0.5;
  int per_worker = over ? over->mode.processes : kOversubscribe;
  if (crowded) {
    out.push_back(
        Fmt("Other work kept %.1f of this machine's %u cores busy while it ran: a command that waited for a "
            "core looks like one that waited on I/O, so it may be more CPU-bound than this says. Run it "
            "again on a quieter machine before choosing how many to run at once.",
            base->other_cores, cores));
  } else if (verdict == "CPU-bound") {
    out.push_back(
        "Run one per core: plain `coordinator --tasks FILE` does (a worker per core, --processes 1), as GNU "
        "parallel's default -j does. Only more cores make it faster: remote workers on other machines.");
  } else if (verdict == "I/O-bound") {
    out.push_back("Run more than one per core: `coordinator --tasks FILE --processes " + std::to_string(per_worker) +
                  "` keeps " + std::to_string(per_worker) + " per worker, " +
                  std::to_string(per_worker * static_cast<int>(cores)) +
                  " at once here; `--sweep concurrency=1,2,4,8,16` shows where more stops paying.");
  } else {
    double per_core_busy = base->cpu_share > 0 ? std::clamp(1 / base->cpu_share, 1.0, 16.0) : 1.0;
    out.push_back(
        Fmt("Run somewhat more than one per core: about %.0f per core (1 / its CPU share) keeps the "
            "cores busy while the others wait; `--sweep concurrency=...` finds the point.",
            per_core_busy));
  }
  double busiest = 0;
  for (const ModeResult& r : rs) busiest = std::max(busiest, r.busiest_other_cores);
  if (!crowded && busiest >= 0.5) {
    out.push_back(
        Fmt("Other work kept up to %.1f of this machine's %u cores busy during these runs: the times and "
            "speedups above are less sure than on a quiet machine.",
            busiest, cores));
  }
  bool failed = std::any_of(rs.begin(), rs.end(), [](const ModeResult& r) { return !r.row.ok; });
  if (failed) {
    out.push_back(
        "Some runs had failing commands (FAILED above): a command that fails early makes its mode look "
        "faster than it is.");
  }
  return out;
}

// What the table shows, in words, from the numbers.
std::vector<std::string> Conclude(const Workload& w, const std::vector<ModeResult>& rs, unsigned cores) {
  std::vector<std::string> out;
  if (rs.empty()) return out;
  if (w.commands()) return ConcludeCommands(rs, cores);
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
    const std::string first = "Overlapping waits is what pays.";
    std::string p = first;
    if (async > 0)
      p += " One worker with up to 100 tasks in flight on one event loop (async) is " + Times(async) +
           " faster than sequential";
    if (processes > 0) {
      p += std::string(async > 0 ? "; " : " ") +
           "5 processes taking one task at a time (processes, the tutorials' multiprocessing.Pool(5)) reach " +
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
    // Said only where the table agrees (within a quarter).
    if (threads5 > 0 && processes > 0 && std::max(threads5, processes) < 1.25 * std::min(threads5, processes)) {
      p += " Five at a time is five at a time, whether threads (" + Times(threads5) + ") or processes (" +
           Times(processes) + ").";
    }
    if (p != first) out.push_back(p);  // not without a mode that overlaps
    const ModeResult* session = Find(rs, "session");
    if (session && seq && w.rtt_ms > 0) {
      out.push_back(ExplainSession(w, *seq, *session, *best));
    } else if (session && seq && !w.cpu_heavy()) {
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

// One workload's modes: the numbers (the cells the page shows too, the JSON
// holds them as numbers) in at most 100 columns, what each mode runs under it.
void PrintRows(const Workload& w, const std::vector<ModeResult>& rs, int runs, const std::string& base) {
  TextTable t;
  t.title = Wrap("== " + w.name + " (" + std::to_string(w.tasks) + " tasks, " + std::to_string(runs) + " run" +
                 (runs == 1 ? "" : "s") + " per mode) ==");
  bool range = runs > 1;
  t.header = {"mode", "wall s"};
  if (range) t.header.push_back("min-max s");
  for (const char* h : {"tasks/s", "speedup", "effic.", "CPU s", "CPU/wall", "verdict"}) t.header.push_back(h);
  t.numeric.assign(t.header.size(), true);
  t.numeric.front() = t.numeric.back() = false;
  TextTable modes;  // mode, what it runs: under the table
  for (const ModeResult& r : rs) {
    const ModeRow& row = r.row;
    ModeCells c = CellsOf(row);
    std::vector<std::string> cells{row.mode, c.median_s};
    if (range) cells.push_back(c.range_s);
    for (const std::string* cell : {&c.tasks_per_s, &c.speedup, &c.efficiency, &c.cpu_s, &c.cpu_over_wall}) {
      cells.push_back(*cell);
    }
    cells.push_back(row.verdict + (row.ok ? "" : " FAILED"));
    t.rows.push_back(std::move(cells));
    modes.rows.push_back({"", row.mode, row.description});
  }
  std::string units = "speedup: over " + base +
                      "; effic.: speedup / what the mode could overlap at best; CPU s: what the run's processes "
                      "used; CPU/wall: 100% is one core busy.";
  t.note = Wrap(units) + "\n" + RenderText(modes);
  t.note.pop_back();  // RenderText's own newline: the table adds one
  std::printf("\n%s", RenderText(t).c_str());
}

bool HasMode(const std::vector<ModePreset>& modes, const std::string& name) {
  return std::any_of(modes.begin(), modes.end(), [&](const ModePreset& m) { return m.name == name; });
}

}  // namespace

// "sequential, processes, oversubscribed"
std::string ModeNames(const std::vector<ModePreset>& modes) {
  std::string out;
  for (const ModePreset& m : modes) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

namespace {

// One line under the table on the modes that were not run, and why.
std::string LeftOutNote(const Workload& w, const std::vector<std::string>& names) {
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  if (w.commands()) {
    return "Left out: " + list + (names.size() == 1 ? " varies" : " vary") +
           " connections, threads or an event loop, and each exec/sh task is a process of its own.";
  }
  return "Left out: " + list + (names.size() == 1 ? " runs" : " run") +
         " exec/sh commands more at once than cores, and this workload has none.";
}

// The sweep in words: the Amdahl fit, then where adding more stopped paying
// (less than 10% faster than the step before) and why.
std::string ExplainSweep(const Workload& w, const std::string& verdict, const SweepResult& sweep, unsigned cores) {
  const std::string& param = sweep.param;
  const std::vector<SweepPoint>& points = sweep.points;
  bool cpu_bound_commands = w.commands() && verdict == "CPU-bound";
  std::string note;
  for (size_t i = 1; i < points.size(); ++i) {
    if (points[i].speedup < 1.10 * points[i - 1].speedup) {
      note = "Past " + param + "=" + std::to_string(points[i - 1].value) + ", adding more stops paying (" +
             Fmt("%.2fx", points[i - 1].speedup) + " -> " + Fmt("%.2fx", points[i].speedup) + ")";
      if (param == "workers" && w.cpu_heavy()) {
        note += ": this machine has " + std::to_string(cores) + " cores";
      } else if (cpu_bound_commands) {
        note += ": this machine has " + Cores(cores) +
                ", and a CPU-bound command keeps one busy, so more at once only take turns. The fitted serial "
                "fraction stands for that limit, not for a serial part of your command";
      } else if (w.commands() && static_cast<size_t>(points[i - 1].value) >= w.tasks) {
        note += ": there are only " + std::to_string(w.tasks) + " tasks to run at once";
      } else if (w.commands()) {
        note += ": what the commands wait on (a disk, a server) or their start-up is the limit now, not the cores";
      }
      note += ".";
      break;
    }
  }
  if (note.empty() && w.commands() && points.back().value > static_cast<int>(cores)) {
    note = "Every step still paid off, past this machine's " + Cores(cores) +
           " too: your command waits more than it computes, so more in flight keeps paying until what it waits on "
           "runs out.";
  }
  if (note.empty()) note = "Every step still paid off: the workload has room for more.";
  return Fmt("Amdahl fit: serial fraction %.2f (at most %.1fx however many you add). ", sweep.serial_fraction,
             sweep.serial_fraction > 0 ? 1 / sweep.serial_fraction : INFINITY) +
         note;
}

}  // namespace

std::vector<ModePreset> CommandModes(unsigned cores) {
  int c = static_cast<int>(std::max(1u, cores));
  std::string workers = std::to_string(c) + (c == 1 ? " worker" : " workers");
  return {
      {"sequential", "1 worker, 1 command at a time", 1, 1, 1, false, 1},
      {"processes", workers + ", 1 command each: 1 per core", c, 1, 1, false, 1},
      {"oversubscribed",
       workers + ", " + std::to_string(kOversubscribe) + " commands each: " + std::to_string(kOversubscribe * c) +
           " at once",
       c, kOversubscribe, 1, false, kOversubscribe},
  };
}

const std::vector<std::string>& BuiltInWorkloads() {
  static const std::vector<std::string> names{"io", "cpu", "downloads"};
  return names;
}

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
  // A task file is read first: its kind of tasks decides which modes apply.
  Workload own;
  if (!config.tasks_path.empty()) {
    own.name = config.tasks_path;
    own.path = config.tasks_path;
    if (access(own.path.c_str(), R_OK) != 0) {
      std::fprintf(stderr, "coordinator compare: cannot read %s\n", own.path.c_str());
      return 2;
    }
    own.tasks = CountTasks(own.path, &own.resource);
  }
  std::vector<std::string> builtin;  // the built-in workloads to run, in BuiltInWorkloads() order
  if (!config.tasks_path.empty() && !config.workloads.empty()) {
    std::fprintf(stderr, "coordinator compare: --workload names built-in workloads; --tasks %s is one of its own\n",
                 config.tasks_path.c_str());
    return 2;
  }
  if (config.tasks_path.empty()) {
    std::vector<std::string> asked =
        config.workloads.empty() ? std::vector<std::string>{"io", "cpu"} : config.workloads;
    for (const std::string& name : asked) {
      const auto& known = BuiltInWorkloads();
      if (name != "all" && std::find(known.begin(), known.end(), name) == known.end()) {
        std::fprintf(stderr, "coordinator compare: unknown workload '%s' (io, cpu, downloads or all)\n", name.c_str());
        return 2;
      }
    }
    for (const std::string& name : BuiltInWorkloads()) {
      if (std::find(asked.begin(), asked.end(), name) != asked.end() ||
          std::find(asked.begin(), asked.end(), "all") != asked.end()) {
        builtin.push_back(name);
      }
    }
  }
  const std::vector<ModePreset> applicable = own.commands() ? CommandModes(cores) : AllModes(cores);
  std::vector<ModePreset> modes;
  for (const ModePreset& m : applicable) {
    if (config.modes.empty() || std::find(config.modes.begin(), config.modes.end(), m.name) != config.modes.end()) {
      modes.push_back(m);
    }
  }
  std::vector<std::string> left_out;  // known modes that do not apply to this workload
  for (const std::string& name : config.modes) {
    if (HasMode(applicable, name)) continue;
    if (!HasMode(AllModes(cores), name) && !HasMode(CommandModes(cores), name)) {
      std::fprintf(stderr, "coordinator compare: unknown mode '%s' (%s; for exec/sh tasks: %s)\n", name.c_str(),
                   ModeNames(AllModes(cores)).c_str(), ModeNames(CommandModes(cores)).c_str());
      return 2;
    }
    left_out.push_back(name);
  }
  if (config.modes.empty() && own.commands()) {
    for (const ModePreset& m : AllModes(cores)) {
      if (!HasMode(applicable, m.name)) left_out.push_back(m.name);
    }
  }
  if (modes.empty()) {
    std::fprintf(stderr, "coordinator compare: none of --modes applies to %s; its modes: %s\n",
                 own.commands() ? "exec/sh tasks" : "this workload", ModeNames(applicable).c_str());
    return 2;
  }
  std::string sweep_param;
  std::vector<int> sweep_values;
  if (!config.sweep.empty()) {
    std::string error;
    if (!ParseSweep(config.sweep, &sweep_param, &sweep_values, &error)) {
      std::fprintf(stderr, "coordinator compare: %s\n", error.c_str());
      return 2;
    }
    // Each value becomes --processes, whose limit is lower than --sweep's.
    if (own.commands() && sweep_param == "concurrency" &&
        *std::max_element(sweep_values.begin(), sweep_values.end()) > kMaxProcesses) {
      std::fprintf(stderr, "coordinator compare: --sweep: a worker runs at most %d exec/sh tasks at once\n",
                   kMaxProcesses);
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
  // Declared after tmp: they stop before the CA's files go.
  std::unique_ptr<testserver::HttpTestServer> server, tls_server;
  std::unique_ptr<testserver::LatencyProxy> proxy;
  std::vector<Workload> workloads;
  if (!config.tasks_path.empty()) workloads.push_back(own);
  std::vector<std::string> servers;  // what the start line says about them
  try {
    for (const std::string& name : builtin) {
      Workload w;
      std::string lines;
      if (name == "io") {
        server = std::make_unique<testserver::HttpTestServer>(testserver::Options{});
        w.name = Fmt("I/O: %d pages, %d ms delay", config.io_pages, config.delay_ms);
        w.path = tmp.File("io.txt");
        w.tasks = static_cast<size_t>(config.io_pages);
        for (int i = 0; i < config.io_pages; ++i) {
          lines += "url " + server->BaseUrl() + "/page/" + std::to_string(i % 3 + 1) +
                   "?delay=" + std::to_string(config.delay_ms) + "\n";
        }
        servers.push_back("I/O: a loopback web server at " + server->BaseUrl() + ".");
      } else if (name == "cpu") {
        w.name = Fmt("CPU: %d x primes below %llu", config.cpu_tasks, static_cast<unsigned long long>(config.cpu_n));
        w.path = tmp.File("cpu.txt");
        w.tasks = static_cast<size_t>(config.cpu_tasks);
        w.resource = Resource::kCpu;
        for (int i = 0; i < config.cpu_tasks; ++i) lines += "cpu primes " + std::to_string(config.cpu_n) + "\n";
      } else {  // downloads: HTTPS with a CA made for this run, behind the latency proxy
        testserver::TestCa ca = testserver::MakeTestCa(tmp.path());
        tls_server = std::make_unique<testserver::HttpTestServer>(
            testserver::Options{.tls_cert_file = ca.cert_file, .tls_key_file = ca.key_file});
        proxy = std::make_unique<testserver::LatencyProxy>(
            testserver::LatencyProxyOptions{.upstream_port = tls_server->port(), .rtt_ms = config.rtt_ms});
        std::string base = "https://127.0.0.1:" + std::to_string(proxy->port());
        w.name = Fmt("Downloads: %d HTTPS pages at %g ms round trip", config.downloads, config.rtt_ms);
        w.path = tmp.File("downloads.txt");
        w.tasks = static_cast<size_t>(config.downloads);
        w.run_args = {"--cacert", ca.ca_file};
        w.rtt_ms = config.rtt_ms;
        for (int i = 0; i < config.downloads; ++i) lines += "url " + base + "/page/" + std::to_string(i % 3 + 1) + "\n";
        servers.push_back(
            Fmt("Downloads: HTTPS from %s, a latency proxy in front of a loopback test server that "
                "makes each round trip %g ms (a stand-in for a network; no netem needed).",
                base.c_str(), config.rtt_ms));
      }
      // A workload cut short by a full /tmp would compare the wrong thing.
      std::string error;
      if (!WriteWholeFile(w.path, lines, &error)) {
        std::fprintf(stderr, "coordinator compare: %s\n", error.c_str());
        return 1;
      }
      workloads.push_back(std::move(w));
    }
  } catch (const std::exception& e) {  // the test server, the proxy or the CA
    std::fprintf(stderr, "coordinator compare: %s\n", e.what());
    return 1;
  }
  if (config.tasks_path.empty()) {
    std::string line = Fmt("Comparing %zu modes on the built-in workloads.", modes.size());
    for (const std::string& s : servers) line += " " + s;
    std::fprintf(stderr, "%s\n", Wrap(line).c_str());
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
  report.command = config.command_line;

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
      row.processes = m.processes;
      row.parallelism = Parallelism(m, w);
      double task_cpu = 0, task_wall = 0, task_wait = 0, proc_cpu = 0;
      // A command's wait for a core is not measured (exec records have no
      // run-queue wait), and other work on the machine only ever lowers its
      // CPU share: its run with the highest share had the least company.
      std::optional<Boundness> least_crowded;
      for (int run = 0; run < config.runs; ++run) {
        RunOutcome o = RunOnce(binary, m, w, tmp);
        if (w.commands()) {
          Boundness b = Judge(o.task_cpu_ms, o.task_wall_ms, o.task_wait_ms);
          if (!least_crowded || b.cpu_share > least_crowded->cpu_share) {
            least_crowded = b;
            mr.other_cores = o.other_cores;
          }
        }
        mr.busiest_other_cores = std::max(mr.busiest_other_cores, o.other_cores);
        row.wall_s.push_back(o.wall_s);
        task_cpu += o.task_cpu_ms;
        task_wall += o.task_wall_ms;
        task_wait += o.task_wait_ms;
        proc_cpu += o.process_cpu_s;
        row.url_records += o.url_records;
        mr.new_connections.push_back(static_cast<double>(o.new_connections));
        for (auto [from, to] :
             {std::pair{&o.connect_ms, &mr.connect_ms}, {&o.tls_ms, &mr.tls_ms}, {&o.wait_ms, &mr.wait_ms}}) {
          to->insert(to->end(), from->begin(), from->end());
        }
        if (!o.ok) {
          row.ok = false;
          std::fprintf(stderr, " run %d failed (%s)", run + 1, o.error.c_str());
        }
        mr.last = std::move(o);
      }
      row.median_s = Median(row.wall_s);
      row.new_connections = Median(mr.new_connections);
      row.connect_ms = Median(mr.connect_ms);
      row.tls_ms = Median(mr.tls_ms);
      row.wait_ms = Median(mr.wait_ms);
      row.min_s = *std::min_element(row.wall_s.begin(), row.wall_s.end());
      row.max_s = *std::max_element(row.wall_s.begin(), row.wall_s.end());
      row.tasks_per_s = row.median_s > 0 ? w.tasks / row.median_s : 0;
      row.cpu_s = proc_cpu / config.runs;
      row.cpu_over_wall = row.median_s > 0 ? row.cpu_s / row.median_s : 0;
      Boundness b = least_crowded ? *least_crowded : Judge(task_cpu, task_wall, task_wait);
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
      r.other_cores = alone->other_cores;
    }
    const ModeResult* base = Find(results, "sequential");
    if (!base && !results.empty()) base = &results.front();
    for (ModeResult& r : results) {
      r.row.speedup = r.row.median_s > 0 ? base->row.median_s / r.row.median_s : 0;
      r.row.efficiency = r.row.speedup / r.row.parallelism;
    }
    PrintRows(w, results, config.runs, base ? base->mode.name : "-");
    if (!left_out.empty()) std::printf("%s\n", Wrap(LeftOutNote(w, left_out)).c_str());
    std::vector<std::string> words = Conclude(w, results, cores);
    for (const std::string& p : words) std::printf("\n%s\n", Wrap(p).c_str());
    report.conclusions.insert(report.conclusions.end(), words.begin(), words.end());
    // The fastest mode's last run, as a timeline, and its latencies.
    const ModeResult* best = nullptr;
    for (auto& r : results) {
      if (!best || r.row.median_s < best->row.median_s) best = &r;
    }
    if (best) {
      // Which run every chart shows, in its title: the page has several modes.
      std::string which = w.name + ", mode " + best->mode.name + " (fastest; " +
                          (config.runs > 1 ? "last of " + std::to_string(config.runs) + " runs" : "1 run") + ")";
      RunTimeline t;
      t.title = "Tasks per worker: " + which + ": " + best->mode.description;
      t.wall_ms = best->last.wall_s * 1000;
      t.spans = best->last.spans;
      for (auto& h : BuildHistograms(t.spans)) {
        h.title = h.kind + " task durations: " + which;
        report.histograms.push_back(std::move(h));
      }
      report.timelines.push_back(std::move(t));
    }
    for (auto& r : results) report.rows.push_back(r.row);

    if (!sweep_param.empty()) {
      SweepResult sweep;
      sweep.workload = w.name;
      sweep.param = sweep_param;
      std::vector<double> rel, speedups;
      double first_wall = 0;
      for (int v : sweep_values) {
        ModePreset m{sweep_param + "=" + std::to_string(v), "", 1, 1, 1, false};
        if (sweep_param == "workers") {
          m.workers = v;  // exec/sh: one command each
        } else if (w.commands()) {
          m.concurrency = v;  // v commands at once on one worker
          m.processes = v;
        } else {
          m.concurrency = v;
          m.threads = v;
        }
        std::fprintf(stderr, "  %s: %s ...", w.name.c_str(), m.name.c_str());
        std::fflush(stderr);
        std::vector<double> walls;
        for (int run = 0; run < config.runs; ++run) {
          RunOutcome o = RunOnce(binary, m, w, tmp);
          all_ok &= o.ok;
          if (!o.ok) std::fprintf(stderr, " run %d failed (%s)", run + 1, o.error.c_str());
          walls.push_back(o.wall_s);
        }
        SweepPoint p;
        p.value = v;
        p.median_s = Median(walls);
        std::fprintf(stderr, " %.2f s\n", p.median_s);
        if (first_wall == 0) first_wall = p.median_s;
        p.speedup = first_wall / p.median_s;
        p.ideal = static_cast<double>(v) / sweep_values.front();
        p.efficiency = p.speedup / p.ideal;
        rel.push_back(p.ideal);
        speedups.push_back(p.speedup);
        sweep.points.push_back(p);
      }
      sweep.serial_fraction = FitSerialFraction(rel, speedups);
      for (size_t i = 0; i < sweep.points.size(); ++i) {
        sweep.points[i].amdahl = 1.0 / (sweep.serial_fraction + (1 - sweep.serial_fraction) / rel[i]);
      }
      sweep.note = ExplainSweep(w, results.front().row.verdict, sweep, cores);
      TextTable table = SweepTable(sweep);
      table.title = Wrap("-- " + table.title + " --");
      table.note = Wrap(sweep.note);
      std::printf("\n%s", RenderText(table).c_str());
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
