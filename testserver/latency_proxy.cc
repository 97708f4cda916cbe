// LatencyProxy: an evconnlistener for clients, two socket bufferevents per
// connection, and one timer per direction that lets held bytes go when due.
//
// The bytes a direction holds stay in its source's input evbuffer: each read
// appends a mark (when due, how many bytes, or an end of stream) and the
// timer moves due marks' bytes to the destination's output evbuffer with
// evbuffer_remove_buffer (whole chains move, nothing is copied byte by byte).
// The input's read high-watermark is the back-pressure: libevent stops
// reading the source while kLatencyProxyWindow bytes are held, and resumes
// when the timer drains them; the timer itself waits while the destination's
// output is that full, until its write callback says it drained.
#include "testserver/latency_proxy.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/unique_fd.h"
#include "testserver/libevent_handles.h"

namespace taskfarm::testserver {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

// libevent reads and writes 16 KiB per call by default; larger calls cut the
// loop iterations of a big download sixteenfold.
constexpr size_t kMaxSingleIo = 256 * 1024;

// A numeric address and port as a sockaddr; throws std::invalid_argument.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SocketAddress ParseAddress(const std::string& address, uint16_t port) {
  SocketAddress result;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    result.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    result.length = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("latency proxy: not a numeric IP address: '" + address + "'");
  }
  return result;
}

// Held bytes are small writes that must leave at once when due; Nagle would
// hold a lone small segment back until the previous one is acknowledged.
void SetNoDelay(evutil_socket_t fd) {
  const int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Longer than any test waits, and small enough to count in microseconds.
constexpr double kMaxRttMs = 3600 * 1000;

const LatencyProxyOptions& Checked(const LatencyProxyOptions& options) {
  if (!(options.rtt_ms >= 0 && options.rtt_ms <= kMaxRttMs)) {  // also NaN
    throw std::invalid_argument("latency proxy: the round-trip time must be 0 to " +
                                std::to_string(static_cast<int>(kMaxRttMs)) + " ms, not " +
                                std::to_string(options.rtt_ms));
  }
  return options;
}

microseconds Micros(double ms) { return microseconds(std::llround(ms * 1000)); }

}  // namespace

// ---------------------------------------------------------------------------

