// HttpTestServer: libevent evhttp routes, one timer per delayed or dripping
// reply, connection counting, and a thread-safe shutdown of the loop thread.
#include "testserver/http_test_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/c_handle.h"
#include "testserver/libevent_handles.h"
#include "testserver/request_echo.h"

namespace taskfarm::testserver {
namespace {

// ---------------------------------------------------------------------------
// Owners for the C handles.

using AddrinfoPtr = CHandle<addrinfo, freeaddrinfo>;
using SslCtxPtr = CHandle<SSL_CTX, SSL_CTX_free>;

// A socket descriptor closed on scope exit unless released.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Query parameters of one request, decoded; freed with the object.
class QueryParams {
 public:
  QueryParams() { TAILQ_INIT(&params_); }
  ~QueryParams() { evhttp_clear_headers(&params_); }
  QueryParams(const QueryParams&) = delete;
  QueryParams& operator=(const QueryParams&) = delete;

  // False if `query` is malformed (e.g. a key without '=').
  bool Parse(const char* query) { return query == nullptr || evhttp_parse_query_str(query, &params_) == 0; }
  const char* Find(const char* key) const { return evhttp_find_header(&params_, key); }

 private:
  evkeyvalq params_;
};

// ---------------------------------------------------------------------------
// Bodies: built once per process, immutable, shared by every server and
// handed to libevent by reference, so a 608 KB reply costs no copy.

constexpr size_t kFillerPeriods = 40960;           // ~1 MB of 'a'..'z'
constexpr uint64_t kMaxBytes = uint64_t{1} << 32;  // /bytes/N upper bound
constexpr int kMaxDelayMs = 3600 * 1000;
constexpr size_t kChunkSize = 64 * 1024;  // chunk size of /bytes/N?chunked=1

struct Bodies {
  std::string filler;  // FillerByte(0..) with a length that is a multiple of 26
  std::string pages[3];
  std::string json;
};

std::string MakePage(int number, size_t size) {
  const std::string head = "<!DOCTYPE html>\n<html><head><title>taskfarm tutorial page " + std::to_string(number) +
                           "</title></head>\n<body><pre>\n";
  const std::string tail = "\n</pre></body></html>\n";
  std::string page = head;
  for (size_t i = 0; page.size() + tail.size() < size; ++i) page.push_back(FillerByte(i));
  page += tail;
  return page;
}

std::string MakeJson() {
  const std::string head = R"({"service":"taskfarm-testserver","kind":"fixture","ok":true,)"
                           R"("items":[1,2,3,5,8,13,21,34],"padding":")";
  const std::string tail = "\"}\n";
  std::string json = head;
  json.append(kJsonBodySize - head.size() - tail.size(), 'x');
  json += tail;
  return json;
}

const Bodies& GetBodies() {
  static const Bodies bodies = [] {
    Bodies b;
    b.filler.reserve(26 * kFillerPeriods);
    for (size_t i = 0; i < 26 * kFillerPeriods; ++i) b.filler.push_back(FillerByte(i));
    for (int i = 0; i < 3; ++i) b.pages[i] = MakePage(i + 1, kTutorialPageSizes[i]);
    b.json = MakeJson();
    return b;
  }();
  return bodies;
}

// Appends `length` filler bytes to `buf` as if the body started `offset`
// bytes earlier, by reference to the shared filler.
void AddFiller(evbuffer* buf, uint64_t offset, uint64_t length) {
  const std::string& filler = GetBodies().filler;
  while (length > 0) {
    const size_t start = offset % 26;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length, filler.size() - start));
    evbuffer_add_reference(buf, filler.data() + start, n, nullptr, nullptr);
    offset += n;
    length -= n;
  }
}

// ---------------------------------------------------------------------------
// TLS.

