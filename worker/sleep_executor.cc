// `sleep` tasks as timers on the loop: no thread, no descriptor. A sleep
// longer than its task timeout wakes at the timeout and fails.
#include <map>
#include <unordered_map>

#include "common/status.h"
#include "common/task_parser.h"
#include "worker/executor.h"

namespace taskfarm {
namespace {

class SleepExecutor : public Executor {
 public:
  void Start(const TaskStart& start) override {
    const pb::Assignment& a = *start.assignment;
    double ms = a.spec().sleep().ms();
    bool timed_out = a.timeout_ms() > 0 && a.timeout_ms() < ms;
    if (timed_out) ms = a.timeout_ms();
    auto timer = timers_.emplace(start.now_ms + ms, start.token);
    sleeping_[start.token] = Sleeping{start.assignment, timed_out, timer};
  }
  void Cancel(uint64_t token) override {
    auto it = sleeping_.find(token);
    if (it == sleeping_.end()) return;
    timers_.erase(it->second.timer);
    sleeping_.erase(it);
  }
  void CancelAll() override {
    timers_.clear();
    sleeping_.clear();
  }
  double NextWakeMs() const override { return timers_.empty() ? kNever : timers_.begin()->first; }

  void Collect(double now_ms, std::vector<Finished>* done) override {
    while (!timers_.empty() && timers_.begin()->first <= now_ms) {
      uint64_t token = timers_.begin()->second;
      timers_.erase(timers_.begin());
      auto it = sleeping_.find(token);
      Finished out{.token = token};
      if (it->second.timed_out) {
        const pb::Assignment& a = *it->second.assignment;
        Fail(&out, Code::kDeadlineExceeded, PastTimeout(FormatTask(a.spec()), a));
      } else {
        out.result.set_ok(true);
      }
      sleeping_.erase(it);
      done->push_back(std::move(out));
    }
  }

 private:
  struct Sleeping {
    const pb::Assignment* assignment;
    bool timed_out;
    std::multimap<double, uint64_t>::iterator timer;
  };
  std::multimap<double, uint64_t> timers_;  // wake time -> token
  std::unordered_map<uint64_t, Sleeping> sleeping_;
};

}  // namespace

std::unique_ptr<Executor> MakeSleepExecutor(const ExecutorContext&) { return std::make_unique<SleepExecutor>(); }

}  // namespace taskfarm
