// The --metrics HTTP server: evhttp on its own event loop thread (the
// testserver's owners and loop thread), answering from the published
// snapshot under a mutex held only to copy a shared_ptr.
#include "coordinator/metrics_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/host_port.h"
#include "coordinator/live_page.h"
#include "testserver/libevent_handles.h"

namespace taskfarm {
namespace {

using testserver::EventBasePtr;
using testserver::EventPtr;
using testserver::EvhttpPtr;

// A browser's GET with its cookies fits; a request past it is refused (431).
constexpr ssize_t kMaxHeadersBytes = 8 * 1024;
// Open connections at once: a few browsers and scrapers, with room.
constexpr size_t kMaxConnections = 64;

// The address's host and port; port -1 when it is not a number in 0..65535.
std::pair<std::string, int> Split(const std::string& address) {
  std::optional<HostPort> hp = SplitHostPort(address);
  if (!hp) return {"", -1};
  return {hp->host, ParsePort(hp->port).value_or(-1)};
}

}  // namespace

bool IsLoopbackMetricsAddress(const std::string& address) { return IsLoopbackHost(Split(address).first); }

Status CheckMetricsAddress(const std::string& address, bool insecure) {
  auto [host, port] = Split(address);
  if (port < 0 || host.empty()) {
    return InvalidArgument("--metrics " + address + ": give HOST:PORT, e.g. 127.0.0.1:9464 (port 0: any free port)");
  }
  if (!IsLoopbackHost(host) && !insecure) {
    return InvalidArgument("refusing to serve --metrics on " + address +
                           ": the page has no authentication, and anyone who reaches that address would see the "
                           "run's tasks and failures. Use a loopback address (reach it with `ssh -L`), or pass "
                           "--insecure on a network you trust");
  }
  return Status::Ok();
}

class MetricsServer::Impl {
 public:
  explicit Impl(const std::string& address) {
    // Makes event_active() from the destructor's thread safe; must precede
    // the base. Same callbacks as the testserver's, so a second call is a no-op.
    static std::once_flag threads_once;
    std::call_once(threads_once, [] { evthread_use_pthreads(); });
    auto [bind_host, bind_port] = Split(address);
    auto fail = [&](const std::string& why) {
      throw std::runtime_error("cannot serve --metrics on " + address + ": " + why);
    };
    base_.reset(event_base_new());
    if (!base_) fail("event_base_new failed");
    http_.reset(evhttp_new(base_.get()));
    if (!http_) fail("evhttp_new failed");
    stop_event_.reset(event_new(base_.get(), -1, 0, &StopThunk, this));
    if (!stop_event_) fail("event_new failed");
    sweep_event_.reset(event_new(base_.get(), -1, EV_PERSIST, &SweepThunk, this));
    if (!sweep_event_) fail("event_new failed");
    evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    // A connection that sends nothing does not hold its socket for long.
    evhttp_set_timeout(http_.get(), 10);
    // Every answer comes from a GET: nothing to read past the headers, and
    // evhttp answers 431/413 itself past these, before buffering more.
    evhttp_set_max_headers_size(http_.get(), kMaxHeadersBytes);
    evhttp_set_max_body_size(http_.get(), 0);
    evhttp_set_gencb(http_.get(), &HandleThunk, this);
    evhttp_set_bevcb(http_.get(), &NewConnectionThunk, this);
    evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(http_.get(), bind_host.c_str(), bind_port);
    if (!bound) fail(std::string("cannot listen (") + std::strerror(errno) + ")");
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&addr), &len);
    bool ipv6 = addr.ss_family == AF_INET6;
    int port = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    std::string host = bind_host;
    if (host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    url_ = "http://" + host + ":" + std::to_string(port);
    port_ = port;
    loopback_ = IsLoopbackHost(bind_host);
    listener_ = evhttp_bound_socket_get_listener(bound);
    loop_ = testserver::StartLoopThread(base_.get());
  }

  ~Impl() {
    // Queued even if the loop has not started yet.
    event_active(stop_event_.get(), EV_READ, 0);
    loop_.join();
    http_.reset();
    for (bufferevent* bev : connections_) bufferevent_decref(bev);
    sweep_event_.reset();
    stop_event_.reset();
    base_.reset();
  }

  const std::string& url() const { return url_; }

  void Publish(std::shared_ptr<const MetricsSnapshot> snapshot) {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_ = std::move(snapshot);
  }

 private:
  static void StopThunk(evutil_socket_t, short, void* arg) noexcept {
    event_base_loopbreak(static_cast<Impl*>(arg)->base_.get());
  }
  static void HandleThunk(evhttp_request* req, void* arg) noexcept { static_cast<Impl*>(arg)->Handle(req); }

