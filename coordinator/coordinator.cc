// The coordinator's run: one thread polls the transport (the ROUTER socket
// every worker is on) and a signalfd (SIGCHLD, SIGINT, SIGTERM); the
// scheduler decides, this file carries it out. Its rooms: the transport
// (envelopes), the peer registry (who is who), the record sink (where
// results go) and the worker pool (local processes); the demo is apart.
#include "coordinator/coordinator.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/duration.h"
#include "common/file_writer.h"
#include "common/frame_codec.h"
#include "common/posix.h"
#include "common/quote.h"
#include "common/task_kind.h"
#include "common/temp_dir.h"
#include "common/thread_stats.h"
#include "common/unique_fd.h"
#include "coordinator/console.h"
#include "coordinator/demo.h"
#include "coordinator/fork_server.h"
#include "coordinator/input_options.h"
#include "coordinator/metrics.h"
#include "coordinator/metrics_server.h"
#include "coordinator/peer_registry.h"
#include "coordinator/record_sink.h"
#include "coordinator/report/text_table.h"
#include "coordinator/scheduler.h"
#include "coordinator/summary.h"
#include "coordinator/task_source.h"
#include "coordinator/transport.h"
#include "coordinator/worker_pool.h"
#include "testserver/http_test_server.h"

namespace taskfarm {
namespace {

// Registered workers at once: room for a large farm (the coordinator's
// per-worker costs are small), a bound for a Hello flood.
constexpr size_t kMaxRegistered = 4096;

// Descriptors the coordinator holds besides its workers' (the ZeroMQ
// context's, the journal, the output, the signalfd, a stream's input), with
// room to spare.
constexpr uint64_t kOwnDescriptors = 64;

// Once dispatching stops, every task read is cancelled at once and the
// scheduler's window never fills: the rest of the input is read and written
// out this many records at a time, for at most this long per loop turn, so
// memory stays bounded and the loop still hears a second Ctrl-C and the
// tasks finishing during --grace.
constexpr size_t kCancelChunk = 10000;
constexpr double kCancelTurnMs = 200;

// Each side says something at least this often (PROTOCOL.md, Liveness):
// the Welcome tells workers, the coordinator heartbeats at it, and the
// scheduler takes a longer gap between turns as a stalled coordinator.
double HeartbeatIntervalMs(const CoordinatorConfig& c) { return std::min(1000.0, c.heartbeat_timeout_s * 1000 / 4); }

SchedulerOptions MakeOptions(const CoordinatorConfig& c) {
  SchedulerOptions o;
  o.retries = c.retries;
  o.heartbeat_timeout_ms = c.heartbeat_timeout_s * 1000;
  o.max_unheard_gap_ms = HeartbeatIntervalMs(c);
  o.task_timeout_ms = c.task_timeout_s * 1000;
  o.max_batch = c.batch;
  o.rate_per_s = c.rate_per_s;
  o.per_host = static_cast<uint32_t>(std::max(0, c.per_host));
  return o;
}

// Each worker's connection is a descriptor of ours (and, while it is being
// stopped at the end, a local worker's pidfd one more), so a farm of a
// thousand needs more than the soft limit of 1024 most systems start with.
// The soft limit is raised to the hard one; a --workers or --min-workers
// that still cannot fit is said now, not as a failure in the middle of the
// run.
Status CheckOpenFileLimit(const CoordinatorConfig& config) {
  uint64_t limit = testserver::RaiseOpenFileLimit();
  uint64_t local = static_cast<uint64_t>(std::max(0, config.workers));
  uint64_t remote = static_cast<uint64_t>(std::max(0, config.min_workers - config.workers));
  uint64_t needed = kOwnDescriptors + 2 * local + remote;
  if (limit == 0 || needed <= limit) return Status::Ok();
  std::string what = local > 0 ? Format("--workers %d", config.workers) : "";
  if (remote > 0) what += (what.empty() ? "" : " and ") + Format("--min-workers %d", config.min_workers);
  return Unavailable(
      Format("%s %s about %llu open files (a connection per worker, and a process handle per local one), "
             "but this process may open only %llu (its hard limit, `ulimit -Hn`): raise that limit "
             "(limits.conf, systemd's LimitNOFILE=) or run fewer workers per coordinator (docs/SCALING.md)",
             what.c_str(), local > 0 && remote > 0 ? "need" : "needs", static_cast<unsigned long long>(needed),
             static_cast<unsigned long long>(limit)));
}

// A secret for this run's local workers: 128 random bits, hex.
std::string MakeLocalToken() {
  std::random_device rd;
  std::string token;
  char buf[9];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(rd()));
    token += buf;
  }
  return token;
}

void SayNoTasks(const TaskSource& source) {
  if (source.shard() && source.total() > 0) {
    std::fprintf(stderr, "%s: shard %s has no tasks: the input has only %u\n", source.name().c_str(),
                 source.shard()->Name().c_str(), source.total());
    return;
  }
  std::fprintf(stderr, "%s: no tasks (every line is blank or a comment)\n", source.name().c_str());
}

// Whether the signalfd says SIGINT or SIGTERM (read to the end: a SIGCHLD
// among them only asks for a reap, which the caller does anyway).
bool ReadStopSignal(int signal_fd, int* signo = nullptr) {
  bool stop = false;
  while (int sig = NextSignal(signal_fd)) {
    if (sig != SIGINT && sig != SIGTERM) continue;
    if (signo) *signo = sig;
    stop = true;
  }
  return stop;
}

// This run's own worker processes.
struct LocalWorkers {
  std::unique_ptr<WorkerPool> pool;      // none until they start (a stream: with its first task)
  std::string token = MakeLocalToken();  // given at spawn: a Hello with it is one of ours
  int next = 1;                          // the next one is "w<next>"
  uint64_t replaced = 0;
  int early_deaths = 0;  // died before Hello, in a row
  std::string last_early_death;
};

