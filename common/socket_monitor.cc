// Socket monitors, started and stopped in the order libzmq needs.
#include "common/socket_monitor.h"

#include <atomic>
#include <cstring>
#include <string>

#include "common/zmq_util.h"

namespace taskfarm {

std::optional<MonitorEvent> ReadMonitorEvent(zmq::socket_ref monitor) {
  // Each event is two parts: 6 bytes (id, value), then the peer's address.
  zmq::message_t parts[1];
  while (ReceiveParts(monitor, parts, 1) > 0) {
    if (parts[0].size() < 6) continue;
    MonitorEvent event;
    std::memcpy(&event.id, parts[0].data(), sizeof(event.id));
    std::memcpy(&event.value, static_cast<const char*>(parts[0].data()) + sizeof(event.id), sizeof(event.value));
    return event;
  }
  return std::nullopt;
}

SocketMonitor::SocketMonitor(zmq::context_t& ctx, zmq::socket_ref watched, int events) : watched_(watched) {
  // A new endpoint every time, process-wide: a monitor just stopped may
  // still hold its name while libzmq closes it.
  static std::atomic<int> monitors{0};
  std::string endpoint = "inproc://taskfarm-monitor-" + std::to_string(++monitors);
  if (zmq_socket_monitor(watched_.handle(), endpoint.c_str(), events) != 0) return;
  pair_.emplace(ctx, zmq::socket_type::pair);
  ConfigureSocket(*pair_, 0);
  pair_->connect(endpoint);
}

SocketMonitor::~SocketMonitor() {
  // libzmq (4.3.4) sends each event from the I/O thread and does not close
  // the message when that send fails, which it does once the context is
  // terminating: an event that fires while the watched socket is being
  // closed (a handshake completing as the worker leaves) leaked its address
  // frame, 40 bytes plus the endpoint's length, as LeakSanitizer saw in CI.
  // Stopping the monitor here, while the context is alive and before the
  // socket closes, means no event is sent after this point. (After the
  // context is gone this fails with ETERM, and there is nothing to stop.)
  if (pair_) zmq_socket_monitor(watched_.handle(), nullptr, 0);
}

std::optional<MonitorEvent> SocketMonitor::Next() {
  if (!pair_) return std::nullopt;
  return ReadMonitorEvent(*pair_);
}

}  // namespace taskfarm
