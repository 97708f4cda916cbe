// Peers that speak the protocol but lie or misbehave (issue 11): a flood of
// registrations, absurd capacity claims, heartbeats with no work, a remote
// Hello claiming a local worker's pid, forged result fields. Each runs the
// real coordinator with real local workers beside a FakeWorker; the run must
// still end with every task once, ok, in bounded time and memory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <regex>
#include <thread>
#include <zmq.hpp>

#include "tests/support/fake_worker.h"
#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The line of `out` that starts with `prefix`, or "".
std::string LineStarting(const std::string& out, const std::string& prefix) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

// "coordinator peak RSS: 12.3 MB" -> 12.3; -1 when the line is missing.
double PeakRssMb(const std::string& out) {
  std::string line = LineStarting(out, "coordinator peak RSS: ");
  return line.empty() ? -1 : std::stod(line.substr(std::string("coordinator peak RSS: ").size()));
}

// From "dropped messages: 7 (3 invalid result, 4 ...)": the count before
// `reason`; 0 when the line or the reason is missing.
uint64_t DropCount(const std::string& out, const std::string& reason) {
  std::string line = LineStarting(out, "dropped messages: ");
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("(\\d+) " + reason))) return 0;
  return std::stoull(m[1]);
}

// Every ok and every id once; returns the records.
std::map<int, nlohmann::json> AllOk(const std::string& output, int n) {
  auto by_id = ById(ReadJsonLines(output), n);
  int failed = 0;
  std::string first;
  for (auto& [id, rec] : by_id) {
    if (rec.value("ok", false)) continue;
    if (++failed <= 3) first += rec.dump().substr(0, 400) + "\n";
  }
  EXPECT_EQ(failed, 0) << "records not ok, e.g.\n" << first;
  return by_id;
}

// Pids of the coordinator's workers (its live children, the fork server
// aside) once there are `n` (bounded wait).
std::vector<pid_t> AwaitChildren(pid_t coordinator, size_t n, milliseconds timeout) {
  auto end = Clock::now() + timeout;
  std::vector<pid_t> kids = LiveChildren(coordinator);
  while (kids.size() < n && Clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(20));
    kids = LiveChildren(coordinator);
  }
  return kids;
}

HelloFields Claims(const std::string& name, uint32_t concurrency) {
  HelloFields h;
  h.name = name;
  h.concurrency = concurrency;
  return h;
}

class HostilePeerTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  std::string endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
  zmq::context_t ctx_;

  std::vector<std::string> Run(const std::string& tasks, const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args{"--bind", endpoint_, "--tasks", tasks, "--output", out, "-q", "--no-progress"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Coordinator(args);
  }
};

// ---------------------------------------------------------------- flood

struct FloodResult {
  uint64_t sent = 0;           // Hellos handed to a connected socket
  uint64_t not_connected = 0;  // sockets that never connected in time
  double seconds = 0;
};