// A wait for workers is never silent: said after a second, again when the
// count changes (at most once a second), else after 5 s, then less and
// less often (at most once a minute), so an unattended wait does not fill
// a log.
struct WaitNotes {
  // True when it is time to say it again.
  bool Due(double now_ms, double waited_ms, size_t live) {
    if (waited_ms < 1000) return false;
    double since = now_ms - last_ms;
    if (said > 0) {
      bool changed = live != said_live;
      if (changed ? since < 1000 : since < every_ms) return false;
      every_ms = changed ? 5000 : std::min(60000.0, 2 * every_ms);
    }
    ++said;
    said_live = live;
    last_ms = now_ms;
    return true;
  }
  int said = 0;               // lines said
  size_t said_live = 0;       // the count the last one gave
  double last_ms = 0;         // when
  double every_ms = 5000;     // the next one, unless the count changes
  double none_since_ms = -1;  // mid-run, every worker gone (-1: some are here)
};

// How a registered worker leaves, which decides what becomes of its leases.
enum class Leaving {
  kGoodbye,    // it said so: its leases go back without blame
  kUntrusted,  // we stop trusting it (Scheduler::Forget): back without blame
  kDied,       // its process ended, or a task of its ran past --task-timeout
  kLost,       // the scheduler's Tick already dropped it (silent, or no work done)
};

class CoordinatorLoop {
 public:
  // `forks`: where local workers are forked from; nullptr: they are spawned.
  CoordinatorLoop(const CoordinatorConfig& config, TaskSource& source, ForkServer* forks)
      : config_(config), source_(source), forks_(forks), console_(config), scheduler_(MakeOptions(config), clock_) {}

  Status OpenOutputs() { return sink_.Open(source_); }
  // The run, to its exit code (RunCoordinator's).
  int Run(int signal_fd);

 private:
  bool Listen();
  void StartLocalWorkers();
  std::vector<std::string> LocalWorkerArgs();
  void SpawnOne();
  void GiveUpOnLocalWorkers(const std::string& why);
  void Feed();
  void ShowProgress();
  bool GraceEnded();
  bool Poll(int signal_fd);
  void HandleSocketEvents();
  void ReadMessages();
  void HandleMessage(const std::string& identity, pb::Frame& frame);
  void HandleHello(const std::string& identity, const pb::Hello& hello);
  void HandleResults(WorkerId wid, pb::ResultBatch* results);
  void HandleRejected(WorkerId wid, const pb::Rejected& rejected);
  void DroppedFromWorker(const std::string& identity, DropReason drop);
  void HandleSignals(int signal_fd);
  void Interrupt(int signo);
  void Tick();
  void HeartbeatWorkers();
  void SayIfNoWorkers();
  int Finish(int signal_fd);
  RunStats::Extras Extras(double end_ms) const;
  int ExitCode(const RunStats::Extras& x) const;
  void SendDispatches();
  bool SendWelcome(const std::string& identity, const std::string& name);
  void TellReregister(const std::string& identity, const std::string& reason);
  void TellReregister(WorkerId wid, const std::string& reason);
  void RemoveWorker(WorkerId wid, Leaving how, const std::string& reason = "");
  void Forget(WorkerId wid, const std::string& reason);
  // --metrics: serving starts before the first worker; numbers go to the
  // server at most every 250 ms; the final ones stay --metrics-linger.
  bool StartMetrics();
  MetricsGauges Gauges() const;
  void PublishFinalMetrics(const RunSummary& summary, int signal_fd);
  bool Ready();
  void SayWaiting(double waited_ms, size_t live, size_t wanted);
  // Where records' start_ms count from: the first dispatch (before it,
  // the coordinator's start).
  double RunOriginMs() const { return started_ ? dispatch_start_ms_ : start_ms_; }

  const CoordinatorConfig& config_;
  TaskSource& source_;
  ForkServer* forks_;  // nullptr: local workers are spawned
  SteadyClock clock_;
  Console console_;
  Scheduler scheduler_;
  RunStats stats_;
  DropCounts drops_;
  RecordSink sink_{config_, clock_, console_, stats_, scheduler_};
  Transport transport_{static_cast<int>(kMaxRegistered)};
  PeerRegistry peers_{kMaxRegistered, clock_, config_.heartbeat_timeout_s * 1000};
  TempDir tmp_{"taskfarm"};  // the private ipc endpoint and the local workers' keys
  LocalWorkers local_;
  uint32_t run_id_ = static_cast<uint32_t>(std::random_device{}()) | 1;  // in every Welcome of this run
  std::unique_ptr<Metrics> metrics_;                                     // null without --metrics: nothing is counted
  std::unique_ptr<MetricsServer> metrics_server_;
  double start_ms_ = 0;            // the coordinator listens
  double workers_started_ms_ = 0;  // local workers start; waits count from here
  double dispatch_start_ms_ = 0;   // Ready() first said yes: the run proper starts
  bool started_ = false;           // that has happened
  bool input_done_ = false;
  bool fatal_ = false;  // the run cannot go on (no worker can start, none came)
  bool interrupted_ = false;
  bool hard_stop_ = false;  // a second signal, or --grace is over
  double grace_deadline_ms_ = 0;
  WaitNotes waits_;
  double last_heartbeat_ms_ = 0;
  int notes_of_lost_messages_ = 0;  // console lines about dropped or rejected messages, capped
};

// The run: start, then turn by turn (feed the scheduler, dispatch, record
// what finished, poll, handle what came in, tick) until every task has its
// record; then shut down and summarize.
int CoordinatorLoop::Run(int signal_fd) {
  if (!source_.streamed() && source_.share() == 0) {
    SayNoTasks(source_);  // no worker starts for nothing
    return 0;
  }
  if (!Listen() || !StartMetrics()) return 2;
  start_ms_ = clock_.NowMs();
  // A stream's local workers start with its first task: an empty stream
  // starts none, and a slow one does not count against --wait-workers.
  if (!source_.streamed()) StartLocalWorkers();
  for (;;) {
    Feed();
    if (!local_.pool && !scheduler_.idle()) StartLocalWorkers();
    if (Ready()) SendDispatches();
    sink_.WriteFinished(RunOriginMs());
    ShowProgress();
    if (input_done_ && scheduler_.idle()) break;
    if (GraceEnded()) continue;
    bool signalled = Poll(signal_fd);
    HandleSocketEvents();
    ReadMessages();
    // A worker that could not be started at all is not announced by a
    // SIGCHLD: it is reaped as one that was.
    if (signalled || (local_.pool && local_.pool->unreported())) HandleSignals(signal_fd);
    Tick();
  }
  return Finish(signal_fd);
}

