// EncodeFrame/DecodeFrame, DropCounts, CheckEndpoint, and one Frame carried
// over a real inproc:// ROUTER/DEALER pair.
#include "common/frame_codec.h"

#include <google/protobuf/arena.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <zmq.hpp>

#include "common/zmq_util.h"

namespace taskfarm {
namespace {

pb::Frame HelloFrame() {
  pb::Frame f;
  pb::Hello* h = f.mutable_hello();
  h->set_name("host:123");
  h->set_host("host");
  h->set_pid(123);
  h->set_cores(2);
  h->set_concurrency(8);
  h->set_threads(2);
  h->set_max_batch(64);
  return f;
}

TEST(FrameCodecTest, RoundTripsEveryBody) {
  std::vector<pb::Frame> frames;
  frames.push_back(HelloFrame());
  pb::Frame batch;
  pb::Assignment* a = batch.mutable_tasks()->add_tasks();
  a->set_task_id(7);
  a->set_attempt(2);
  a->mutable_spec()->mutable_cpu()->set_kernel("primes");
  a->mutable_spec()->mutable_cpu()->set_n(1000);
  a->set_timeout_ms(500);
  frames.push_back(batch);
  pb::Frame results;
  pb::Outcome* o = results.mutable_results()->add_outcomes();
  o->set_task_id(7);
  o->set_attempt(2);
  o->mutable_result()->set_ok(true);
  o->mutable_result()->set_result(168);
  frames.push_back(results);
  pb::Frame hb;
  hb.mutable_heartbeat()->set_seq(99);
  frames.push_back(hb);
  pb::Frame shutdown;
  shutdown.mutable_shutdown()->set_reason("done");
  frames.push_back(shutdown);

  for (const pb::Frame& f : frames) {
    std::string bytes = EncodeFrame(f);
    DecodedFrame d = DecodeFrame(bytes);
    ASSERT_TRUE(d.frame.has_value()) << DropReasonName(d.drop);
    EXPECT_EQ(d.frame->version(), pb::PROTOCOL_VERSION_CURRENT);
    EXPECT_EQ(d.frame->body_case(), f.body_case());
    pb::Frame expected = f;
    expected.set_version(pb::PROTOCOL_VERSION_CURRENT);
    EXPECT_EQ(d.frame->SerializeAsString(), expected.SerializeAsString());
  }
}

TEST(FrameCodecTest, EncodeStampsCurrentVersion) {
  pb::Frame f = HelloFrame();
  f.set_version(pb::PROTOCOL_VERSION_UNSPECIFIED);
  pb::Frame parsed;
  ASSERT_TRUE(parsed.ParseFromString(EncodeFrame(f)));
  EXPECT_EQ(parsed.version(), pb::PROTOCOL_VERSION_CURRENT);
}

TEST(FrameCodecTest, EmptyInputIsNotProtobuf) {
  DecodedFrame d = DecodeFrame("");
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kNotProtobuf);
}

TEST(FrameCodecTest, TooLarge) {
  std::string big(kMaxFrameBytes + 1, 'x');
  DecodedFrame d = DecodeFrame(big);
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kTooLarge);

  // A well-formed frame over the limit is dropped just the same.
  pb::Frame f;
  f.mutable_shutdown()->set_reason(std::string(kMaxFrameBytes, 'r'));
  d = DecodeFrame(EncodeFrame(f));
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kTooLarge);

  // At the limit it is only garbage, not too large.
  d = DecodeFrame(std::string(kMaxFrameBytes, '\0'));
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kNotProtobuf);
}

TEST(FrameCodecTest, GarbageIsNotProtobuf) {
  for (std::string bytes : {std::string("\x00", 1), std::string("\xff\xff\xff\xff\xff"), std::string("hello, world"),
                            std::string("\x12\x7f\x01", 3)}) {
    DecodedFrame d = DecodeFrame(bytes);
    EXPECT_FALSE(d.frame.has_value());
    EXPECT_EQ(d.drop, DropReason::kNotProtobuf);
  }
}

TEST(FrameCodecTest, TruncatedFrameIsNotProtobuf) {
  std::string bytes = EncodeFrame(HelloFrame());
  ASSERT_GT(bytes.size(), 4u);
  DecodedFrame d = DecodeFrame(std::string_view(bytes).substr(0, bytes.size() - 3));
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kNotProtobuf);
}