// `total` Hellos, each on a fresh DEALER with its own routing id, from
// `threads` threads sharing `ctx`. Each thread keeps a window of sockets
// connecting; a socket that is connected (ZMQ_IMMEDIATE: writable only then)
// sends its Hello and is closed with a short linger so the Hello still
// leaves. Bounded by `deadline`; ends early once `stop` is set.
FloodResult FloodHellos(const std::string& endpoint, int total, int threads, Clock::time_point deadline,
                        const std::atomic<bool>& stop) {
  constexpr size_t kWindow = 32;
  // A context of its own: every closed socket lingers (500 ms, so its Hello
  // gets out) and still counts against the context's socket limit, which
  // libzmq's default of 1023 a fast flood reaches (EMFILE).
  zmq::context_t ctx;
  ctx.set(zmq::ctxopt::max_sockets, 16384);
  const std::string hello = EncodeFrame(HelloFrame(Claims("flood", 4)));
  std::atomic<uint64_t> sent{0}, not_connected{0};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    int quota = total / threads + (t < total % threads ? 1 : 0);
    pool.emplace_back([&, t, quota] {
      struct Pending {
        zmq::socket_t socket;
        Clock::time_point since;
      };
      std::vector<Pending> window;
      int opened = 0;
      auto open_one = [&]() -> bool {
        zmq::socket_t s;
        try {
          s = zmq::socket_t(ctx, zmq::socket_type::dealer);
        } catch (const zmq::error_t&) {  // the limit, even so: try again once some have closed
          return false;
        }
        s.set(zmq::sockopt::linger, 500);
        s.set(zmq::sockopt::immediate, 1);
        s.set(zmq::sockopt::routing_id, "flood-" + std::to_string(t) + "-" + std::to_string(opened++));
        s.connect(endpoint);
        window.push_back({std::move(s), Clock::now()});
        return true;
      };
      while ((opened < quota || !window.empty()) && Clock::now() < deadline && !stop) {
        while (opened < quota && window.size() < kWindow && open_one()) {
        }
        if (window.empty()) {
          std::this_thread::sleep_for(milliseconds(10));
          continue;
        }
        std::vector<zmq::pollitem_t> items;
        for (auto& p : window) items.push_back({p.socket.handle(), 0, ZMQ_POLLOUT, 0});
        zmq::poll(items.data(), items.size(), milliseconds(50));
        std::vector<Pending> keep;
        for (size_t i = 0; i < window.size(); ++i) {
          if (items[i].revents & ZMQ_POLLOUT) {
            if (window[i].socket.send(zmq::buffer(hello), zmq::send_flags::dontwait)) ++sent;
          } else if (Clock::now() - window[i].since < seconds(3)) {
            keep.push_back(std::move(window[i]));
            continue;
          } else {
            ++not_connected;
          }
        }
        window = std::move(keep);  // the others close here
      }
      not_connected += window.size() + static_cast<size_t>(quota - opened);
    });
  }
  for (auto& th : pool) th.join();
  return {sent.load(), not_connected.load(), SecondsSince(start)};
}

// 100,000 registrations from peers that vanish at once, during a real run:
// they are refused past the cap or forgotten, never blamed for a task.
TEST_F(HostilePeerTest, AHelloFloodFromVanishingPeersCostsNoTaskAndLittleMemory) {
  constexpr int kTasks = 2000;
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 20", kTasks));
  std::string out = dir_.File("R.jsonl");
  // 2 workers x 1 slot x 20 ms: about 20 s of work, longer than the flood.
  auto spawned = Clock::now();
  Subprocess p(Run(tasks, out, {"--workers", "2", "--concurrency", "1"}));
  // Local workers are spawned after the coordinator has bound its socket.
  ASSERT_EQ(AwaitChildren(p.pid(), 2, seconds(10)).size(), 2u);

  // The flood runs beside this thread, which keeps the coordinator's stdout
  // drained so it never waits on us.
  FloodResult flood;
  std::atomic<bool> done{false}, coordinator_gone{false};
  std::thread flooder([&] {
    flood = FloodHellos(endpoint_, 100000, 4, Clock::now() + seconds(60), coordinator_gone);
    done = true;
  });
  while (!done) {
    (void)p.WaitForLine([](const std::string&) { return false; }, milliseconds(100));
    if (!p.Running()) coordinator_gone = true;  // nobody left to flood
  }
  flooder.join();
  double flood_end_ms = SecondsSince(spawned) * 1000;
  std::printf("[ measured ] flood: %llu Hellos sent (%llu sockets never connected) in %.1f s\n",
              static_cast<unsigned long long>(flood.sent), static_cast<unsigned long long>(flood.not_connected),
              flood.seconds);
  RecordProperty("flood_seconds", std::to_string(flood.seconds));
  EXPECT_LT(flood.seconds, 60.0);
  EXPECT_GE(flood.sent, 99000u) << "the flood did not reach the coordinator";

  ProcessResult r = p.Wait(seconds(90));
  ASSERT_FALSE(r.timed_out) << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out.substr(0, 3000) << r.err.substr(0, 2000);
  EXPECT_NE(r.out.find("tasks: " + std::to_string(kTasks) + " ok, 0 failed"), std::string::npos)
      << r.out.substr(0, 3000);
  double last_end_ms = 0;
  for (auto& [id, rec] : AllOk(out, kTasks)) {
    last_end_ms = std::max(last_end_ms, rec.value("start_ms", 0.0) + rec.value("duration_ms", 0.0));
  }
  // start_ms counts from the run's start, a little after the spawn: 1 s slack.
  EXPECT_GE(last_end_ms, flood_end_ms - 1000) << "the run ended before the flood did: it tested less";
  double rss = PeakRssMb(r.out);
  ASSERT_GT(rss, 0) << r.out.substr(0, 3000);
  EXPECT_LT(rss, 100.0) << r.out.substr(0, 3000);
  std::printf("[ measured ] coordinator peak RSS %.1f MB; %s\n", rss, LineStarting(r.out, "dropped").c_str());
}