bool CoordinatorLoop::Listen() {
  TransportOptions options;
  options.bind = config_.bind;
  options.insecure = config_.insecure;
  options.curve_secret_file = config_.curve_secret_file;
  options.authorized_keys_dir = config_.authorized_keys_dir;
  Status bound = Status::Ok();
  if (options.bind.empty()) {
    if (tmp_.path().empty()) bound = Unavailable("cannot create a temporary directory for the worker socket");
    options.bind = "ipc://" + tmp_.path() + "/coordinator.sock";
  }
  if (bound.ok()) bound = transport_.Bind(options);
  if (bound.ok()) return true;
  std::fprintf(stderr, "coordinator: %s\n", bound.message().c_str());
  return false;
}

std::vector<std::string> CoordinatorLoop::LocalWorkerArgs() {
  std::vector<std::string> args{"--connect",       transport_.endpoint(),
                                "--parent-pid",    std::to_string(getpid()),
                                "--concurrency",   std::to_string(config_.concurrency),
                                "--threads",       std::to_string(config_.threads),
                                "--processes",     std::to_string(config_.processes),
                                "--batch",         std::to_string(config_.batch),
                                "--max-body",      std::to_string(config_.max_body),
                                "--stall-timeout", std::to_string(config_.stall_timeout_s)};
  if (config_.no_reuse) args.push_back("--no-reuse");
  if (config_.http2) args.push_back("--http2");
  if (!config_.cacert.empty()) args.insert(args.end(), {"--cacert", config_.cacert});
  if (config_.insecure_tls) args.push_back("--insecure-tls");
  if (!config_.save_dir.empty()) args.push_back("--allow-save");
  // Local workers run as this user, for this run: they get every kind's
  // consent flag (test-only kinds only when enabled).
  for (const TaskKind* kind : AllKinds()) {
    if (kind->worker_flag.empty() || (kind->test_only && !config_.allow_test_kinds)) continue;
    if (std::find(args.begin(), args.end(), kind->worker_flag) == args.end()) args.emplace_back(kind->worker_flag);
  }
  if (transport_.encrypted() && config_.workers > 0) {
    // Local workers get a keypair of their own, made for this run and
    // allowed in; it lives in the run's private 0700 directory.
    std::string base = tmp_.path() + "/local-worker";
    StatusOr<std::string> secret = ReadZ85Key(config_.curve_secret_file);
    StatusOr<std::string> pub = secret.ok() ? PublicKeyOf(*secret) : secret;
    Status made = WriteKeyPair(base);
    if (made.ok()) made = pub.ok() ? WriteWholeFile(tmp_.path() + "/coordinator.pub", *pub + "\n") : pub.status();
    StatusOr<std::string> worker_pub = made.ok() ? ReadZ85Key(base + ".pub") : made;
    if (worker_pub.ok()) {
      transport_.AllowKey(*worker_pub);
      args.insert(args.end(), {"--curve-secret", base + ".key", "--server-key", tmp_.path() + "/coordinator.pub"});
    } else {
      console_.Note("coordinator: cannot make keys for local workers: " + worker_pub.status().message());
    }
  }
  return args;
}

void CoordinatorLoop::StartLocalWorkers() {
  workers_started_ms_ = clock_.NowMs();
  std::string binary = config_.worker_binary.empty() ? DefaultWorkerBinary() : config_.worker_binary;
  local_.pool = std::make_unique<WorkerPool>(binary, LocalWorkerArgs(),
                                             std::vector<std::string>{"TASKFARM_LOCAL_TOKEN=" + local_.token}, forks_);
  for (int i = 0; i < config_.workers; ++i) SpawnOne();
}

void CoordinatorLoop::SpawnOne() {
  try {
    local_.pool->Spawn("w" + std::to_string(local_.next++));
  } catch (const SpawnError& e) {
    // A program that cannot run (missing, not executable) never will; a
    // passing shortage (EAGAIN, ENOMEM) only ends the run if it leaves
    // nobody to run it: the others carry on.
    if (fatal_) return;
    bool hopeless = e.error == ENOENT || e.error == EACCES || e.error == ENOEXEC || e.error == ENOTDIR;
    if (!hopeless && (local_.pool->alive() > 0 || scheduler_.live_workers() > 0)) {
      console_.Note(std::string("coordinator: ") + e.what() + "; going on with the workers it has");
      return;
    }
    GiveUpOnLocalWorkers(std::string("coordinator: ") + e.what() + (hopeless ? " (give --worker-bin PATH)" : ""));
  }
}

// No local worker can start: say why once, and end the run.
void CoordinatorLoop::GiveUpOnLocalWorkers(const std::string& why) {
  fatal_ = true;
  console_.Note(why);
  scheduler_.StopDispatching("no worker could start");
  scheduler_.CancelInFlight("no worker could start");
}

// Tasks from the source into the scheduler's window, or, for a resumed run,
// straight to the record sink when the journal has them.
void CoordinatorLoop::Feed() {
  // Once no task starts, a stream is read no further: what it has read is
  // cancelled below, as a file's rest is; what it never read has no record.
  if (!scheduler_.dispatching()) source_.StopReading();
  double turn_end_ms = clock_.NowMs() + kCancelTurnMs;
  size_t chunk = 0;
  while (!input_done_ && scheduler_.WantsTasks()) {
    // Replayed records (a streamed --resume) never fill the window either:
    // they are bounded the same way.
    if ((!scheduler_.dispatching() || sink_.replayed() >= kCancelChunk) && ++chunk > kCancelChunk) {
      // Everything read now is cancelled on the spot (see kCancelChunk).
      sink_.WriteFinished(RunOriginMs());
      chunk = 0;
      if (clock_.NowMs() >= turn_end_ms) break;
    }
    std::optional<SourcedTask> task = source_.Next();
    if (!task) {
      input_done_ = source_.ended();  // else a stream has nothing yet: Run polls it
      break;
    }
    RecordSink::Resumed resumed = sink_.Resume(task->id, task->spec);
    if (resumed == RecordSink::Resumed::kWrongInput) {
      source_.StopReading();
      scheduler_.StopDispatching("the input is not the one the journal was written for");
      input_done_ = true;
      break;
    }
    if (resumed == RecordSink::Resumed::kReplayed && sink_.replayed() % kCancelChunk == 0) sink_.FlushReplayed();
    if (resumed == RecordSink::Resumed::kRun) scheduler_.AddTask(task->id, std::move(task->spec));
  }
  for (const std::string& error : source_.TakeErrors()) console_.Note(error);  // a stream's bad lines
  sink_.FlushReplayed();
}

