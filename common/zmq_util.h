// Small helpers around cppzmq that every socket in taskfarm goes through, so
// no socket is ever created with infinite linger or unbounded message size.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "common/status.h"

namespace taskfarm {

// Linger bounded (closing never hangs), max message size bounded.
void ConfigureSocket(zmq::socket_ref socket, int linger_ms = 200);

// Non-blocking receive of one message; nullopt when nothing is waiting.
std::optional<zmq::message_t> TryRecv(zmq::socket_ref socket);

// Whether ZMQ_EVENTS says a receive would succeed now. ZMQ_FD is
// edge-triggered: callers poll the fd, then drain while this is true.
bool Readable(zmq::socket_ref socket);

// Receives one whole multipart message without blocking: every part is read,
// the first `max_parts` are kept in parts[0..]. Returns how many parts the
// message had (possibly more than max_parts), 0 when nothing was waiting.
// Every multipart receive in taskfarm goes through this.
size_t ReceiveParts(zmq::socket_ref socket, zmq::message_t* parts, size_t max_parts);

// Parses "tcp://HOST:PORT", "tcp://HOST:*", "ipc://PATH", "inproc://NAME";
// OK when it looks usable, else InvalidArgument saying what is wanted.
Status CheckEndpoint(const std::string& endpoint);

}  // namespace taskfarm