// The first queued OpenSSL error as text (the queue is then cleared).
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// ALPN: http/1.1 or nothing. This server does not speak h2, and a client
// that offers only protocols it does not speak is refused in the handshake
// (no_application_protocol) rather than met with bytes it cannot parse.
int SelectHttp11(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len,
                 void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  if (SSL_select_next_proto(&selected, &selected_len, kHttp11, sizeof(kHttp11), in, in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  *out_len = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

// One context for all of a server's connections: TLS 1.2 and 1.3, the
// given chain and key, ALPN http/1.1. Sessions are never resumed (no
// tickets, no cache), so every new connection pays a full handshake: what
// the rig measures is the cost of a new connection, not of a resumed one.
SslCtxPtr NewServerTlsContext(const std::string& cert_file, const std::string& key_file) {
  auto fail = [](const std::string& what) { throw std::runtime_error("testserver: " + what + ": " + OpenSslError()); };
  if (cert_file.empty() || key_file.empty()) {
    throw std::runtime_error("testserver: TLS needs both a certificate file and a key file");
  }
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) fail("SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) fail("TLS 1.2 minimum");
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    fail("cannot load TLS certificate " + cert_file);
  }
  // Also checks that the key is the certificate's ("key values mismatch").
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail("cannot load TLS key " + key_file);
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), &SelectHttp11, nullptr);
  return ctx;
}

// ---------------------------------------------------------------------------
// Request parsing.

