// The worker event loop. One thread owns the ZeroMQ socket and libcurl's
// multi handle; curl_multi_poll waits on libcurl's sockets, the socket's
// ZMQ_FD and every executor's descriptors together (see
// docs/ARCHITECTURE.md for why this way). The loop owns leases, slots and
// messages; the executors (worker/executor.h) run the tasks.
#include "worker/worker.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/duration.h"
#include "common/frame_codec.h"
#include "common/posix.h"
#include "common/quote.h"
#include "common/socket_monitor.h"
#include "common/status.h"
#include "common/task_kind.h"
#include "common/thread_stats.h"
#include "common/zmq_util.h"
#include "worker/curl_handles.h"
#include "worker/executor.h"
#include "worker/url_executor.h"

namespace taskfarm {
namespace {

uint64_t LeaseKey(uint32_t task_id, uint32_t attempt) { return (static_cast<uint64_t>(task_id) << 32) | attempt; }

std::string HostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// Longest error sentence a result carries. Ours are a line; a longer one
// (a library's message echoing a huge input) is cut, so that one result can
// never crowd a batch toward kMaxFrameBytes or bloat the output.
constexpr size_t kMaxErrorBytes = 4096;

// Milliseconds to the microsecond: more digits are noise, and they bloat JSON.
double RoundUs(double ms) { return std::round(ms * 1000.0) / 1000.0; }

// Queues of leases waiting for a slot, by Resource (kInline last).
constexpr int kQueues = kSlotResources + 1;

int ResourceIndex(Resource r) { return static_cast<int>(r); }

// One leased task, from arrival to result.
struct Lease {
  pb::Assignment assignment;
  const TaskKind* kind = nullptr;
  Executor* executor = nullptr;  // nullptr: this worker has none for the kind
  bool started = false;
  double start_ms = 0;  // steady clock
  double started_unix_ms = 0;
  double cpu_user_ms = 0;  // io tasks: their share of the loop's CPU
  double cpu_sys_ms = 0;
  double cpu_wait_ms = 0;
};

class WorkerLoop {
 public:
  explicit WorkerLoop(const WorkerConfig& config)
      : config_(config),
        name_(config.name.empty() ? HostName() + ":" + std::to_string(getpid()) : config.name),
        context_{config, [this] { executors_.url->Wakeup(); }, [this] { FlushResults(); }},
        executors_(MakeExecutors(context_)) {
    for (auto [what, executor] : executors_.by_kind) by_field_[static_cast<size_t>(what)] = executor;
    limit_[ResourceIndex(Resource::kIo)] = std::max(1, config.concurrency);
    limit_[ResourceIndex(Resource::kCpu)] = std::max(1, config.threads);
    limit_[ResourceIndex(Resource::kProcess)] = std::max(1, config.processes);
  }

  int Run(int signal_fd);

 private:
  // A new socket to the coordinator; fails only when the CURVE key files
  // cannot be read.
  Status Connect();
  bool Send(pb::Frame frame);
  // "I am alive": the Welcome's READY, our own timer's, an idle answer.
  void SendHeartbeat();
  bool SendBytes(const std::string& bytes);
  void SendHello();
  void CheckHandshake();
  // The socket had nothing more to read: see heard_until_ms_.
  void HeardEverything();
  void Handle(const pb::Frame& frame);
  void Accept(const pb::Assignment& a);
  void StartReady();
  bool Startable() const;
  void Start(uint64_t key, Lease& lease);
  void Release(const Lease& lease);
  void Complete(uint64_t key, pb::Result result, bool retryable);
  void Fail(uint64_t key, Code code, std::string error);
  // Collects finished tasks; true if any finished.
  bool CollectDone();
  void ChargeLoopCpu();
  void FlushResults();
  void Reject(std::string_view bytes, DropReason drop);
  void SendRejections();
  void DropAllLeases();
  void HandBack();
  // Results or start notes waiting to be sent.
  bool HasPending() const { return pending_.outcomes_size() > 0 || pending_.started_size() > 0; }
  int NextTimeoutMs();
  bool ParentGone() const { return config_.parent_pid > 0 && getppid() != config_.parent_pid; }
  // A worker started by hand says on stderr what it is doing (connecting,
  // registered, lost, run over, leaving); the coordinator's local workers
  // (--parent-pid) keep quiet, and their warnings carry their name, since
  // many share one terminal.
  bool ByHand() const { return config_.parent_pid <= 0; }
  std::string Who() const { return ByHand() ? "worker" : "worker " + name_; }
  // Whether handshake events reach us (libzmq may refuse a monitor).
  bool Watching() const { return monitor_ && monitor_->watching(); }

  const WorkerConfig& config_;
  std::string name_;
  std::string host_ = HostName();
  SteadyClock clock_;
  zmq::context_t ctx_{1};
  std::optional<zmq::socket_t> socket_;
  std::optional<SocketMonitor> monitor_;  // after socket_: stopped before it closes
  bool warned_handshake_ = false;
  ExecutorContext context_;
  Executors executors_;
  Executor* by_field_[64] = {};  // by TaskSpec field number
  int limit_[kSlotResources] = {};
  int running_[kSlotResources] = {};
  int running_total_ = 0;           // across resources: bounded by --concurrency
  std::vector<Finished> finished_;  // reused by CollectDone
  std::vector<curl_waitfd> waits_;  // reused by the loop's wait