TEST(FrameCodecTest, RandomBytesNeverCrashAndNeverYieldInvalidFrames) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> len(0, 300);
  std::uniform_int_distribution<int> byte(0, 255);
  int dropped = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string bytes(static_cast<size_t>(len(rng)), '\0');
    for (char& c : bytes) c = static_cast<char>(byte(rng));
    DecodedFrame d = DecodeFrame(bytes);
    if (d.frame) {
      // Whatever gets through is a frame of our version with a body.
      EXPECT_EQ(d.frame->version(), pb::PROTOCOL_VERSION_CURRENT);
      EXPECT_NE(d.frame->body_case(), pb::Frame::BODY_NOT_SET);
    } else {
      ++dropped;
      EXPECT_TRUE(d.drop == DropReason::kNotProtobuf || d.drop == DropReason::kBadVersion ||
                  d.drop == DropReason::kEmptyBody)
          << DropReasonName(d.drop);
    }
  }
  EXPECT_GT(dropped, 4000);
}

TEST(FrameCodecTest, WrongVersion) {
  pb::Frame f = HelloFrame();
  f.set_version(pb::PROTOCOL_VERSION_UNSPECIFIED);
  DecodedFrame d = DecodeFrame(f.SerializeAsString());
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kBadVersion);

  // A future version (an enum value this build does not know).
  f.set_version(static_cast<pb::ProtocolVersion>(2));
  d = DecodeFrame(f.SerializeAsString());
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kBadVersion);
}

TEST(FrameCodecTest, EmptyBody) {
  DecodedFrame d = DecodeFrame(EncodeFrame(pb::Frame{}));
  EXPECT_FALSE(d.frame.has_value());
  EXPECT_EQ(d.drop, DropReason::kEmptyBody);
}

TEST(FrameCodecTest, ArenaDecodingAgreesWithDecodeFrame) {
  pb::Frame no_version = HelloFrame();
  std::string bytes_no_version = no_version.SerializeAsString();
  const std::vector<std::string> inputs = {
      EncodeFrame(HelloFrame()), "", std::string(kMaxFrameBytes + 1, 'x'), "garbage\xff", bytes_no_version,
      EncodeFrame(pb::Frame{})};
  for (const std::string& bytes : inputs) {
    google::protobuf::Arena arena;
    DropReason drop = DropReason::kCount;
    pb::Frame* on_arena = DecodeFrameOn(bytes, &arena, &drop);
    DecodedFrame plain = DecodeFrame(bytes);
    ASSERT_EQ(on_arena != nullptr, plain.frame.has_value()) << bytes.size() << " bytes";
    if (on_arena) {
      EXPECT_EQ(on_arena->SerializeAsString(), plain.frame->SerializeAsString());
    } else {
      EXPECT_EQ(drop, plain.drop) << DropReasonName(drop);
    }
  }
}

TEST(FrameCodecTest, EncodeFrameToMatchesEncodeFrame) {
  pb::Frame f = HelloFrame();
  std::string out = "left over";
  EncodeFrameTo(&f, &out);
  EXPECT_EQ(f.version(), pb::PROTOCOL_VERSION_CURRENT);
  EXPECT_EQ(out, EncodeFrame(HelloFrame()));
  DecodedFrame d = DecodeFrame(out);
  ASSERT_TRUE(d.frame.has_value());
  EXPECT_EQ(d.frame->hello().name(), "host:123");
}

TEST(FrameCodecTest, DropReasonNames) {
  EXPECT_EQ(DropReasonName(DropReason::kTooLarge), "too large");
  EXPECT_EQ(DropReasonName(DropReason::kNotProtobuf), "not protobuf");
  EXPECT_EQ(DropReasonName(DropReason::kBadVersion), "wrong protocol version");
  EXPECT_EQ(DropReasonName(DropReason::kEmptyBody), "empty message");
  for (int i = 0; i < static_cast<int>(DropReason::kCount); ++i) {
    EXPECT_NE(DropReasonName(static_cast<DropReason>(i)), "?") << i;
  }
}

TEST(DropCountsTest, DescribeNothing) {
  DropCounts c;
  EXPECT_EQ(c.Total(), 0u);
  EXPECT_EQ(c.Describe(), "0");
}

TEST(DropCountsTest, DescribeCountsByReason) {
  DropCounts c;
  c.Count(DropReason::kNotProtobuf);
  c.Count(DropReason::kNotProtobuf);
  c.Count(DropReason::kTooLarge);
  EXPECT_EQ(c.Total(), 3u);
  EXPECT_EQ(c.Describe(), "3 (1 too large, 2 not protobuf)");

  DropCounts one;
  one.Count(DropReason::kUnknownPeer);
  EXPECT_EQ(one.Describe(), "1 (1 unregistered sender)");

  DropCounts copy = c;  // cheap to copy, independent
  copy.Count(DropReason::kBadVersion);
  EXPECT_EQ(c.Total(), 3u);
  EXPECT_EQ(copy.Describe(), "4 (1 too large, 2 not protobuf, 1 wrong protocol version)");
}