template <typename Int>
std::optional<Int> ParseInt(std::string_view text, Int min, Int max) {
  Int value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

bool StatusAllowsBody(int status) { return status >= 200 && status != 204 && status != 304; }

// What to answer; built by Route() when the request arrives.
struct Reply {
  enum class Body { kNone, kFiller, kStatic, kOwned, kStats };

  int status = 200;
  const char* content_type = "text/plain";
  Body body = Body::kNone;
  uint64_t filler_size = 0;      // kFiller
  std::string_view static_body;  // kStatic: points into Bodies
  std::string owned_body;        // kOwned
  bool chunked = false;
  std::string location;  // Location header when non-empty
  bool drip = false;     // chunked, one filler byte per interval
  uint64_t drip_bytes = 0;
  int drip_interval_ms = 0;
};

Reply TextReply(int status, std::string text) {
  Reply reply;
  reply.status = status;
  reply.body = Reply::Body::kOwned;
  reply.owned_body = std::move(text);
  return reply;
}

timeval MillisToTimeval(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

}  // namespace

// ---------------------------------------------------------------------------

class HttpTestServer::Impl {
 public:
  explicit Impl(Options options);
  ~Impl() { Stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Not thread-safe by itself; HttpTestServer serialises callers.
  void Stop();

  uint16_t port() const { return port_; }
  const std::string& base_url() const { return base_url_; }
  uint64_t connections_accepted() const { return connections_accepted_.load(); }
  uint64_t requests_served() const { return requests_served_.load(); }
  size_t pending_replies() const { return pending_count_.load(); }
  std::vector<uint64_t> RequestsPerSecond() const {
    std::lock_guard<std::mutex> lock(per_second_mutex_);
    return per_second_;
  }

 private:
  // A reply waiting on its timer: first for ?delay=, then, for /drip, for
  // each byte. Owned by pending_ while its timer is armed.
  struct Pending {
    Impl* server = nullptr;
    evhttp_request* req = nullptr;
    Reply reply;
    EventPtr timer;
    bool dripping = false;  // headers sent, now sending drip bytes
    uint64_t drip_sent = 0;
  };

  void Bind();
  void HandleRequest(evhttp_request* req);
  // Parses the request into a reply and the delay to apply before it.
  Reply Route(evhttp_request* req, int* delay_ms);
  // Starts answering; keeps `op` (re-armed) if the reply is a drip.
  void Begin(std::unique_ptr<Pending> op);
  void SendFull(evhttp_request* req, const Reply& reply);
  void DripTick(std::unique_ptr<Pending> op);
  // Arms op's timer and parks it in pending_; answers 503 if that fails.
  void Park(std::unique_ptr<Pending> op, int delay_ms);
  void OnTimer(Pending* raw);
  // Counts one request read now in per_second_.
  void CountRequest();
  std::string StatsJson() const;

  // Entry points from libevent. noexcept: an exception must not unwind
  // through C frames; terminating is the defined alternative.
  static void HandleRequestThunk(evhttp_request* req, void* arg) noexcept;
  static void TimerThunk(evutil_socket_t fd, short what, void* arg) noexcept;
  static void StopThunk(evutil_socket_t fd, short what, void* arg) noexcept;
  static bufferevent* NewConnectionThunk(event_base* base, void* arg) noexcept;

  const Options options_;
  uint16_t port_ = 0;
  std::string base_url_;
  std::atomic<uint64_t> connections_accepted_{0};
  std::atomic<uint64_t> requests_served_{0};
  std::atomic<size_t> pending_count_{0};  // pending_.size(), readable anywhere
  // Steady, so a wall-clock step cannot move a request into another second.
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  mutable std::mutex per_second_mutex_;
  std::vector<uint64_t> per_second_;  // [s]: requests read in second s

  // Members are destroyed bottom-up (Stop() does the same explicitly):
  // pending replies and their timers, the stop event, evhttp (listener,
  // connections), and the base they all live in last.
  EventBasePtr base_;
  SslCtxPtr ssl_ctx_;  // null: plain HTTP; SSL objects hold their own reference
  EvhttpPtr http_;
  EventPtr stop_event_;
  std::unordered_map<Pending*, std::unique_ptr<Pending>> pending_;
  std::thread loop_thread_;
  bool stopped_ = false;
};

HttpTestServer::Impl::Impl(Options options) : options_(std::move(options)) {
  // Makes event_active() from Stop()'s thread safe; must precede the base.
  static std::once_flag threads_once;
  std::call_once(threads_once, [] { evthread_use_pthreads(); });
  GetBodies();  // build once here rather than on the first request

  // Without PRECISE_TIMER libevent reads CLOCK_MONOTONIC_COARSE, which lags
  // by up to a jiffy, and a ?delay= reply could go out a few ms early;
  // clients assert "took at least delay".
  EventConfigPtr config(event_config_new());
  if (!config) throw std::runtime_error("testserver: event_config_new failed");
  event_config_set_flag(config.get(), EVENT_BASE_FLAG_PRECISE_TIMER);
  base_.reset(event_base_new_with_config(config.get()));
  if (!base_) throw std::runtime_error("testserver: event_base_new failed");
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    ssl_ctx_ = NewServerTlsContext(options_.tls_cert_file, options_.tls_key_file);
  }
  http_.reset(evhttp_new(base_.get()));
  if (!http_) throw std::runtime_error("testserver: evhttp_new failed");
  stop_event_.reset(event_new(base_.get(), -1, 0, &StopThunk, this));
  if (!stop_event_) throw std::runtime_error("testserver: event_new failed");

  // Every method libevent 2.1 parses; each route answers them all alike.
  evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                              EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  // evhttp reads a whole body before the request callback and answers 413
  // itself past this. Lingering: it reads (and drops) the rest of a body too
  // large before answering, so a client still sending gets the 413 instead
  // of a reset that could destroy it.
  evhttp_set_max_body_size(http_.get(), kMaxRequestBodyBytes);
  evhttp_set_flags(http_.get(), EVHTTP_SERVER_LINGERING_CLOSE);
  evhttp_set_gencb(http_.get(), &HandleRequestThunk, this);
  // libevent 2.1 has no new-connection callback, but it asks this callback
  // for a bufferevent exactly once per accepted socket, before any request
  // is read, so counting here counts TCP connections (also ones that never
  // send a request). Counting distinct evhttp_connection* per request would
  // miss those and could confuse a freed pointer with a reused one.
  evhttp_set_bevcb(http_.get(), &NewConnectionThunk, this);
  Bind();

  loop_thread_ = StartLoopThread(base_.get());
}

void HttpTestServer::Impl::Bind() {
  const std::string where = options_.address + ":" + std::to_string(options_.port);
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("testserver: cannot listen on " + where + ": " + why);
  };

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* raw_info = nullptr;
  const std::string port_text = std::to_string(options_.port);
  if (int rc = getaddrinfo(options_.address.c_str(), port_text.c_str(), &hints, &raw_info); rc != 0) {
    fail(gai_strerror(rc));
  }
  AddrinfoPtr info(raw_info);

  std::string last_error = "no usable address";
  for (const addrinfo* ai = info.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Accepted sockets inherit TCP_NODELAY (Linux). Without it the tail of
    // a large reply waits for the client's delayed ACK (Nagle): up to 40 ms
    // added to some page downloads, which is noise no benchmark should carry.
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // Our own listen() so the backlog can absorb a burst of a thousand
    // connects; evhttp_bind_socket() would use 128 and make clients retry SYNs.
    if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd.get(), 4096) != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof(bound);
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    // evhttp takes ownership of the descriptor (closes it in evhttp_free).
    if (evhttp_accept_socket_with_handle(http_.get(), fd.get()) == nullptr) {
      last_error = "evhttp_accept_socket_with_handle failed";
      continue;
    }
    fd.release();

    bool ipv6 = bound.ss_family == AF_INET6;
    port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    // A wildcard address is not something a client can connect to.
    std::string host = options_.address;
    if (host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    base_url_ = (ssl_ctx_ ? "https://" : "http://") + host + ":" + std::to_string(port_);
    return;
  }
  fail(last_error);
}