void CoordinatorLoop::ShowProgress() {
  // A stream's total is 0 (unknown) until it ends.
  console_.Progress(stats_.done(), source_.share(), stats_.failed(),
                    started_ ? clock_.NowMs() - dispatch_start_ms_ : 0);
  if (metrics_ && metrics_->Due(clock_.NowMs())) metrics_server_->Publish(metrics_->Snapshot(Gauges(), clock_.NowMs()));
}

// After an interrupt, --grace is over: what still runs is cancelled.
bool CoordinatorLoop::GraceEnded() {
  if (!interrupted_ || hard_stop_ || clock_.NowMs() < grace_deadline_ms_) return false;
  scheduler_.CancelInFlight("the grace period (--grace) ended before it finished");
  hard_stop_ = true;
  return true;
}

// Waits for the socket, the signals, a stream's input or the next --rate
// start. True when a signal is waiting.
bool CoordinatorLoop::Poll(int signal_fd) {
  zmq::pollitem_t items[2 + Transport::kMaxPollItems] = {{nullptr, signal_fd, ZMQ_POLLIN, 0}};
  size_t n_items = 1 + transport_.PollItems(items + 1);
  // A stream is waited on only while the scheduler's window has room: that
  // window is the backpressure (the writer blocks while we do not read).
  if (source_.streamed() && !input_done_ && scheduler_.WantsTasks()) {
    items[n_items++] = {nullptr, source_.fd(), ZMQ_POLLIN, 0};
  }
  // Under --rate the next start is due at a known time: wake then, not at
  // the end of the usual 50 ms (rounded up: a start a little late is
  // caught up on, one early is not allowed).
  double wait_ms = 50;
  if (std::optional<double> next = scheduler_.NextDispatchMs()) {
    wait_ms = std::clamp(std::ceil(*next - clock_.NowMs()), 0.0, wait_ms);
  }
  zmq::poll(items, n_items, std::chrono::milliseconds(static_cast<int>(wait_ms)));
  return items[0].revents & ZMQ_POLLIN;
}

void CoordinatorLoop::HandleSocketEvents() {
  SocketEvents events = transport_.DrainEvents();
  for (uint64_t i = 0; i < events.handshake_failures; ++i) drops_.Count(DropReason::kHandshake);
  if (events.out_of_descriptors) {
    // More workers are connecting than this process may hold connections
    // for (see CheckOpenFileLimit).
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    console_.Note(
        Wrap(Format("coordinator: cannot accept more worker connections: too many open files "
                    "(%zu workers registered; this process may open %llu, `ulimit -Hn`)",
                    scheduler_.live_workers(), static_cast<unsigned long long>(limit.rlim_cur))));
  }
  for (const auto& [key, peer] : events.refused_keys) {
    console_.Note("coordinator: refused a worker from " + peer + ": its key " + key + " is not in " +
                  config_.authorized_keys_dir + " (copy its .pub file there to let it in)");
  }
}

// Drains the socket. Each message marks its sender heard as it is read
// (HandleMessage), and silence is judged only once the socket had nothing
// more (HeardEverything, then Tick): a worker whose heartbeat waits unread
// behind others' results is not silent. Bounded per turn, in messages and
// in time, so signals, dispatch and our own heartbeats keep up with a burst
// of big results; a turn cut short judges nobody.
void CoordinatorLoop::ReadMessages() {
  bool heard_everything = false;
  const double drain_until_ms = clock_.NowMs() + HeartbeatIntervalMs(config_) / 2;
  for (int i = 0; i < 4096; ++i) {
    if (i % 64 == 63 && clock_.NowMs() > drain_until_ms) break;
    Received r = transport_.Receive();
    if (r.kind == Received::Kind::kNothing) {
      heard_everything = true;
      break;
    }
    if (r.kind == Received::Kind::kUnreadable) {
      DroppedFromWorker(r.identity, r.drop);
    } else {
      HandleMessage(r.identity, *r.frame);
    }
  }
  transport_.ReleaseFrames();
  if (heard_everything) scheduler_.HeardEverything();
}

void CoordinatorLoop::HandleMessage(const std::string& identity, pb::Frame& frame) {
  if (frame.has_hello()) {
    HandleHello(identity, frame.hello());
    return;
  }
  std::optional<WorkerId> registered = peers_.Find(identity);
  if (!registered || !scheduler_.HasWorker(*registered)) {
    // Not registered (declared lost, or never said Hello): whatever it
    // brings is dropped, and it is told to start over.
    if (frame.has_results()) {
      for (int i = 0; i < frame.results().outcomes_size(); ++i) drops_.Count(DropReason::kUnknownTask);
    } else if (!frame.has_heartbeat()) {
      drops_.Count(DropReason::kUnknownPeer);
    }
    if (registered) peers_.Remove(*registered);
    TellReregister(identity, "not registered");
    return;
  }
  WorkerId wid = *registered;
  scheduler_.WorkerHeard(wid);
  switch (frame.body_case()) {
    case pb::Frame::kResults:
      HandleResults(wid, frame.mutable_results());
      break;
    case pb::Frame::kHeartbeat:
      break;
    case pb::Frame::kRejected:
      HandleRejected(wid, frame.rejected());
      break;
    case pb::Frame::kGoodbye:
      RemoveWorker(wid, Leaving::kGoodbye);
      break;
    default:
      drops_.Count(DropReason::kUnexpected);
  }
}

