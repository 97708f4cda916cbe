// Thread pool for CPU kernels, with per-task thread CPU accounting.
#include "worker/cpu_pool.h"

#include <sys/resource.h>

#include <chrono>

#include "worker/cpu_kernels.h"

namespace taskfarm {
namespace {

void ThreadCpuMs(double* user, double* sys) {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  *user = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
  *sys = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

}  // namespace

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
    double u0, s0, u1, s1;
    ThreadCpuMs(&u0, &s0);
    auto t0 = std::chrono::steady_clock::now();
    if (job.cancel->load()) {
      done.answer = std::nullopt;  // cancelled while queued: do not start it
    } else if (job.task.kernel() == "primes") {
      done.answer = CountPrimesBelow(job.task.n(), job.cancel.get());
    } else {
      done.error = "unknown cpu kernel '" + job.task.kernel() + "'";
    }
    done.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ThreadCpuMs(&u1, &s1);
    done.user_ms = u1 - u0;
    done.sys_ms = s1 - s0;
    {
      std::lock_guard lock(mu_);
      cancels_.erase(job.token);
      done_.push_back(std::move(done));
    }
    wake_();
  }
}

}  // namespace taskfarm