// ---------------------------------------------------------------- claims

struct TimedRun {
  ProcessResult result;
  double seconds = 0;
};

// One worker that claims a million slots and threads and 65,536 tasks a
// batch, takes what it is given and goes silent: it holds a few leases (the
// credit of a new remote worker), which rerun after the heartbeat timeout.
TEST_F(HostilePeerTest, HugeClaimsThenSilenceCostAtMostAHeartbeatTimeout) {
  constexpr int kTasks = 2000;
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 100", kTasks));
  // --heartbeat-timeout 2 on both runs keeps the silent peer's cost short.
  const std::vector<std::string> opts{"--workers", "2", "--heartbeat-timeout", "2"};

  std::string normal_out = dir_.File("normal.jsonl");
  auto t0 = Clock::now();
  Subprocess normal(Run(tasks, normal_out, opts));
  TimedRun base{normal.Wait(seconds(60)), 0};
  base.seconds = SecondsSince(t0);
  ASSERT_EQ(base.result.exit_code, 0) << base.result.err;
  AllOk(normal_out, kTasks);

  std::string out = dir_.File("R.jsonl");
  FakeWorker liar(ctx_, endpoint_);  // connects before the coordinator binds
  HelloFields huge = Claims("liar", 1000000);
  huge.threads = 1000000;
  huge.max_batch = 65536;
  ASSERT_TRUE(liar.SendHello(huge));
  auto t1 = Clock::now();
  Subprocess p(Run(tasks, out, opts));
  const double bound = 2 * base.seconds + 2.0;
  ASSERT_TRUE(liar.AwaitWelcome(seconds(10)));
  // Take everything offered and never answer, until the run ends.
  while (p.Running() && SecondsSince(t1) < bound + 20) liar.ReceiveFor(milliseconds(100));
  TimedRun hostile{p.Wait(seconds(5)), SecondsSince(t1)};
  std::printf("[ measured ] normal run %.2f s; with the silent liar %.2f s (bound %.2f s); liar got %zu leases\n",
              base.seconds, hostile.seconds, bound, liar.assignments().size());

  EXPECT_GE(liar.assignments().size(), 1u) << "the liar was given nothing: the test tested nothing";
  EXPECT_LE(liar.assignments().size(), 8u) << "a new remote worker's credit starts at 8";
  EXPECT_LE(hostile.seconds, bound);
  ASSERT_FALSE(hostile.result.timed_out);
  EXPECT_EQ(hostile.result.exit_code, 0) << hostile.result.out << hostile.result.err.substr(0, 2000);
  for (auto& [id, rec] : AllOk(out, kTasks)) EXPECT_NE(rec["worker"], "liar") << id;
  double rss = PeakRssMb(hostile.result.out);
  ASSERT_GT(rss, 0) << hostile.result.out;
  EXPECT_LT(rss, 100.0);
}