void HttpTestServer::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  StopLoopThread(stop_event_.get(), &loop_thread_);
  // The loop is gone; only this thread touches libevent from here on.
  // A request whose client vanished mid-drip has been detached from its
  // connection by libevent and is ours to free; attached ones are freed
  // with their connection by evhttp_free.
  for (auto& [raw, op] : pending_) {
    if (evhttp_request_get_connection(op->req) == nullptr) evhttp_request_free(op->req);
  }
  pending_.clear();
  pending_count_.store(0);
  http_.reset();
  // Freeing the connections queued their bufferevents' finalizers (an
  // HTTPS one frees its SSL there) on the base, whose loop has ended: run
  // them, or the SSL and the bufferevent of a connection still open at
  // Stop are never freed.
  event_base_loop(base_.get(), EVLOOP_NONBLOCK);
  stop_event_.reset();
  base_.reset();
}

void HttpTestServer::Impl::HandleRequestThunk(evhttp_request* req, void* arg) noexcept {
  static_cast<Impl*>(arg)->HandleRequest(req);
}

void HttpTestServer::Impl::TimerThunk(evutil_socket_t, short, void* arg) noexcept {
  auto* op = static_cast<Pending*>(arg);
  op->server->OnTimer(op);
}

void HttpTestServer::Impl::StopThunk(evutil_socket_t, short, void* arg) noexcept {
  event_base_loopbreak(static_cast<Impl*>(arg)->base_.get());
}

bufferevent* HttpTestServer::Impl::NewConnectionThunk(event_base* base, void* arg) noexcept {
  auto* self = static_cast<Impl*>(arg);
  self->connections_accepted_.fetch_add(1);
  if (!self->ssl_ctx_) {
    // Same options as evhttp's default: evhttp closes the fd itself, after
    // its shutdown(); BEV_OPT_CLOSE_ON_FREE would close it before that.
    return bufferevent_socket_new(base, -1, 0);
  }
  // evhttp sets the accepted fd on this bufferevent, which then runs the
  // server side of the handshake before evhttp reads a request; a failed
  // handshake is a connection error, and evhttp frees the connection.
  // BEV_OPT_CLOSE_ON_FREE is what makes the bufferevent free the SSL; it
  // also closes the fd, and evhttp then leaves the close to it (its
  // shutdown() runs first: the bufferevent is finalized later, on the loop).
  // If SSL_new fails (out of memory), null makes evhttp fall back to a plain
  // bufferevent: that client's handshake fails, nothing leaks.
  SSL* ssl = SSL_new(self->ssl_ctx_.get());
  if (ssl == nullptr) return nullptr;
  // Owns `ssl` from here, also when it fails.
  bufferevent* bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
  // Clients often close without a close_notify; that is an end of stream
  // here, not an error (nothing is lost: requests are framed by HTTP).
  if (bev != nullptr) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

void HttpTestServer::Impl::CountRequest() {
  const auto second = static_cast<size_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count());
  std::lock_guard<std::mutex> lock(per_second_mutex_);
  if (per_second_.size() <= second) per_second_.resize(second + 1, 0);
  ++per_second_[second];
}

