// Thread pool for CPU kernels, with per-task thread CPU accounting.
#include "worker/cpu_pool.h"

#include <sys/resource.h>

#include "common/thread_stats.h"
#include "worker/cpu_kernels.h"

namespace taskfarm {
namespace {}  // namespace

CpuPool::CpuPool(int threads, std::function<void()> wake) : wake_(std::move(wake)) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

CpuPool::~CpuPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [token, flag] : cancels_) flag->store(true);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void CpuPool::Submit(uint64_t token, pb::CpuTask task) {
  auto flag = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mu_);
    cancels_[token] = flag;
    queue_.push_back(Job{token, std::move(task), flag});
  }
  cv_.notify_one();
}

void CpuPool::Cancel(uint64_t token) {
  std::lock_guard lock(mu_);
  auto it = cancels_.find(token);
  if (it != cancels_.end()) it->second->store(true);
}

std::vector<CpuDone> CpuPool::TakeDone() {
  std::lock_guard lock(mu_);
  return std::exchange(done_, {});
}

void CpuPool::Loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    CpuDone done;
    done.token = job.token;
    ThreadTimes before = CurrentThreadTimes();
    if (job.cancel->load()) {
      done.answer = std::nullopt;  // cancelled while queued: do not start it
    } else if (job.task.kernel() == "primes") {
      done.answer = CountPrimesBelow(job.task.n(), job.cancel.get());
    } else {
      done.error = "unknown cpu kernel '" + job.task.kernel() + "'";
    }
    ThreadTimes after = CurrentThreadTimes();
    done.user_ms = after.user_ms - before.user_ms;
    done.sys_ms = after.sys_ms - before.sys_ms;
    done.wait_ms = after.wait_ms - before.wait_ms;
    {
      std::lock_guard lock(mu_);
      cancels_.erase(job.token);
      done_.push_back(std::move(done));
    }
    wake_();
  }
}

}  // namespace taskfarm
