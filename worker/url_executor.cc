// URL fetches as outcomes: status, body size and digest, libcurl's timings.
#include "worker/url_executor.h"

#include <algorithm>
#include <cstdint>

#include "common/status.h"

namespace taskfarm {

namespace {

FetchOptions OptionsOf(const WorkerConfig& config) {
  return {.reuse_connections = config.reuse_connections,
          .max_body_bytes = config.max_body_bytes,
          .low_speed_seconds = config.stall_timeout_s,
          .http2 = config.http2,
          .ca_file = config.ca_file,
          .insecure_tls = config.insecure_tls};
}

}  // namespace

UrlExecutor::UrlExecutor(const ExecutorContext& context) : fetcher_(OptionsOf(context.config)) {}

void UrlExecutor::Start(const TaskStart& start) {
  const pb::Assignment& a = *start.assignment;
  fetcher_.Start(start.token, a.spec().url(), a.timeout_ms(), a.task_id());
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
    // --max-body (below 4 GiB) stops a transfer before `bytes` gets past
    // it; a compressed body a little larger on the wire than decoded could.
    r.set_bytes(static_cast<uint32_t>(f.bytes));
    r.set_wire_bytes(static_cast<uint32_t>(std::min<uint64_t>(f.wire_bytes, UINT32_MAX)));
    if (!f.sha256.empty()) r.set_sha256(std::move(f.sha256));
    if (!f.saved_as.empty()) r.set_saved_as(std::move(f.saved_as));
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