void CoordinatorLoop::HandleHello(const std::string& identity, const pb::Hello& hello) {
  std::optional<WorkerId> known = peers_.Find(identity);
  if (known && scheduler_.HasWorker(*known)) {
    // A repeated Hello (the Welcome crossed it): answer again, nothing more.
    SendWelcome(identity, scheduler_.Info(*known)->name);
    return;
  }
  if (known) peers_.Remove(*known);
  if (peers_.Full()) {
    // Not answered: a real worker tries again later (its Hello backs off),
    // a flood gets nothing for its trouble.
    drops_.Count(DropReason::kRefusedHello);
    return;
  }
  // Local only with this run's token, and only for a pid we spawned: a pid
  // alone is a claim anyone can make.
  pid_t pid = static_cast<pid_t>(hello.pid());
  bool local = local_.pool && !hello.local_token().empty() && hello.local_token() == local_.token &&
               local_.pool->Owns(pid) && !peers_.ByPid(pid);
  WorkerInfo info;
  std::string name = hello.name().empty() ? hello.host() + ":" + std::to_string(hello.pid()) : hello.name();
  if (name.size() > 128) name.resize(128);
  info.host = hello.host().substr(0, 256);
  info.pid = hello.pid();
  info.concurrency = hello.concurrency();
  info.threads = hello.threads();
  info.processes = hello.processes();
  info.max_batch = hello.max_batch();
  info.local = local;
  // The registry makes the name unique among the workers registered now,
  // so no worker can pass its work off under a live worker's name. (A name
  // freed by a worker that left may be taken again later.)
  info.name = peers_.UniqueName(name);
  WorkerId wid = scheduler_.AddWorker(info);
  if (metrics_) metrics_->WorkerRegistered(wid, info.host);
  peers_.Add(identity, wid, local ? pid : 0, info.name);  // a lost local one is found again
  if (local) local_.early_deaths = 0;
  // Gone before it could be welcomed (a peer that says Hello and
  // vanishes): no registration to keep.
  if (!SendWelcome(identity, info.name)) RemoveWorker(wid, Leaving::kUntrusted, "gone before it was welcomed");
}

void CoordinatorLoop::HandleResults(WorkerId wid, pb::ResultBatch* results) {
  for (const pb::LeaseRef& l : results->started()) (void)scheduler_.OnStarted(wid, l);
  std::string invalid;
  for (pb::Outcome& o : *results->mutable_outcomes()) {
    OutcomeVerdict v = scheduler_.OnOutcome(wid, &o, &invalid);
    if (v == OutcomeVerdict::kInvalid) {
      drops_.Count(DropReason::kInvalidResult);
      break;
    }
    if (v != OutcomeVerdict::kAccepted) drops_.Count(DropReason::kUnknownTask);
  }
  if (!invalid.empty()) {
    // A worker that lies about one result is trusted with no other: the
    // rest of this message is dropped, its leases run elsewhere.
    console_.Note("coordinator: dropped an invalid result from worker " + scheduler_.Info(wid)->name + " (" + invalid +
                  "); its tasks run elsewhere");
    Forget(wid, "sent an invalid result: " + invalid);
  }
}

// The worker could not accept a message we sent: the tasks it named run
// again elsewhere (or fail once out of retries) instead of waiting for
// results that will never come.
void CoordinatorLoop::HandleRejected(WorkerId wid, const pb::Rejected& rejected) {
  std::string reason = Excerpt(rejected.reason().empty() ? "no reason given" : rejected.reason());
  int released = 0;
  for (const pb::LeaseRef& lease : rejected.leases()) {
    if (scheduler_.OnRejected(wid, lease, reason)) {
      ++released;
    } else {
      drops_.Count(DropReason::kUnknownTask);
    }
  }
  if (notes_of_lost_messages_++ < 5) {
    console_.Note("coordinator: worker " + Quote(scheduler_.Info(wid)->name) + " could not accept a message (" +
                  reason + "); " + std::to_string(released) + " of its task(s) released");
  }
  if (rejected.leases_size() == 0) {
    // It could not tell which leases that message carried (garbage, a body
    // it does not know): none of what it holds can be trusted to come back,
    // so all of it runs elsewhere, without blame, and it starts over.
    Forget(wid, "could not accept a message (" + reason + ") and could not say which tasks it held");
  }
}

// A message from a registered worker that cannot be read may have carried
// results: waiting for them would hang the run. So its leases are re-queued
// without blame (the tasks did nothing wrong) and the worker is told to
// Reregister: it drops what it holds and says Hello again, as a new
// registration. From a stranger it is only counted.
void CoordinatorLoop::DroppedFromWorker(const std::string& identity, DropReason drop) {
  drops_.Count(drop);
  std::optional<WorkerId> registered = peers_.Find(identity);
  if (!registered || !scheduler_.HasWorker(*registered)) return;
  WorkerId wid = *registered;
  std::string name = scheduler_.Info(wid)->name;
  size_t leases = scheduler_.LeasesOf(wid).size();
  std::string why =
      "the coordinator could not read a message from this worker (" + std::string(DropReasonName(drop)) + ")";
  Forget(wid, why);
  if (notes_of_lost_messages_++ < 5) {
    console_.Note("coordinator: " + why + ": worker " + Quote(name) + " must register again; its " +
                  std::to_string(leases) + " task(s) run again");
  }
}

void CoordinatorLoop::HandleSignals(int signal_fd) {
  while (int sig = NextSignal(signal_fd)) {
    if (sig == SIGINT || sig == SIGTERM) Interrupt(sig);
  }
  // SIGCHLD: reap every child that ended (signals coalesce, so always reap all).
  if (!local_.pool) {
    // No worker yet (a stream starts them with its first line): a child
    // that ended is not ours to replace (`--tasks <(generate)`'s writer).
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    return;
  }
  for (const ChildExit& c : local_.pool->Reap()) {
    PeerRegistry::Ended ended = peers_.ProcessEnded(c.pid);
    if (ended.registered && scheduler_.HasWorker(*ended.registered)) {
      RemoveWorker(*ended.registered, Leaving::kDied, c.how);
    } else if (ended.registered) {
      peers_.Remove(*ended.registered);
    } else if (!c.clean && !ended.was_lost) {
      ++local_.early_deaths;
      local_.last_early_death = c.how;
    }
    if (!scheduler_.dispatching() || fatal_) continue;
    if (local_.early_deaths >= 5) {
      GiveUpOnLocalWorkers("coordinator: local workers exit before they start (last: " + local_.last_early_death +
                           "); is the worker program at " +
                           (config_.worker_binary.empty() ? DefaultWorkerBinary() : config_.worker_binary) + "?");
      continue;
    }
    ++local_.replaced;
    SpawnOne();
  }
}

