// `url` tasks on the worker's HttpFetcher (libcurl multi). libcurl's
// sockets can only be waited on through its multi handle, so this
// executor's Poll is also the worker loop's one wait, with every other
// executor's descriptors added to it.
#pragma once

#include "worker/executor.h"
#include "worker/http_fetcher.h"

namespace taskfarm {

class UrlExecutor : public Executor {
 public:
  explicit UrlExecutor(const ExecutorContext& context);

  void Start(const TaskStart& start) override;
  void Cancel(uint64_t token) override { fetcher_.Cancel(token); }
  void CancelAll() override;
  void Collect(double now_ms, std::vector<Finished>* done) override;

  // The loop's wait: libcurl's sockets, `waits`, or Wakeup(), up to timeout_ms.
  void Poll(std::vector<curl_waitfd>& waits, int timeout_ms);
  // Thread-safe: makes a concurrent Poll return.
  void Wakeup() { fetcher_.Wakeup(); }

 private:
  HttpFetcher fetcher_;
  std::vector<FetchResult> fetched_;
};

}  // namespace taskfarm
