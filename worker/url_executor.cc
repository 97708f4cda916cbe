// URL fetches as outcomes: status, body size and libcurl's timings.
#include "worker/url_executor.h"

#include <algorithm>

#include "common/status.h"

namespace taskfarm {

UrlExecutor::UrlExecutor(const ExecutorContext& context)
    : fetcher_(FetchOptions{.reuse_connections = context.config.reuse_connections,
                            .max_body_bytes = context.config.max_body_bytes,
                            .low_speed_seconds = context.config.stall_timeout_s}) {}

void UrlExecutor::Start(const TaskStart& start) {
  fetcher_.Start(start.token, start.assignment->spec().url().url(), start.assignment->timeout_ms());
}

void UrlExecutor::CancelAll() { fetcher_.CancelAll(); }

void UrlExecutor::Collect(double, std::vector<Finished>* done) {
  fetched_.clear();
  fetcher_.Perform(&fetched_);
  for (FetchResult& f : fetched_) {
    Finished out{.token = f.token};
    pb::Result& r = out.result;
    r.set_ok(f.code == Code::kOk);
    r.set_http_status(static_cast<uint32_t>(f.http_status));
    r.set_bytes(static_cast<uint32_t>(f.bytes));
    *r.mutable_timings() = f.timings;
    if (f.code != Code::kOk) {
      r.set_error(std::move(f.error));
      r.set_error_code(std::string(CodeName(f.code)));
    }
    out.retryable = f.retryable;
    done->push_back(std::move(out));
  }
}

void UrlExecutor::Poll(std::vector<curl_waitfd>& waits, int timeout_ms) {
  fetcher_.Poll(waits.data(), static_cast<unsigned>(waits.size()), timeout_ms);
}

}  // namespace taskfarm