std::string HttpTestServer::Impl::StatsJson() const {
  std::string json = "{\"connections\":" + std::to_string(connections_accepted_.load()) +
                     ",\"requests\":" + std::to_string(requests_served_.load()) + ",\"per_second\":[";
  const std::vector<uint64_t> per_second = RequestsPerSecond();
  for (size_t i = 0; i < per_second.size(); ++i) {
    if (i > 0) json += ',';
    json += std::to_string(per_second[i]);
  }
  return json + "]}";
}

void HttpTestServer::Impl::HandleRequest(evhttp_request* req) {
  CountRequest();
  auto op = std::make_unique<Pending>();
  op->server = this;
  op->req = req;
  int delay_ms = options_.default_delay_ms;
  op->reply = Route(req, &delay_ms);
  if (delay_ms > 0) {
    Park(std::move(op), delay_ms);
  } else {
    Begin(std::move(op));
  }
}

Reply HttpTestServer::Impl::Route(evhttp_request* req, int* delay_ms) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  const std::string_view path = raw_path != nullptr ? raw_path : "";
  QueryParams params;
  if (!params.Parse(uri != nullptr ? evhttp_uri_get_query(uri) : nullptr)) {
    return TextReply(400, "malformed query string\n");
  }
  if (const char* delay = params.Find("delay")) {
    auto value = ParseInt<int>(delay, 0, kMaxDelayMs);
    if (!value) return TextReply(400, "bad delay\n");
    *delay_ms = *value;
  }
  std::optional<int> status_override;
  if (const char* status = params.Find("status")) {
    status_override = ParseInt<int>(status, 200, 599);
    if (!status_override) return TextReply(400, "bad status (200..599)\n");
  }

  Reply reply;
  const Bodies& bodies = GetBodies();
  auto tail = [&](std::string_view prefix) -> std::optional<std::string_view> {
    if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
    return path.substr(prefix.size());
  };
  if (auto size_text = tail("/bytes/")) {
    auto size = ParseInt<uint64_t>(*size_text, 0, kMaxBytes);
    if (!size) return TextReply(400, "bad size\n");
    reply.content_type = "application/octet-stream";
    reply.body = Reply::Body::kFiller;
    reply.filler_size = *size;
    const char* chunked = params.Find("chunked");
    reply.chunked = chunked != nullptr && std::string_view(chunked) != "0";
  } else if (auto page = tail("/page/")) {
    auto number = ParseInt<int>(*page, 1, 3);
    if (!number) return TextReply(404, "no such page\n");
    reply.content_type = "text/html";
    reply.body = Reply::Body::kStatic;
    reply.static_body = bodies.pages[*number - 1];
  } else if (path == "/json") {
    reply.content_type = "application/json";
    reply.body = Reply::Body::kStatic;
    reply.static_body = bodies.json;
  } else if (auto code = tail("/status/")) {
    auto status = ParseInt<int>(*code, 200, 599);
    if (!status) return TextReply(400, "bad status (200..599)\n");
    reply = TextReply(*status, "status " + std::to_string(*status) + "\n");
  } else if (path == "/drip") {
    const char* bytes = params.Find("bytes");
    const char* interval = params.Find("interval_ms");
    auto drip_bytes = ParseInt<uint64_t>(bytes != nullptr ? bytes : "10", 0, kMaxBytes);
    auto interval_ms = ParseInt<int>(interval != nullptr ? interval : "100", 0, kMaxDelayMs);
    if (!drip_bytes || !interval_ms) return TextReply(400, "bad drip parameters\n");
    reply.content_type = "application/octet-stream";
    reply.drip = true;
    reply.drip_bytes = *drip_bytes;
    reply.drip_interval_ms = *interval_ms;
  } else if (auto hops = tail("/redirect/")) {
    auto n = ParseInt<uint64_t>(*hops, 0, std::numeric_limits<uint64_t>::max());
    if (!n) return TextReply(400, "bad redirect count\n");
    if (*n == 0) {
      reply = TextReply(200, "ok");
    } else {
      reply = TextReply(302, "redirecting\n");
      reply.location = "/redirect/" + std::to_string(*n - 1);
    }
  } else if (path == "/redirect-to") {
    const char* url = params.Find("url");  // already percent-decoded
    if (url == nullptr || *url == '\0') return TextReply(400, "missing url\n");
    reply = TextReply(302, "redirecting\n");
    reply.location = url;
  } else if (path == "/echo") {
    reply.content_type = "application/json";
    reply.body = Reply::Body::kOwned;
    try {
      reply.owned_body = EchoJson(req);
    } catch (const std::exception& e) {
      return TextReply(500, std::string(e.what()) + "\n");
    }
  } else if (path == "/stats") {
    reply.content_type = "application/json";
    reply.body = Reply::Body::kStats;
  } else {
    return TextReply(404, "not found\n");
  }
  if (status_override) reply.status = *status_override;
  return reply;
}