  bool registered_ = false;
  uint32_t run_id_ = 0;        // the run of the last Welcome
  uint64_t tasks_done_ = 0;    // results of this run, for "run over: N tasks done"
  bool said_no_word_ = false;  // "no word from" is said once until registered again
  double next_hello_ms_ = 0;
  bool hello_waits_for_handshake_ = false;  // a Hello failed: the connection is not up yet
  // After a handshake, this many Hellos are retried within 10 ms (SendHello).
  static constexpr int kHelloQuickRetries = 10;
  int hello_quick_retries_ = 0;
  double hello_backoff_ms_ = 1000;
  double last_send_ms_ = 0;
  double last_recv_ms_ = 0;
  // The last time the socket had nothing more to read. The coordinator's
  // silence (--coordinator-timeout) is judged up to here, never up to
  // whenever the loop got round to looking: what waits unread is not
  // silence.
  double heard_until_ms_ = 0;
  double heartbeat_ms_ = 1000;
  uint64_t heartbeat_seq_ = 0;
  bool quit_ = false;

  std::unordered_map<uint64_t, Lease> leases_;
  std::deque<uint64_t> waiting_[kQueues];  // by Resource
  // Results wait in a reused frame: Clear() keeps the repeated field's
  // elements, so a steady stream of results allocates nothing per result.
  pb::Frame results_frame_;
  pb::ResultBatch& pending_ = *results_frame_.mutable_results();
  pb::Frame chunk_frame_;               // one message's share when pending_ is over --batch
  std::vector<int> chunk_ends_;         // where FlushResults splits pending_, reused
  std::deque<std::string> rejections_;  // encoded Rejected frames not sent yet
  int rejections_logged_ = 0;           // stderr says the first few, not every one
  std::string send_buffer_;
  google::protobuf::Arena arena_;  // incoming frames, reset every loop turn
  double oldest_pending_ms_ = 0;
  ThreadTimes loop_times_;
  uint32_t max_rss_kb_ = 0;  // refreshed every 100 ms, not per task
  double last_rss_ms_ = 0;
  bool loop_times_stale_ = true;  // loop_times_ must be re-read before charging
};

Status WorkerLoop::Connect() {
  monitor_.reset();  // the old socket's, stopped before that socket closes
  socket_.emplace(ctx_, zmq::socket_type::dealer);
  ConfigureSocket(*socket_, 0);
  // Only queue messages on completed connections: a Hello sent while the
  // coordinator is away fails fast instead of piling up.
  socket_->set(zmq::sockopt::immediate, 1);
  socket_->set(zmq::sockopt::sndhwm, 10000);
  socket_->set(zmq::sockopt::rcvhwm, 10000);
  // Reconnects back off from 100 ms to at most 1 s. The cap is how late a
  // worker that started first hears a coordinator that has just come up:
  // with libzmq's 5 s a farm took up to 5 s to register (300 workers: 2.7
  // s; 1,000: 3.3 s), with 1 s it takes 1.1 s. libzmq adds up to
  // reconnect_ivl (100 ms) of random jitter to every attempt, and workers
  // start at different times, so a farm's attempts spread over the second
  // rather than arriving as one herd; an attempt at a port nobody listens
  // on costs a SYN and its refusal, on a real network a SYN per second.
  socket_->set(zmq::sockopt::reconnect_ivl, 100);
  socket_->set(zmq::sockopt::reconnect_ivl_max, 1000);
  if (!config_.curve_secret_file.empty() || !config_.server_key_file.empty()) {
    StatusOr<std::string> secret = ReadZ85Key(config_.curve_secret_file);
    if (!secret.ok()) return secret.status();
    StatusOr<std::string> server = ReadZ85Key(config_.server_key_file);
    if (!server.ok()) return server.status();
    StatusOr<std::string> public_key = PublicKeyOf(*secret);
    if (!public_key.ok()) return public_key.status();
    socket_->set(zmq::sockopt::curve_secretkey, *secret);
    socket_->set(zmq::sockopt::curve_publickey, *public_key);
    socket_->set(zmq::sockopt::curve_serverkey, *server);
  }
  // A fresh random routing id per connection: the coordinator treats a new
  // id as a new worker, so a worker that comes back re-registers cleanly.
  std::random_device rd;
  std::string id = "w" + std::to_string(rd()) + std::to_string(rd());
  socket_->set(zmq::sockopt::routing_id, id);
  // Handshake failures (a refused key, a server key that does not match)
  // are invisible to the application otherwise: watch for them. A
  // handshake that succeeds is watched too: that is the moment a Hello can
  // go out (ZMQ_IMMEDIATE refuses it before), so the worker need not retry
  // on a timer.
  monitor_.emplace(ctx_, *socket_,
                   ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
  socket_->connect(config_.connect);
  registered_ = false;
  next_hello_ms_ = 0;
  hello_waits_for_handshake_ = false;
  last_recv_ms_ = heard_until_ms_ = clock_.NowMs();
  return Status::Ok();
}

// This loop waits at most one heartbeat interval at a time, so a gap since
// the last read of everything longer than two means this worker was stopped
// or starved of CPU (and libzmq's I/O thread with it: what the coordinator
// sent meanwhile may still be in the kernel's buffers). That time counts as
// two intervals, not as the coordinator's silence.
void WorkerLoop::HeardEverything() {
  double now = clock_.NowMs();
  double unheard = now - heard_until_ms_ - 2 * heartbeat_ms_;
  if (unheard > 0) last_recv_ms_ = std::min(last_recv_ms_ + unheard, now);
  heard_until_ms_ = now;
}

bool WorkerLoop::Send(pb::Frame frame) { return SendBytes(EncodeFrame(std::move(frame))); }

void WorkerLoop::SendHeartbeat() {
  pb::Frame f;
  f.mutable_heartbeat()->set_seq(++heartbeat_seq_);
  Send(std::move(f));
}

bool WorkerLoop::SendBytes(const std::string& bytes) {
  try {
    auto sent = socket_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    if (sent) last_send_ms_ = clock_.NowMs();
    return sent.has_value();
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "%s: send failed: %s\n", Who().c_str(), e.what());
    return false;
  }
}

// Says once why we cannot get in, instead of retrying in silence.
void WorkerLoop::CheckHandshake() {
  if (!monitor_) return;
  while (std::optional<MonitorEvent> event = monitor_->Next()) {
    uint16_t id = event->id;
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      // A Hello that could not go out waits for exactly this. (A reconnect
      // while registered, or a paused re-Hello after --forever's Shutdown,
      // keeps its own timing.)
      hello_quick_retries_ = kHelloQuickRetries;
      if (hello_waits_for_handshake_) next_hello_ms_ = 0;
      continue;
    }
    if (warned_handshake_) continue;
    warned_handshake_ = true;
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      std::fprintf(stderr,
                   "%s: %s refused this worker's key; is the .pub of %s in the coordinator's "
                   "--authorized-keys directory? Still trying.\n",
                   Who().c_str(), config_.connect.c_str(), config_.curve_secret_file.c_str());
    } else {
      std::fprintf(stderr,
                   "%s: the handshake with %s failed (wrong --server-key, missing keys on one side, or "
                   "not a taskfarm coordinator). Still trying.\n",
                   Who().c_str(), config_.connect.c_str());
    }
  }
}