// Fills frames the way SendDispatches and FlushResults do; returns each
// frame's encoding.
std::vector<std::string> SplitIntoFrames(const std::vector<pb::Assignment>& tasks, size_t max_count) {
  std::vector<std::string> out;
  FrameBudget budget(max_count);
  pb::Frame frame;
  for (const pb::Assignment& a : tasks) {
    size_t bytes = a.ByteSizeLong();
    if (!budget.Fits(bytes)) {
      out.push_back(EncodeFrame(frame));
      frame.Clear();
      budget.Clear();
    }
    budget.Add(bytes);
    *frame.mutable_tasks()->add_tasks() = a;
    EXPECT_GE(budget.bytes(), EncodeFrame(frame).size());
    EXPECT_LE(budget.bytes(), EncodeFrame(frame).size() + 4);
  }
  out.push_back(EncodeFrame(frame));
  return out;
}

pb::Assignment UrlAssignment(uint32_t id, size_t url_bytes) {
  pb::Assignment a;
  a.set_task_id(id);
  a.set_attempt(1);
  a.mutable_spec()->mutable_url()->set_url("http://h/" + std::string(url_bytes, 'q'));
  return a;
}

TEST(FrameBudgetTest, SplitsByBytesSoNoFrameExceedsTheLimit) {
  // 256 tasks of about 900 KiB: 225 MB in all, far over one frame.
  std::vector<pb::Assignment> tasks;
  for (uint32_t i = 0; i < 256; ++i) tasks.push_back(UrlAssignment(i, 900 * 1024 + i * 7));
  std::vector<std::string> frames = SplitIntoFrames(tasks, 256);
  EXPECT_GE(frames.size(), 256u / 4);
  uint32_t next = 0;
  for (size_t f = 0; f < frames.size(); ++f) {
    EXPECT_LE(frames[f].size(), kMaxFrameBytes) << "frame " << f;
    DecodedFrame decoded = DecodeFrame(frames[f]);
    ASSERT_TRUE(decoded.frame.has_value()) << "frame " << f;
    // Full: the next task would not have fitted.
    if (f + 1 < frames.size()) {
      EXPECT_GT(frames[f].size() + tasks[next + decoded.frame->tasks().tasks_size()].ByteSizeLong(),
                kMaxFrameBytes - 8);
    }
    for (const pb::Assignment& a : decoded.frame->tasks().tasks()) EXPECT_EQ(a.task_id(), next++);
  }
  EXPECT_EQ(next, 256u) << "every task in order, none twice";
}

TEST(FrameBudgetTest, SplitsByCountWhenTasksAreSmall) {
  std::vector<pb::Assignment> tasks;
  for (uint32_t i = 0; i < 1000; ++i) tasks.push_back(UrlAssignment(i, 20));
  std::vector<std::string> frames = SplitIntoFrames(tasks, 256);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(DecodeFrame(frames[0]).frame->tasks().tasks_size(), 256);
  EXPECT_EQ(DecodeFrame(frames[3]).frame->tasks().tasks_size(), 1000 - 3 * 256);
}

TEST(FrameBudgetTest, ExactAtTheLimitAndOneElementAlwaysFits) {
  FrameBudget budget(10, 100);
  EXPECT_TRUE(budget.Fits(1'000'000)) << "an empty batch takes anything";
  budget.Add(50);  // 1 + 1 + 50 bytes of field, 8 of frame: 60
  EXPECT_EQ(budget.bytes(), 60u);
  EXPECT_TRUE(budget.Fits(38));   // 60 + 40 = 100
  EXPECT_FALSE(budget.Fits(39));  // 101
  budget.AddUncounted(10);
  EXPECT_EQ(budget.count(), 1u);
  EXPECT_EQ(budget.bytes(), 72u);
  EXPECT_EQ(FrameBudget::FieldBytes(127), 129u);
  EXPECT_EQ(FrameBudget::FieldBytes(128), 131u);
  EXPECT_EQ(FrameBudget::FieldBytes(kMaxFrameBytes), kMaxFrameBytes + 5);
  budget.Clear();
  EXPECT_EQ(budget.count(), 0u);
  EXPECT_EQ(budget.bytes(), 8u);
}

TEST(CheckEndpointTest, AcceptsUsableEndpoints) {
  for (const char* e :
       {"tcp://127.0.0.1:5555", "tcp://127.0.0.1:*", "tcp://*:5555", "tcp://*:*", "tcp://localhost:0", "tcp://h:65535",
        "tcp://[::1]:80", "tcp://eth0:1234", "ipc:///tmp/farm.sock", "ipc://@abstract", "inproc://farm"}) {
    EXPECT_EQ(CheckEndpoint(e).ToString(), "ok") << e;
  }
}