void HttpTestServer::Impl::Begin(std::unique_ptr<Pending> op) {
  evhttp_request* req = op->req;
  if (!op->reply.drip) {
    SendFull(req, op->reply);
    return;
  }
  requests_served_.fetch_add(1);
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", op->reply.content_type);
  // No Content-Length: libevent switches HTTP/1.1 replies to chunked.
  evhttp_send_reply_start(req, op->reply.status, nullptr);
  op->dripping = true;
  if (op->reply.drip_bytes == 0) {
    evhttp_send_reply_end(req);
    return;
  }
  const int interval_ms = op->reply.drip_interval_ms;
  Park(std::move(op), interval_ms);
}

void HttpTestServer::Impl::SendFull(evhttp_request* req, const Reply& reply) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  // evhttp_add_header rejects values with CR/LF, so a hostile ?url= cannot
  // inject headers; answer 400 instead.
  if (!reply.location.empty() && evhttp_add_header(headers, "Location", reply.location.c_str()) != 0) {
    SendFull(req, TextReply(400, "bad redirect target\n"));
    return;
  }
  requests_served_.fetch_add(1);
  evhttp_add_header(headers, "Content-Type", reply.content_type);

  EvbufferPtr body(evbuffer_new());
  if (!body) {
    evhttp_send_reply(req, 500, nullptr, nullptr);
    return;
  }
  std::string stats;
  switch (reply.body) {
    case Reply::Body::kNone:
    case Reply::Body::kFiller:  // added below, possibly in chunks
      break;
    case Reply::Body::kStatic:
      evbuffer_add_reference(body.get(), reply.static_body.data(), reply.static_body.size(), nullptr, nullptr);
      break;
    case Reply::Body::kOwned:
      evbuffer_add(body.get(), reply.owned_body.data(), reply.owned_body.size());
      break;
    case Reply::Body::kStats:
      stats = StatsJson();
      evbuffer_add(body.get(), stats.data(), stats.size());
      break;
  }
  const uint64_t size = reply.body == Reply::Body::kFiller ? reply.filler_size : evbuffer_get_length(body.get());
  // libevent 2.1 writes output_buffer even when the reply must not carry a
  // body (HEAD, 204, 304), which would corrupt a persistent connection, so
  // the body is only handed over when it is allowed.
  const bool head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
  const bool body_allowed = StatusAllowsBody(reply.status);

  if (reply.chunked && body_allowed) {
    evhttp_send_reply_start(req, reply.status, nullptr);
    for (uint64_t offset = 0; !head && offset < size; offset += kChunkSize) {
      AddFiller(body.get(), offset, std::min<uint64_t>(kChunkSize, size - offset));
      evhttp_send_reply_chunk(req, body.get());  // drains `body`
    }
    evhttp_send_reply_end(req);
    return;
  }
  if (body_allowed) {
    evhttp_add_header(headers, "Content-Length", std::to_string(size).c_str());
    if (!head && reply.body == Reply::Body::kFiller) AddFiller(body.get(), 0, size);
  }
  if (head || !body_allowed) evbuffer_drain(body.get(), evbuffer_get_length(body.get()));
  evhttp_send_reply(req, reply.status, nullptr, body.get());
}

