// `exec` and `sh` tasks: each one a ChildProcess, waited on through its
// pidfd and pipes among the loop's descriptors (no thread per child). At
// the task timeout its whole group gets SIGTERM, and SIGKILL a second later;
// a cancelled task's group is killed at once. Whatever a task started is
// gone when its record is made.
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "common/quote.h"
#include "common/status.h"
#include "common/task_parser.h"
#include "common/thread_stats.h"
#include "common/utf8.h"
#include "worker/child_process.h"
#include "worker/executor.h"
#include "worker/make_dirs.h"

namespace taskfarm {
namespace {

// Between SIGTERM at the task timeout and SIGKILL: time for a command to
// clean up, well inside the coordinator's own slack before it gives up on
// the lease (SchedulerOptions::timeout_slack_ms).
constexpr double kKillAfterMs = 1000;
// How often lingering groups are reaped (their members die within ms).
constexpr double kReapEveryMs = 10;
// How often a running command's memory high-water mark is read.
constexpr double kSampleEveryMs = 50;

// The worker's own peak RSS: one system call (not /proc), once per spawn.
// ru_maxrss may also carry the coordinator's peak from the worker's own
// spawn, so it can only be higher than the worker's memory: as the line
// below which a child's figure is not trusted, that errs on the safe side.
uint64_t WorkerPeakKb() {
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  return static_cast<uint64_t>(self.ru_maxrss);
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// The last line or so of stderr, for the error sentence.
std::string StderrExcerpt(const std::string& tail) {
  std::string_view text(tail);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  size_t nl = text.rfind('\n');
  if (nl != std::string_view::npos) text.remove_prefix(nl + 1);
  return ValidUtf8(Excerpt(text, 300));
}

class ExecExecutor : public Executor {
 public:
  void Start(const TaskStart& start) override {
    const pb::Assignment& a = *start.assignment;
    const pb::ExecTask& task = a.spec().has_exec() ? a.spec().exec() : a.spec().sh();
    SpawnSpec spec;
    spec.argv.assign(task.argv().begin(), task.argv().end());
    spec.env_extra = {"TASKFARM_TASK_ID=" + std::to_string(a.task_id()),
                      "TASKFARM_ATTEMPT=" + std::to_string(a.attempt()),
                      "TASKFARM_WORKER=" + std::string(start.worker_name)};
    spec.workdir = task.workdir();
    spec.capture_bytes = task.capture_bytes();
    Finished failed{.token = start.token};
    if (!task.results_dir().empty()) {
      if (Status s = MakeDirs(task.results_dir(), "--results"); !s.ok()) {
        Fail(&failed, s.code(), s.message());
        done_.push_back(std::move(failed));
        return;
      }
      std::string base = task.results_dir() + "/" + std::to_string(a.task_id());
      spec.stdout_path = base + ".stdout";
      spec.stderr_path = base + ".stderr";
    }
    StatusOr<std::unique_ptr<ChildProcess>> spawned = ChildProcess::Spawn(spec, &reaper_);
    if (!spawned.ok()) {
      // A missing or unrunnable program fails the same way everywhere.
      Fail(&failed, Code::kInvalidArgument, spawned.status().message());
      done_.push_back(std::move(failed));
      return;
    }
    Running& r = running_[start.token] =
        Running{std::move(spawned).value(), start.assignment, start.deadline_ms, 0, false};
    // A spawned child shares the worker's memory until its exec, and the
    // kernel counts that in its ru_maxrss: any figure up to the worker's own
    // peak may be the worker's, not the command's. Then the command's own
    // high-water mark, sampled while it runs, is the measure.
    // The first sample is taken a sample period in: right after the exec
    // there is nothing to see yet, and most short commands are gone by then.
    r.worker_peak_kb = WorkerPeakKb();
    r.sampled_at_ms = start.now_ms;
  }

  void Cancel(uint64_t token) override { running_.erase(token); }  // the destructor kills the group
  void CancelAll() override {
    running_.clear();
    done_.clear();
  }

  void AppendWaits(std::vector<curl_waitfd>* waits) override {
    fds_.clear();
    for (auto& [token, r] : running_) r.child->AppendFds(&fds_);
    for (int fd : fds_) waits->push_back({fd, CURL_WAIT_POLLIN, 0});
  }

  double NextWakeMs() const override {
    double next = done_.empty() ? kNever : 0;
    for (const auto& [token, r] : running_) {
      // The next memory sample (Collect takes it): without this wake a
      // command is sampled only when something else wakes the loop.
      next = std::min(next, r.sampled_at_ms + kSampleEveryMs);
      if (r.child->needs_polling()) next = std::min(next, last_collect_ms_ + kReapEveryMs);
      if (r.kill_at_ms > 0)
        next = std::min(next, r.kill_at_ms);
      else if (!r.timed_out && r.deadline_ms > 0)
        next = std::min(next, r.deadline_ms);
    }
    if (reaper_.lingering()) next = std::min(next, last_collect_ms_ + kReapEveryMs);
    return next;
  }

  void Collect(double now_ms, std::vector<Finished>* done) override {
    last_collect_ms_ = now_ms;
    for (Finished& f : done_) done->push_back(std::move(f));
    done_.clear();
    for (auto it = running_.begin(); it != running_.end();) {
      Running& r = it->second;
      if (r.kill_at_ms > 0 && now_ms >= r.kill_at_ms) {
        r.child->SignalGroup(SIGKILL);
        r.kill_at_ms = 0;
      } else if (!r.timed_out && r.deadline_ms > 0 && now_ms >= r.deadline_ms) {
        r.timed_out = true;
        r.child->SignalGroup(SIGTERM);
        r.kill_at_ms = now_ms + kKillAfterMs;
      }
      if (!r.child->Advance()) {
        if (now_ms - r.sampled_at_ms >= kSampleEveryMs) {
          r.sampled_kb = std::max(r.sampled_kb, PeakRssKbOf(r.child->pid()));
          r.sampled_at_ms = now_ms;
        }
        ++it;
        continue;
      }
      done->push_back(Outcome(it->first, r));
      it = running_.erase(it);
    }
    reaper_.Reap();
  }

 private:
  struct Running {
    std::unique_ptr<ChildProcess> child;
    const pb::Assignment* assignment;
    double deadline_ms;
    double kill_at_ms;  // > 0: SIGTERM was sent, SIGKILL follows then
    bool timed_out;
    uint64_t worker_peak_kb = 0;  // the worker's peak RSS when it spawned this
    uint64_t sampled_kb = 0;      // the leader's VmHWM, sampled while it ran
    double sampled_at_ms = 0;
  };

  static Finished Outcome(uint64_t token, const Running& r) {
    const ChildProcess& c = *r.child;
    const ProcessExit& x = c.exit_status();
    const pb::Assignment& a = *r.assignment;
    Finished f{.token = token};
    pb::Result& out = f.result;
    out.set_cpu_user_ms(x.user_ms);
    out.set_cpu_sys_ms(x.sys_ms);
    pb::ExecResult* e = out.mutable_exec();
    if (x.exited) e->set_exit_code(x.exit_code);
    if (x.signal != 0) e->set_signal(SignalName(x.signal));
    e->set_timed_out(r.timed_out);
    auto saturate = [](uint64_t n) { return static_cast<uint32_t>(std::min<uint64_t>(n, UINT32_MAX)); };
    e->set_stdout_bytes(saturate(c.stdout_bytes()));
    e->set_stderr_bytes(saturate(c.stderr_bytes()));
    auto tail = [](const std::string& raw, uint64_t total) {
      return ValidUtf8(total > raw.size() ? SkipPartialCharacter(raw) : std::string_view(raw));
    };
    e->set_stdout(tail(c.stdout_tail(), c.stdout_bytes()));
    e->set_stderr(tail(c.stderr_tail(), c.stderr_bytes()));
    // Past the worker's own peak, ru_maxrss is the command's (a child it
    // waited for, or itself); below it, the sampled high-water mark is.
    e->set_max_rss_kb(saturate(x.max_rss_kb > r.worker_peak_kb ? x.max_rss_kb : r.sampled_kb));

    std::string command = FormatTask(a.spec());
    if (command.rfind("exec ", 0) == 0) command.erase(0, 5);
    command = Excerpt(command, 200);
    std::string stderr_line = StderrExcerpt(c.stderr_tail());
    std::string said = stderr_line.empty() ? "" : "; stderr: " + stderr_line;
    if (r.timed_out) {
      Fail(&f, Code::kDeadlineExceeded,
           PastTimeout(command, a) + ": its process group got SIGTERM" + (x.signal == SIGKILL ? ", then SIGKILL" : ""));
    } else if (x.signal != 0) {
      // Killed from outside (the OOM killer, an operator): may work again.
      Fail(&f, Code::kUnavailable, "killed by " + SignalName(x.signal) + ": " + command + said);
    } else if (x.exit_code != 0) {
      const auto& codes = (a.spec().has_exec() ? a.spec().exec() : a.spec().sh()).retry_exit_codes();
      Fail(&f, Code::kCommandFailed, "exit " + std::to_string(x.exit_code) + ": " + command + said);
      f.retryable = std::find(codes.begin(), codes.end(), static_cast<uint32_t>(x.exit_code)) != codes.end();
    } else if (!c.write_error().empty()) {
      Fail(&f, Code::kUnavailable, "--results: " + c.write_error());
    } else {
      out.set_ok(true);
    }
    return f;
  }

  GroupReaper reaper_;  // declared first: outlives every ChildProcess
  std::unordered_map<uint64_t, Running> running_;
  std::vector<Finished> done_;  // failed to start: reported at the next Collect
  std::vector<int> fds_;
  double last_collect_ms_ = 0;
};

}  // namespace

std::unique_ptr<Executor> MakeExecExecutor(const ExecutorContext&) { return std::make_unique<ExecExecutor>(); }

}  // namespace taskfarm
