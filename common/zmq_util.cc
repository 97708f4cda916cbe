// cppzmq helpers shared by both sides.
#include "common/zmq_util.h"

#include "common/frame_codec.h"
#include "common/host_port.h"
#include "common/quote.h"

namespace taskfarm {

void ConfigureSocket(zmq::socket_ref socket, int linger_ms) {
  socket.set(zmq::sockopt::linger, linger_ms);
  socket.set(zmq::sockopt::maxmsgsize, kSocketMaxMsgSize);
}

std::optional<zmq::message_t> TryRecv(zmq::socket_ref socket) {
  zmq::message_t msg;
  auto got = socket.recv(msg, zmq::recv_flags::dontwait);
  if (!got) return std::nullopt;
  return msg;
}

bool Readable(zmq::socket_ref socket) { return (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0; }

Status CheckEndpoint(const std::string& endpoint) {
  auto starts = [&](const char* p) { return endpoint.rfind(p, 0) == 0; };
  if (starts("ipc://")) {
    return endpoint.size() > 6 ? Status::Ok() : InvalidArgument("ipc endpoint needs a path: ipc:///tmp/farm.sock");
  }
  if (starts("inproc://")) return endpoint.size() > 9 ? Status::Ok() : InvalidArgument("inproc endpoint needs a name");
  if (!starts("tcp://")) {
    return InvalidArgument("endpoint " + Quote(endpoint) + " must start with tcp://, ipc:// or inproc://");
  }
  std::optional<HostPort> hp = SplitHostPort(endpoint.substr(6));
  if (!hp || hp->host.empty()) {
    return InvalidArgument("endpoint " + Quote(endpoint) + " needs a host and a port: tcp://HOST:PORT");
  }
  if (hp->port != "*" && !ParsePort(hp->port)) {
    return InvalidArgument("endpoint " + Quote(endpoint, 100) + " has a bad port " + Quote(hp->port, 60) +
                           " (0-65535 or *)");
  }
  return Status::Ok();
}

size_t ReceiveParts(zmq::socket_ref socket, zmq::message_t* parts, size_t max_parts) {
  size_t n = 0;
  zmq::message_t rest;
  for (bool more = true; more; ++n) {
    zmq::message_t& part = n < max_parts ? parts[n] : rest;
    // The parts of a message arrive together: once the first is here, a
    // later one not being here is the end of it.
    if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
    more = part.more();
  }
  return n;
}

}  // namespace taskfarm
