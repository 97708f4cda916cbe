// Kinds that finish the moment they start: `noop`, and the test-only
// `fault` hooks, which end the worker instead.
#include <signal.h>
#include <unistd.h>

#include "worker/executor.h"

namespace taskfarm {
namespace {

class NoopExecutor : public Executor {
 public:
  void Start(const TaskStart& start) override { done_.push_back(start.token); }
  void Cancel(uint64_t) override {}  // already done: the loop drops its outcome
  void CancelAll() override { done_.clear(); }
  double NextWakeMs() const override { return done_.empty() ? kNever : 0; }
  void Collect(double, std::vector<Finished>* done) override {
    for (uint64_t token : done_) {
      Finished out{.token = token};
      out.result.set_ok(true);
      done->push_back(std::move(out));
    }
    done_.clear();
  }

 private:
  std::vector<uint64_t> done_;
};

class FaultExecutor : public Executor {
 public:
  explicit FaultExecutor(const ExecutorContext& context) : flush_(context.flush_results) {}
  void Start(const TaskStart& start) override {
    if (start.assignment->spec().fault().action() == "kill") {
      flush_();  // what finished before goes out first
      raise(SIGKILL);
    }
    // "hang": stop answering, as a stuck task would, until killed.
    for (;;) pause();
  }
  void Cancel(uint64_t) override {}
  void CancelAll() override {}
  void Collect(double, std::vector<Finished>*) override {}

 private:
  std::function<void()> flush_;
};

}  // namespace

std::unique_ptr<Executor> MakeNoopExecutor(const ExecutorContext&) { return std::make_unique<NoopExecutor>(); }
std::unique_ptr<Executor> MakeFaultExecutor(const ExecutorContext& context) {
  return std::make_unique<FaultExecutor>(context);
}

}  // namespace taskfarm
