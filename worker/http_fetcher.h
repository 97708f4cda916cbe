// URL tasks on libcurl's multi interface: many transfers on one thread, with
// the connection and DNS caches living as long as the fetcher (keep-alive).
//
//   HttpFetcher fetcher({});
//   pb::UrlTask task;
//   task.set_url("http://127.0.0.1:8080/json");
//   fetcher.Start(42, task, 0, 7);
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
  uint64_t max_body_bytes = 1ULL << 30;  // transfers stop past this many (decoded) bytes
  long connect_timeout_ms = 10'000;
  long low_speed_bytes = 1;     // below this many bytes/s ...
  long low_speed_seconds = 10;  // ... for this long: give up
  long max_redirects = 10;
  long max_host_connections = 0;  // 0: libcurl's default (unlimited)
  // HTTPS over HTTP/2 where the server offers it, every transfer to a host
  // on one connection; false: HTTP/1.1, a connection per transfer in flight.
  bool http2 = false;
  std::string ca_file;        // a CA (PEM) trusted besides the system's; "": the system's only
  bool insecure_tls = false;  // no certificate verification at all
  // The system's CA directory (CURLOPT_CAPATH) and bundle file; "":
  // libcurl's built-in ones (Debian: /etc/ssl/certs and its
  // ca-certificates.crt). Tests point them at their own.
  std::string system_ca_dir = {};
  std::string system_ca_bundle = {};
};

struct FetchResult {
  uint64_t token = 0;
  Code code = Code::kOk;
  std::string error;        // set when code != kOk
  long http_status = 0;     // 0 when no response arrived
  bool retryable = false;   // another attempt may succeed (a 503, a refused connection)
  uint64_t bytes = 0;       // body bytes received, decoded
  uint64_t wire_bytes = 0;  // body bytes as they came (compressed, for a compressed reply)
  std::string sha256;       // of the decoded body, when all of it arrived; else ""
  std::string saved_as;     // the file the body was saved to (UrlTask::save_dir); else ""
  pb::UrlTimings timings;
};

class HttpFetcher {
 public:
  explicit HttpFetcher(FetchOptions options);
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // Starts `task` as UrlTask's comments say (method, headers, body, expect,
  // save_dir/save_name, compressed); its result comes out of Perform() under
  // `token`. A task that cannot start (a URL libcurl rejects, a --save
  // directory that cannot be made) still comes out of Perform() as a failure.
  // timeout_ms 0: no overall limit (connect and low-speed limits still
  // hold). task_id names the saved file when task.save_name() is "".
  void Start(uint64_t token, const pb::UrlTask& task, uint32_t timeout_ms, uint32_t task_id);

  // Abandons a transfer; no result is produced for it (a file it was
  // saving is removed).
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
  // Easy handles made so far: a finished transfer's handle is reused, so
  // this is the most transfers ever in flight at once.
  uint64_t handles_made() const { return handles_made_; }

 private:
  struct Transfer;
  static size_t OnBody(char* data, size_t size, size_t nmemb, void* user);
  CurlEasy TakeHandle();
  void Configure(Transfer& t, const pb::UrlTask& task, uint32_t timeout_ms);
  void Park(CurlEasy easy);
  void Finish(Transfer& t, CURLcode code, std::vector<FetchResult>* done);

  FetchOptions options_;
  std::string system_bundle_;  // the CA file without --cacert (see Start)
  CurlMulti multi_ = MakeCurlMulti();
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> transfers_;
  std::vector<CurlEasy> idle_;  // finished transfers' handles, reset for the next
  uint64_t handles_made_ = 0;
  std::vector<FetchResult> rejected_;  // failed at Start, reported by Perform
};

}  // namespace taskfarm
