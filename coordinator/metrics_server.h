// `--metrics ADDR`: the HTTP side. A libevent evhttp server on a thread of
// its own serves /metrics (Prometheus' text format) and the live page at /
// from the last snapshot the coordinator's loop published: a scrape never
// waits for the loop, and the loop never waits for a scrape.
//
//   MetricsServer server("127.0.0.1:9464");  // throws std::runtime_error
//   server.Publish(metrics.Snapshot(gauges, now_ms));
//
// Thread-safe: Publish from any one thread while the server thread reads.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "coordinator/metrics.h"

namespace taskfarm {

// Whether `address` ("HOST:PORT", "[::1]:PORT"; port 0: any free one) may be
// served: OK if so, else InvalidArgument saying why not. Like --bind, only
// loopback unless `insecure` (the page has no authentication).
Status CheckMetricsAddress(const std::string& address, bool insecure);
[[nodiscard]] bool IsLoopbackMetricsAddress(const std::string& address);

class MetricsServer {
 public:
  // Checks `address` (CheckMetricsAddress), listens on it and starts
  // serving (an empty page until the first Publish). Unavailable naming the
  // address if it cannot listen.
  static StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address, bool insecure);
  ~MetricsServer();  // stops the thread; a scrape in progress is cut off
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // "http://127.0.0.1:9464" (the port it really got).
  [[nodiscard]] std::string url() const;
  void Publish(std::shared_ptr<const MetricsSnapshot> snapshot);

 private:
  // Throws std::runtime_error naming the address if it cannot listen
  // (caught by Start).
  explicit MetricsServer(const std::string& address);

  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskfarm
