// The libcurl multi loop (curl's 10-at-a-time.c shape): CURLOPT_PRIVATE
// leads back to the transfer, curl_multi_info_read drains finished ones.
#include "worker/http_fetcher.h"

#include <cstring>

#include "common/quote.h"

namespace taskfarm {

struct HttpFetcher::Transfer {
  uint64_t token = 0;
  std::string url;
  CurlEasy easy;
  uint64_t bytes = 0;
  uint64_t max_bytes = 0;
  bool too_large = false;
  char error_buffer[CURL_ERROR_SIZE] = {0};
};

namespace {

double Ms(CURL* easy, CURLINFO info) {
  curl_off_t us = 0;
  curl_easy_getinfo(easy, info, &us);
  return static_cast<double>(us) / 1000.0;
}

// Transient (worth another attempt) versus permanent libcurl failures.
Code Classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return code == CURLE_OPERATION_TIMEDOUT ? Code::kDeadlineExceeded : Code::kUnavailable;
    default:
      return Code::kInvalidArgument;
  }
}

std::string Describe(CURLcode code, const char* detail, const std::string& url) {
  std::string what;
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
      what = "only http and https URLs are allowed (also after redirects)";
      break;
    case CURLE_URL_MALFORMAT:
      what = "the URL is malformed";
      break;
    case CURLE_COULDNT_CONNECT:
      what = "connection refused or unreachable";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      what = "host name not found";
      break;
    case CURLE_OPERATION_TIMEDOUT:
      what = "timed out";
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      what = "too many redirects";
      break;
    case CURLE_FILESIZE_EXCEEDED:
      what = "the response body is larger than --max-body";
      break;
    default:
      what = curl_easy_strerror(code);
  }
  std::string sentence = "GET " + Excerpt(url) + " failed: " + what;
  if (detail && *detail) sentence += " (" + std::string(detail) + ")";
  return sentence;
}

}  // namespace

HttpFetcher::HttpFetcher(FetchOptions options) : options_(options) {
  if (options_.max_host_connections > 0) {
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
  }
  // Keep as many idle connections as we may run transfers at once.
  curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, 1024L);
}

HttpFetcher::~HttpFetcher() {
  for (auto& [token, t] : transfers_) curl_multi_remove_handle(multi_.get(), t->easy.get());
}

void HttpFetcher::Start(uint64_t token, const std::string& url, uint32_t timeout_ms) {
  auto t = std::make_unique<Transfer>();
  t->token = token;
  t->url = url;
  t->max_bytes = options_.max_body_bytes;
  if (!idle_.empty()) {
    t->easy = std::move(idle_.back());
    idle_.pop_back();
    curl_easy_reset(t->easy.get());
  }
  CURL* e = t->easy.get();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_buffer);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, options_.max_redirects);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, options_.low_speed_seconds);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  // Checked against Content-Length up front; chunked bodies are counted in
  // the write callback below.
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_body_bytes));
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_USERAGENT, "taskfarm/0.1");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpFetcher::OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  if (!options_.reuse_connections) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
  CURLMcode mc = curl_multi_add_handle(multi_.get(), e);
  if (mc != CURLM_OK) {
    FetchResult r;
    r.token = token;
    r.code = Code::kInternal;
    r.error = "GET " + Excerpt(url) + " could not start: " + curl_multi_strerror(mc);
    rejected_.push_back(std::move(r));
    return;
  }
  transfers_.emplace(token, std::move(t));
}

void HttpFetcher::Cancel(uint64_t token) {
  auto it = transfers_.find(token);
  if (it == transfers_.end()) return;
  curl_multi_remove_handle(multi_.get(), it->second->easy.get());
  idle_.push_back(std::move(it->second->easy));
  transfers_.erase(it);
}

void HttpFetcher::CancelAll() {
  for (auto& [token, t] : transfers_) {
    curl_multi_remove_handle(multi_.get(), t->easy.get());
    idle_.push_back(std::move(t->easy));
  }
  transfers_.clear();
  rejected_.clear();
}

CURLMcode HttpFetcher::Poll(curl_waitfd* extra, unsigned extra_count, int timeout_ms) {
  return curl_multi_poll(multi_.get(), extra, extra_count, timeout_ms, nullptr);
}

void HttpFetcher::Wakeup() { curl_multi_wakeup(multi_.get()); }

void HttpFetcher::Perform(std::vector<FetchResult>* done) {
  for (auto& r : rejected_) done->push_back(std::move(r));
  rejected_.clear();
  if (transfers_.empty()) return;
  int running = 0;
  curl_multi_perform(multi_.get(), &running);
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* raw = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
    CURLcode code = msg->data.result;
    curl_multi_remove_handle(multi_.get(), msg->easy_handle);
    auto it = transfers_.find(raw->token);
    Finish(*raw, code, done);
    idle_.push_back(std::move(raw->easy));
    transfers_.erase(it);
  }
}

void HttpFetcher::Finish(Transfer& t, CURLcode code, std::vector<FetchResult>* done) {
  FetchResult r;
  r.token = t.token;
  r.bytes = t.bytes;
  CURL* e = t.easy.get();
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  r.http_status = status;
  r.timings.set_namelookup_ms(Ms(e, CURLINFO_NAMELOOKUP_TIME_T));
  r.timings.set_connect_ms(Ms(e, CURLINFO_CONNECT_TIME_T));
  double app = Ms(e, CURLINFO_APPCONNECT_TIME_T);
  r.timings.set_tls_ms(app);
  r.timings.set_first_byte_ms(Ms(e, CURLINFO_STARTTRANSFER_TIME_T));
  r.timings.set_total_ms(Ms(e, CURLINFO_TOTAL_TIME_T));
  long connects = 0;
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
  r.timings.set_new_connections(static_cast<uint32_t>(connects));
  if (t.too_large) {
    r.code = Code::kInvalidArgument;
    r.error = "GET " + Excerpt(t.url) + " failed: the response body is larger than --max-body (" +
              std::to_string(t.max_bytes) + " bytes)";
  } else if (code != CURLE_OK) {
    r.code = Classify(code);
    r.error = Describe(code, t.error_buffer, t.url);
  } else if (status >= 400) {
    // Whether another attempt may help depends on the status (5xx and 429
    // may pass): FetchResult::retryable.
    r.code = Code::kHttpError;
    r.error = "GET " + Excerpt(t.url) + " answered HTTP " + std::to_string(status);
  }
  r.retryable = r.code == Code::kHttpError ? IsRetryableHttpStatus(status) : IsRetryable(r.code);
  done->push_back(std::move(r));
}

// The write callback counts body bytes and stops the transfer once it passes
// the limit: chunked responses carry no Content-Length to check up front.
size_t HttpFetcher::OnBody(char*, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  t->bytes += n;
  if (t->bytes > t->max_bytes) {
    t->too_large = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  return n;
}

}  // namespace taskfarm
