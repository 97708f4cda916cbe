// Loopback HTTP/1.1 server, plain or TLS, for tests and benchmarks: canned
// bodies, delays, chunked and dripping replies, redirects and status codes on
// one libevent loop.
#ifndef TASKFARM_TESTSERVER_HTTP_TEST_SERVER_H_
#define TASKFARM_TESTSERVER_HTTP_TEST_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace taskfarm::testserver {

struct Options {
  std::string address = "127.0.0.1";
  uint16_t port = 0;         // 0: pick a free ephemeral port
  int default_delay_ms = 0;  // applied when a request has no ?delay=
  // HTTPS: serve TLS with this certificate chain and key (PEM files, e.g. a
  // TestCa's). Both empty: plain HTTP; only one set: the constructor throws.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// The three tutorial page sizes, in bytes (served at /page/1, /page/2, /page/3).
inline constexpr size_t kTutorialPageSizes[3] = {11369, 107786, 608312};

// The largest request body read; a larger one is answered 413.
inline constexpr size_t kMaxRequestBodyBytes = size_t{8} << 20;

// Size of the /json document, in bytes.
inline constexpr size_t kJsonBodySize = 300;

// Byte `i` of every /bytes/N and /drip body is FillerByte(i).
constexpr char FillerByte(uint64_t i) { return static_cast<char>('a' + i % 26); }

// Serves the routes below on one event-loop thread; every delayed or dripping
// reply is one libevent timer, so thousands can be pending at once.
// Every route answers every method libevent parses (GET, HEAD, POST, PUT,
// PATCH, DELETE, OPTIONS, TRACE, CONNECT) the same way, HEAD without the
// body; another method gets 501. A request body (any method but HEAD and
// TRACE) is read whole first, up to kMaxRequestBodyBytes; a larger one gets
// 413. Every route takes `delay=MS` (wait before answering; overrides
// Options::default_delay_ms; the reply never starts before MS have passed
// since the request was read) and `status=CODE` (answer with that status,
// body still sent unless the status forbids a body):
//   /bytes/N[?chunked=1]   N filler bytes; chunked=1 uses chunked encoding
//   /page/1 /page/2 /page/3  text/html of kTutorialPageSizes[0..2] bytes
//   /json                  application/json of exactly kJsonBodySize bytes
//   /status/CODE           short text body with that status
//   /drip?bytes=N&interval_ms=MS  chunked, one byte every MS (defaults 10, 100)
//   /redirect/N            302 to /redirect/N-1; /redirect/0 is 200 "ok"
//   /redirect-to?url=URL   302 to the (percent-decoded) URL
//   /echo                  application/json of what the server saw (request_echo.h):
//                          {"method":"POST","headers":[["Name","value"],...],
//                           "body_bytes":N,"body_sha256":"<64 hex>"}, headers in
//                          the order received
//   /stats                 {"connections":C,"requests":R,"per_second":[N0,N1,...]}
//                          (per_second as RequestsPerSecond())
//   anything else          404; malformed parameters give 400
// Connections are HTTP/1.1 persistent unless the client asks otherwise, and
// are never timed out by the server.
// With TLS: TLS 1.2 or 1.3, ALPN "http/1.1" only (a client offering ALPN
// without it, e.g. h2 alone, fails the handshake), no session resumption
// (every new connection is a full handshake), and a failed handshake just
// closes that connection.
class HttpTestServer {
 public:
  // Binds and starts serving on a background thread. Throws
  // std::runtime_error if it cannot bind ("testserver: cannot listen on
  // ADDR:PORT: reason"), load the TLS files ("testserver: cannot load TLS
  // certificate FILE: reason", the same for the key) or set up the loop.
  explicit HttpTestServer(Options options);
  // Stop()s: the port is closed and all threads are joined on return.
  // (Not copyable: it owns its Impl, which owns the port and the thread.)
  ~HttpTestServer();

  // Stops the loop, joins its thread, drops in-flight (delayed, dripping)
  // replies without answering them, and closes the listening socket and all
  // connections. Idempotent and safe to call from any thread.
  void Stop();

  // The bound port (the real one when Options::port was 0). Valid after Stop().
  uint16_t port() const;
  // "http://ADDRESS:PORT", or "https://..." with TLS (IPv6 addresses are
  // bracketed).
  std::string BaseUrl() const;
  // TCP connections accepted so far (with TLS, also those whose handshake
  // then failed). Thread-safe.
  uint64_t connections_accepted() const;
  // Responses started so far (a /stats reply counts itself). Thread-safe.
  uint64_t requests_served() const;
  // Replies now waiting on a timer: delayed ones not yet sent and drips not
  // yet finished. A drip whose client went away leaves this count at its
  // next tick. Thread-safe.
  size_t pending_replies() const;
  // Requests read, by whole second since the server started ([0] is the
  // first second), up to the last second in which one was read (seconds
  // without requests before it are 0; empty before the first request).
  // Thread-safe.
  std::vector<uint64_t> RequestsPerSecond() const;

 private:
  class Impl;

  std::mutex stop_mutex_;  // serialises Stop() callers
  std::unique_ptr<Impl> impl_;
};

// Raises the soft RLIMIT_NOFILE to the hard limit so that a process holding
// many concurrent connections does not run out of descriptors. Returns the
// resulting soft limit.
uint64_t RaiseOpenFileLimit();

}  // namespace taskfarm::testserver

#endif  // TASKFARM_TESTSERVER_HTTP_TEST_SERVER_H_