void WorkerLoop::SendHello() {
  pb::Frame f;
  auto* h = f.mutable_hello();
  h->set_name(name_);
  h->set_host(host_);
  h->set_pid(static_cast<uint32_t>(getpid()));
  h->set_cores(std::thread::hardware_concurrency());
  h->set_concurrency(static_cast<uint32_t>(std::max(1, config_.concurrency)));
  h->set_threads(static_cast<uint32_t>(std::max(1, config_.threads)));
  h->set_processes(static_cast<uint32_t>(std::max(1, config_.processes)));
  h->set_max_batch(static_cast<uint32_t>(std::max(1, config_.max_batch)));
  h->set_local_token(config_.local_token);
  // ZMQ_EVENTS processes the socket's pending commands, which attaches a
  // connection whose handshake just completed (a send alone may not yet).
  (void)socket_->get(zmq::sockopt::events);
  // With ZMQ_IMMEDIATE the send fails until the connection is up. The
  // monitor's handshake event brings us back the moment it is; the timer
  // is the fallback (and the only way without a monitor). Just after a
  // handshake the connection may need a moment more to attach, so the
  // timer is quick then; with no handshake the coordinator is not there
  // yet, and the fallback is as slow as the reconnects (1 s): 1,000 workers
  // waiting on a 100 ms timer used 99% of a core here, on 1 s 14%. Once
  // sent, wait for the Welcome a while, backing off (1 s .. 8 s).
  if (!Send(std::move(f))) {
    hello_waits_for_handshake_ = true;
    double retry_ms = !Watching() ? 1 : hello_quick_retries_ > 0 ? 10 : 1000;
    if (hello_quick_retries_ > 0) --hello_quick_retries_;
    next_hello_ms_ = clock_.NowMs() + retry_ms;
    return;
  }
  hello_waits_for_handshake_ = false;
  next_hello_ms_ = clock_.NowMs() + hello_backoff_ms_;
  hello_backoff_ms_ = std::min(hello_backoff_ms_ * 2, 8000.0);
}

