// Transport: the coordinator's ROUTER on inproc://, with a real ZeroMQ
// DEALER for a worker in the same test: envelopes in and out, what is
// unreadable and why, tasks split to fit a frame, the end-of-run Shutdown.
// No processes; every wait is for a message, never for time.
#include "coordinator/transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/frame_codec.h"
#include "common/zmq_util.h"

namespace taskfarm {
namespace {

// A worker's end of the connection.
class Dealer {
 public:
  Dealer(Transport& wire, const std::string& identity) : socket_(wire.context(), zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::routing_id, identity);
    socket_.connect(wire.endpoint());
  }
  void Send(pb::Frame frame) {
    std::string bytes;
    EncodeFrameTo(&frame, &bytes);
    SendBytes({bytes});
  }
  void SendBytes(const std::vector<std::string>& parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      socket_.send(zmq::buffer(parts[i]), i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // The next frame for this worker (waits for it; the test's timeout bounds a hang).
  pb::Frame Next() {
    zmq::message_t m;
    EXPECT_TRUE(socket_.recv(m));
    pb::Frame frame;
    EXPECT_TRUE(frame.ParseFromArray(m.data(), static_cast<int>(m.size())));
    return frame;
  }
  bool HasMore() {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    return zmq::poll(&item, 1, std::chrono::milliseconds(0)) > 0;
  }

 private:
  zmq::socket_t socket_;
};

pb::Frame Hello(const std::string& name) {
  pb::Frame f;
  f.mutable_hello()->set_name(name);
  return f;
}

// The next envelope at the coordinator, waiting until one is there.
Received Next(Transport& wire) {
  for (;;) {
    Received r = wire.Receive();
    if (r.kind != Received::Kind::kNothing) return r;
    zmq::pollitem_t items[Transport::kMaxPollItems];
    zmq::poll(items, wire.PollItems(items), std::chrono::milliseconds(-1));
  }
}

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TransportOptions options;
    options.bind = "inproc://transport-test";
    Status bound = wire.Bind(options);
    ASSERT_TRUE(bound.ok()) << bound.message();
  }
  Transport wire;
};

TEST_F(TransportTest, AFrameArrivesWithItsSendersIdentity) {
  EXPECT_EQ(wire.endpoint(), "inproc://transport-test");
  EXPECT_EQ(wire.listening(), "inproc://transport-test");
  EXPECT_FALSE(wire.encrypted());
  Dealer worker(wire, "w1");
  worker.Send(Hello("first"));
  Received r = Next(wire);
  ASSERT_EQ(r.kind, Received::Kind::kFrame);
  EXPECT_EQ(r.identity, "w1");
  ASSERT_NE(r.frame, nullptr);
  EXPECT_EQ(r.frame->hello().name(), "first");
  EXPECT_EQ(wire.Receive().kind, Received::Kind::kNothing);
  wire.ReleaseFrames();
}

TEST_F(TransportTest, SendReachesTheWorkerItNames) {
  Dealer a(wire, "a"), b(wire, "b");
  a.Send(Hello("a"));
  b.Send(Hello("b"));
  Next(wire);
  Next(wire);  // both connections are known to the ROUTER now
  pb::Frame welcome;
  welcome.mutable_welcome()->set_worker_name("b's");
  ASSERT_TRUE(wire.Send("b", &welcome));
  EXPECT_EQ(b.Next().welcome().worker_name(), "b's");
  EXPECT_FALSE(a.HasMore());
}

TEST_F(TransportTest, SendToAPeerThatIsNotThereFails) {
  pb::Frame heartbeat;
  heartbeat.mutable_heartbeat()->set_seq(1);
  EXPECT_FALSE(wire.Send("nobody", &heartbeat));  // router_mandatory: not silently dropped
}

TEST_F(TransportTest, AMessageOfTwoFramesIsUnreadableAndTheNextIsRead) {
  Dealer worker(wire, "w1");
  std::string hello;
  pb::Frame f = Hello("h");
  EncodeFrameTo(&f, &hello);
  worker.SendBytes({hello, hello, hello});
  worker.Send(Hello("after"));
  Received r = Next(wire);
  EXPECT_EQ(r.kind, Received::Kind::kUnreadable);
  EXPECT_EQ(r.identity, "w1");
  EXPECT_EQ(r.drop, DropReason::kUnexpected);
  r = Next(wire);  // the extra frames were read with the first message
  ASSERT_EQ(r.kind, Received::Kind::kFrame);
  EXPECT_EQ(r.frame->hello().name(), "after");
}

TEST_F(TransportTest, BytesThatDoNotDecodeAreUnreadableWithTheCodecsReason) {
  Dealer worker(wire, "w1");
  worker.SendBytes({""});
  pb::Frame empty;  // a current version, no body
  worker.Send(empty);
  Received r = Next(wire);
  EXPECT_EQ(r.kind, Received::Kind::kUnreadable);
  EXPECT_EQ(r.drop, DropReason::kNotProtobuf);
  r = Next(wire);
  EXPECT_EQ(r.kind, Received::Kind::kUnreadable);
  EXPECT_EQ(r.identity, "w1");
  EXPECT_EQ(r.drop, DropReason::kEmptyBody);
}

// Two tasks of 60% of a frame each cannot share one: they go in two frames,
// in order, and nothing is lost.
TEST_F(TransportTest, TasksTooBigForOneFrameGoInSeveral) {
  Dealer worker(wire, "w1");
  worker.Send(Hello("w1"));
  Next(wire);
  std::vector<pb::Assignment> tasks(3);
  for (uint32_t i = 0; i < tasks.size(); ++i) {
    tasks[i].set_task_id(i);
    tasks[i].mutable_spec()->mutable_url()->set_url("http://127.0.0.1/");
    tasks[i].mutable_spec()->mutable_url()->set_body(std::string(kMaxFrameBytes * 6 / 10, 'x'));
  }
  ASSERT_TRUE(wire.SendTasks("w1", &tasks));
  std::vector<uint32_t> ids;
  for (int frames = 0; frames < 3; ++frames) {
    pb::Frame f = worker.Next();
    EXPECT_EQ(f.tasks().tasks_size(), 1) << "frame " << frames;
    for (const pb::Assignment& a : f.tasks().tasks()) ids.push_back(a.task_id());
  }
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_FALSE(worker.HasMore());
}

TEST_F(TransportTest, SmallTasksShareOneFrame) {
  Dealer worker(wire, "w1");
  worker.Send(Hello("w1"));
  Next(wire);
  std::vector<pb::Assignment> tasks(5);
  for (uint32_t i = 0; i < tasks.size(); ++i) tasks[i].set_task_id(i);
  ASSERT_TRUE(wire.SendTasks("w1", &tasks));
  EXPECT_EQ(worker.Next().tasks().tasks_size(), 5);
  EXPECT_FALSE(worker.HasMore());
}

// Registered workers are told Shutdown and waited for (this one's Goodbye
// is already on its way, so the wait ends on it: a wait that missed it
// would run into the test's timeout). A forgotten one is told too.
TEST_F(TransportTest, ShutDownTellsRegisteredAndForgottenWorkers) {
  Dealer staying(wire, "staying"), forgotten(wire, "forgotten");
  staying.Send(Hello("staying"));
  forgotten.Send(Hello("forgotten"));
  Next(wire);
  Next(wire);
  FakeClock clock;
  PeerRegistry peers(10, clock, 5000);
  peers.Add("staying", 1, 0, "staying");
  peers.Add("forgotten", 2, 0, "forgotten");
  peers.Remove(2);
  pb::Frame goodbye;
  goodbye.mutable_goodbye();
  staying.Send(goodbye);
  wire.ShutDownWorkers(peers, 1e9);
  EXPECT_EQ(staying.Next().shutdown().reason(), "run complete");
  EXPECT_TRUE(forgotten.Next().has_shutdown());
}

TEST(TransportBindTest, RefusesANetworkAddressWithoutEncryption) {
  Transport wire;
  TransportOptions options;
  options.bind = "tcp://0.0.0.0:*";
  std::string error = wire.Bind(options).message();
  EXPECT_NE(error.find("refusing to listen on tcp://0.0.0.0:* without encryption"), std::string::npos) << error;
}

TEST(TransportBindTest, CurveNeedsBothKeyFlags) {
  std::string error;
  {
    Transport wire;
    TransportOptions options;
    options.bind = "inproc://curve-test";
    options.curve_secret_file = "/nonexistent.key";
    error = wire.Bind(options).message();
    EXPECT_NE(error.find("--curve-secret needs --authorized-keys"), std::string::npos) << error;
  }
  Transport wire;
  TransportOptions options;
  options.bind = "inproc://curve-test";
  options.authorized_keys_dir = "/nonexistent";
  error = wire.Bind(options).message();
  EXPECT_NE(error.find("--authorized-keys needs --curve-secret"), std::string::npos) << error;
}

TEST(TransportBindTest, ABadEndpointIsSaid) {
  Transport wire;
  TransportOptions options;
  options.bind = "udp://somewhere";
  Status bound = wire.Bind(options);
  EXPECT_FALSE(bound.ok());
  EXPECT_FALSE(bound.message().empty());
}

// The one multipart receive: every part is read, the first ones kept.
TEST(ReceivePartsTest, KeepsTheFirstPartsAndReadsTheWholeMessage) {
  zmq::context_t ctx;
  zmq::socket_t in(ctx, zmq::socket_type::pair), out(ctx, zmq::socket_type::pair);
  in.bind("inproc://parts");
  out.connect("inproc://parts");
  for (const char* part : {"a", "b", "c", "d"}) out.send(zmq::buffer(std::string(part)), zmq::send_flags::sndmore);
  out.send(zmq::str_buffer("e"));
  out.send(zmq::str_buffer("next"));
  zmq::message_t parts[2];
  zmq::pollitem_t item{in.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(-1));
  EXPECT_EQ(ReceiveParts(in, parts, 2), 5u);
  EXPECT_EQ(parts[0].to_string(), "a");
  EXPECT_EQ(parts[1].to_string(), "b");
  EXPECT_EQ(ReceiveParts(in, parts, 2), 1u);
  EXPECT_EQ(parts[0].to_string(), "next");
  EXPECT_EQ(ReceiveParts(in, parts, 2), 0u);  // nothing waiting
}

}  // namespace
}  // namespace taskfarm