void CoordinatorLoop::Interrupt(int signo) {
  std::string name = signo == SIGINT ? "SIGINT" : "SIGTERM";
  if (interrupted_) {
    hard_stop_ = true;
    console_.Note("Second " + name + ": stopping now.");
    scheduler_.CancelInFlight("interrupted by a second " + name);
    return;
  }
  interrupted_ = true;
  grace_deadline_ms_ = clock_.NowMs() + config_.grace_s * 1000;
  if (scheduler_.in_flight() == 0) {
    console_.Note("Interrupted (" + name + "): no new tasks; none was running.");
  } else {
    console_.Note("Interrupted (" + name + "): no new tasks; up to " + FormatDuration(config_.grace_s) + " for " +
                  std::to_string(scheduler_.in_flight()) + " running task(s). Ctrl-C again stops now.");
  }
  scheduler_.StopDispatching("the run was interrupted (" + name + ")");
}

// What the scheduler's clock says about the workers, carried out.
void CoordinatorLoop::Tick() {
  Scheduler::TickResult tick = scheduler_.Tick();
  for (WorkerId wid : tick.lost) RemoveWorker(wid, Leaving::kLost);
  for (WorkerId wid : tick.stalled) {
    // It answers heartbeats and does no work: a local one is killed (its
    // exit is reaped as usual), a remote one told to start over.
    pid_t pid = peers_.PidOf(wid);
    if (!pid) TellReregister(wid, "took tasks and did no work");
    RemoveWorker(wid, Leaving::kLost);
    if (pid) local_.pool->Kill(pid, SIGKILL);
  }
  for (WorkerId wid : tick.stuck) {
    // A task ran past its timeout and its worker did not stop it: stop the
    // worker. Local: kill (the exit brings the leases back and a
    // replacement). Remote: forget it and tell it to start over.
    if (pid_t pid = peers_.PidOf(wid)) {
      local_.pool->Kill(pid, SIGKILL);
      continue;
    }
    TellReregister(wid, "a task ran past --task-timeout and was not stopped");
    RemoveWorker(wid, Leaving::kDied, "a task ran past --task-timeout");
  }
  // A local worker lost for another heartbeat timeout is stuck for good.
  for (pid_t pid : peers_.TakeLostTooLong()) local_.pool->Kill(pid, SIGKILL);
  HeartbeatWorkers();
  SayIfNoWorkers();
}

void CoordinatorLoop::HeartbeatWorkers() {
  double now = clock_.NowMs();
  if (now - last_heartbeat_ms_ < HeartbeatIntervalMs(config_)) return;
  last_heartbeat_ms_ = now;
  peers_.ForEach([&](WorkerId, const std::string& identity) {
    pb::Frame f;
    f.mutable_heartbeat()->set_seq(static_cast<uint64_t>(now));
    transport_.Send(identity, &f);
  });
}

// Mid-run, the last worker left (remote ones do): the tasks wait for one,
// and that is said as at the start, not left to a frozen progress line.
void CoordinatorLoop::SayIfNoWorkers() {
  if (!started_ || !scheduler_.dispatching() || scheduler_.idle() || scheduler_.live_workers() > 0) {
    waits_.none_since_ms = -1;
    return;
  }
  if (waits_.none_since_ms < 0) waits_.none_since_ms = clock_.NowMs();
  if (waits_.Due(clock_.NowMs(), clock_.NowMs() - waits_.none_since_ms, 0)) {
    console_.Note(Format("coordinator: no worker is connected: %zu task(s) wait for one on %s", scheduler_.in_memory(),
                         transport_.listening().c_str()));
  }
}

// The run is over: every worker is told, the files are closed, the summary
// is said and written. Returns the run's exit code.
int CoordinatorLoop::Finish(int signal_fd) {
  sink_.WriteFinished(RunOriginMs());
  // The run's end: shutting the workers down is not part of its time.
  double end_ms = clock_.NowMs();
  console_.ClearProgress();
  sink_.SayCancelledUnstarted();
  transport_.ShutDownWorkers(peers_, 1500);
  if (local_.pool) {
    // A local worker that never registered (still starting when a short
    // run ended) hears no Shutdown and holds nothing: it was given no task.
    // SIGKILL, not SIGTERM: a worker still starting reads its signals only
    // once its loop runs, a few milliseconds that every short run would
    // wait out.
    for (pid_t pid : local_.pool->pids()) {
      if (!peers_.ByPid(pid)) local_.pool->Kill(pid, SIGKILL);
    }
    local_.pool->StopAll(1000);
  }
  sink_.Close();
  RunStats::Extras x = Extras(end_ms);
  if (source_.share() == 0 && x.bad_input_lines == 0 && !interrupted_ && sink_.write_failures().empty() &&
      !sink_.input_mismatch() && !fatal_) {
    SayNoTasks(source_);  // an empty stream: no summary of nothing
    return 0;
  }
  RunSummary summary = stats_.Summary(scheduler_.worker_stats(), x);
  std::fputs(summary.Text().c_str(), console_.out());
  std::fflush(console_.out());
  sink_.WriteReports(summary);
  if (metrics_) PublishFinalMetrics(summary, signal_fd);
  return ExitCode(x);
}

RunStats::Extras CoordinatorLoop::Extras(double end_ms) const {
  RunStats::Extras x;
  // For a stream, the time before its first line is neither: nothing was asked yet.
  x.wait_ms = !local_.pool ? 0 : (started_ ? dispatch_start_ms_ : end_ms) - workers_started_ms_;
  x.run_ms = started_ ? end_ms - dispatch_start_ms_ : 0;
  x.drops = drops_;
  x.late_results = scheduler_.late_results();
  x.workers_replaced = local_.replaced;
  x.interrupted = interrupted_;
  x.peak_rss_kb = PeakRssKb();
  x.unjournalled = sink_.unjournalled();
  x.write_failures = sink_.write_failures();
  x.bad_input_lines = source_.bad_lines();
  x.rate_limit_per_s = config_.rate_per_s;
  x.starts = scheduler_.start_stats().starts;
  x.starts_span_ms = scheduler_.start_stats().last_ms - scheduler_.start_stats().first_ms;
  x.per_host_limit = static_cast<uint32_t>(std::max(0, config_.per_host));
  x.host_peak_in_flight = scheduler_.host_peak_in_flight();
  x.hosts = scheduler_.hosts_seen();
  if (source_.shard()) {
    x.shard = source_.shard()->Name();
    x.input_tasks = source_.total();
  }
  return x;
}