class LatencyProxy::Impl {
 public:
  explicit Impl(const LatencyProxyOptions& options);
  ~Impl() { Stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Not thread-safe by itself; LatencyProxy serialises callers.
  void Stop();

  uint16_t port() const { return port_; }
  double rtt_ms() const { return options_.rtt_ms; }
  uint64_t connections_accepted() const { return connections_accepted_.load(); }
  uint64_t max_bytes_held() const { return max_bytes_held_.load(); }

 private:
  struct Conn;

  // How a direction ends: its source's FIN (passed on as a half-close) or a
  // reset or error (the destination is closed).
  enum class End { kNone, kFin, kReset };

  // Bytes read together (or an end of stream) and when they may go on.
  struct Mark {
    Clock::time_point due;
    size_t bytes = 0;
    End end = End::kNone;
  };

  // One side's socket. Index 0 is the client, 1 the upstream server.
  struct Side {
    Conn* conn = nullptr;
    int index = 0;
    BuffereventPtr bev;
  };

  // Bytes from sides[from] to sides[1 - from]: dirs[0] is the request side.
  struct Direction {
    Conn* conn = nullptr;
    int from = 0;
    std::deque<Mark> marks;  // their bytes are the first `marked` of the input
    size_t marked = 0;
    EventPtr timer;             // armed for marks.front() unless blocked
    bool first_flight = false;  // the next mark also pays the handshake's RTT
    bool ended = false;         // an end is queued: nothing more is read
    bool blocked = false;       // the destination's output is full
    End closing = End::kNone;   // the end was let go; waiting for the flush
    bool done = false;          // finished, or its destination is gone
  };

  struct Conn {
    Impl* proxy = nullptr;
    Side sides[2];
    Direction dirs[2];
  };

  void Listen();
  void Accept(evutil_socket_t fd);
  void OnRead(Direction* d);
  void OnDrained(Direction* d);
  void OnEvent(Side* side, short what);
  void Queue(Direction* d, size_t bytes, End end);
  void Arm(Direction* d);
  // Lets the due marks go. May close the connection.
  void Release(Direction* d);
  // The end was let go and the destination's output is empty. May close.
  void Complete(Direction* d);
  void CloseIfDone(Conn* conn);
  void Close(Conn* conn) { conns_.erase(conn); }
  void NoteHeld(const Conn& conn);

  static bufferevent* From(Direction* d) { return d->conn->sides[d->from].bev.get(); }
  static bufferevent* To(Direction* d) { return d->conn->sides[1 - d->from].bev.get(); }

  // Entry points from libevent. noexcept: an exception must not unwind
  // through C frames; terminating is the defined alternative.
  static void AcceptThunk(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) noexcept;
  static void ReadThunk(bufferevent*, void* arg) noexcept;
  static void WriteThunk(bufferevent*, void* arg) noexcept;
  static void EventThunk(bufferevent*, short what, void* arg) noexcept;
  static void TimerThunk(evutil_socket_t, short, void* arg) noexcept;
  static void StopThunk(evutil_socket_t, short, void* arg) noexcept;

  const LatencyProxyOptions options_;
  const microseconds half_rtt_;
  const microseconds rtt_;
  const SocketAddress upstream_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> connections_accepted_{0};
  std::atomic<uint64_t> max_bytes_held_{0};

  // Destroyed bottom-up (Stop() does the same explicitly): connections, the
  // listener, its socket, the stop event, and the base they all live in last.
  EventBasePtr base_;
  EventPtr stop_event_;
  UniqueFd listen_fd_;
  ListenerPtr listener_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
  std::thread loop_thread_;
  bool stopped_ = false;
};

LatencyProxy::Impl::Impl(const LatencyProxyOptions& options)
    : options_(Checked(options)),
      half_rtt_(Micros(options_.rtt_ms / 2)),
      rtt_(Micros(options_.rtt_ms)),
      upstream_(ParseAddress(options_.upstream_address, options_.upstream_port)) {
  // Makes event_active() from Stop()'s thread safe; must precede the base.
  static std::once_flag threads_once;
  std::call_once(threads_once, [] { evthread_use_pthreads(); });

  // Without PRECISE_TIMER libevent reads CLOCK_MONOTONIC_COARSE, and bytes
  // could leave up to a jiffy early; Release() re-checks the clock anyway.
  EventConfigPtr config(event_config_new());
  if (!config) throw std::runtime_error("latency proxy: event_config_new failed");
  event_config_set_flag(config.get(), EVENT_BASE_FLAG_PRECISE_TIMER);
  base_.reset(event_base_new_with_config(config.get()));
  if (!base_) throw std::runtime_error("latency proxy: event_base_new failed");
  stop_event_.reset(event_new(base_.get(), -1, 0, &StopThunk, this));
  if (!stop_event_) throw std::runtime_error("latency proxy: event_new failed");
  Listen();

  loop_thread_ = StartLoopThread(base_.get());
}

void LatencyProxy::Impl::Listen() {
  const std::string where = options_.listen_address + ":" + std::to_string(options_.listen_port);
  const SocketAddress address = ParseAddress(options_.listen_address, options_.listen_port);
  auto fail = [&](const char* why) {
    throw std::runtime_error("latency proxy: cannot listen on " + where + ": " + why);
  };
  listen_fd_ = UniqueFd(socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int fd = listen_fd_.get();
  if (fd < 0) fail(std::strerror(errno));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  SetNoDelay(fd);  // accepted sockets inherit it (Linux)
  // A backlog that absorbs a burst of a thousand connects (the server's).
  if (bind(fd, address.get(), address.length) != 0 || listen(fd, 4096) != 0) {
    fail(std::strerror(errno));
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) {
    fail(std::strerror(errno));
  }
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  // Backlog 0: already listening. listen_fd_ outlives the listener.
  listener_.reset(evconnlistener_new(base_.get(), &AcceptThunk, this, 0, 0, fd));
  if (!listener_) fail("evconnlistener_new failed");
}

void LatencyProxy::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  StopLoopThread(stop_event_.get(), &loop_thread_);
  conns_.clear();
  listener_.reset();
  listen_fd_ = UniqueFd();
  stop_event_.reset();
  base_.reset();
}

void LatencyProxy::Impl::Accept(evutil_socket_t fd) {
  connections_accepted_.fetch_add(1);
  auto conn = std::make_unique<Conn>();
  conn->proxy = this;
  for (int i = 0; i < 2; ++i) {
    Side& side = conn->sides[i];
    side.conn = conn.get();
    side.index = i;
    // The client's descriptor is owned from here on, by the bufferevent.
    side.bev.reset(bufferevent_socket_new(base_.get(), i == 0 ? fd : -1, BEV_OPT_CLOSE_ON_FREE));
    if (!side.bev) {
      if (i == 0) evutil_closesocket(fd);
      return;
    }
    Direction& d = conn->dirs[i];
    d.conn = conn.get();
    d.from = i;
    d.first_flight = i == 0;
    d.timer.reset(evtimer_new(base_.get(), &TimerThunk, &d));
    if (!d.timer) return;
  }
  SetNoDelay(fd);
  for (Side& side : conn->sides) {
    bufferevent* bev = side.bev.get();
    bufferevent_setcb(bev, &ReadThunk, &WriteThunk, &EventThunk, &side);
    bufferevent_setwatermark(bev, EV_READ, 0, kLatencyProxyWindow);
    // The write callback runs whenever the output is at most this full
    // (so also when it is empty): the moments to unblock or to finish.
    bufferevent_setwatermark(bev, EV_WRITE, kLatencyProxyWindow, 0);
    bufferevent_set_max_single_read(bev, kMaxSingleIo);
    bufferevent_set_max_single_write(bev, kMaxSingleIo);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
  }
  Conn* raw = conn.get();
  conns_.emplace(raw, std::move(conn));
  // Bytes written to the upstream before it is connected wait in its output.
  // A failure, even an immediate one, comes to OnEvent as BEV_EVENT_ERROR
  // (libevent runs the callback before returning -1), which is where the
  // client's connection is closed; so the result needs no handling here.
  bufferevent_socket_connect(raw->sides[1].bev.get(), upstream_.get(), static_cast<int>(upstream_.length));
}

void LatencyProxy::Impl::OnRead(Direction* d) {
  if (d->ended || d->done) return;
  const size_t length = evbuffer_get_length(bufferevent_get_input(From(d)));
  if (length > d->marked) Queue(d, length - d->marked, End::kNone);
  NoteHeld(*d->conn);
}

void LatencyProxy::Impl::Queue(Direction* d, size_t bytes, End end) {
  microseconds wait = half_rtt_;
  if (d->first_flight) {
    wait += rtt_;
    d->first_flight = false;
  }
  if (end != End::kNone) d->ended = true;
  d->marks.push_back({Clock::now() + wait, bytes, end});
  d->marked += bytes;
  if (d->marks.size() == 1 && !d->blocked) Arm(d);
}

void LatencyProxy::Impl::Arm(Direction* d) {
  // libevent measures the timeout from the loop's cached time, which may be
  // a little old; refresh it so the timer does not fire early (needlessly).
  event_base_update_cache_time(base_.get());
  const auto wait = std::max(microseconds(0), std::chrono::ceil<microseconds>(d->marks.front().due - Clock::now()));
  timeval tv;
  tv.tv_sec = static_cast<time_t>(wait.count() / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(wait.count() % 1000000);
  evtimer_add(d->timer.get(), &tv);
}

void LatencyProxy::Impl::Release(Direction* d) {
  if (d->done) return;
  evbuffer* input = bufferevent_get_input(From(d));
  evbuffer* output = bufferevent_get_output(To(d));
  const Clock::time_point now = Clock::now();
  while (!d->marks.empty() && d->marks.front().due <= now) {
    if (evbuffer_get_length(output) >= kLatencyProxyWindow) {
      d->blocked = true;  // OnDrained() calls again
      return;
    }
    const Mark mark = d->marks.front();
    d->marks.pop_front();
    if (mark.bytes > 0) {
      evbuffer_remove_buffer(input, output, mark.bytes);
      d->marked -= mark.bytes;
    }
    if (mark.end != End::kNone) {
      d->closing = mark.end;
      if (evbuffer_get_length(output) == 0) Complete(d);  // else when drained
      return;
    }
  }
  if (!d->marks.empty()) Arm(d);
}

void LatencyProxy::Impl::OnDrained(Direction* d) {
  if (d->done) return;
  const size_t queued = evbuffer_get_length(bufferevent_get_output(To(d)));
  if (d->closing != End::kNone) {
    if (queued == 0) Complete(d);
  } else if (d->blocked && queued < kLatencyProxyWindow) {
    d->blocked = false;
    Release(d);
  }
}

void LatencyProxy::Impl::Complete(Direction* d) {
  if (d->closing == End::kReset) {
    Close(d->conn);
    return;
  }
  // The other direction may still carry bytes (a reply after the request's
  // FIN), so only this one is shut.
  shutdown(bufferevent_getfd(To(d)), SHUT_WR);
  d->done = true;
  CloseIfDone(d->conn);
}

void LatencyProxy::Impl::OnEvent(Side* side, short what) {
  Conn* conn = side->conn;
  Direction* away = &conn->dirs[side->index];        // from this side
  Direction* toward = &conn->dirs[1 - side->index];  // to this side
  if (what & BEV_EVENT_CONNECTED) {
    SetNoDelay(bufferevent_getfd(side->bev.get()));
    return;
  }
  if (what & BEV_EVENT_EOF) {
    OnRead(away);  // bytes not yet marked go before the end
    if (!away->ended && !away->done) Queue(away, 0, End::kFin);
    return;
  }
  if (what & BEV_EVENT_ERROR) {
    // This socket is gone (reset, refused, a write to a closed peer): what
    // was held for it is dropped, and the other side hears of it RTT/2 after
    // the bytes this side sent before it.
    bufferevent_disable(side->bev.get(), EV_READ | EV_WRITE);
    toward->done = true;
    toward->marks.clear();
    evtimer_del(toward->timer.get());
    bufferevent_disable(From(toward), EV_READ);
    if (!away->ended && !away->done) Queue(away, 0, End::kReset);
    CloseIfDone(conn);
  }
}

void LatencyProxy::Impl::CloseIfDone(Conn* conn) {
  if (conn->dirs[0].done && conn->dirs[1].done) Close(conn);
}

void LatencyProxy::Impl::NoteHeld(const Conn& conn) {
  uint64_t held = 0;
  for (const Side& side : conn.sides) {
    held += evbuffer_get_length(bufferevent_get_input(side.bev.get())) +
            evbuffer_get_length(bufferevent_get_output(side.bev.get()));
  }
  // Only the loop thread writes it.
  if (held > max_bytes_held_.load(std::memory_order_relaxed)) max_bytes_held_.store(held);
}

void LatencyProxy::Impl::AcceptThunk(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) noexcept {
  static_cast<Impl*>(arg)->Accept(fd);
}

void LatencyProxy::Impl::ReadThunk(bufferevent*, void* arg) noexcept {
  auto* side = static_cast<Side*>(arg);
  side->conn->proxy->OnRead(&side->conn->dirs[side->index]);
}

void LatencyProxy::Impl::WriteThunk(bufferevent*, void* arg) noexcept {
  auto* side = static_cast<Side*>(arg);
  side->conn->proxy->OnDrained(&side->conn->dirs[1 - side->index]);
}

void LatencyProxy::Impl::EventThunk(bufferevent*, short what, void* arg) noexcept {
  auto* side = static_cast<Side*>(arg);
  side->conn->proxy->OnEvent(side, what);
}

void LatencyProxy::Impl::TimerThunk(evutil_socket_t, short, void* arg) noexcept {
  auto* d = static_cast<Direction*>(arg);
  d->conn->proxy->Release(d);
}

void LatencyProxy::Impl::StopThunk(evutil_socket_t, short, void* arg) noexcept {
  event_base_loopbreak(static_cast<Impl*>(arg)->base_.get());
}

// ---------------------------------------------------------------------------

LatencyProxy::LatencyProxy(const LatencyProxyOptions& options) : impl_(std::make_unique<Impl>(options)) {}

LatencyProxy::~LatencyProxy() { Stop(); }

void LatencyProxy::Stop() {
  std::lock_guard<std::mutex> lock(stop_mutex_);
  impl_->Stop();
}

uint16_t LatencyProxy::port() const { return impl_->port(); }
double LatencyProxy::rtt_ms() const { return impl_->rtt_ms(); }
uint64_t LatencyProxy::connections_accepted() const { return impl_->connections_accepted(); }
uint64_t LatencyProxy::max_bytes_held() const { return impl_->max_bytes_held(); }

}  // namespace taskfarm::testserver
