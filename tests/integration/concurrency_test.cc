// The mechanisms behind the speed, checked by structure, not by the clock:
// overlapping tasks in one worker, reused connections, batches that do not
// hold results back.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <set>

#include "common/frame_codec.h"
#include "common/task_parser.h"
#include "common/zmq_util.h"
#include "tests/support/farm_test_util.h"
#include "testserver/http_test_server.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// True when every task started before any of them finished: one wave.
bool OneWave(const std::map<int, nlohmann::json>& by_id) {
  double last_start = 0, first_end = 1e18;
  for (auto& [id, rec] : by_id) {
    double start = rec["start_ms"].get<double>();
    last_start = std::max(last_start, start);
    first_end = std::min(first_end, start + rec["duration_ms"].get<double>());
  }
  return last_start < first_end;
}

TEST(ConcurrencyTest, KSleepsOnOneWorkerRunInOneWave) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", Repeat("sleep 200", 20));
  std::string out = dir.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--concurrency", "20", "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), 20);
  EXPECT_TRUE(OneWave(by_id));
  std::set<std::string> workers;
  for (auto& [id, rec] : by_id) workers.insert(rec["worker"].get<std::string>());
  EXPECT_EQ(workers.size(), 1u);
}

TEST(ConcurrencyTest, ConcurrencyOneRunsOneAtATime) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", Repeat("sleep 30", 5));
  std::string out = dir.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--concurrency", "1", "--tasks", tasks, "--output", out, "-q"}));
  ASSERT_EQ(p.Wait(seconds(30)).exit_code, 0);
  auto by_id = ById(ReadJsonLines(out), 5);
  std::vector<std::pair<double, double>> spans;
  for (auto& [id, rec] : by_id) {
    double s = rec["start_ms"].get<double>();
    spans.emplace_back(s, s + rec["duration_ms"].get<double>());
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) EXPECT_GE(spans[i].first, spans[i - 1].second - 0.5);
}

TEST(ConcurrencyTest, ThreadsRunCpuTasksSideBySide) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", Repeat("cpu primes 3000000", 2));
  std::string out = dir.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--threads", "2", "--tasks", tasks, "--output", out, "-q"}));
  ASSERT_EQ(p.Wait(seconds(60)).exit_code, 0);
  auto by_id = ById(ReadJsonLines(out), 2);
  EXPECT_TRUE(OneWave(by_id));
  EXPECT_EQ(by_id[0]["result"], 216816);
}

class ConnectionReuseTest : public LoopbackServerTest {
 protected:
  // Runs 50 URL tasks on one worker; returns (sum of new_connections in the
  // records, connections the server accepted).
  std::pair<int, uint64_t> Run(std::vector<std::string> extra) {
    std::string tasks = dir_.Write("t.txt", Repeat("url " + server_.BaseUrl() + "/json", 50));
    std::string out = dir_.File("R.jsonl");
    std::vector<std::string> args{"--workers", "1", "--concurrency", "5", "--tasks", tasks, "--output", out, "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    uint64_t before = server_.connections_accepted();
    Subprocess p(Coordinator(args));
    ProcessResult r = p.Wait(seconds(30));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    int connects = 0;
    for (auto& [id, rec] : ById(ReadJsonLines(out), 50)) connects += rec["timings"]["new_connections"].get<int>();
    return {connects, server_.connections_accepted() - before};
  }
};

TEST_F(ConnectionReuseTest, FiftyUrlsOnOneWorkerReuseConnections) {
  auto [connects, accepted] = Run({});
  EXPECT_LE(connects, 5) << "at most one connection per slot";
  EXPECT_LE(accepted, 5u);
  EXPECT_GE(accepted, 1u);
}

TEST_F(ConnectionReuseTest, NoReuseOpensOneConnectionPerUrl) {
  auto [connects, accepted] = Run({"--no-reuse"});
  EXPECT_EQ(connects, 50);
  EXPECT_EQ(accepted, 50u);
}

TEST(BatchingTest, AFinishedResultIsNotHeldForItsBatch) {
  // A quick task beside a slow one on the same worker, batches of 256: the
  // quick result must be reported while the slow task still runs.
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", "sleep 3000\nsleep 50\n");
  Subprocess p(Coordinator({"--workers", "1", "--concurrency", "2", "--batch", "256", "--tasks", tasks}));
  auto line = p.WaitForLine([](const std::string& l) { return l.find(": Slept ") != std::string::npos; }, seconds(20));
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("Slept 50 ms"), std::string::npos) << *line;
  EXPECT_TRUE(p.Running()) << "the 3 s task should still be running";
  EXPECT_EQ(p.Wait(seconds(30)).exit_code, 0);
}

