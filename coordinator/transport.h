// The coordinator's side of the wire: the one ROUTER socket every worker
// connects to, its monitor (handshakes that failed, accepts that failed)
// and, when encrypted, the ZAP handler that says which keys may connect. It
// turns frames into envelopes (routing id + one encoded Frame) and back; it
// does not know what a frame means or who is registered.
//
//   Transport wire;
//   if (Status s = wire.Bind(options); !s.ok()) fail(s.message());
//   zmq::pollitem_t items[Transport::kMaxPollItems];
//   zmq::poll(items, wire.PollItems(items), 50ms);
//   SocketEvents events = wire.DrainEvents();
//   for (Received r; (r = wire.Receive()).kind != Received::Kind::kNothing;) ...;
//   wire.ReleaseFrames();  // every frame Receive returned is gone
//   wire.Send(identity, &frame);
//   wire.ShutDownWorkers(peers, 1500);
//
// Not thread-safe: the coordinator's loop thread owns it.
#pragma once

#include <google/protobuf/arena.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "common/frame_codec.h"
#include "common/socket_monitor.h"
#include "common/status.h"
#include "coordinator/peer_registry.h"
#include "coordinator/zap_handler.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

struct TransportOptions {
  std::string bind;                 // tcp://HOST:PORT, ipc://PATH or inproc://NAME
  bool insecure = false;            // a non-local address without CURVE is allowed
  std::string curve_secret_file;    // CURVE on: the coordinator's secret key
  std::string authorized_keys_dir;  // with it: the workers' .pub files
};

// What a turn's monitor and ZAP requests said.
struct SocketEvents {
  // Connections that failed the ZeroMQ handshake (an HTTP request sent to
  // the port, a wrong key): they never reach us as messages.
  uint64_t handshake_failures = 0;
  // An accept failed for want of descriptors. Said once: accept failures are
  // no longer watched (libzmq retries in a loop, an event each time).
  bool out_of_descriptors = false;
  // (key, peer address): client keys the ZAP handler refused, each once.
  std::vector<std::pair<std::string, std::string>> refused_keys;
};

// One envelope from a worker.
struct Received {
  enum class Kind {
    kNothing,     // nothing more waiting
    kFrame,       // `frame` from `identity`
    kUnreadable,  // from `identity` ("" if it had none) but unreadable: `drop` says why
  };
  Kind kind = Kind::kNothing;
  std::string identity;
  pb::Frame* frame = nullptr;  // kFrame: on the transport's arena, until ReleaseFrames()
  DropReason drop = DropReason::kNotProtobuf;
};

class Transport {
 public:
  static constexpr size_t kMaxPollItems = 3;
  // Registered workers at once (the accept backlog is sized for them).
  explicit Transport(int backlog = 4096);
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Listens on options.bind. Refuses a non-local address without CURVE
  // unless options.insecure (and warns on stderr when it is). A failed
  // Status, its message a sentence for the user, when it cannot.
  Status Bind(const TransportOptions& options);
  // What local workers connect to (a wildcard address as loopback), and
  // what the socket is bound to (as the user named it).
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  [[nodiscard]] const std::string& listening() const { return listening_; }
  [[nodiscard]] bool encrypted() const { return zap_.has_value(); }
  // Lets one more client key in (Z85; the local workers' own). Needs encrypted().
  void AllowKey(const std::string& key_z85) { zap_->Allow(key_z85); }
  // The context every socket of the coordinator lives on (an inproc:// peer
  // must share it).
  zmq::context_t& context() { return ctx_; }

  // Fills items with what to poll (the socket, its monitor, ZAP); returns
  // how many (at most kMaxPollItems).
  size_t PollItems(zmq::pollitem_t* items);
  // Reads every pending monitor event and answers every ZAP request.
  [[nodiscard]] SocketEvents DrainEvents();
  // One envelope, without blocking. A worker sends exactly one frame per
  // message: more is unreadable (kUnexpected), as is one that does not decode.
  [[nodiscard]] Received Receive();
  // Frees what Receive decoded (the arena is reset, its first block kept).
  void ReleaseFrames() { arena_.Reset(); }

  // False when the message did not go out: the peer is gone (EHOSTUNREACH:
  // the socket is router_mandatory) or not reading (its queue is full).
  bool Send(const std::string& identity, pb::Frame* frame);
  // Tasks for one worker, in as many frames as kMaxFrameBytes needs (the
  // scheduler already bounds their count). False if any frame did not go.
  bool SendTasks(const std::string& identity, std::vector<pb::Assignment>* tasks);
  // Tells every registered worker the run is over and waits, up to wait_ms,
  // for each one's Goodbye: closing the socket at once could drop a
  // Shutdown still queued. Workers forgotten during the run are told too,
  // not waited for.
  void ShutDownWorkers(const PeerRegistry& peers, double wait_ms);

 private:
  // Watches the ROUTER's connections for these ZMQ_EVENT_s (monitor_).
  void WatchRouter(int events);

  int backlog_;
  zmq::context_t ctx_{1};  // first: outlives every socket below
  std::optional<zmq::socket_t> router_;
  std::optional<SocketMonitor> monitor_;  // the ROUTER's handshake failures; after router_
  std::optional<ZapHandler> zap_;         // CURVE client keys, when encrypted
  std::string endpoint_;
  std::string listening_;
  zmq::message_t parts_[3];  // the envelope being read: identity, frame, one more
  std::string send_buffer_;
  pb::Frame tasks_frame_;  // reused: its repeated field keeps its elements
  // Incoming frames are parsed on this arena, reset after each drain: no
  // malloc/free per result. Its first block is ours, so Reset() keeps it.
  std::vector<char> arena_block_ = std::vector<char>(1 << 20);
  google::protobuf::Arena arena_{MakeArenaOptions(arena_block_)};
  static google::protobuf::ArenaOptions MakeArenaOptions(std::vector<char>& block);
};

}  // namespace taskfarm
