// The libcurl multi loop (curl's 10-at-a-time.c shape): CURLOPT_PRIVATE
// leads back to the transfer, curl_multi_info_read drains finished ones.
// The body is never kept: the write callback counts it, hashes it and, for
// a saved download, writes it to its file as it comes.
#include "worker/http_fetcher.h"

#include <algorithm>
#include <cstring>

#include "common/http_syntax.h"
#include "common/quote.h"
#include "worker/part_file.h"
#include "worker/sha256.h"

namespace taskfarm {

struct HttpFetcher::Transfer {
  explicit Transfer(CurlEasy handle) : easy(std::move(handle)) {}

  uint64_t token = 0;
  std::string method;  // as sent: what the sentences say
  std::string url;
  std::vector<uint32_t> expect;
  std::string body;   // CURLOPT_POSTFIELDS points here
  CurlSlist headers;  // CURLOPT_HTTPHEADER points here
  CurlEasy easy;
  Sha256 digest;
  PartFile file;  // open while saving (UrlTask::save_dir)
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

// Transient (worth another attempt) versus permanent libcurl failures. A
// certificate that is not trusted stays untrusted: permanent.
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

bool Contains(const char* text, const char* part) { return text && std::strstr(text, part) != nullptr; }

// What went wrong, and for a certificate what to do about it. `detail` is
// libcurl's error buffer (OpenSSL's reason for a certificate).
std::string Describe(CURLcode code, const char* detail, const std::string& ca_file) {
  std::string what;
  std::string hint;
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
    case CURLE_PEER_FAILED_VERIFICATION:
      if (Contains(detail, "subject name") || Contains(detail, "does not match")) {
        what = "the server's certificate is not for this host name";
        break;
      }
      what = "the server's certificate is not trusted";
      // An unknown issuer is what a CA file cures; an expired certificate is not.
      if (Contains(detail, "issuer") || Contains(detail, "self-signed") || Contains(detail, "self signed")) {
        hint = ca_file.empty() ? "; give its CA with --cacert FILE"
                               : "; neither the system's CAs nor --cacert " + ca_file + " signed it";
      }
      break;
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      what = "the server's certificate is not trusted";
      break;
    case CURLE_SSL_CACERT_BADFILE:
      what = "the CA file " + (ca_file.empty() ? std::string("of the system") : ca_file + " (--cacert)") +
             " cannot be used";
      break;
    default:
      what = curl_easy_strerror(code);
  }
  if (detail && *detail) what += " (" + std::string(detail) + ")";
  return what + hint;
}

// "200", "200 or 204", "200, 201 or 204".
std::string Alternatives(const std::vector<uint32_t>& codes) {
  std::string out;
  for (size_t i = 0; i < codes.size(); ++i) {
    if (i > 0) out += i + 1 == codes.size() ? " or " : ", ";
    out += std::to_string(codes[i]);
  }
  return out;
}

}  // namespace

namespace {

// libcurl's built-in CA bundle file (CURLINFO_CAINFO), or "" if it has none.
std::string BuiltInCaBundle() {
  CurlEasy easy = MakeCurlEasy();
  char* path = nullptr;
  if (curl_easy_getinfo(easy.get(), CURLINFO_CAINFO, &path) != CURLE_OK || path == nullptr) return "";
  return path;
}

}  // namespace

HttpFetcher::HttpFetcher(FetchOptions options)
    : options_(std::move(options)),
      system_bundle_(options_.system_ca_bundle.empty() ? BuiltInCaBundle() : options_.system_ca_bundle) {
  if (options_.max_host_connections > 0) {
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
  }
  // Keep as many idle connections as we may run transfers at once.
  curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, 1024L);
  // A farm measures a server as its many clients see it: each transfer in
  // flight on its own connection, as HTTP/1.1 clients do. libcurl's default
  // would multiplex silently wherever a server offers HTTP/2, so that is
  // asked for (--http2), never assumed.
  curl_multi_setopt(multi_.get(), CURLMOPT_PIPELINING, options_.http2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
}

HttpFetcher::~HttpFetcher() {
  for (auto& [token, t] : transfers_) curl_multi_remove_handle(multi_.get(), t->easy.get());
}

CurlEasy HttpFetcher::TakeHandle() {
  if (idle_.empty()) {
    ++handles_made_;
    return MakeCurlEasy();
  }
  CurlEasy easy = std::move(idle_.back());
  idle_.pop_back();
  return easy;
}

