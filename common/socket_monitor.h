// A socket's connection events (zmq_socket_monitor), read on a PAIR of our
// own, and stopped the one way that does not leak.
#pragma once

#include <cstdint>
#include <optional>
#include <zmq.hpp>

namespace taskfarm {

// One event from a socket monitor: its ZMQ_EVENT_ and value (an errno for a
// failure, a descriptor for an accept). The peer's address is not kept.
struct MonitorEvent {
  uint16_t id;
  uint32_t value;
};

// Reads one event from a monitor PAIR without blocking; nullopt when nothing
// is waiting. Malformed events are skipped.
std::optional<MonitorEvent> ReadMonitorEvent(zmq::socket_ref monitor);

// Watches `events` on a socket for as long as it lives. The watched socket
// must outlive it: declare the monitor after the socket (members are
// destroyed in reverse), and reset it before replacing the socket.
class SocketMonitor {
 public:
  // Starts watching; watching() is false if libzmq refused (the caller then
  // goes on without events, as without a monitor at all).
  SocketMonitor(zmq::context_t& ctx, zmq::socket_ref watched, int events);
  // Stops libzmq's side before our PAIR closes (see socket_monitor.cc).
  ~SocketMonitor();
  SocketMonitor(const SocketMonitor&) = delete;
  SocketMonitor& operator=(const SocketMonitor&) = delete;

  [[nodiscard]] bool watching() const { return pair_.has_value(); }
  // The PAIR events arrive on, to poll (only when watching()).
  [[nodiscard]] zmq::socket_ref pair() { return *pair_; }
  // The next event, without blocking; nullopt when none is waiting.
  std::optional<MonitorEvent> Next();

 private:
  zmq::socket_ref watched_;
  std::optional<zmq::socket_t> pair_;
};

}  // namespace taskfarm
