// A worker played from the test process, for hostile-peer tests: it says
// exactly what a test tells it to (any Hello, forged Outcomes, raw bytes)
// and nothing else: no automatic heartbeats, no results unless sent.
//
//   zmq::context_t ctx;
//   FakeWorker fake(ctx, endpoint);          // DEALER, random routing id
//   HelloFields claims;
//   claims.concurrency = 1000000;
//   fake.SendHello(claims);
//   ASSERT_TRUE(fake.AwaitWelcome(seconds(10)));
//   fake.AwaitAssignments(1, seconds(5));     // keeps every TaskBatch's tasks
//   fake.SendResults({FakeWorker::OutcomeFor(fake.assignments()[0])});
//
// Contract: every wait is bounded by its timeout; sends never block (false
// when the message could not be queued); the socket has linger 0 unless
// told otherwise, so destroying a FakeWorker never hangs (and may drop what
// it had queued). Not thread-safe: one FakeWorker per thread; several may
// share one context.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "common/frame_codec.h"

namespace taskfarm::testing {

// What a Hello claims. Defaults look like a modest remote worker.
struct HelloFields {
  std::string name = "fake";
  std::string host = "fakehost";
  uint32_t pid = 0;
  uint32_t cores = 1;
  uint32_t concurrency = 4;
  uint32_t threads = 1;
  uint32_t max_batch = 256;
  std::string local_token;  // empty: none (a remote worker)
};

[[nodiscard]] inline pb::Frame HelloFrame(const HelloFields& f) {
  pb::Frame frame;
  pb::Hello* h = frame.mutable_hello();
  h->set_name(f.name);
  h->set_host(f.host);
  h->set_pid(f.pid);
  h->set_cores(f.cores);
  h->set_concurrency(f.concurrency);
  h->set_threads(f.threads);
  h->set_max_batch(f.max_batch);
  h->set_local_token(f.local_token);
  return frame;
}

// A routing id no other FakeWorker of this process has used ("fake-<n>-<rand>").
[[nodiscard]] inline std::string FreshRoutingId() {
  static std::mt19937_64 rng(std::random_device{}());
  static uint64_t n = 0;
  return "fake-" + std::to_string(++n) + "-" + std::to_string(rng());
}

class FakeWorker {
 public:
  // Connects a DEALER to `endpoint` (the connection completes in the
  // background; messages sent meanwhile are queued). Empty routing_id: a
  // fresh one.
  FakeWorker(zmq::context_t& ctx, const std::string& endpoint, std::string routing_id = "", int linger_ms = 0)
      : socket_(ctx, zmq::socket_type::dealer), routing_id_(routing_id.empty() ? FreshRoutingId() : routing_id) {
    socket_.set(zmq::sockopt::linger, linger_ms);
    socket_.set(zmq::sockopt::routing_id, routing_id_);
    socket_.set(zmq::sockopt::maxmsgsize, kSocketMaxMsgSize);
    socket_.connect(endpoint);
  }

  const std::string& routing_id() const { return routing_id_; }

  // ---- sending: true if the message was queued.
  bool SendRaw(std::string_view bytes) {
    return socket_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait).has_value();
  }
  bool SendFrame(pb::Frame frame) { return SendRaw(EncodeFrame(std::move(frame))); }
  bool SendHello(const HelloFields& fields) { return SendFrame(HelloFrame(fields)); }
  bool SendHeartbeat() {
    pb::Frame f;
    f.mutable_heartbeat()->set_seq(++heartbeat_seq_);
    return SendFrame(std::move(f));
  }
  bool SendResults(std::vector<pb::Outcome> outcomes, std::vector<pb::LeaseRef> started = {}) {
    pb::Frame f;
    for (auto& o : outcomes) *f.mutable_results()->add_outcomes() = std::move(o);
    for (auto& s : started) *f.mutable_results()->add_started() = std::move(s);
    return SendFrame(std::move(f));
  }
  bool SendGoodbye() {
    pb::Frame f;
    f.mutable_goodbye();
    return SendFrame(std::move(f));
  }

  // ---- receiving
  // Waits up to `timeout` for one message and returns it decoded (nullopt
  // on timeout or an undecodable message). Whatever it is, it is also
  // recorded: a TaskBatch's tasks in assignments(), a Welcome in welcome(),
  // and counts of Reregister/Shutdown/Cancel.
  std::optional<pb::Frame> Receive(std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) <= 0) return std::nullopt;
    zmq::message_t msg;
    if (!socket_.recv(msg, zmq::recv_flags::dontwait)) return std::nullopt;
    ++messages_received_;
    DecodedFrame d = DecodeFrame(msg.to_string_view());
    if (!d.frame) return std::nullopt;
    const pb::Frame& f = *d.frame;
    if (f.has_welcome()) {
      // Like a real worker, say something at once: a remote worker gets
      // its first leases only once it speaks after its Hello.
      if (!welcome_) SendHeartbeat();
      welcome_ = f.welcome();
    }
    if (f.has_tasks()) assignments_.insert(assignments_.end(), f.tasks().tasks().begin(), f.tasks().tasks().end());
    reregisters_ += f.has_reregister();
    shutdowns_ += f.has_shutdown();
    cancels_ += f.has_cancel();
    return d.frame;
  }

  // Receives everything that arrives within `duration` (the whole of it).
  void ReceiveFor(std::chrono::milliseconds duration) {
    auto end = std::chrono::steady_clock::now() + duration;
    for (auto now = std::chrono::steady_clock::now(); now < end; now = std::chrono::steady_clock::now()) {
      (void)Receive(std::chrono::duration_cast<std::chrono::milliseconds>(end - now) + std::chrono::milliseconds(1));
    }
  }

  // Receives until a Welcome has come (true) or `timeout` passes (false).
  bool AwaitWelcome(std::chrono::milliseconds timeout) {
    return ReceiveUntil([&] { return welcome_.has_value(); }, timeout);
  }

  // Receives until at least `n` assignments have come in all (true) or
  // `timeout` passes (false).
  bool AwaitAssignments(size_t n, std::chrono::milliseconds timeout) {
    return ReceiveUntil([&] { return assignments_.size() >= n; }, timeout);
  }

  // Every assignment received so far, in order (repeats included).
  const std::vector<pb::Assignment>& assignments() const { return assignments_; }
  const std::optional<pb::Welcome>& welcome() const { return welcome_; }
  int reregisters() const { return reregisters_; }
  int shutdowns() const { return shutdowns_; }
  int cancels() const { return cancels_; }
  uint64_t messages_received() const { return messages_received_; }

  // An Outcome for `a` that a well-behaved worker could send: ok, with a
  // small duration. Tests forge fields on top of it.
  [[nodiscard]] static pb::Outcome OutcomeFor(const pb::Assignment& a) {
    pb::Outcome o;
    o.set_task_id(a.task_id());
    o.set_attempt(a.attempt());
    o.mutable_result()->set_ok(true);
    o.mutable_result()->set_duration_ms(1.0);
    return o;
  }

 private:
  template <typename Done>
  bool ReceiveUntil(Done done, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= end) return false;
      (void)Receive(std::chrono::duration_cast<std::chrono::milliseconds>(end - now) + std::chrono::milliseconds(1));
    }
    return true;
  }

  zmq::socket_t socket_;
  std::string routing_id_;
  uint64_t heartbeat_seq_ = 0;
  std::vector<pb::Assignment> assignments_;
  std::optional<pb::Welcome> welcome_;
  int reregisters_ = 0;
  int shutdowns_ = 0;
  int cancels_ = 0;
  uint64_t messages_received_ = 0;
};

}  // namespace taskfarm::testing