// Back to the pool, its options cleared: nothing in it points at the
// transfer's header list or body any more.
void HttpFetcher::Park(CurlEasy easy) {
  curl_easy_reset(easy.get());
  idle_.push_back(std::move(easy));
}

void HttpFetcher::Start(uint64_t token, const pb::UrlTask& task, uint32_t timeout_ms, uint32_t task_id) {
  auto t = std::make_unique<Transfer>(TakeHandle());
  t->token = token;
  t->url = task.url();
  t->method = !task.method().empty() ? task.method() : task.has_body() ? "POST" : "GET";
  t->expect.assign(task.expect().begin(), task.expect().end());
  t->max_bytes = options_.max_body_bytes;
  std::string refused;
  Code code = Code::kInvalidArgument;
  // The coordinator checked the line, but a peer need not be ours: a line
  // break in a header or the method, or a Content-Length of its own, would
  // put another request on a connection later tasks reuse.
  Status header_problem;
  for (const std::string& header : task.headers()) {
    if (header_problem = HeaderProblem(header); !header_problem.ok()) break;
  }
  if (t->method == "HEAD" && task.has_body()) {
    refused = "a HEAD request has no body to send";
  } else if (!header_problem.ok()) {
    refused = header_problem.message();
  } else if (Status s = MethodProblem(t->method); !s.ok()) {
    refused = s.message();
  } else if (!task.save_dir().empty()) {
    std::string name = task.save_name().empty() ? std::to_string(task_id) : task.save_name();
    if (!IsFileName(name)) {
      refused = "--save: " + Quote(name) + " is not a file name";
    } else if (Status s = t->file.Open(task.save_dir(), name, token); !s.ok()) {
      refused = s.message();
      code = s.code();  // Unavailable: this worker's disk, not the task
    }
  }
  if (refused.empty()) {
    Configure(*t, task, timeout_ms);
    if (CURLMcode mc = curl_multi_add_handle(multi_.get(), t->easy.get()); mc != CURLM_OK) {
      refused = std::string("could not start: ") + curl_multi_strerror(mc);
      code = Code::kInternal;
    }
  }
  if (!refused.empty()) {
    FetchResult r;
    r.token = token;
    r.code = code;
    r.error = t->method + " " + Excerpt(t->url) + " failed: " + refused;
    r.retryable = IsRetryable(code);
    rejected_.push_back(std::move(r));
    Park(std::move(t->easy));
    return;
  }
  transfers_.emplace(token, std::move(t));
}

void HttpFetcher::Configure(Transfer& t, const pb::UrlTask& task, uint32_t timeout_ms) {
  CURL* e = t.easy.get();
  curl_easy_setopt(e, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_buffer);
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
  curl_easy_setopt(e, CURLOPT_USERAGENT, "taskfarm/0.1");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpFetcher::OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);

  // The request, as curl -X, -H and -d make it.
  if (task.has_body()) {
    t.body = task.body();
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t.body.data());
    if (t.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t.method.c_str());
  } else if (t.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (t.method == "POST") {
    // An empty body, with its Content-Length: 0 (some servers want one).
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{0});
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
  } else if (t.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t.method.c_str());
  }
  for (const std::string& header : task.headers()) t.headers.Append(header.c_str());
  if (t.headers.get()) curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers.get());
  // Without --compressed no Accept-Encoding is sent, and a server that
  // compresses anyway is recorded as it sent the body.
  if (task.compressed()) curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // all libcurl decodes

  // Certificates are verified (libcurl's default) against the system's CAs:
  // Debian's libcurl has a bundle file and a directory (/etc/ssl/certs)
  // holding the same certificates (update-ca-certificates writes both).
  if (options_.insecure_tls) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!options_.ca_file.empty()) {
    // CURLOPT_CAINFO replaces only the file; the directory still counts
    // (searched by hash, a certificate at a time), so --cacert adds its CA.
    curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!options_.system_ca_dir.empty()) curl_easy_setopt(e, CURLOPT_CAPATH, options_.system_ca_dir.c_str());
  } else if (!system_bundle_.empty()) {
    // The bundle alone: libcurl keeps the CA store it parsed (its CA cache)
    // only when no directory is set. With Debian's built-in one, every new
    // connection parsed all 140 certificates of the bundle again: 6 ms of
    // CPU a connection (300 HTTPS GETs: 1.87 CPU-s, now 0.17).
    curl_easy_setopt(e, CURLOPT_CAINFO, system_bundle_.c_str());
    curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
  }
  // HTTP/2 only over TLS (2TLS: plain http:// stays HTTP/1.1). PIPEWAIT: a
  // transfer waits for a connection being made to the host rather than
  // open its own, so a hundred started at once share one.
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, options_.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  if (options_.http2 && StartsWithIgnoringCase(t.url, "https://")) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  if (!options_.reuse_connections) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    // Nor a TLS session resumed from an earlier connection: each request
    // pays a whole handshake, as a client without a session does.
    curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  }
}

