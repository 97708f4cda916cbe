// ZAP (ZeroMQ RFC 27) for CURVE: allow the client keys in a directory.
#include "coordinator/zap_handler.h"

#include <dirent.h>
#include <zmq.h>

#include <memory>
#include <stdexcept>

#include "common/c_handle.h"
#include "common/curve_keys.h"
#include "common/zmq_util.h"
#include "coordinator/transport.h"

namespace taskfarm {

ZapHandler::ZapHandler(zmq::context_t& ctx, const std::string& dir) : socket_(ctx, zmq::socket_type::rep) {
  // Owned: a bad key file throws out of the loop below.
  CHandle<DIR, closedir> d(opendir(dir.c_str()));
  if (!d) throw std::runtime_error("--authorized-keys " + dir + ": cannot read the directory");
  while (dirent* e = readdir(d.get())) {
    std::string name = e->d_name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".pub") == 0) {
      StatusOr<std::string> key = ReadZ85Key(dir + "/" + name);
      if (!key.ok()) throw std::runtime_error(key.status().message());
      keys_.insert(*std::move(key));
    }
  }
  if (keys_.empty()) {
    throw std::runtime_error("--authorized-keys " + dir + ": no .pub files; copy the workers' public keys there");
  }
  ConfigureSocket(socket_, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void ZapHandler::Drain(const std::function<void(const std::string&, const std::string&)>& on_refused) {
  // version, request id, domain, address, identity, mechanism, credentials
  constexpr size_t kParts = 7;
  for (;;) {
    zmq::message_t parts[kParts];
    size_t n = ReceiveParts(socket_, parts, kParts);
    if (n == 0) return;
    std::string status = "400", text = "unknown key";
    std::string key_z85;
    if (n >= kParts && parts[0].to_string_view() == "1.0" && parts[5].to_string_view() == "CURVE" &&
        parts[6].size() == 32) {
      char z85[41] = {0};
      zmq_z85_encode(z85, static_cast<const uint8_t*>(parts[6].data()), 32);
      key_z85 = z85;
      if (keys_.count(key_z85)) {
        status = "200";
        text = "OK";
      }
    } else {
      text = "CURVE required";
    }
    if (status != "200" && !key_z85.empty() && refused_.insert(key_z85).second) {
      on_refused(key_z85, n > 3 ? parts[3].to_string() : "?");
    }
    std::string request_id = n > 1 ? parts[1].to_string() : "";
    socket_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
    socket_.send(zmq::str_buffer(""), zmq::send_flags::sndmore);  // user id
    socket_.send(zmq::str_buffer(""));                            // metadata
  }
}

}  // namespace taskfarm