// A worker that heartbeats faithfully but never starts what it was given,
// under the default options (no --task-timeout): its leases are taken back
// after the heartbeat timeout and run elsewhere.
TEST_F(HostilePeerTest, APeerThatOnlyHeartbeatsIsTreatedAsStuck) {
  constexpr int kTasks = 300;
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 50", kTasks));
  std::string out = dir_.File("R.jsonl");
  FakeWorker idler(ctx_, endpoint_);
  ASSERT_TRUE(idler.SendHello(Claims("idler", 4)));
  auto t0 = Clock::now();
  Subprocess p(Run(tasks, out, {"--workers", "2"}));
  ASSERT_TRUE(idler.AwaitWelcome(seconds(10)));
  while (p.Running() && SecondsSince(t0) < 30) {
    idler.SendHeartbeat();
    idler.ReceiveFor(milliseconds(200));
  }
  double took = SecondsSince(t0);
  ProcessResult r = p.Wait(seconds(5));
  std::printf("[ measured ] run with a heartbeat-only peer: %.2f s; it got %zu leases\n", took,
              idler.assignments().size());
  ASSERT_GE(idler.assignments().size(), 1u) << "the idler was given nothing: the test tested nothing";
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err.substr(0, 2000);
  EXPECT_LE(took, 20.0);
  for (auto& [id, rec] : AllOk(out, kTasks)) EXPECT_NE(rec["worker"], "idler") << id;
}

// ---------------------------------------------------------------- pid claims

// A remote Hello that names a local worker's pid (without the local token)
// is a remote worker: its silence or departure never kills the local one.
class ClaimedPidTest : public HostilePeerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ClaimedPidTest, ARemoteHelloWithALocalWorkersPidNeverGetsItKilled) {
  const bool disconnect = GetParam();
  constexpr int kTasks = 600;
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 50", kTasks));
  std::string out = dir_.File("R.jsonl");
  // 4 slots x 50 ms: about 7.5 s of work; heartbeat timeout 1 s, so a
  // wrongly convicted local worker would be killed within about 2 s.
  Subprocess p(Run(tasks, out, {"--workers", "1", "--concurrency", "4", "--heartbeat-timeout", "1"}));
  std::vector<pid_t> kids = AwaitChildren(p.pid(), 1, seconds(10));
  ASSERT_EQ(kids.size(), 1u);
  const pid_t local = kids[0];

  auto imposter = std::make_unique<FakeWorker>(ctx_, endpoint_);
  HelloFields claim = Claims("imposter", 4);
  claim.pid = static_cast<uint32_t>(local);  // and no local_token
  ASSERT_TRUE(imposter->SendHello(claim));
  ASSERT_TRUE(imposter->AwaitWelcome(seconds(10)));
  ASSERT_TRUE(imposter->AwaitAssignments(1, seconds(5))) << "the imposter was given nothing";
  std::string name = imposter->welcome()->worker_name();
  if (disconnect) imposter.reset();

