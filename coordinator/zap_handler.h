// The ZAP handler: decides which CURVE clients may connect. libzmq accepts
// every client key when no handler is bound (it fails open), so the
// coordinator binds this before its CURVE socket binds, and keeps it
// answering for the socket's whole life.
//
//   ZapHandler zap(ctx, "keys/authorized");      // before router.bind()
//   ... poll zap.socket() with the router; on POLLIN:
//   zap.Drain([](const std::string& key, const std::string& peer) { warn once });
#pragma once

#include <functional>
#include <set>
#include <string>
#include <zmq.hpp>

namespace taskfarm {

class ZapHandler {
 public:
  // Loads every DIR/*.pub (Z85 public keys) and binds
  // inproc://zeromq.zap.01 on `ctx`. Throws std::runtime_error when the
  // directory cannot be read, holds no key or a bad one, or the bind fails
  // (caught by the coordinator's Bind, within this module).
  ZapHandler(zmq::context_t& ctx, const std::string& authorized_dir);

  zmq::socket_ref socket() { return socket_; }
  // Lets one more key in (the coordinator's own local workers).
  void Allow(const std::string& key_z85) { keys_.insert(key_z85); }

  // Answers every pending request. `on_refused(key_z85, peer_address)` is
  // called the first time each unknown key is refused.
  void Drain(const std::function<void(const std::string&, const std::string&)>& on_refused);

 private:
  zmq::socket_t socket_;
  std::set<std::string> keys_;     // Z85
  std::set<std::string> refused_;  // already reported
};

}  // namespace taskfarm