void HttpFetcher::Cancel(uint64_t token) {
  auto it = transfers_.find(token);
  if (it == transfers_.end()) return;
  curl_multi_remove_handle(multi_.get(), it->second->easy.get());
  Park(std::move(it->second->easy));
  transfers_.erase(it);  // and its file, unfinished, with it
}

void HttpFetcher::CancelAll() {
  for (auto& [token, t] : transfers_) {
    curl_multi_remove_handle(multi_.get(), t->easy.get());
    Park(std::move(t->easy));
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
    Park(std::move(raw->easy));
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
  // libcurl counts the body as it arrives, before decoding it
  // (tests/integration/http2_nginx_test.cc checks that against a gzip reply).
  curl_off_t wire = 0;
  curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &wire);
  r.wire_bytes = static_cast<uint64_t>(wire);
  r.timings.set_namelookup_ms(Ms(e, CURLINFO_NAMELOOKUP_TIME_T));
  r.timings.set_connect_ms(Ms(e, CURLINFO_CONNECT_TIME_T));
  r.timings.set_tls_ms(Ms(e, CURLINFO_APPCONNECT_TIME_T));
  r.timings.set_first_byte_ms(Ms(e, CURLINFO_STARTTRANSFER_TIME_T));
  r.timings.set_total_ms(Ms(e, CURLINFO_TOTAL_TIME_T));
  long connects = 0;
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
  r.timings.set_new_connections(static_cast<uint32_t>(connects));
  const std::string request = t.method + " " + Excerpt(t.url);
  bool expected =
      t.expect.empty() ? status < 400 : std::find(t.expect.begin(), t.expect.end(), status) != t.expect.end();
  if (t.too_large) {
    r.code = Code::kInvalidArgument;
    r.error =
        request + " failed: the response body is larger than --max-body (" + std::to_string(t.max_bytes) + " bytes)";
  } else if (!t.file.error().empty()) {
    r.code = Code::kUnavailable;  // this worker's disk: another may have room
    r.error = request + " failed: " + t.file.error();
  } else if (code != CURLE_OK) {
    r.code = Classify(code);
    r.error = request + " failed: " + Describe(code, t.error_buffer, options_.ca_file);
  } else if (!expected) {
    // Whether another attempt may help depends on the status (5xx and 429
    // may pass): FetchResult::retryable.
    r.code = Code::kHttpError;
    r.error = request + " answered HTTP " + std::to_string(status);
    if (!t.expect.empty()) r.error += ", expected " + Alternatives(t.expect);
  } else if (t.file.is_open()) {
    if (Status s = t.file.Commit(); !s.ok()) {
      r.code = s.code();
      r.error = request + " failed: " + s.message();
    } else {
      r.saved_as = t.file.final_path();
    }
  }
  // The whole body arrived (whatever its status): its digest is the body's.
  if (code == CURLE_OK && !t.too_large) r.sha256 = t.digest.Hex();
  r.retryable = r.code == Code::kHttpError ? IsRetryableHttpStatus(status) : IsRetryable(r.code);
  done->push_back(std::move(r));
}

// The write callback counts body bytes and stops the transfer once it passes
// the limit (chunked responses carry no Content-Length to check up front),
// hashes them, and writes them to the saved file; a write that fails stops
// the transfer too.
size_t HttpFetcher::OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  t->bytes += n;
  if (t->bytes > t->max_bytes) {
    t->too_large = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  t->digest.Update(data, n);
  if (t->file.is_open() && !t->file.Write(data, n)) return 0;
  return n;
}

}  // namespace taskfarm