  // Past the imposter's heartbeat timeout, and another (when a lost local
  // worker would be killed), with margin; the run must still be going.
  auto silent_since = Clock::now();
  while (SecondsSince(silent_since) < 3.5) {
    if (imposter)
      imposter->ReceiveFor(milliseconds(100));
    else
      std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(p.Running()) << "the run ended too soon to tell";
  EXPECT_TRUE(ProcessExists(local) && !IsZombie(local)) << "local worker " << local << " was killed";
  EXPECT_EQ(LiveChildren(p.pid()), std::vector<pid_t>{local}) << "the local worker was replaced";

  while (imposter && p.Running() && SecondsSince(silent_since) < 40) imposter->ReceiveFor(milliseconds(100));
  ProcessResult r = p.Wait(seconds(40));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err.substr(0, 2000);
  EXPECT_EQ(r.out.find("workers replaced"), std::string::npos) << r.out;
  EXPECT_EQ(LineStarting(r.out, "w1 ").find("gone"), std::string::npos) << r.out;
  std::map<std::string, int> by_worker;
  for (auto& [id, rec] : AllOk(out, kTasks)) ++by_worker[rec.value("worker", "")];
  for (auto& [worker, n] : by_worker) {
    EXPECT_TRUE(worker == "w1" || worker == name) << n << " records by " << worker << ", a replacement";
  }
}

INSTANTIATE_TEST_SUITE_P(SilentOrGone, ClaimedPidTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Disconnects" : "GoesSilent"; });

// ---------------------------------------------------------------- forgeries

// True if `j` holds, anywhere, a negative number or a non-finite one
// (protobuf's JSON writes those as the strings "NaN", "Infinity").
bool HasBadNumber(const nlohmann::json& j, std::string* where) {
  if (j.is_number()) {
    double v = j.get<double>();
    return !std::isfinite(v) || v < 0;
  }
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    return s == "NaN" || s == "Infinity" || s == "-Infinity";
  }
  if (j.is_structured()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (HasBadNumber(*it, where)) {
        if (j.is_object()) *where = it.key() + (where->empty() ? "" : "." + *where);
        return true;
      }
    }
  }
  return false;
}

struct Forgery {
  const char* what;
  void (*forge)(pb::Result*);
  // false: a field only the coordinator fills (worker, host): not a reason
  // to drop the answer, but overwritten with the registered name and host.
  bool dropped = true;
};

const Forgery kForgeries[] = {
    {"ok with an error code", [](pb::Result* r) { r->set_error_code("internal"); }},
    {"url on a sleep task", [](pb::Result* r) { r->set_url("http://127.0.0.1:1/forged"); }},
    {"http_status on a sleep task", [](pb::Result* r) { r->set_http_status(200); }},
    {"bytes on a sleep task", [](pb::Result* r) { r->set_bytes(12345); }},
    {"timings on a sleep task", [](pb::Result* r) { r->mutable_timings()->set_total_ms(5); }},
    {"duration NaN", [](pb::Result* r) { r->set_duration_ms(std::nan("")); }},
    {"duration +Infinity", [](pb::Result* r) { r->set_duration_ms(INFINITY); }},
    {"duration negative", [](pb::Result* r) { r->set_duration_ms(-5); }},
    {"cpu_user_ms NaN", [](pb::Result* r) { r->set_cpu_user_ms(std::nan("")); }},
    // Under kMaxFrameBytes, so it is the field, not the frame, that is refused.
    {"4 MB error",
     [](pb::Result* r) {
       r->set_ok(false);
       r->set_error(std::string(4000000, 'e'));
     }},
    {"result on a sleep task", [](pb::Result* r) { r->set_result(42); }},
    {"another worker's name", [](pb::Result* r) { r->set_worker("w1"); }, false},
    {"another worker's host",
     [](pb::Result* r) {
       char host[256] = {};
       gethostname(host, sizeof(host) - 1);
       r->set_host(host);
     },
     false},
};