void WorkerLoop::Handle(const pb::Frame& frame) {
  switch (frame.body_case()) {
    case pb::Frame::kWelcome:
      if (registered_) break;  // a repeated Welcome: it answered a repeated Hello
      registered_ = true;
      hello_backoff_ms_ = 1000;
      if (frame.welcome().heartbeat_ms() > 0) heartbeat_ms_ = frame.welcome().heartbeat_ms();
      if (!frame.welcome().worker_name().empty()) name_ = frame.welcome().worker_name();
      // Coming back within a run keeps its count; a new run starts at 0.
      if (frame.welcome().run_id() != run_id_) tasks_done_ = 0;
      run_id_ = frame.welcome().run_id();
      said_no_word_ = false;
      if (ByHand()) {
        std::fprintf(stderr, "worker: registered as %s (concurrency %d, threads %d, processes %d)\n", name_.c_str(),
                     std::max(1, config_.concurrency), std::max(1, config_.threads), std::max(1, config_.processes));
      }
      // Ready: a remote worker gets its first tasks once it has said
      // something after its Hello, so say it now rather than at the first
      // heartbeat.
      SendHeartbeat();
      break;
    case pb::Frame::kTasks:
      if (!registered_) break;  // the coordinator does not count these as ours
      for (const auto& a : frame.tasks().tasks()) Accept(a);
      break;
    case pb::Frame::kCancel:
      for (const pb::LeaseRef& lease : frame.cancel().leases()) {
        uint64_t key = LeaseKey(lease.task_id(), lease.attempt());
        auto it = leases_.find(key);
        if (it == leases_.end()) continue;
        if (it->second.started && it->second.executor) {
          it->second.executor->Cancel(key);
          Release(it->second);
        }
        leases_.erase(it);
      }
      break;
    case pb::Frame::kHeartbeat:
      // An idle worker answers when its own is due within half an interval
      // anyway: the coordinator heartbeats every worker at once, so the
      // answers of an idle farm arrive together and are read in a few
      // wake-ups, not one per worker at a phase of its own (1,000 idle
      // workers). No more heartbeats than before: answering resets our own
      // timer. Only idle: a worker holding leases speaks through its results
      // first (one stopped and resumed must send its late result before a
      // heartbeat draws a Reregister that would drop it uncounted).
      if (registered_ && leases_.empty() && !HasPending() && clock_.NowMs() - last_send_ms_ >= heartbeat_ms_ / 2) {
        SendHeartbeat();
      }
      break;
    case pb::Frame::kReregister:
      // We were declared lost: whatever we hold has been (or will be) run
      // elsewhere, so drop it all and start over.
      if (ByHand()) std::fprintf(stderr, "worker: the coordinator had given this worker up; registering again\n");
      DropAllLeases();
      registered_ = false;
      next_hello_ms_ = 0;
      break;
    case pb::Frame::kShutdown: {
      DropAllLeases();
      // Acknowledge, so the coordinator knows the Shutdown arrived before it
      // closes its socket.
      pb::Frame bye;
      bye.mutable_goodbye();
      Send(std::move(bye));
      if (ByHand()) {
        std::fprintf(stderr, "worker: run over: %llu task%s done; %s\n", static_cast<unsigned long long>(tasks_done_),
                     tasks_done_ == 1 ? "" : "s", config_.forever ? "waiting for the next run" : "exiting");
      }
      tasks_done_ = 0;
      // Waiting for the next run is not a silence worth a line.
      said_no_word_ = config_.forever;
      if (config_.forever) {
        registered_ = false;
        next_hello_ms_ = clock_.NowMs() + 500;
      } else {
        quit_ = true;
      }
      break;
    }
    default:  // one the coordinator does not send: ignored
      break;
  }
}

void WorkerLoop::Accept(const pb::Assignment& a) {
  uint64_t key = LeaseKey(a.task_id(), a.attempt());
  if (a.spec().has_noop() && !leases_.count(key)) {
    // Nothing to run: answer at once, without the bookkeeping of a lease.
    // This is the whole cost of a task when measuring dispatch overhead.
    pb::Outcome* o = pending_.add_outcomes();
    ++tasks_done_;
    o->set_task_id(a.task_id());
    o->set_attempt(a.attempt());
    o->set_started_unix_ms(UnixMs());
    pb::Result* r = o->mutable_result();
    r->set_ok(true);
    r->set_duration_ms(0);
    r->set_worker_max_rss_kb(max_rss_kb_);
    if (pending_.outcomes_size() == 1) oldest_pending_ms_ = clock_.NowMs();
    return;
  }
  if (leases_.count(key)) return;  // a duplicate delivery
  Lease lease;
  lease.assignment = a;
  lease.kind = &KindOf(a.spec());
  size_t field = static_cast<size_t>(a.spec().what_case());
  lease.executor = field < std::size(by_field_) ? by_field_[field] : nullptr;
  waiting_[ResourceIndex(lease.kind->resource)].push_back(key);
  leases_.emplace(key, std::move(lease));
}

// --concurrency bounds the tasks running at once, any kind; --threads how
// many of them are cpu tasks, --processes how many are child processes.
// Inline tasks (noop) finish at once and take no slot.
void WorkerLoop::StartReady() {
  auto pop = [&](std::deque<uint64_t>& q) -> std::pair<uint64_t, Lease*> {
    while (!q.empty()) {
      uint64_t key = q.front();
      q.pop_front();
      auto it = leases_.find(key);
      if (it != leases_.end()) return {key, &it->second};  // else cancelled while waiting
    }
    return {0, nullptr};
  };
  for (auto [key, l] = pop(waiting_[ResourceIndex(Resource::kInline)]); l;
       std::tie(key, l) = pop(waiting_[ResourceIndex(Resource::kInline)])) {
    Start(key, *l);
  }
  // The scarcer resources first: a free thread or process slot is not left
  // idle behind a queue of URLs.
  for (Resource r : {Resource::kCpu, Resource::kProcess, Resource::kIo}) {
    int i = ResourceIndex(r);
    while (running_total_ < limit_[0] && running_[i] < limit_[i] && !waiting_[i].empty()) {
      auto [key, l] = pop(waiting_[i]);
      if (!l) break;
      ++running_[i];
      ++running_total_;
      Start(key, *l);
    }
  }
}

