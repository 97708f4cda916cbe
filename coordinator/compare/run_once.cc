// A child coordinator timed from outside: SpawnProcess, wait4 for its CPU
// time and its workers', /proc/stat for what the rest of the machine did
// meanwhile, then its --output records.
#include "coordinator/compare/run_once.h"

#include <google/protobuf/util/json_util.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>

#include "common/posix.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm::compare {
namespace {

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

std::vector<std::string> RunArgs(const std::string& binary, const ModePreset& m, const Workload& w,
                                 const std::string& records) {
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
  return args;
}

// Starts `args` with stdout and stderr into `log`, waits for it and fills
// the outcome's times, CPU and exit (ok, error). False: it did not start.
bool SpawnAndWait(const std::vector<std::string>& args, const std::string& log, RunOutcome* out) {
  double busy_before = MachineBusySeconds();
  auto start = std::chrono::steady_clock::now();
  pid_t pid;
  try {
    pid = SpawnProcess(args, {.output_file = log, .stdin_null = true});
  } catch (const SpawnError& e) {
    out->error = e.what();
    return false;
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  out->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // wait4 counts the child and the workers it reaped.
  out->process_cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  if (busy_before > 0 && out->wall_s > 0) {
    out->other_cores = std::max(0.0, MachineBusySeconds() - busy_before - out->process_cpu_s) / out->wall_s;
  }
  out->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!out->ok) {
    std::ifstream in(log);
    std::string last, line;
    while (std::getline(in, line)) {
      if (line.find("FAILED") != std::string::npos || line.find("coordinator:") != std::string::npos) last = line;
    }
    out->error = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "killed";
    if (!last.empty()) out->error += ": " + last;
  }
  return true;
}

// The run's --output records: CPU and wall time per task, the spans, and
// how each url request got its connection.
void ReadRecords(const std::string& records, RunOutcome* out) {
  std::ifstream in(records);
  std::string line;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  while (std::getline(in, line)) {
    pb::Result r;
    if (!google::protobuf::util::JsonStringToMessage(line, &r, opts).ok()) continue;
    out->task_cpu_ms += r.cpu_user_ms() + r.cpu_sys_ms();
    out->task_wall_ms += r.duration_ms();
    out->task_wait_ms += r.cpu_wait_ms();
    out->spans.push_back(
        TaskSpan{r.id(), r.worker(), r.kind(), r.start_ms(), r.duration_ms(), r.ok(), r.attempts(), r.error()});
    if (r.kind() != "url" || !r.ok()) continue;
    // libcurl's times all count from the request's start; a reused
    // connection's connect and appconnect are (near) 0.
    const pb::UrlTimings& t = r.timings();
    ++out->url_records;
    double handshake = std::max(t.connect_ms(), t.tls_ms());
    if (t.new_connections() > 0) {
      out->new_connections += t.new_connections();
      out->connect_ms.push_back(t.connect_ms());
      out->tls_ms.push_back(t.tls_ms());
    }
    out->wait_ms.push_back(std::max(0.0, t.first_byte_ms() - handshake));
  }
}

}  // namespace

RunOutcome RunOnce(const std::string& binary, const ModePreset& m, const Workload& w, const TempDir& tmp) {
  RunOutcome out;
  std::string records = tmp.File("records.jsonl");
  if (SpawnAndWait(RunArgs(binary, m, w, records), tmp.File("run.log"), &out)) ReadRecords(records, &out);
  return out;
}

}  // namespace taskfarm::compare
