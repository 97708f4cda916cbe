// LatencyProxy: a TCP proxy on loopback that makes every round trip between a
// client and a server cost a chosen round-trip time (RTT). It is a stand-in for
// a real network's round-trip time, because the kernels this project is tested
// on have no `netem` qdisc (and no NFQUEUE), so packets themselves cannot be
// delayed; where `netem` exists, the same experiment may use it instead.
//
// What it delays:
//   - every chunk of bytes, in each direction, is held for RTT/2 from the
//     moment the proxy read it, then written on (order kept per direction);
//   - a connection's first bytes from the client wait one RTT more (RTT/2 +
//     RTT): what the TCP handshake would have cost, since connecting to the
//     proxy on loopback costs nothing. So a plain HTTP GET on a new connection
//     takes 2 RTT, one on a reused connection 1 RTT, and every TLS handshake
//     flight pays its round trips;
//   - an end of stream (FIN) or a reset from one side reaches the other side
//     RTT/2 later, after the bytes read before it. A FIN is passed on as a
//     half-close (shutdown(SHUT_WR)); a reset or a failed connection to the
//     upstream closes the other side's connection.
// What it does not model: bandwidth (bytes move as fast as loopback and the
// endpoints allow, up to kLatencyProxyWindow bytes per direction held at
// once), packet loss and retransmission, TCP slow start and congestion
// windows, or the delay of the TCP handshake's SYN/ACKs themselves (the
// client's connect() returns at once; the first flight pays for it).
//
//   HttpTestServer server({});
//   LatencyProxy proxy({.upstream_port = server.port(), .rtt_ms = 20});
//   // fetch http://127.0.0.1:<proxy.port()>/json: 40 ms on a new connection
#ifndef TASKFARM_TESTSERVER_LATENCY_PROXY_H_
#define TASKFARM_TESTSERVER_LATENCY_PROXY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace taskfarm::testserver {

struct LatencyProxyOptions {
  std::string listen_address = "127.0.0.1";    // a numeric IPv4 or IPv6 address
  uint16_t listen_port = 0;                    // 0: any free port
  std::string upstream_address = "127.0.0.1";  // numeric; where the server listens
  uint16_t upstream_port = 0;
  double rtt_ms = 20;  // 0 to 3600000; 0 passes bytes on without waiting
};

// Back-pressure, per direction: the proxy stops reading the source while this
// many bytes wait out their RTT/2, and keeps them waiting while this many are
// queued for a slow destination. So a connection holds at most about twice
// this per direction however large the transfer (a 2 GB download costs a few
// MiB), and a direction moves at most this much per RTT/2.
inline constexpr size_t kLatencyProxyWindow = size_t{4} << 20;

// Serves on its own libevent loop thread; each connection is two directions,
// each with one timer armed for the next chunk that falls due. Thread-safe:
// the accessors and Stop() may be called from any thread.
class LatencyProxy {
 public:
  // Binds, then starts proxying on a background thread. Throws
  // std::invalid_argument if rtt_ms is not within 0..3600000 or an address
  // is not numeric, and std::runtime_error if it cannot listen ("latency
  // proxy: cannot listen on ADDR:PORT: reason") or set up its loop.
  explicit LatencyProxy(const LatencyProxyOptions& options);
  // Stop()s.
  ~LatencyProxy();

  LatencyProxy(const LatencyProxy&) = delete;
  LatencyProxy& operator=(const LatencyProxy&) = delete;

  // Stops the loop, joins its thread, closes the listening socket and every
  // proxied connection at once (bytes still held are dropped). Idempotent.
  void Stop();

  // The bound port (the real one when listen_port was 0). Valid after Stop().
  uint16_t port() const;
  double rtt_ms() const;
  // Client connections accepted so far.
  uint64_t connections_accepted() const;
  // The most bytes one connection has had inside the proxy at once, both
  // directions together: read from a socket and not yet written to the
  // other (held for their RTT/2, or queued behind a slow reader).
  uint64_t max_bytes_held() const;

 private:
  class Impl;

  std::mutex stop_mutex_;  // serialises Stop() callers
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskfarm::testserver

#endif  // TASKFARM_TESTSERVER_LATENCY_PROXY_H_
