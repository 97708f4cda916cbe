// Input too big or too broken to carry never hangs a run (issue 11): a
// task line over the limit is a FILE:LINE: error before anything runs; a
// worker answers a frame it cannot accept with Rejected; the coordinator
// reruns the leases of a registered worker's rejected or unreadable frame
// at once. The tests play one side with a bare ZeroMQ socket in front of
// the real other side.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "common/frame_codec.h"
#include "common/zmq_util.h"
#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// Every line of `text` is shorter than `limit` characters.
::testing::AssertionResult LinesShorterThan(const std::string& text, size_t limit) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() >= limit) {
      return ::testing::AssertionFailure() << "a line of " << line.size() << " characters: " << line.substr(0, 300);
    }
  }
  return ::testing::AssertionSuccess();
}

pb::Assignment Task(uint32_t id, pb::TaskSpec spec) {
  pb::Assignment a;
  a.set_task_id(id);
  a.set_attempt(1);
  *a.mutable_spec() = std::move(spec);
  return a;
}

pb::TaskSpec Noop() {
  pb::TaskSpec s;
  s.set_noop(true);
  return s;
}

pb::TaskSpec BigUrl(size_t bytes) {
  pb::TaskSpec s;
  s.mutable_url()->set_url("http://127.0.0.1:1/?q=" + std::string(bytes, 'q'));
  return s;
}

std::set<uint32_t> LeaseIds(const pb::Rejected& rejected) {
  std::set<uint32_t> ids;
  for (const pb::LeaseRef& l : rejected.leases()) {
    EXPECT_EQ(l.attempt(), 1u);
    ids.insert(l.task_id());
  }
  return ids;
}

// ---------------------------------------------------------------- validation

TEST(OversizeInputTest, ATenMegabyteTaskLineIsAFileLineErrorAndNothingRuns) {
  ScratchDir dir;
  std::string url = "http://127.0.0.1/?q=" + std::string(10'000'000, 'a');
  // A worker program that leaves a mark if it is ever started.
  std::string marker = dir.File("worker-started");
  std::string fake_worker = dir.Write("worker.sh", "#!/bin/sh\ntouch '" + marker + "'\nsleep 5\n");
  chmod(fake_worker.c_str(), 0755);
  struct Case {
    const char* flag;
    std::string text;
  };
  for (const Case& c :
       {Case{"--tasks", "noop\nurl " + url + "\nnoop\n"}, Case{"--urls", "http://h/a\n" + url + "\n"}}) {
    SCOPED_TRACE(c.flag);
    std::string file = dir.Write(std::string("input") + c.flag + ".txt", c.text);
    std::string out = dir.File(std::string("R") + c.flag + ".jsonl");
    Subprocess p(Coordinator({"--workers", "1", "--worker-bin", fake_worker, c.flag, file, "--output", out}));
    ProcessResult r = p.Wait(seconds(60));
    EXPECT_EQ(r.exit_code, 2) << r.err.substr(0, 500);
    EXPECT_EQ(r.err.rfind(file + ":2: the task line is ", 0), 0u) << r.err.substr(0, 500);
    EXPECT_NE(r.err.find("bytes; the limit is 1 MiB"), std::string::npos) << r.err.substr(0, 500);
    EXPECT_TRUE(LinesShorterThan(r.err, 300));
    EXPECT_LT(r.err.size(), 600u);
    EXPECT_FALSE(Exists(out)) << "no output file: nothing ran";
  }
  EXPECT_FALSE(Exists(marker)) << "no worker was started";
}

