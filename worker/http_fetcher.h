// URL tasks on libcurl's multi interface: many transfers on one thread, with
// the connection and DNS caches living as long as the fetcher (keep-alive).
//
//   HttpFetcher fetcher({});
//   fetcher.Start(42, "http://127.0.0.1:8080/json", 0);
//   while (fetcher.active()) { fetcher.Poll(nullptr, 0, 100); fetcher.Perform(&done); }
//
// Not thread-safe, except Wakeup(). One fetcher per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "proto/taskfarm.pb.h"
#include "worker/curl_handles.h"

namespace taskfarm {

struct FetchOptions {
  bool reuse_connections = true;         // false: a new connection per URL
  uint64_t max_body_bytes = 1ULL << 30;  // transfers stop past this many bytes
  long connect_timeout_ms = 10'000;
  long low_speed_bytes = 1;     // below this many bytes/s ...
  long low_speed_seconds = 10;  // ... for this long: give up
  long max_redirects = 10;
  long max_host_connections = 0;  // 0: libcurl's default (unlimited)
};

struct FetchResult {
  uint64_t token = 0;
  Code code = Code::kOk;
  std::string error;       // set when code != kOk
  long http_status = 0;    // 0 when no response arrived
  bool retryable = false;  // another attempt may succeed (a 503, a refused connection)
  uint64_t bytes = 0;      // body bytes received
  pb::UrlTimings timings;
};

class HttpFetcher {
 public:
  explicit HttpFetcher(FetchOptions options);
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // Starts a GET; its result comes out of Perform() under `token`. A URL that
  // libcurl rejects at once still comes out of Perform() as a failure.
  // timeout_ms 0: no overall limit (connect and low-speed limits still hold).
  void Start(uint64_t token, const std::string& url, uint32_t timeout_ms);

  // Abandons a transfer; no result is produced for it.
  void Cancel(uint64_t token);
  // Abandons every transfer (and any failure not yet reported).
  void CancelAll();

  // Waits up to timeout_ms for transfer activity, readability of the extra
  // fds, or Wakeup(). Returns curl's multi result code.
  CURLMcode Poll(curl_waitfd* extra, unsigned extra_count, int timeout_ms);

  // Thread-safe: makes a concurrent Poll() return.
  void Wakeup();

  // Advances transfers and appends the finished ones to `done`.
  void Perform(std::vector<FetchResult>* done);

  size_t active() const { return transfers_.size(); }

 private:
  struct Transfer;
  static size_t OnBody(char* data, size_t size, size_t nmemb, void* user);
  void Finish(Transfer& t, CURLcode code, std::vector<FetchResult>* done);

  FetchOptions options_;
  CurlMulti multi_;
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> transfers_;
  std::vector<CurlEasy> idle_;         // reused easy handles
  std::vector<FetchResult> rejected_;  // failed at Start, reported by Perform
};

}  // namespace taskfarm