// One peer per kind of forgery answers every lease it gets with it: each
// answer is dropped and counted as an invalid result, the task reruns on
// the real worker, and no forged value reaches a record or the summary.
TEST_F(HostilePeerTest, ForgedAndNonFiniteResultFieldsAreDroppedAndTheTasksRerun) {
  constexpr int kTasks = 200;
  constexpr size_t kKinds = std::size(kForgeries);
  std::string tasks = dir_.Write("t.txt", Repeat("sleep 10", kTasks));
  std::string out = dir_.File("R.jsonl");
  std::vector<std::unique_ptr<FakeWorker>> forgers;
  for (size_t k = 0; k < kKinds; ++k) {
    forgers.push_back(std::make_unique<FakeWorker>(ctx_, endpoint_));
    ASSERT_TRUE(forgers[k]->SendHello(Claims("forger" + std::to_string(k), 4)));
  }
  // One slot on the one local worker: about 2 s of work, so every forger
  // is offered leases.
  Subprocess p(Run(tasks, out, {"--workers", "1", "--concurrency", "1"}));
  std::vector<size_t> answered(kKinds, 0);
  std::set<int> forged_ids;
  std::set<std::string> names{"w1"};
  std::set<std::string> overwritten;  // registered names of the forgers whose answers may stand
  auto t0 = Clock::now();
  while (p.Running() && SecondsSince(t0) < 50) {
    for (size_t k = 0; k < kKinds; ++k) {
      FakeWorker& f = *forgers[k];
      f.ReceiveFor(milliseconds(5));
      if (f.welcome()) {
        names.insert(f.welcome()->worker_name());
        if (!kForgeries[k].dropped) overwritten.insert(f.welcome()->worker_name());
      }
      for (; answered[k] < f.assignments().size(); ++answered[k]) {
        const pb::Assignment& a = f.assignments()[answered[k]];
        pb::Outcome o = FakeWorker::OutcomeFor(a);
        kForgeries[k].forge(o.mutable_result());
        forged_ids.insert(static_cast<int>(a.task_id()));
        f.SendResults({std::move(o)});  // one a message: the 4 MB ones stay under the frame limit
      }
    }
  }
  ProcessResult r = p.Wait(seconds(10));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err.substr(0, 2000);

  size_t kinds_sent = 0;
  for (size_t k = 0; k < kKinds; ++k) {
    EXPECT_TRUE(forgers[k]->welcome().has_value()) << kForgeries[k].what << ": no Welcome";
    EXPECT_GT(answered[k], 0u) << kForgeries[k].what << ": never offered a lease, so never tried";
    kinds_sent += answered[k] > 0 && kForgeries[k].dropped;
  }
  uint64_t invalid = DropCount(r.out, "invalid result");
  size_t answers = 0;
  for (size_t n : answered) answers += n;
  std::printf("[ measured ] %zu forged answers for %zu tasks; %s\n", answers, forged_ids.size(),
              LineStarting(r.out, "dropped").c_str());
  EXPECT_GE(invalid, kinds_sent) << "each kind of forgery is an invalid result: " << r.out;

  std::regex non_finite("(^|[^a-z])-?(inf|infinity|nan)([^a-z]|$)", std::regex::icase);
  EXPECT_FALSE(std::regex_search(r.out, non_finite)) << r.out;
  std::vector<std::string> problems;  // one line per bad record
  for (auto& [id, rec] : AllOk(out, kTasks)) {
    std::string worker = rec.value("worker", ""), why, where;
    if (HasBadNumber(rec, &where)) why += " bad number at " + where + ";";
    if (!names.count(worker)) why += " worker '" + worker + "' was never registered;";
    // Every dropped forgery's answer was forged: none may be the record.
    // A forged name or host may stand, under the registered name and host.
    if (worker != "w1" && !overwritten.count(worker)) why += " worker '" + worker + "', not w1;";
    if (overwritten.count(worker) && rec.value("host", "") != "fakehost") {
      why += " host '" + rec.value("host", "") + "' is not the one its worker registered with;";
    }
    for (const char* field : {"error_code", "error", "url", "http_status", "bytes", "result"}) {
      if (rec.contains(field)) why += std::string(" has ") + field + ";";
    }
    if (rec.contains("timings") && rec["timings"].value("total_ms", 0.0) != 0.0) why += " has timings;";
    if (!why.empty()) problems.push_back("id " + std::to_string(id) + ":" + why);
  }
  std::string first;
  for (size_t i = 0; i < problems.size() && i < 15; ++i) first += problems[i] + "\n";
  EXPECT_TRUE(problems.empty()) << problems.size() << " records show a forgery, e.g.\n" << first;
  EXPECT_GT(forged_ids.size(), 0u);
}

}  // namespace
}  // namespace taskfarm::testing