TEST(OversizeInputTest, ABatchOfMegabyteTasksTravelsInFramesUnderTheLimit) {
  // Twenty tasks just under the line limit: 20 MB, one batch by count,
  // several frames by size. Port 1 refuses at once, so each fails quickly.
  ScratchDir dir;
  std::string text;
  for (int i = 0; i < 20; ++i) text += "url http://127.0.0.1:1/?q=" + std::string(1'000'000 + i, 'a') + "\n";
  std::string tasks = dir.Write("t.txt", text);
  std::string out = dir.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--retries", "0", "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, 500);
  for (auto& [id, rec] : ById(ReadJsonLines(out), 20)) {
    EXPECT_FALSE(rec["ok"].get<bool>());
    std::string error = rec.value("error", std::string());
    EXPECT_NE(error.find("connection refused"), std::string::npos) << error.substr(0, 300);
    EXPECT_LT(error.size(), 600u) << "the URL is quoted, not echoed";
  }
  EXPECT_EQ(r.out.find("dropped messages"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- the worker's answer

// A ROUTER in the test plays the coordinator in front of a real worker.
class FakeCoordinator {
 public:
  explicit FakeCoordinator(const std::string& endpoint) {
    ConfigureSocket(router_, 0);
    router_.set(zmq::sockopt::rcvtimeo, 10000);
    router_.bind(endpoint);
  }
  // The next frame from the worker that is not a heartbeat.
  std::optional<pb::Frame> Receive() {
    for (;;) {
      zmq::message_t id, payload;
      if (!router_.recv(id) || !id.more() || !router_.recv(payload)) return std::nullopt;
      identity_ = id.to_string();
      std::optional<pb::Frame> f = DecodeFrame(payload.to_string_view()).frame;
      if (f && f->has_heartbeat()) continue;
      return f;
    }
  }
  void SendBytes(const std::string& bytes) {
    router_.send(zmq::buffer(identity_), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
  void Send(pb::Frame frame) { SendBytes(EncodeFrame(std::move(frame))); }

 private:
  zmq::context_t ctx_;
  zmq::socket_t router_{ctx_, zmq::socket_type::router};
  std::string identity_;
};

TEST(OversizeInputTest, AWorkerAnswersAFrameItCannotTakeWithRejectedAndStaysHealthy) {
  ScratchDir dir;
  std::string endpoint = "ipc://" + dir.File("coordinator.sock");
  FakeCoordinator coordinator(endpoint);
  Subprocess worker({BinaryPath("worker"), "--connect", endpoint, "--batch-delay", "1ms"});

  std::optional<pb::Frame> hello = coordinator.Receive();
  ASSERT_TRUE(hello && hello->has_hello());
  pb::Frame welcome;
  welcome.mutable_welcome()->set_worker_name("w1");
  welcome.mutable_welcome()->set_heartbeat_ms(1000);
  coordinator.Send(std::move(welcome));

  // Over kMaxFrameBytes (three 2 MB URLs), under the socket's 16 MiB.
  pb::Frame oversize;
  for (uint32_t id = 0; id < 3; ++id) *oversize.mutable_tasks()->add_tasks() = Task(id, BigUrl(2'000'000));
  std::string bytes = EncodeFrame(oversize);
  ASSERT_GT(bytes.size(), kMaxFrameBytes);
  coordinator.SendBytes(bytes);
  std::optional<pb::Frame> answer = coordinator.Receive();
  ASSERT_TRUE(answer && answer->has_rejected()) << (answer ? answer->DebugString().substr(0, 300) : "nothing");
  EXPECT_EQ(LeaseIds(answer->rejected()), (std::set<uint32_t>{0, 1, 2}));
  EXPECT_NE(answer->rejected().reason().find("over the limit"), std::string::npos) << answer->rejected().reason();
  EXPECT_LT(answer->rejected().reason().size(), 300u);

  // Another protocol version: the leases are still named.
  pb::Frame other_version;
  for (uint32_t id = 3; id < 5; ++id) *other_version.mutable_tasks()->add_tasks() = Task(id, Noop());
  other_version.set_version(static_cast<pb::ProtocolVersion>(7));
  coordinator.SendBytes(other_version.SerializeAsString());
  answer = coordinator.Receive();
  ASSERT_TRUE(answer && answer->has_rejected());
  EXPECT_EQ(LeaseIds(answer->rejected()), (std::set<uint32_t>{3, 4}));
  EXPECT_NE(answer->rejected().reason().find("version 7"), std::string::npos) << answer->rejected().reason();

  // Bytes that are not a frame: answered too, with nothing to name.
  coordinator.SendBytes("\x01\x02 not a frame \xff");
  answer = coordinator.Receive();
  ASSERT_TRUE(answer && answer->has_rejected());
  EXPECT_EQ(answer->rejected().leases_size(), 0);

  // Still healthy: a normal batch is run and answered; none of the rejected
  // tasks ever shows up as a result.
  pb::Frame normal;
  for (uint32_t id = 5; id < 7; ++id) *normal.mutable_tasks()->add_tasks() = Task(id, Noop());
  coordinator.Send(std::move(normal));
  std::set<uint32_t> results;
  while (results.size() < 2) {
    answer = coordinator.Receive();
    ASSERT_TRUE(answer.has_value()) << "results stopped after " << results.size();
    ASSERT_TRUE(answer->has_results()) << answer->DebugString().substr(0, 300);
    for (const pb::Outcome& o : answer->results().outcomes()) {
      EXPECT_TRUE(o.result().ok());
      EXPECT_TRUE(results.insert(o.task_id()).second);
    }
  }
  EXPECT_EQ(results, (std::set<uint32_t>{5, 6}));
  pb::Frame shutdown;
  shutdown.mutable_shutdown()->set_reason("test over");
  coordinator.Send(std::move(shutdown));
  ProcessResult r = worker.Wait(seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(LinesShorterThan(r.err, 300));
}

// ---------------------------------------------------------------- the coordinator's side

// A DEALER in the test registers with a real coordinator as a remote worker
// beside its one local worker, and takes the first batch it is given.
class FakeWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigureSocket(dealer_, 0);
    dealer_.set(zmq::sockopt::rcvtimeo, 10000);
  }
  // Starts a run of `n` sleep tasks that waits for the fake to register.
  // --heartbeat-timeout 30: a lease that waited for the fake's silence
  // would make the run take half a minute, not a second or two.
  void Start(int n) {
    tasks_ = dir_.Write("t.txt", Repeat("sleep 20", n));
    coordinator_.emplace(
        Coordinator({"--workers", "1", "--concurrency", "4", "--min-workers", "2", "--heartbeat-timeout", "30",
                     "--bind", endpoint_, "--tasks", tasks_, "--output", out_}));
    dealer_.connect(endpoint_);
    pb::Frame hello;
    pb::Hello* h = hello.mutable_hello();
    h->set_name("fake");
    h->set_host("test");
    h->set_pid(1);
    h->set_concurrency(4);
    h->set_threads(1);
    h->set_max_batch(4);
    Send(std::move(hello));
  }
  void Send(pb::Frame frame) { dealer_.send(zmq::buffer(EncodeFrame(std::move(frame))), zmq::send_flags::none); }
  // The next frame of the wanted kind (others, such as heartbeats, skipped).
  std::optional<pb::Frame> Await(pb::Frame::BodyCase body) {
    for (;;) {
      zmq::message_t payload;
      if (!dealer_.recv(payload)) return std::nullopt;
      std::optional<pb::Frame> f = DecodeFrame(payload.to_string_view()).frame;
      if (f && f->has_welcome()) {
        // Ready, as a real worker says: the first leases follow.
        pb::Frame ready;
        ready.mutable_heartbeat()->set_seq(1);
        Send(std::move(ready));
      }
      if (f && f->body_case() == body) return f;
    }
  }
  // Waits for the run to end: every id once and ok, within `seconds_at_most`.
  std::map<int, nlohmann::json> Finish(int n, double seconds_at_most) {
    ProcessResult r = coordinator_->Wait(seconds(60));
    double took = std::chrono::duration<double>(Clock::now() - leases_lost_at_).count();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_LT(took, seconds_at_most) << "the fake's leases waited";
    EXPECT_TRUE(LinesShorterThan(r.err, 300));
    stdout_ = r.out;
    auto by_id = ById(ReadJsonLines(out_), n);
    for (auto& [id, rec] : by_id) EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
    return by_id;
  }

  ScratchDir dir_;
  std::string endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
  std::string tasks_;
  std::string out_ = dir_.File("R.jsonl");
  std::optional<Subprocess> coordinator_;
  zmq::context_t ctx_;
  zmq::socket_t dealer_{ctx_, zmq::socket_type::dealer};
  Clock::time_point leases_lost_at_;
  std::string stdout_;
};

TEST_F(FakeWorkerTest, LeasesAWorkerRejectsRunAgainOnTheLocalWorkerAtOnce) {
  Start(12);
  ASSERT_TRUE(Await(pb::Frame::kWelcome).has_value());
  std::optional<pb::Frame> batch = Await(pb::Frame::kTasks);
  ASSERT_TRUE(batch.has_value());
  std::set<int> rejected;
  pb::Frame answer;
  answer.mutable_rejected()->set_reason("the test cannot take it");
  for (const pb::Assignment& a : batch->tasks().tasks()) {
    rejected.insert(static_cast<int>(a.task_id()));
    pb::LeaseRef* l = answer.mutable_rejected()->add_leases();
    l->set_task_id(a.task_id());
    l->set_attempt(a.attempt());
  }
  ASSERT_FALSE(rejected.empty());
  Send(std::move(answer));
  leases_lost_at_ = Clock::now();
  // Then the fake leaves: it takes no more work. Whatever it was sent in the
  // meantime comes back through its Goodbye, without a note.
  pb::Frame bye;
  bye.mutable_goodbye();
  Send(std::move(bye));

  auto by_id = Finish(12, 5);
  for (int id : rejected) {
    const nlohmann::json& rec = by_id[id];
    EXPECT_EQ(rec["worker"], "w1") << rec.dump();
    EXPECT_EQ(rec["attempts"], 2) << rec.dump();
    ASSERT_EQ(rec["failures"].size(), 1u) << rec.dump();
    EXPECT_EQ(rec["failures"][0], "attempt 1 on fake: the worker could not accept the task: the test cannot take it");
  }
}

// The bad frames a registered worker might send instead of its results.
enum class BadFrame { kTwoParts, kGarbage, kTooLarge, kWrongVersion };

class UnreadableFrameTest : public FakeWorkerTest, public ::testing::WithParamInterface<BadFrame> {};

TEST_P(UnreadableFrameTest, LeasesOfAWorkerWhoseFrameIsDroppedRunAgainWithoutBlame) {
  Start(12);
  ASSERT_TRUE(Await(pb::Frame::kWelcome).has_value());
  std::optional<pb::Frame> batch = Await(pb::Frame::kTasks);
  ASSERT_TRUE(batch.has_value());
  std::set<int> taken;
  pb::Frame results;  // what the fake would have said, had it been readable
  for (const pb::Assignment& a : batch->tasks().tasks()) {
    taken.insert(static_cast<int>(a.task_id()));
    pb::Outcome* o = results.mutable_results()->add_outcomes();
    o->set_task_id(a.task_id());
    o->set_attempt(a.attempt());
    o->mutable_result()->set_ok(true);
  }
  switch (GetParam()) {
    case BadFrame::kTwoParts: {
      std::string bytes = EncodeFrame(results);
      dealer_.send(zmq::buffer(bytes), zmq::send_flags::sndmore);
      dealer_.send(zmq::buffer(bytes), zmq::send_flags::none);
      break;
    }
    case BadFrame::kGarbage:
      dealer_.send(zmq::str_buffer("\x01\x02 not a frame \xff"), zmq::send_flags::none);
      break;
    case BadFrame::kTooLarge:
      results.mutable_results()->mutable_outcomes(0)->mutable_result()->set_error(std::string(5'000'000, 'e'));
      dealer_.send(zmq::buffer(EncodeFrame(results)), zmq::send_flags::none);
      break;
    case BadFrame::kWrongVersion:
      results.set_version(static_cast<pb::ProtocolVersion>(7));
      dealer_.send(zmq::buffer(results.SerializeAsString()), zmq::send_flags::none);
      break;
  }
  leases_lost_at_ = Clock::now();
  // The coordinator says so instead of waiting: the fake must start over.
  std::optional<pb::Frame> reregister = Await(pb::Frame::kReregister);
  ASSERT_TRUE(reregister.has_value());
  EXPECT_NE(reregister->reregister().reason().find("could not read"), std::string::npos)
      << reregister->reregister().reason();
  // The fake goes quiet; nothing of its leases waits for its silence.
  auto by_id = Finish(12, 5);
  for (int id : taken) {
    const nlohmann::json& rec = by_id[id];
    EXPECT_EQ(rec["worker"], "w1") << rec.dump();
    EXPECT_EQ(rec["attempts"], 2) << rec.dump();
    EXPECT_TRUE(rec["failures"].empty()) << "no blame: " << rec.dump();
  }
  EXPECT_NE(stdout_.find("dropped messages: 1"), std::string::npos) << stdout_;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, UnreadableFrameTest,
                         ::testing::Values(BadFrame::kTwoParts, BadFrame::kGarbage, BadFrame::kTooLarge,
                                           BadFrame::kWrongVersion),
                         [](const ::testing::TestParamInfo<BadFrame>& info) {
                           switch (info.param) {
                             case BadFrame::kTwoParts:
                               return "TwoParts";
                             case BadFrame::kGarbage:
                               return "Garbage";
                             case BadFrame::kTooLarge:
                               return "TooLarge";
                             case BadFrame::kWrongVersion:
                               return "WrongVersion";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace taskfarm::testing
