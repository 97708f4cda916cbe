// The ROUTER socket, its monitor and ZAP: envelopes in and out.
#include "coordinator/transport.h"

#include <zmq.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <set>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/host_port.h"
#include "common/zmq_util.h"

namespace taskfarm {
namespace {

bool IsLoopbackOrLocal(const std::string& endpoint) {
  if (endpoint.rfind("tcp://", 0) != 0) return true;  // ipc, inproc
  std::optional<HostPort> hp = SplitHostPort(endpoint.substr(6));
  return hp && IsLoopbackHost(hp->host);
}

// Connections that fail the ZeroMQ handshake (an HTTP request sent to the
// port, a wrong key) never reach us as messages; the monitor counts them.
constexpr int kHandshakeFailures =
    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

}  // namespace

Transport::Transport(int backlog) : backlog_(backlog) {}

google::protobuf::ArenaOptions Transport::MakeArenaOptions(std::vector<char>& block) {
  google::protobuf::ArenaOptions o;
  o.initial_block = block.data();
  o.initial_block_size = block.size();
  return o;
}

Status Transport::Bind(const TransportOptions& options) {
  router_.emplace(ctx_, zmq::socket_type::router);
  ConfigureSocket(*router_, 0);
  // Sending to a worker that is gone fails loudly instead of vanishing.
  router_->set(zmq::sockopt::router_mandatory, 1);
  router_->set(zmq::sockopt::sndhwm, 100000);
  router_->set(zmq::sockopt::rcvhwm, 100000);
  // A farm that started first connects within about a second of the bind
  // (the workers' reconnect interval): room in the accept queue for all
  // that may register, not libzmq's 100 (the kernel caps it at somaxconn).
  // A connection turned away by a full queue waits for the kernel to
  // retransmit its handshake, a second or more.
  router_->set(zmq::sockopt::backlog, backlog_);
  const std::string& bind = options.bind;
  if (Status s = CheckEndpoint(bind); !s.ok()) return s;
  if (!IsLoopbackOrLocal(bind) && options.curve_secret_file.empty() && !options.insecure) {
    return InvalidArgument("refusing to listen on " + bind +
                           " without encryption: anyone who reaches that address could run tasks. Give "
                           "--curve-secret and --authorized-keys (see `coordinator keygen`), or pass --insecure "
                           "on a network you trust");
  }
  if (!options.curve_secret_file.empty()) {
    if (options.authorized_keys_dir.empty()) {
      return InvalidArgument("--curve-secret needs --authorized-keys DIR: the .pub files of the workers allowed in");
    }
    try {
      // The handler first: libzmq lets every key in while none is bound.
      zap_.emplace(ctx_, options.authorized_keys_dir);
      StatusOr<std::string> secret = ReadZ85Key(options.curve_secret_file);
      if (!secret.ok()) return secret.status();
      router_->set(zmq::sockopt::curve_server, 1);
      router_->set(zmq::sockopt::curve_secretkey, *secret);
      router_->set(zmq::sockopt::zap_domain, std::string("taskfarm"));
    } catch (const std::exception& e) {  // the authorized keys' directory, or libzmq
      return InvalidArgument(e.what());
    }
  } else if (!options.authorized_keys_dir.empty()) {
    return InvalidArgument("--authorized-keys needs --curve-secret FILE: the coordinator's own secret key");
  }
  if (!IsLoopbackOrLocal(bind) && options.curve_secret_file.empty()) {
    std::fprintf(stderr, "WARNING: listening on %s without authentication or encryption (--insecure)\n", bind.c_str());
  }
  // Handshake failures are counted, an accept that fails for want of
  // descriptors is said (DrainEvents).
  WatchRouter(kHandshakeFailures | ZMQ_EVENT_ACCEPT_FAILED);
  try {
    router_->bind(bind);
  } catch (const zmq::error_t& e) {
    return Unavailable("cannot listen on " + bind + ": " + e.what());
  }
  endpoint_ = router_->get(zmq::sockopt::last_endpoint);
  listening_ = endpoint_;
  // Local workers reach a wildcard address through loopback.
  if (endpoint_.rfind("tcp://0.0.0.0:", 0) == 0) endpoint_ = "tcp://127.0.0.1:" + endpoint_.substr(14);
  return Status::Ok();
}

void Transport::WatchRouter(int events) {
  monitor_.reset();  // stops the old one first
  monitor_.emplace(ctx_, *router_, events);
}

size_t Transport::PollItems(zmq::pollitem_t* items) {
  size_t n = 0;
  items[n++] = {router_->handle(), 0, ZMQ_POLLIN, 0};
  if (monitor_ && monitor_->watching()) items[n++] = {monitor_->pair().handle(), 0, ZMQ_POLLIN, 0};
  if (zap_) items[n++] = {zap_->socket().handle(), 0, ZMQ_POLLIN, 0};
  return n;
}

SocketEvents Transport::DrainEvents() {
  SocketEvents events;
  while (monitor_ && !events.out_of_descriptors) {
    std::optional<MonitorEvent> event = monitor_->Next();
    if (!event) break;
    if (event->id == ZMQ_EVENT_ACCEPT_FAILED) {
      // Out of descriptors: more workers are connecting than this process
      // may hold connections for. No longer watched, so the flood of
      // retries does not keep the loop thread busy too.
      if (event->value == EMFILE || event->value == ENFILE) {
        events.out_of_descriptors = true;
        WatchRouter(kHandshakeFailures);
      }
      continue;
    }
    ++events.handshake_failures;
  }
  if (zap_) {
    zap_->Drain([&](const std::string& key, const std::string& peer) { events.refused_keys.emplace_back(key, peer); });
  }
  return events;
}

Received Transport::Receive() {
  Received r;
  size_t n = ReceiveParts(*router_, parts_, 3);
  if (n == 0) return r;
  r.kind = Received::Kind::kUnreadable;
  if (n == 1) return r;  // no routing id: kNotProtobuf, from nobody
  r.identity = parts_[0].to_string();
  if (n > 2) {
    r.drop = DropReason::kUnexpected;
    return r;
  }
  r.frame = DecodeFrameOn(parts_[1].to_string_view(), &arena_, &r.drop);
  if (r.frame) r.kind = Received::Kind::kFrame;
  return r;
}

bool Transport::Send(const std::string& identity, pb::Frame* frame) {
  EncodeFrameTo(frame, &send_buffer_);
  try {
    if (!router_->send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    return router_->send(zmq::buffer(send_buffer_), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

bool Transport::SendTasks(const std::string& identity, std::vector<pb::Assignment>* assignments) {
  // One reused frame: its repeated field keeps its elements across Clear(),
  // so steady-state dispatch allocates nothing here.
  auto* tasks = tasks_frame_.mutable_tasks()->mutable_tasks();
  tasks->Clear();
  // A worker cannot take a frame over kMaxFrameBytes: big tasks split by size.
  FrameBudget budget(assignments->size());
  bool sent = true;
  for (pb::Assignment& a : *assignments) {
    size_t bytes = a.ByteSizeLong();
    if (!budget.Fits(bytes)) {
      sent = sent && Send(identity, &tasks_frame_);
      tasks->Clear();
      budget.Clear();
    }
    budget.Add(bytes);
    *tasks->Add() = std::move(a);
  }
  return sent && Send(identity, &tasks_frame_);
}

void Transport::ShutDownWorkers(const PeerRegistry& peers, double wait_ms) {
  std::set<std::string> waiting;
  pb::Frame shutdown;
  shutdown.mutable_shutdown()->set_reason("run complete");
  peers.ForEach([&](WorkerId, const std::string& identity) {
    if (Send(identity, &shutdown)) waiting.insert(identity);
  });
  // Workers forgotten during the run (lost, stalled, stopped) may still be
  // listening: tell them too, or a remote one reconnects to nobody forever.
  // Not waited for: most are gone.
  for (const std::string& identity : peers.forgotten()) {
    if (!waiting.count(identity)) Send(identity, &shutdown);
  }
  SteadyClock clock;
  double deadline = clock.NowMs() + wait_ms;
  while (!waiting.empty() && clock.NowMs() < deadline) {
    zmq::pollitem_t item{router_->handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(20));
    for (Received r; (r = Receive()).kind != Received::Kind::kNothing;) {
      if (r.frame && r.frame->has_goodbye()) waiting.erase(r.identity);
    }
    ReleaseFrames();
  }
}

}  // namespace taskfarm