// Whether a waiting task could start now.
bool WorkerLoop::Startable() const {
  if (!waiting_[ResourceIndex(Resource::kInline)].empty()) return true;
  if (running_total_ >= limit_[0]) return false;
  for (int i = 0; i < kSlotResources; ++i) {
    if (!waiting_[i].empty() && running_[i] < limit_[i]) return true;
  }
  return false;
}

void WorkerLoop::Release(const Lease& lease) {
  if (lease.kind->resource == Resource::kInline) return;
  --running_[ResourceIndex(lease.kind->resource)];
  --running_total_;
}

void WorkerLoop::Start(uint64_t key, Lease& lease) {
  const pb::Assignment& a = lease.assignment;
  lease.started = true;
  lease.start_ms = clock_.NowMs();
  lease.started_unix_ms = UnixMs();
  if (lease.kind->resource != Resource::kInline) {
    // Say that it started: the coordinator's deadline for it runs from
    // here, not from when it was sent (it may have waited behind others),
    // and a worker that starts what it is given is visibly working. Rides
    // with the next results; dropped if the task finishes first.
    if (!HasPending()) oldest_pending_ms_ = lease.start_ms;
    pb::LeaseRef* started = pending_.add_started();
    started->set_task_id(a.task_id());
    started->set_attempt(a.attempt());
  }
  if (!lease.executor) {
    Fail(key, Code::kInvalidArgument, "this worker does not know the task's kind");
    return;
  }
  const std::string_view flag = lease.kind->worker_flag;
  if (!flag.empty() && std::find(config_.opt_ins.begin(), config_.opt_ins.end(), flag) == config_.opt_ins.end()) {
    Fail(key, Code::kPermissionDenied,
         "worker " + name_ + " does not run " + std::string(lease.kind->name) + " tasks; start it with " +
             std::string(flag) + " to allow them");
    return;
  }
  // Saving a body writes a file where the coordinator says, as this
  // worker's user: consent, as for a kind's flag.
  if (a.spec().has_url() && !a.spec().url().save_dir().empty() && !config_.allow_save) {
    Fail(key, Code::kPermissionDenied,
         "worker " + name_ + " does not save downloads (--save); start it with --allow-save to allow it");
    return;
  }
  lease.executor->Start(TaskStart{.token = key,
                                  .assignment = &lease.assignment,
                                  .now_ms = lease.start_ms,
                                  .deadline_ms = a.timeout_ms() > 0 ? lease.start_ms + a.timeout_ms() : 0,
                                  .worker_name = name_});
}

// Fills in what every result carries and queues it for the next batch.
void WorkerLoop::Complete(uint64_t key, pb::Result result, bool retryable) {
  auto it = leases_.find(key);
  if (it == leases_.end()) return;  // cancelled meanwhile
  Lease& lease = it->second;
  const pb::Assignment& a = lease.assignment;
  double now = clock_.NowMs();
  // Only what the coordinator cannot know: it adds kind, url, host, id and
  // the task line itself, which keeps results of tiny tasks tiny.
  result.set_duration_ms(RoundUs(now - lease.start_ms));
  if (!result.has_cpu_user_ms()) {
    result.set_cpu_user_ms(lease.cpu_user_ms);
    result.set_cpu_sys_ms(lease.cpu_sys_ms);
    result.set_cpu_wait_ms(lease.cpu_wait_ms);
  }
  if (result.cpu_wait_ms() > 0)
    result.set_cpu_wait_ms(RoundUs(result.cpu_wait_ms()));
  else
    result.clear_cpu_wait_ms();
  if (result.cpu_user_ms() > 0)
    result.set_cpu_user_ms(RoundUs(result.cpu_user_ms()));
  else
    result.clear_cpu_user_ms();
  if (result.cpu_sys_ms() > 0)
    result.set_cpu_sys_ms(RoundUs(result.cpu_sys_ms()));
  else
    result.clear_cpu_sys_ms();
  result.set_worker_max_rss_kb(max_rss_kb_);
  pb::Outcome* o = pending_.add_outcomes();
  ++tasks_done_;
  o->set_task_id(a.task_id());
  o->set_attempt(a.attempt());
  o->set_retryable(retryable);
  o->set_started_unix_ms(lease.started_unix_ms);
  *o->mutable_result() = std::move(result);
  if (pending_.outcomes_size() == 1 && pending_.started_size() == 0) oldest_pending_ms_ = now;
  if (lease.started) Release(lease);
  leases_.erase(it);
}

void WorkerLoop::Fail(uint64_t key, Code code, std::string error) {
  Finished failed{.token = key};
  taskfarm::Fail(&failed, code, std::move(error));
  Complete(key, std::move(failed.result), failed.retryable);
}

bool WorkerLoop::CollectDone() {
  int before = pending_.outcomes_size();
  size_t leases_before = leases_.size();
  double now = clock_.NowMs();
  finished_.clear();
  for (auto& executor : executors_.all) executor->Collect(now, &finished_);
  for (Finished& f : finished_) Complete(f.token, std::move(f.result), f.retryable);
  return pending_.outcomes_size() != before || leases_.size() != leases_before;
}

