// `cpu` tasks on the worker's CpuPool threads; a task past its deadline is
// asked to stop and reports back as timed out.
#include <map>

#include "common/status.h"
#include "common/task_parser.h"
#include "worker/cpu_pool.h"
#include "worker/executor.h"

namespace taskfarm {
namespace {

class CpuExecutor : public Executor {
 public:
  explicit CpuExecutor(const ExecutorContext& context) : pool_(std::max(1, context.config.threads), context.wake) {}

  void Start(const TaskStart& start) override {
    running_[start.token] = Running{start.assignment, false};
    if (start.deadline_ms > 0) deadlines_.emplace(start.deadline_ms, start.token);
    pool_.Submit(start.token, start.assignment->spec().cpu());
  }
  void Cancel(uint64_t token) override {
    pool_.Cancel(token);  // its thread frees itself when the kernel notices
    running_.erase(token);
  }
  void CancelAll() override {
    for (auto& [token, r] : running_) pool_.Cancel(token);
    running_.clear();
    deadlines_.clear();
  }
  double NextWakeMs() const override { return deadlines_.empty() ? kNever : deadlines_.begin()->first; }

  void Collect(double now_ms, std::vector<Finished>* done) override {
    // Past its deadline: ask it to stop; it comes back without an answer.
    while (!deadlines_.empty() && deadlines_.begin()->first <= now_ms) {
      auto it = running_.find(deadlines_.begin()->second);
      deadlines_.erase(deadlines_.begin());
      if (it == running_.end()) continue;
      it->second.timed_out = true;
      pool_.Cancel(it->first);
    }
    for (CpuDone& d : pool_.TakeDone()) {
      auto it = running_.find(d.token);
      if (it == running_.end()) continue;  // cancelled by the coordinator
      Finished& out = done->emplace_back(Finished{.token = d.token});
      pb::Result& r = out.result;
      r.set_cpu_user_ms(d.user_ms);
      r.set_cpu_sys_ms(d.sys_ms);
      r.set_cpu_wait_ms(d.wait_ms);
      if (d.answer) {
        r.set_ok(true);
        r.set_result(static_cast<uint32_t>(*d.answer));
      } else {
        const pb::Assignment& a = *it->second.assignment;
        if (it->second.timed_out) {
          Fail(&out, Code::kDeadlineExceeded, PastTimeout(FormatTask(a.spec()), a) + " and was stopped");
        } else {
          Fail(&out, Code::kInvalidArgument, d.error);
        }
      }
      running_.erase(it);
    }
  }

 private:
  struct Running {
    const pb::Assignment* assignment;
    bool timed_out;  // past its deadline, asked to stop
  };
  CpuPool pool_;
  std::unordered_map<uint64_t, Running> running_;
  std::multimap<double, uint64_t> deadlines_;
};

}  // namespace

std::unique_ptr<Executor> MakeCpuExecutor(const ExecutorContext& context) {
  return std::make_unique<CpuExecutor>(context);
}

}  // namespace taskfarm