int CoordinatorLoop::ExitCode(const RunStats::Extras& x) const {
  // A file that could not be written outranks an interrupt: the user knows
  // they pressed Ctrl-C, not that a result file is incomplete.
  if (!sink_.write_failures().empty()) return 3;
  if (sink_.input_mismatch()) return 2;  // the wrong input for --resume: a usage error
  if (interrupted_) return 130;
  // A stream's bad line was skipped: not everything asked for was done.
  return stats_.failed() > 0 || fatal_ || x.bad_input_lines > 0 ? 1 : 0;
}

void CoordinatorLoop::SendDispatches() {
  for (Dispatch& d : scheduler_.TakeDispatches()) {
    const std::string* identity = peers_.IdentityOf(d.worker);
    if (!identity) continue;
    if (!transport_.SendTasks(*identity, &d.tasks) && scheduler_.HasWorker(d.worker)) {
      // Tasks that never left: the worker is gone or not reading. Its
      // leases go back at once, without blame, instead of waiting for a
      // timeout.
      RemoveWorker(d.worker, Leaving::kUntrusted, "gone, or not reading its messages");
    }
  }
}

bool CoordinatorLoop::SendWelcome(const std::string& identity, const std::string& name) {
  pb::Frame f;
  f.mutable_welcome()->set_worker_name(name);
  f.mutable_welcome()->set_heartbeat_ms(static_cast<uint32_t>(HeartbeatIntervalMs(config_)));
  f.mutable_welcome()->set_run_id(run_id_);
  return transport_.Send(identity, &f);
}

void CoordinatorLoop::TellReregister(const std::string& identity, const std::string& reason) {
  pb::Frame f;
  f.mutable_reregister()->set_reason(reason);
  transport_.Send(identity, &f);
}

void CoordinatorLoop::TellReregister(WorkerId wid, const std::string& reason) {
  if (const std::string* identity = peers_.IdentityOf(wid)) TellReregister(*identity, reason);
}

// Every registered worker leaves through here: the metrics, the scheduler
// (what becomes of its leases) and the registry hear of it together.
void CoordinatorLoop::RemoveWorker(WorkerId wid, Leaving how, const std::string& reason) {
  switch (how) {
    case Leaving::kGoodbye:
      if (metrics_) metrics_->WorkerGone(wid, true);
      scheduler_.WorkerLeft(wid);
      break;
    case Leaving::kUntrusted:
      if (metrics_) metrics_->WorkerGone(wid, false);
      scheduler_.Forget(wid, reason);
      break;
    case Leaving::kDied:
      if (metrics_) metrics_->WorkerGone(wid, false);
      scheduler_.WorkerGone(wid, reason);
      break;
    case Leaving::kLost:  // the scheduler already counted it lost (no heartbeat, stalled)
      if (metrics_) metrics_->WorkerGone(wid, false);
      break;
  }
  peers_.Remove(wid, how == Leaving::kLost ? PeerRegistry::Why::kLost : PeerRegistry::Why::kGone);
}

// Stops trusting a registered worker: unregistered, and told to start over
// (a real worker drops what it holds and says Hello again, with a clean
// slate).
void CoordinatorLoop::Forget(WorkerId wid, const std::string& reason) {
  TellReregister(wid, reason);
  RemoveWorker(wid, Leaving::kUntrusted, reason);
}

bool CoordinatorLoop::StartMetrics() {
  if (config_.metrics.empty()) return true;
  StatusOr<std::unique_ptr<MetricsServer>> started = MetricsServer::Start(config_.metrics, config_.insecure);
  if (!started.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", started.status().message().c_str());
    return false;
  }
  metrics_server_ = std::move(started).value();
  metrics_ = std::make_unique<Metrics>();
  sink_.AttachMetrics(metrics_.get());
  metrics_server_->Publish(metrics_->Snapshot(Gauges(), clock_.NowMs()));
  if (!IsLoopbackMetricsAddress(config_.metrics)) {
    std::fprintf(stderr, "WARNING: serving metrics on %s without authentication (--insecure)\n",
                 config_.metrics.c_str());
  }
  console_.Note("metrics: " + metrics_server_->url() + "/metrics");
  return true;
}

MetricsGauges CoordinatorLoop::Gauges() const {
  MetricsGauges g;
  g.in_flight = scheduler_.in_flight();
  g.queued = scheduler_.in_memory() - std::min(scheduler_.in_memory(), scheduler_.in_flight());
  g.input_tasks = source_.share();
  g.replaced = local_.replaced;
  g.starts = scheduler_.start_stats().starts;
  g.late_results = scheduler_.late_results();
  g.drops = drops_;
  g.workers = &scheduler_.worker_stats();
  g.connected = scheduler_.live_workers();
  g.run_s = started_ ? (clock_.NowMs() - dispatch_start_ms_) / 1000 : 0;
  return g;
}

// The run's final numbers, served --metrics-linger longer so that a scrape
// after the last record sees them (Prometheus scrapes at intervals; the
// process ending first would leave its last seconds unscraped). A signal
// ends the wait.
void CoordinatorLoop::PublishFinalMetrics(const RunSummary& summary, int signal_fd) {
  MetricsGauges g = Gauges();
  g.run_s = summary.run_ms / 1000;
  std::string report = sink_.write_failures().empty() ? config_.report_path : "";
  metrics_server_->Publish(metrics_->Final(g, clock_.NowMs(), summary.Text(), report));
  if (config_.metrics_linger_s <= 0) return;
  console_.Note("metrics: the final numbers stay on " + metrics_server_->url() + " for " +
                FormatDuration(config_.metrics_linger_s) + " (Ctrl-C ends this)");
  pollfd wait{signal_fd, POLLIN, 0};
  double until = clock_.NowMs() + config_.metrics_linger_s * 1000;
  for (double left; (left = until - clock_.NowMs()) > 0;) {
    if (poll(&wait, 1, static_cast<int>(std::ceil(left))) <= 0) continue;
    if (ReadStopSignal(signal_fd)) return;
  }
}