// The loop thread's CPU time since the last call, shared evenly among the
// I/O tasks in flight: overlapping tasks cannot be told apart any closer.
void WorkerLoop::ChargeLoopCpu() {
  // Three system calls: only worth it while I/O tasks run to be charged,
  // and peak RSS only needs refreshing now and then.
  double t = clock_.NowMs();
  if (t - last_rss_ms_ > 100) {
    last_rss_ms_ = t;
    max_rss_kb_ = static_cast<uint32_t>(PeakRssKb());
  }
  const int io = ResourceIndex(Resource::kIo);
  if (running_[io] <= 0) {
    loop_times_stale_ = true;  // what the loop uses now is nobody's to pay
    return;
  }
  ThreadTimes now = CurrentThreadTimes();
  if (loop_times_stale_) {
    loop_times_ = now;
    loop_times_stale_ = false;
    return;
  }
  double du = now.user_ms - loop_times_.user_ms, ds = now.sys_ms - loop_times_.sys_ms;
  double dw = now.wait_ms - loop_times_.wait_ms;
  loop_times_ = now;
  if (du <= 0 && ds <= 0 && dw <= 0) return;
  double share = 1.0 / running_[io];
  for (auto& [key, lease] : leases_) {
    if (lease.started && lease.kind->resource == Resource::kIo) {
      lease.cpu_user_ms += du * share;
      lease.cpu_sys_ms += ds * share;
      lease.cpu_wait_ms += dw * share;
    }
  }
}

void WorkerLoop::FlushResults() {
  if (!HasPending() || !registered_) return;
  // Start notes of leases that have finished (or were cancelled) since are
  // implied by their outcomes, or moot: keep only the rest.
  auto* notes = pending_.mutable_started();
  int keep = 0;
  for (int i = 0; i < notes->size(); ++i) {
    if (!leases_.count(LeaseKey(notes->Get(i).task_id(), notes->Get(i).attempt()))) continue;
    if (keep != i) notes->SwapElements(keep, i);
    ++keep;
  }
  while (notes->size() > keep) notes->RemoveLast();
  if (!HasPending()) return;
  auto* all = pending_.mutable_outcomes();
  // Where the messages split: at --batch results or kMaxFrameBytes, whichever
  // comes first, oldest first. Leases reported started ride in the first.
  FrameBudget budget(static_cast<size_t>(std::max(1, config_.max_batch)));
  for (const pb::LeaseRef& l : pending_.started()) budget.AddUncounted(l.ByteSizeLong());
  chunk_ends_.clear();
  for (int i = 0; i < all->size(); ++i) {
    pb::Result* r = all->Mutable(i)->mutable_result();
    if (r->error().size() > kMaxErrorBytes) r->set_error(Excerpt(r->error(), kMaxErrorBytes));
    size_t bytes = all->Get(i).ByteSizeLong();
    if (!budget.Fits(bytes)) {
      chunk_ends_.push_back(i);
      budget.Clear();
    }
    budget.Add(bytes);
  }
  chunk_ends_.push_back(all->size());
  // A send that cannot go now (no connection, queue full) keeps the results
  // for the next turn: a result is never dropped on our side.
  int sent = 0;
  bool notes_sent = false;
  if (chunk_ends_.size() == 1) {
    EncodeFrameTo(&results_frame_, &send_buffer_);
    if (SendBytes(send_buffer_)) {
      sent = all->size();
      notes_sent = true;
    }
  } else {
    pb::ResultBatch* piece_batch = chunk_frame_.mutable_results();
    auto* piece = piece_batch->mutable_outcomes();
    for (int end : chunk_ends_) {
      piece->Clear();
      piece_batch->clear_started();
      bool first = sent == 0;
      if (first) piece_batch->mutable_started()->Swap(pending_.mutable_started());
      for (int i = sent; i < end; ++i) piece->Add()->Swap(all->Mutable(i));
      EncodeFrameTo(&chunk_frame_, &send_buffer_);
      if (!SendBytes(send_buffer_)) {
        for (int i = sent; i < end; ++i) all->Mutable(i)->Swap(piece->Mutable(i - sent));
        if (first) piece_batch->mutable_started()->Swap(pending_.mutable_started());
        break;
      }
      if (first) notes_sent = true;
      sent = end;
    }
    piece_batch->clear_started();
  }
  if (notes_sent) pending_.clear_started();
  if (sent == all->size() && notes_sent) {
    all->Clear();  // keeps the elements for reuse: no allocation per result
  } else {
    all->DeleteSubrange(0, sent);
    oldest_pending_ms_ = clock_.NowMs();  // retry after --batch-delay, not in a spin
  }
}