  // libevent 2.1 has neither a connection limit nor a callback when a
  // connection opens or closes, but it asks this for each accepted
  // socket's bufferevent, and bufferevent_free clears the callbacks evhttp
  // keeps set while it uses one. So each is kept (a reference, not its
  // socket: evhttp closes that) until a sweep finds it cleared. At
  // kMaxConnections the listener stops accepting: further clients wait in
  // the kernel's backlog, costing no descriptor and no memory here.
  static bufferevent* NewConnectionThunk(event_base* base, void* arg) noexcept {
    auto* self = static_cast<Impl*>(arg);
    self->Sweep();
    // Same options as evhttp's default: evhttp closes the fd itself.
    bufferevent* bev = bufferevent_socket_new(base, -1, 0);
    if (!bev) return nullptr;  // evhttp tries its own, uncounted
    bufferevent_incref(bev);
    self->connections_.push_back(bev);
    if (self->connections_.size() >= kMaxConnections) {
      evconnlistener_disable(self->listener_);
      timeval every{0, 100 * 1000};
      event_add(self->sweep_event_.get(), &every);
    }
    return bev;
  }
  static void SweepThunk(evutil_socket_t, short, void* arg) noexcept { static_cast<Impl*>(arg)->Sweep(); }
  void Sweep() {
    auto freed = [](bufferevent* bev) {
      bufferevent_event_cb event_cb = nullptr;
      void* cb_arg = nullptr;
      bufferevent_getcb(bev, nullptr, nullptr, &event_cb, &cb_arg);
      if (event_cb || cb_arg) return false;
      bufferevent_decref(bev);
      return true;
    };
    size_t before = connections_.size();
    connections_.erase(std::remove_if(connections_.begin(), connections_.end(), freed), connections_.end());
    if (before >= kMaxConnections && connections_.size() < kMaxConnections) {
      event_del(sweep_event_.get());
      evconnlistener_enable(listener_);
    }
  }

  // DNS rebinding: a page elsewhere may point its own name at 127.0.0.1
  // and read this one, and the browser sends that name as the Host. A
  // request for a loopback listener must name a loopback address (or
  // localhost) and this port.
  bool HostAllowed(evhttp_request* req) const {
    const char* host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    std::optional<HostPort> hp = host ? SplitHostPort(host) : std::nullopt;
    return hp && IsLoopbackHost(hp->host) && ParsePort(hp->port) == port_;
  }

  void Handle(evhttp_request* req) {
    if (loopback_ && !HostAllowed(req)) {
      evhttp_send_error(req, 421, "Misdirected Request: ask for 127.0.0.1, [::1] or localhost with the port");
      return;
    }
    std::shared_ptr<const MetricsSnapshot> snapshot;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      snapshot = snapshot_;
    }
    std::string path = evhttp_request_get_uri(req);
    path = path.substr(0, path.find('?'));
    evkeyvalq* headers = evhttp_request_get_output_headers(req);
    std::string body;
    auto type = [&](const char* content_type) { evhttp_add_header(headers, "Content-Type", content_type); };
    if (path == "/metrics") {
      if (snapshot) body = RenderPrometheus(*snapshot);
      type("text/plain; version=0.0.4; charset=utf-8");
    } else if (path == "/") {
      body = LivePageHtml();
      type("text/html; charset=utf-8");
    } else if (path == "/state.json" && snapshot) {
      body = RenderStateJson(*snapshot);
      type("application/json");
    } else if (path == "/report" && snapshot && !snapshot->report_path.empty()) {
      // The run's --report, written by now: served from here, so the page
      // links it on whatever machine the browser is.
      std::ifstream in(snapshot->report_path, std::ios::binary);
      body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        evhttp_send_error(req, HTTP_INTERNAL, "cannot read the report");
        return;
      }
      type("text/html; charset=utf-8");
    } else if (path == "/favicon.ico") {
      evhttp_send_reply(req, HTTP_NOCONTENT, "No Content", nullptr);  // a browser asks; there is none
      return;
    } else {
      type("text/plain; charset=utf-8");
      evhttp_send_error(req, HTTP_NOTFOUND, "not found: the live page is at /, the metrics at /metrics");
      return;
    }
    evhttp_add_header(headers, "Cache-Control", "no-store");
    testserver::EvbufferPtr buf(evbuffer_new());
    evbuffer_add(buf.get(), body.data(), body.size());
    evhttp_send_reply(req, HTTP_OK, "OK", buf.get());
  }

  EventBasePtr base_;
  EvhttpPtr http_;
  EventPtr stop_event_;
  EventPtr sweep_event_;                   // while the listener is off
  evconnlistener* listener_ = nullptr;     // evhttp's, of the bound socket
  std::vector<bufferevent*> connections_;  // referenced; the loop thread's
  std::string url_;
  int port_ = 0;
  bool loopback_ = false;  // then the Host header is checked
  std::thread loop_;
  std::mutex mutex_;
  std::shared_ptr<const MetricsSnapshot> snapshot_;
};

StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address, bool insecure) {
  if (Status s = CheckMetricsAddress(address, insecure); !s.ok()) return s;
  try {
    return std::unique_ptr<MetricsServer>(new MetricsServer(address));
  } catch (const std::exception& e) {  // Impl: libevent could not set up or listen
    return Unavailable(e.what());
  }
}

MetricsServer::MetricsServer(const std::string& address) : impl_(std::make_unique<Impl>(address)) {}
MetricsServer::~MetricsServer() = default;
std::string MetricsServer::url() const { return impl_->url(); }
void MetricsServer::Publish(std::shared_ptr<const MetricsSnapshot> snapshot) { impl_->Publish(std::move(snapshot)); }

}  // namespace taskfarm
