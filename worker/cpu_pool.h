// `cpu` tasks on T threads inside one worker. The event loop submits and
// collects; a finished task wakes the loop through the callback.
//
// Submit/TakeDone/Cancel are thread-safe. Destruction cancels what is
// running and joins the threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proto/taskfarm.pb.h"

namespace taskfarm {

struct CpuDone {
  uint64_t token = 0;
  std::optional<uint64_t> answer;  // nullopt: cancelled
  std::string error;               // unknown kernel etc.
  double user_ms = 0;              // CPU time of the running thread
  double sys_ms = 0;
  double wait_ms = 0;  // ready to run but waiting for a core
};

class CpuPool {
 public:
  // `wake` is called from a pool thread after a result is queued.
  CpuPool(int threads, std::function<void()> wake);
  ~CpuPool();
  CpuPool(const CpuPool&) = delete;
  CpuPool& operator=(const CpuPool&) = delete;

  void Submit(uint64_t token, pb::CpuTask task);
  // Asks a queued or running task to stop; it then completes with no answer.
  void Cancel(uint64_t token);
  [[nodiscard]] std::vector<CpuDone> TakeDone();

 private:
  struct Job {
    uint64_t token;
    pb::CpuTask task;
    std::shared_ptr<std::atomic<bool>> cancel;
  };
  void Loop();

  std::function<void()> wake_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::unordered_map<uint64_t, std::shared_ptr<std::atomic<bool>>> cancels_;
  std::vector<CpuDone> done_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace taskfarm