// A frame from the coordinator that we cannot act on is answered, never
// dropped in silence: the coordinator would wait forever for the results of
// the tasks it carried. Rejected names the leases we can recover, so the
// coordinator runs them elsewhere (or fails them) at once.
void WorkerLoop::Reject(std::string_view bytes, DropReason drop) {
  // Unregistered, we hold no leases to name, and a coordinator that does
  // not know us would only answer Reregister: the Hello we are sending
  // anyway is the answer.
  if (!registered_) return;
  std::string reason;
  // A frame over kMaxFrameBytes is still at most kSocketMaxMsgSize (libzmq
  // refuses anything bigger before it reaches us) and is in memory already,
  // so parsing it once just to read back each assignment's (task_id,
  // attempt) costs a bounded few times its size, for one message. The 4 MiB
  // limit is about what we trust enough to act on, not what we can afford
  // to read. A wrong version is parsed the same way: its task ids and
  // attempts are all we take from it.
  pb::Frame* frame = nullptr;
  if (drop == DropReason::kTooLarge || drop == DropReason::kBadVersion) {
    frame = google::protobuf::Arena::CreateMessage<pb::Frame>(&arena_);
    if (!frame->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) frame = nullptr;
  }
  switch (drop) {
    case DropReason::kTooLarge:
      reason = "a message of " + WithThousands(bytes.size()) + " bytes is over the limit of " +
               WithThousands(kMaxFrameBytes) + " bytes";
      break;
    case DropReason::kBadVersion:
      reason = "a message of protocol version " + (frame ? std::to_string(frame->version()) : std::string("?")) +
               "; this worker speaks version " + std::to_string(pb::PROTOCOL_VERSION_CURRENT);
      break;
    case DropReason::kEmptyBody:
      reason = "a message of a kind this worker does not know (a newer protocol?)";
      break;
    default:
      reason = "a message of " + WithThousands(bytes.size()) + " bytes that is not a taskfarm frame";
  }
  if (rejections_logged_++ < 5) std::fprintf(stderr, "%s: rejected %s\n", Who().c_str(), reason.c_str());
  // Many tiny assignments recovered from a 16 MiB frame may name more leases
  // than one frame holds: the answer splits like any batch.
  pb::Frame answer;
  answer.mutable_rejected()->set_reason(reason);
  FrameBudget budget(std::numeric_limits<size_t>::max());
  budget.AddUncounted(reason.size());
  bool sent_one = false;
  auto flush = [&] {
    rejections_.push_back(EncodeFrame(answer));
    answer.mutable_rejected()->clear_leases();
    budget.Clear();
    budget.AddUncounted(reason.size());
    sent_one = true;
  };
  if (frame && frame->has_tasks()) {
    for (const pb::Assignment& a : frame->tasks().tasks()) {
      pb::LeaseRef lease;
      lease.set_task_id(a.task_id());
      lease.set_attempt(a.attempt());
      size_t lease_bytes = lease.ByteSizeLong();
      if (!budget.Fits(lease_bytes)) flush();
      budget.Add(lease_bytes);
      *answer.mutable_rejected()->add_leases() = std::move(lease);
    }
  }
  if (!sent_one || answer.rejected().leases_size() > 0) flush();
}

// Rejections go out in order; one that cannot go now (queue full) waits
// for the next turn rather than being lost.
void WorkerLoop::SendRejections() {
  while (!rejections_.empty() && SendBytes(rejections_.front())) rejections_.pop_front();
}

void WorkerLoop::DropAllLeases() {
  for (auto& executor : executors_.all) executor->CancelAll();
  leases_.clear();
  for (auto& q : waiting_) q.clear();
  for (int& n : running_) n = 0;
  running_total_ = 0;
  pending_.Clear();
  // The coordinator has re-queued (or will) whatever we held: a rejection
  // still waiting would only name leases that are gone.
  rejections_.clear();
}

// Leaving on a signal: finished results go out, unfinished leases go back.
void WorkerLoop::HandBack() {
  FlushResults();
  if (!registered_) return;
  pb::Frame f;
  for (auto& [key, lease] : leases_) *f.mutable_goodbye()->add_returned() = lease.assignment;
  if (!f.has_goodbye()) f.mutable_goodbye();
  Send(std::move(f));
  DropAllLeases();
}

int WorkerLoop::NextTimeoutMs() {
  double now = clock_.NowMs();
  double next = now + std::min(heartbeat_ms_, 1000.0);
  // The heartbeat keeps its own time, one interval after the last message
  // sent, not one after whatever woke the loop last (that put up to two
  // intervals between heartbeats, a second of --heartbeat-timeout gone).
  if (registered_) next = std::min(next, last_send_ms_ + heartbeat_ms_);
  for (auto& executor : executors_.all) next = std::min(next, executor->NextWakeMs());
  if (!registered_) next = std::min(next, next_hello_ms_);
  if (HasPending()) next = std::min(next, oldest_pending_ms_ + config_.batch_delay_ms);
  double wait = next - now;
  if (wait <= 0) return 0;
  return static_cast<int>(wait) + 1;
}