void HttpTestServer::Impl::Park(std::unique_ptr<Pending> op, int delay_ms) {
  if (!op->timer) op->timer.reset(evtimer_new(base_.get(), &TimerThunk, op.get()));
  const timeval tv = MillisToTimeval(delay_ms);
  if (!op->timer || evtimer_add(op->timer.get(), &tv) != 0) {
    if (op->dripping) {
      evhttp_send_reply_end(op->req);  // truncated drip, but no leak
    } else {
      SendFull(op->req, TextReply(503, "cannot arm timer\n"));
    }
    return;
  }
  Pending* raw = op.get();
  pending_.emplace(raw, std::move(op));
  pending_count_.store(pending_.size());
}

void HttpTestServer::Impl::OnTimer(Pending* raw) {
  auto node = pending_.extract(raw);
  if (node.empty()) return;  // cannot happen: armed timers are parked
  pending_count_.store(pending_.size());
  std::unique_ptr<Pending> op = std::move(node.mapped());
  if (op->dripping) {
    DripTick(std::move(op));
  } else {
    Begin(std::move(op));
  }
}

void HttpTestServer::Impl::DripTick(std::unique_ptr<Pending> op) {
  evhttp_request* req = op->req;
  // libevent notices a vanished client while a chunked reply is open (it
  // watches for EOF) and then detaches the request from the dead
  // connection without freeing it; evhttp_send_reply_end() on a detached
  // request frees it. Stop dripping then instead of writing to nowhere.
  if (evhttp_request_get_connection(req) == nullptr) {
    evhttp_send_reply_end(req);
    return;
  }
  EvbufferPtr chunk(evbuffer_new());
  if (chunk) {
    const char byte = FillerByte(op->drip_sent);
    evbuffer_add(chunk.get(), &byte, 1);
    evhttp_send_reply_chunk(req, chunk.get());
  }
  if (++op->drip_sent >= op->reply.drip_bytes) {
    evhttp_send_reply_end(req);
    return;
  }
  const int interval_ms = op->reply.drip_interval_ms;
  Park(std::move(op), interval_ms);
}

// ---------------------------------------------------------------------------

HttpTestServer::HttpTestServer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpTestServer::~HttpTestServer() { Stop(); }

void HttpTestServer::Stop() {
  std::lock_guard<std::mutex> lock(stop_mutex_);
  impl_->Stop();
}

uint16_t HttpTestServer::port() const { return impl_->port(); }
std::string HttpTestServer::BaseUrl() const { return impl_->base_url(); }
uint64_t HttpTestServer::connections_accepted() const { return impl_->connections_accepted(); }
uint64_t HttpTestServer::requests_served() const { return impl_->requests_served(); }
size_t HttpTestServer::pending_replies() const { return impl_->pending_replies(); }
std::vector<uint64_t> HttpTestServer::RequestsPerSecond() const { return impl_->RequestsPerSecond(); }

uint64_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

}  // namespace taskfarm::testserver