TEST(CheckEndpointTest, RejectsBadEndpoints) {
  struct Case {
    const char* endpoint;
    const char* fragment;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "must start with tcp://"},
           {"127.0.0.1:5555", "must start with tcp://"},
           {"http://h:80", "must start with tcp://"},
           {"TCP://h:80", "must start with tcp://"},
           {"tcp://", "needs a host and a port"},
           {"tcp://host", "needs a host and a port"},
           {"tcp://:5555", "needs a host and a port"},
           {"tcp://h:", "bad port"},
           {"tcp://h:65536", "bad port"},
           {"tcp://h:99999", "bad port"},
           {"tcp://h:123456", "bad port"},
           {"tcp://h:-1", "bad port"},
           {"tcp://h:80a", "bad port"},
           {"tcp://h: 80", "bad port"},
           {"ipc://", "ipc endpoint needs a path"},
           {"inproc://", "inproc endpoint needs a name"},
       }) {
    Status s = CheckEndpoint(c.endpoint);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.endpoint;
    const std::string& err = s.message();
    EXPECT_NE(err.find(c.fragment), std::string::npos) << "'" << c.endpoint << "' gave '" << err << "'";
  }
}

TEST(CheckEndpointTest, QuotesAtMostAFewHundredCharactersOfTheEndpoint) {
  std::string err = CheckEndpoint("tcp://h:" + std::string(1'000'000, '9')).message();
  EXPECT_LT(err.size(), 300u);
  EXPECT_NE(err.find("(1,000,008 bytes)"), std::string::npos) << err;
}

TEST(InprocTest, FrameThroughRouterDealer) {
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  ConfigureSocket(router, 0);
  ConfigureSocket(dealer, 0);
  // Hang guards only: every receive below has its message already queued.
  router.set(zmq::sockopt::rcvtimeo, 5000);
  dealer.set(zmq::sockopt::rcvtimeo, 5000);
  dealer.set(zmq::sockopt::routing_id, "worker-1");
  router.bind("inproc://frame-codec-test");
  dealer.connect("inproc://frame-codec-test");

  EXPECT_FALSE(TryRecv(router).has_value());

  std::string hello = EncodeFrame(HelloFrame());
  ASSERT_TRUE(dealer.send(zmq::buffer(hello), zmq::send_flags::none));

  zmq::message_t identity, payload;
  ASSERT_TRUE(router.recv(identity));
  EXPECT_TRUE(identity.more());
  ASSERT_TRUE(router.recv(payload));
  EXPECT_FALSE(payload.more());
  EXPECT_EQ(identity.to_string(), "worker-1");
  DecodedFrame d = DecodeFrame(payload.to_string_view());
  ASSERT_TRUE(d.frame.has_value()) << DropReasonName(d.drop);
  ASSERT_TRUE(d.frame->has_hello());
  EXPECT_EQ(d.frame->hello().name(), "host:123");
  EXPECT_EQ(d.frame->hello().concurrency(), 8u);

  // And back: the router addresses the dealer by its identity.
  pb::Frame welcome;
  welcome.mutable_welcome()->set_worker_name("w1");
  welcome.mutable_welcome()->set_heartbeat_ms(1000);
  std::string bytes = EncodeFrame(welcome);
  ASSERT_TRUE(router.send(zmq::buffer(identity.to_string()), zmq::send_flags::sndmore));
  ASSERT_TRUE(router.send(zmq::buffer(bytes), zmq::send_flags::none));
  zmq::message_t reply;
  ASSERT_TRUE(dealer.recv(reply));
  DecodedFrame back = DecodeFrame(reply.to_string_view());
  ASSERT_TRUE(back.frame.has_value()) << DropReasonName(back.drop);
  ASSERT_TRUE(back.frame->has_welcome());
  EXPECT_EQ(back.frame->welcome().worker_name(), "w1");
  EXPECT_EQ(back.frame->welcome().heartbeat_ms(), 1000u);

  // Nothing else is waiting on either side.
  EXPECT_FALSE(Readable(router));
  EXPECT_FALSE(TryRecv(dealer).has_value());
}

// The names summaries, metrics and errors show: one each, none shared.
TEST(DropReasonNameTest, EveryReasonHasItsOwnName) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < static_cast<size_t>(DropReason::kCount); ++i) {
    std::string_view name = DropReasonName(static_cast<DropReason>(i));
    EXPECT_NE(name, "?") << i;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(DropReasonName(DropReason::kTooLarge), "too large");
  EXPECT_EQ(DropReasonName(DropReason::kRefusedHello), "refused registration");
  EXPECT_EQ(DropReasonName(DropReason::kCount), "?");
}

}  // namespace
}  // namespace taskfarm