int WorkerLoop::Run(int signal_fd) {
  max_rss_kb_ = static_cast<uint32_t>(PeakRssKb());
  if (ByHand()) {
    std::string how = config_.server_key_file.empty() ? "no CURVE keys: not encrypted"
                                                      : "CURVE, server key " + config_.server_key_file;
    std::fprintf(stderr, "worker: connecting to %s (%s)\n", config_.connect.c_str(), how.c_str());
  }
  if (Status connected = Connect(); !connected.ok()) {
    std::fprintf(stderr, "worker: %s\n", connected.message().c_str());
    return 1;
  }
  int zmq_fd = socket_->get(zmq::sockopt::fd);
  while (!quit_) {
    double now = clock_.NowMs();
    if (!registered_) CheckHandshake();
    if (!registered_ && now >= next_hello_ms_) SendHello();

    // Inbound: ZMQ_FD is edge-triggered, so drain until ZMQ_EVENTS says empty.
    bool heard_everything = false;
    for (int i = 0; i < 1024; ++i) {
      auto msg = Readable(*socket_) ? TryRecv(*socket_) : std::nullopt;
      if (!msg) {
        heard_everything = true;
        break;
      }
      last_recv_ms_ = clock_.NowMs();
      DropReason drop;
      pb::Frame* frame = DecodeFrameOn(msg->to_string_view(), &arena_, &drop);
      if (!frame) {
        Reject(msg->to_string_view(), drop);
        continue;
      }
      Handle(*frame);
    }
    arena_.Reset();
    if (heard_everything) HeardEverything();
    SendRejections();
    if (quit_) {
      socket_->set(zmq::sockopt::linger, 500);  // let the Goodbye go out
      break;
    }
    // Start what fits, collect what finished, and again while finishing
    // frees slots: never go to sleep with a free slot and a waiting task.
    for (int round = 0; round < 64; ++round) {
      StartReady();
      if (!CollectDone()) break;
    }
    ChargeLoopCpu();

    now = clock_.NowMs();
    bool batch_full = pending_.outcomes_size() >= std::max(1, config_.max_batch);
    bool batch_old = HasPending() && now - oldest_pending_ms_ >= config_.batch_delay_ms;
    // Tasks queued here behind running ones: the next result is one task
    // away, and the coordinator need not hear of this one to keep us busy.
    bool queued_here = false;
    for (int i = 0; i < kSlotResources && running_total_ > 0; ++i) queued_here |= !waiting_[i].empty();
    bool more_now = Readable(*socket_) || !waiting_[ResourceIndex(Resource::kInline)].empty() || queued_here;
    // Results leave when the batch is full, old enough, or the loop is about
    // to wait with nothing queued: a result never waits for company the loop
    // cannot give it.
    if (batch_full || batch_old || !more_now) FlushResults();
    if (registered_ && now - last_send_ms_ >= heartbeat_ms_) SendHeartbeat();
    if (ParentGone()) return 0;
    if (heard_until_ms_ - last_recv_ms_ > config_.coordinator_timeout_ms) {
      if (config_.parent_pid > 0) return 0;  // a local worker outlived its run
      // Paranoid Pirate: the coordinator is silent; start a fresh connection.
      // Said once per silence, not at every retry.
      if (!said_no_word_) {
        std::string silence = FormatDuration(config_.coordinator_timeout_ms / 1000);
        if (registered_) {
          std::fprintf(stderr, "%s: lost the coordinator (no word from %s for %s); reconnecting\n", Who().c_str(),
                       config_.connect.c_str(), silence.c_str());
        } else {
          std::fprintf(stderr, "%s: no answer from %s in %s (is a coordinator running there?); still trying\n",
                       Who().c_str(), config_.connect.c_str(), silence.c_str());
        }
        said_no_word_ = true;
      }
      DropAllLeases();
      if (Status connected = Connect(); !connected.ok()) {
        std::fprintf(stderr, "worker: %s\n", connected.message().c_str());
        return 1;
      }
      zmq_fd = socket_->get(zmq::sockopt::fd);
      continue;
    }

    int timeout = (Readable(*socket_) || Startable()) ? 0 : NextTimeoutMs();
    waits_.clear();
    waits_.push_back({zmq_fd, CURL_WAIT_POLLIN, 0});
    waits_.push_back({signal_fd, CURL_WAIT_POLLIN, 0});
    // Until registered, the monitor wakes us when the handshake completes.
    if (!registered_ && Watching()) {
      waits_.push_back({monitor_->pair().get(zmq::sockopt::fd), CURL_WAIT_POLLIN, 0});
    }
    for (auto& executor : executors_.all) executor->AppendWaits(&waits_);
    executors_.url->Poll(waits_, timeout);
    if (waits_[1].revents & CURL_WAIT_POLLIN) {
      if (int sig = NextSignal(signal_fd)) {
        if (ByHand()) {
          std::fprintf(stderr, "worker: signal %d, handing back %zu task%s and leaving\n", sig, leases_.size(),
                       leases_.size() == 1 ? "" : "s");
        }
        CollectDone();
        HandBack();
        socket_->set(zmq::sockopt::linger, 500);  // let the hand-back go out
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace

int RunWorker(const WorkerConfig& config) {
  if (config.parent_pid > 0) {
    // A local worker dies with its coordinator, however that ends (SIGKILL
    // included). Armed here, where a spawned worker and one forked from the
    // fork server (by then the coordinator's child too) both pass; a
    // coordinator that died before this line is caught by the getppid()
    // check.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != config.parent_pid) return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  int code = 0;
  try {
    // SIGINT/SIGTERM arrive through a signalfd polled by the loop; blocked
    // before any thread starts so every thread inherits the mask.
    UniqueFd signal_fd = BlockSignalsToFd({SIGINT, SIGTERM});
    CurlGlobal curl_global;
    // A local worker's proof that its coordinator started it. Taken out of
    // the environment so nothing this worker starts inherits it.
    WorkerConfig run = config;
    if (const char* token = std::getenv("TASKFARM_LOCAL_TOKEN")) {
      if (run.local_token.empty()) run.local_token = token;
      unsetenv("TASKFARM_LOCAL_TOKEN");
    }
    WorkerLoop loop(run);
    code = loop.Run(signal_fd.get());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker: %s\n", e.what());
    code = 1;
  }
  return code;
}

}  // namespace taskfarm