// Dispatch starts once --min-workers have said Hello (as long as
// --wait-workers allows). Local workers are not waited for: credit keeps the
// first one from taking more than it can start, and the others take their
// share as they arrive, so waiting would only add their start-up time.
bool CoordinatorLoop::Ready() {
  if (started_) return true;
  // A stream's workers start with its first line (local_.pool): before it,
  // the input is awaited, not workers, and no wait is counted or given up on.
  if (!local_.pool) return false;
  double now = clock_.NowMs();
  double waited = now - workers_started_ms_;
  size_t live = scheduler_.live_workers();
  size_t wanted = static_cast<size_t>(std::max(1, config_.min_workers));
  if (live >= wanted) {
    started_ = true;
    dispatch_start_ms_ = now;
    if (waits_.said > 0) {
      console_.Note(
          Format("coordinator: %zu of %zu workers connected after %.1f s; starting", live, wanted, waited / 1000));
    }
    return true;
  }
  if (config_.wait_workers_s > 0 && waited > config_.wait_workers_s * 1000 && !fatal_) {
    fatal_ = true;
    console_.Note(
        Wrap(Format("coordinator: %zu of %zu workers connected to %s within %s (--wait-workers); giving up", live,
                    wanted, transport_.listening().c_str(), FormatDuration(config_.wait_workers_s).c_str())));
    scheduler_.StopDispatching("not enough workers connected");
  }
  // Local workers alone are not waited for aloud: they are ours, starting,
  // and a slow start on a busy machine is no news (a failed one is said).
  bool remote = !config_.bind.empty();
  if (!fatal_ && scheduler_.dispatching() && remote) SayWaiting(waited, live, wanted);
  return false;
}

void CoordinatorLoop::SayWaiting(double waited_ms, size_t live, size_t wanted) {
  if (!waits_.Due(clock_.NowMs(), waited_ms, live)) return;
  std::string limit = config_.wait_workers_s > 0
                          ? Format("giving up in %.1f s", std::max(0.0, config_.wait_workers_s - waited_ms / 1000))
                          : std::string("no time limit");
  console_.Note(Wrap(Format("coordinator: waiting for workers on %s: %zu of %zu connected (%s)",
                            transport_.listening().c_str(), live, wanted, limit.c_str())));
}

// --dry-run: the tasks as they would run, one task line each; nothing
// starts. What a stream has sent is printed whenever it has nothing more
// yet, so each line shows as it arrives; Ctrl-C ends the wait (130).
int DryRun(TaskSource& source, int signal_fd) {
  std::string out;
  auto flush = [&] {
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
    return std::fflush(stdout) == 0 && !std::ferror(stdout);
  };
  for (;;) {
    if (std::optional<SourcedTask> task = source.Next()) {
      out += FormatTask(task->spec);
      out += '\n';
      if (out.size() > (1 << 16) && !flush()) return 3;
      continue;
    }
    for (const std::string& error : source.TakeErrors()) std::fprintf(stderr, "%s\n", error.c_str());
    if (source.ended()) break;
    if (!flush()) return 3;
    pollfd wait[2] = {{source.fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (poll(wait, 2, -1) < 0 && errno != EINTR) {
      std::fprintf(stderr, "coordinator: cannot wait for %s: %s\n", source.name().c_str(), std::strerror(errno));
      return 1;
    }
    if (ReadStopSignal(signal_fd)) return flush() ? 130 : 3;
  }
  if (!flush()) return 3;
  if (source.share() == 0 && source.bad_lines() == 0) SayNoTasks(source);
  return source.bad_lines() > 0 ? 1 : 0;
}

// The task source (file, stream, URL or argument list), or null after
// saying on stderr what is wrong with it.
std::unique_ptr<TaskSource> OpenTaskSource(const TaskSourceOptions& src) {
  TaskSource::Opened opened = TaskSource::Open(src);
  if (opened.errors.empty()) return std::move(opened.source);
  for (const auto& e : opened.errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (opened.error_lines > opened.errors.size()) {
    std::fprintf(stderr, "... and %zu more bad lines\n", opened.error_lines - opened.errors.size());
  }
  if (opened.error_lines > 0) {
    std::fprintf(stderr, "nothing was run: fix the %s and try again\n",
                 src.exec_template ? "argument list"
                 : src.urls_only   ? "URL list"
                                   : "task file");
  }
  return nullptr;
}

}  // namespace

int RunCoordinator(const CoordinatorConfig& config_in) {
  CoordinatorConfig config = config_in;
  if (config.workers < 0) config.workers = 1;
  // First of all, while this process is one thread with nothing open: the
  // fork server must inherit nothing of what comes next.
  std::unique_ptr<ForkServer> forks;
  if (config.worker_program && config.worker_binary.empty() && config.workers > 0 && !config.dry_run) {
    forks = ForkServer::Start(config.worker_program, config.warm_up_worker);
  }
  // Signals arrive on a signalfd polled by the loop. Blocked before any
  // thread starts, so every thread inherits the mask; children unblock.
  UniqueFd signal_fd = BlockSignalsToFd({SIGINT, SIGTERM, SIGCHLD});
  signal(SIGPIPE, SIG_IGN);
  TaskSourceOptions src;
  bool demo_wanted = false;
  if (Status s = InputOptions(config, &src, &demo_wanted); !s.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", s.message().c_str());
    return 2;
  }
  if (Status fits = config.dry_run ? Status::Ok() : CheckOpenFileLimit(config); !fits.ok()) {
    std::fprintf(stderr, "%s\n", Wrap("coordinator: " + fits.message()).c_str());
    return 2;
  }
  Demo demo;  // its server outlives the run
  if (demo_wanted) {
    if (Status started = demo.Start(&config); !started.ok()) {
      std::fprintf(stderr, "coordinator: %s\n", started.message().c_str());
      return 1;
    }
    src.path = demo.task_file();
  }
  std::unique_ptr<TaskSource> source = OpenTaskSource(src);
  demo.RemoveTaskFile();
  if (!source) return 2;
  if (config.dry_run) return DryRun(*source, signal_fd.get());
  CoordinatorLoop loop(config, *source, forks.get());
  if (Status opened = loop.OpenOutputs(); !opened.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", opened.message().c_str());
    return 2;
  }
  return loop.Run(signal_fd.get());
}

}  // namespace taskfarm