TEST(BatchingTest, TinyTasksStillArriveExactlyOnceWithAndWithoutBatching) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", Repeat("noop", 20000));
  for (const char* batch : {"256", "1"}) {
    std::string out = dir.File(std::string("R") + batch + ".jsonl");
    Subprocess p(Coordinator({"--workers", "2", "--batch", batch, "--tasks", tasks, "--output", out, "-q"}));
    ASSERT_EQ(p.Wait(seconds(60)).exit_code, 0);
    auto by_id = ById(ReadJsonLines(out), 20000);
    for (auto& [id, rec] : by_id) ASSERT_TRUE(rec["ok"].get<bool>());
  }
}

// A ROUTER in the test plays the coordinator for one real worker, so every
// message the worker sends can be read and any the coordinator may send
// can be sent.
class PlayedCoordinator {
 public:
  explicit PlayedCoordinator(const ScratchDir& dir) : router_(ctx_, zmq::socket_type::router) {
    ConfigureSocket(router_, 0);
    router_.set(zmq::sockopt::rcvtimeo, 10000);
    router_.bind(endpoint_ = "ipc://" + dir.File("coordinator.sock"));
  }
  const std::string& endpoint() const { return endpoint_; }

  std::optional<pb::Frame> Receive() {
    zmq::message_t id, payload;
    if (!router_.recv(id) || !id.more() || !router_.recv(payload)) return std::nullopt;
    identity_ = id.to_string();
    return DecodeFrame(payload.to_string_view()).frame;
  }
  void Send(pb::Frame frame) {
    std::string bytes = EncodeFrame(std::move(frame));
    router_.send(zmq::buffer(identity_), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
  // Reads the worker's Hello and welcomes it as w1.
  std::optional<pb::Hello> Welcome() {
    std::optional<pb::Frame> hello = Receive();
    if (!hello || !hello->has_hello()) return std::nullopt;
    pb::Frame welcome;
    welcome.mutable_welcome()->set_worker_name("w1");
    welcome.mutable_welcome()->set_heartbeat_ms(1000);
    Send(std::move(welcome));
    return hello->hello();
  }
  // The next frame the worker sends that is not a heartbeat, or nullopt
  // when none comes within ten seconds (heartbeats alone never end a wait).
  std::optional<pb::Frame> ReceiveNotHeartbeat() {
    auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<pb::Frame> f = Receive();
      if (!f || !f->has_heartbeat()) return f;
    }
    return std::nullopt;
  }
  // The next outcome the worker sends, or nullopt as ReceiveNotHeartbeat.
  std::optional<pb::Outcome> NextOutcome() {
    while (pending_.empty()) {
      std::optional<pb::Frame> f = ReceiveNotHeartbeat();
      if (!f) return std::nullopt;
      if (!f->has_results()) continue;
      ++result_messages_;
      most_outcomes_ = std::max(most_outcomes_, f->results().outcomes_size());
      for (const pb::Outcome& o : f->results().outcomes()) pending_.push_back(o);
    }
    pb::Outcome o = std::move(pending_.front());
    pending_.pop_front();
    return o;
  }
  int result_messages() const { return result_messages_; }
  int most_outcomes_in_a_message() const { return most_outcomes_; }
  void SendShutdown() {
    pb::Frame shutdown;
    shutdown.mutable_shutdown()->set_reason("test over");
    Send(std::move(shutdown));
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t router_;
  std::string endpoint_, identity_;
  std::deque<pb::Outcome> pending_;
  int result_messages_ = 0;
  int most_outcomes_ = 0;
};

pb::Assignment* AddTask(pb::Frame* batch, uint32_t id, const std::string& line) {
  pb::Assignment* a = batch->mutable_tasks()->add_tasks();
  a->set_task_id(id);
  a->set_attempt(1);
  *a->mutable_spec() = *ParseTaskLine(line, {}).spec;
  return a;
}

// The worker's side of --batch: however many results one turn finishes, no
// message carries more than the batch.
TEST(BatchingTest, AWorkerPutsAtMostItsBatchOfResultsInOneMessage) {
  ScratchDir dir;
  PlayedCoordinator coordinator(dir);
  // A long batch delay: only the size limit can split the results.
  Subprocess worker({BinaryPath("worker"), "--connect", coordinator.endpoint(), "--batch", "3", "--batch-delay", "1s"});
  std::optional<pb::Hello> hello = coordinator.Welcome();
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->max_batch(), 3u);
  pb::Frame batch;  // twenty tasks in one message: they all finish in one turn
  for (uint32_t id = 0; id < 20; ++id) AddTask(&batch, id, "noop");
  coordinator.Send(std::move(batch));

  std::set<uint32_t> seen;
  int before = coordinator.result_messages();
  while (seen.size() < 20) {
    std::optional<pb::Outcome> o = coordinator.NextOutcome();
    ASSERT_TRUE(o.has_value()) << "results stopped after " << seen.size();
    EXPECT_TRUE(seen.insert(o->task_id()).second) << "task " << o->task_id() << " twice";
    EXPECT_TRUE(o->result().ok());
  }
  // Twenty results, at most three a message.
  EXPECT_LE(coordinator.most_outcomes_in_a_message(), 3);
  EXPECT_GE(coordinator.result_messages() - before, 7);
  coordinator.SendShutdown();
  EXPECT_EQ(worker.Wait(seconds(10)).exit_code, 0);
}

// PROTOCOL.md's Cancel, which this coordinator never sends but another may:
// the worker stops the named leases, frees their slots and sends nothing
// for them. With --concurrency 2 and both slots held by minute-long
// sleeps, the third task can only run if the Cancel freed them.
TEST(CancelTest, ACancelledLeaseFreesItsSlotAndSendsNoResult) {
  ScratchDir dir;
  PlayedCoordinator coordinator(dir);
  Subprocess worker({BinaryPath("worker"), "--connect", coordinator.endpoint(), "--concurrency", "2"});
  ASSERT_TRUE(coordinator.Welcome().has_value());
  pb::Frame sleeps;
  AddTask(&sleeps, 1, "sleep 60000");
  AddTask(&sleeps, 2, "sleep 60000");
  AddTask(&sleeps, 3, "sleep 10");  // waits for a slot
  coordinator.Send(std::move(sleeps));
  pb::Frame cancel;
  for (uint32_t id : {1u, 2u}) {
    pb::LeaseRef* lease = cancel.mutable_cancel()->add_leases();
    lease->set_task_id(id);
    lease->set_attempt(1);
  }
  coordinator.Send(std::move(cancel));

  std::optional<pb::Outcome> o = coordinator.NextOutcome();
  ASSERT_TRUE(o.has_value()) << "the cancelled sleeps kept their slots";
  EXPECT_EQ(o->task_id(), 3u);
  EXPECT_TRUE(o->result().ok());
  // A worker stopped by SIGTERM hands back what it still holds, in its
  // Goodbye: nothing, once the Cancel has taken the sleeps away.
  worker.Signal(SIGTERM);
  std::optional<pb::Frame> f = coordinator.ReceiveNotHeartbeat();
  while (f && !f->has_goodbye()) {
    EXPECT_EQ(f->results().outcomes_size(), 0) << "a result came for a cancelled lease";
    f = coordinator.ReceiveNotHeartbeat();
  }
  ASSERT_TRUE(f.has_value()) << "no Goodbye after SIGTERM";
  EXPECT_EQ(f->goodbye().returned_size(), 0) << "the cancelled leases were still held";
  EXPECT_EQ(worker.Wait(seconds(10)).exit_code, 0);
}

}  // namespace
}  // namespace taskfarm::testing
