// The coordinator's event loop: one thread polls the ROUTER socket and a
// signalfd (SIGCHLD, SIGINT, SIGTERM); the scheduler decides, this file
// carries it out.
#include "coordinator/coordinator.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/duration.h"
#include "common/file_writer.h"
#include "common/frame_codec.h"
#include "common/host_port.h"
#include "common/quote.h"
#include "common/shell_words.h"
#include "common/task_kind.h"
#include "common/temp_dir.h"
#include "common/thread_stats.h"
#include "common/unique_fd.h"
#include "common/zmq_util.h"
#include "coordinator/console.h"
#include "coordinator/input_options.h"
#include "coordinator/journal.h"
#include "coordinator/metrics.h"
#include "coordinator/metrics_server.h"
#include "coordinator/output_file.h"
#include "coordinator/peer_registry.h"
#include "coordinator/report.h"
#include "coordinator/result_json.h"
#include "coordinator/scheduler.h"
#include "coordinator/summary.h"
#include "coordinator/task_source.h"
#include "coordinator/text_table.h"
#include "coordinator/worker_pool.h"
#include "coordinator/zap_handler.h"
#include "testserver/http_test_server.h"
#include "testserver/test_ca.h"

namespace taskfarm {
namespace {

bool IsLoopbackOrLocal(const std::string& endpoint) {
  if (endpoint.rfind("tcp://", 0) != 0) return true;  // ipc, inproc
  std::optional<HostPort> hp = SplitHostPort(endpoint.substr(6));
  return hp && IsLoopbackHost(hp->host);
}

// Registered workers at once: room for a large farm (the coordinator's
// per-worker costs are small), a bound for a Hello flood.
constexpr size_t kMaxRegistered = 4096;

// Descriptors the coordinator holds besides its workers' (the ZeroMQ
// context's, the journal, the output, the signalfd, a stream's input), with
// room to spare.
constexpr uint64_t kOwnDescriptors = 64;

// Connections that fail the ZeroMQ handshake (an HTTP request sent to the
// port, a wrong key) never reach us as messages; the monitor counts them.
constexpr int kHandshakeFailures =
    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

// Each worker's connection is a descriptor of ours (and, while it is being
// stopped at the end, a local worker's pidfd one more), so a farm of a
// thousand needs more than the soft limit of 1024 most systems start with.
// The soft limit is raised to the hard one; a --workers or --min-workers
// that still cannot fit is said now, not as a failure in the middle of the
// run. "" when they fit.
std::string CheckOpenFileLimit(const CoordinatorConfig& config) {
  uint64_t limit = testserver::RaiseOpenFileLimit();
  uint64_t local = static_cast<uint64_t>(std::max(0, config.workers));
  uint64_t remote = static_cast<uint64_t>(std::max(0, config.min_workers - config.workers));
  uint64_t needed = kOwnDescriptors + 2 * local + remote;
  if (limit == 0 || needed <= limit) return "";
  std::string what = local > 0 ? Format("--workers %d", config.workers) : "";
  if (remote > 0) what += (what.empty() ? "" : " and ") + Format("--min-workers %d", config.min_workers);
  return Format(
      "%s %s about %llu open files (a connection per worker, and a process handle per local one), "
      "but this process may open only %llu (its hard limit, `ulimit -Hn`): raise that limit "
      "(limits.conf, systemd's LimitNOFILE=) or run fewer workers per coordinator (docs/SCALING.md)",
      what.c_str(), local > 0 && remote > 0 ? "need" : "needs", static_cast<unsigned long long>(needed),
      static_cast<unsigned long long>(limit));
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

bool IsCancelled(const pb::Result& r) { return r.error_code() == CodeName(Code::kCancelled); }

// A worker refused the task's kind: Console::TaskLine says so once per
// worker even with --quiet, so such a record reaches it either way.
bool IsRefused(const pb::Result& r) { return r.error_code() == CodeName(Code::kPermissionDenied); }

// Once dispatching stops, every task read is cancelled at once and the
// scheduler's window never fills: the rest of the input is read and written
// out this many records at a time, for at most this long per loop turn, so
// memory stays bounded and the loop still hears a second Ctrl-C and the
// tasks finishing during --grace.
constexpr size_t kCancelChunk = 10000;
constexpr double kCancelTurnMs = 200;

class CoordinatorLoop {
 public:
  CoordinatorLoop(const CoordinatorConfig& config, TaskSource& source)
      : config_(config), source_(source), console_(config), scheduler_(MakeOptions(config), clock_) {}

  int Run(int signal_fd);

  bool OpenOutputs(std::string* error);

 private:
  static SchedulerOptions MakeOptions(const CoordinatorConfig& c) {
    SchedulerOptions o;
    o.retries = c.retries;
    o.heartbeat_timeout_ms = c.heartbeat_timeout_s * 1000;
    o.max_unheard_gap_ms = HeartbeatMs(c);
    o.task_timeout_ms = c.task_timeout_s * 1000;
    o.max_batch = c.batch;
    o.rate_per_s = c.rate_per_s;
    o.per_host = static_cast<uint32_t>(std::max(0, c.per_host));
    return o;
  }
  bool Bind(std::string* error);
  void StartLocalWorkers();
  void SpawnOne();
  void GiveUpOnLocalWorkers(const std::string& why);
  void Feed();
  bool ReplayJournalRecord(uint32_t id, const pb::TaskSpec& spec);
  void WriteReplayed();
  bool SendTo(const std::string& identity, pb::Frame frame);
  bool SendTo(const std::string& identity, pb::Frame* frame);
  bool SendWelcome(const std::string& identity, const std::string& name);
  void TellReregister(const std::string& identity, const std::string& reason);
  void Unregister(WorkerId wid, const std::string& reason);
  void Forget(WorkerId wid, const std::string& reason);
  // Each side says something at least this often (PROTOCOL.md, Liveness).
  static double HeartbeatMs(const CoordinatorConfig& c) { return std::min(1000.0, c.heartbeat_timeout_s * 1000 / 4); }
  double HeartbeatIntervalMs() const { return HeartbeatMs(config_); }
  void SendDispatches();
  void HandleMessage(const std::string& identity, std::string_view payload);
  void HandleHello(const std::string& identity, const pb::Hello& hello);
  void DroppedFromWorker(const std::string& identity, DropReason drop);
  void HandleRejected(WorkerId wid, const pb::Rejected& rejected);
  void HandleSignals(int signal_fd);
  void OnWorkerGone(WorkerId wid, const std::string& reason);
  void WriteFinished();
  // A result file could not be written: say so once, start no new task.
  // `during_run`: tasks may still be waiting to start.
  void WriteFailed(const std::string& path, const std::string& what, bool during_run);
  void Interrupt(int signo);
  void HeartbeatWorkers();
  // Watches the ROUTER's connections for these ZMQ_EVENT_s (monitor_).
  void WatchRouter(int events);
  void DrainMonitor();
  void ShutDownWorkers();
  // The HTML report (--report); its tables may come from `summary`.
  void WriteReport(const RunSummary& summary);
  void WriteRunJson(const RunSummary& summary);
  void WriteWhole(const std::string& path, const std::string& contents);
  // --metrics: serving starts before the first worker; numbers go to the
  // server at most every 250 ms; the final ones stay --metrics-linger.
  bool StartMetrics();
  MetricsGauges Gauges() const;
  void PublishMetrics();
  void PublishFinalMetrics(const RunSummary& summary, int signal_fd);
  bool Ready();
  bool TimeToSayWaiting(double waited_ms, size_t live);
  void SayWaiting(double waited_ms, size_t live, size_t wanted);
  // Where records' start_ms count from: the first dispatch (before it,
  // the coordinator's start).
  double RunOriginMs() const { return started_ ? dispatch_start_ms_ : start_ms_; }

  const CoordinatorConfig& config_;
  TaskSource& source_;
  SteadyClock clock_;
  Console console_;
  Scheduler scheduler_;
  RunStats stats_;
  DropCounts drops_;
  double start_ms_ = 0;            // the coordinator listens
  double workers_started_ms_ = 0;  // local workers start (a stream: with its first line); waits count from here
  double dispatch_start_ms_ = 0;   // Ready() first said yes: the run proper starts

  zmq::context_t ctx_{1};
  std::optional<zmq::socket_t> router_;
  std::optional<zmq::socket_t> monitor_;  // the ROUTER's handshake failures
  std::optional<ZapHandler> zap_;         // CURVE client keys, when encrypted
  TempDir tmp_{"taskfarm"};               // private ipc endpoint and local worker keys
  std::string endpoint_;                  // what local workers connect to
  std::string listening_;                 // what it is bound to (as the user named it)
  std::unique_ptr<WorkerPool> pool_;
  uint64_t replaced_ = 0;
  int early_deaths_ = 0;  // local workers that died before Hello, in a row
  std::string last_early_death_;
  PeerRegistry peers_{kMaxRegistered};
  std::string local_token_ = MakeLocalToken();                           // given to local workers at spawn
  uint32_t run_id_ = static_cast<uint32_t>(std::random_device{}()) | 1;  // in every Welcome of this run
  std::unordered_map<pid_t, double> lost_local_;                         // pid -> when declared lost
  int next_local_ = 1;
  double last_heartbeat_ms_ = 0;

  bool input_done_ = false;
  bool interrupted_ = false;
  bool hard_stop_ = false;
  double grace_deadline_ms_ = 0;
  bool fatal_ = false;
  bool started_ = false;
  int wait_notes_ = 0;               // "waiting for workers" lines said
  size_t said_live_ = 0;             // the count the last one gave
  double last_wait_note_ms_ = 0;     // when
  double no_workers_since_ms_ = -1;  // mid-run, every worker gone (-1: some are here)
  double wait_note_every_ms_ = 5000;
  bool warned_auth_ = false;
  int monitors_ = 0;                // WatchRouter's endpoints so far
  int notes_of_lost_messages_ = 0;  // console lines about dropped or rejected messages, capped

  bool want_spans_ = !config_.report_path.empty();
  std::vector<TaskSpan> spans_;
  uint64_t spans_left_out_ = 0;
  std::unique_ptr<Journal> journal_;
  Journal::Recovered recovered_;
  std::unordered_map<uint32_t, std::string> journal_by_id_;  // a streamed resume's records, until their task is read
  bool input_mismatch_ = false;                              // a streamed resume found another input
  size_t replayed_ = 0;                                      // journal records a streamed resume reported
  std::unique_ptr<OutputFile> output_;
  std::unique_ptr<Metrics> metrics_;  // null without --metrics: nothing is counted
  std::unique_ptr<MetricsServer> metrics_server_;
  std::string out_buffer_;
  std::string batch_json_;                   // this batch's records, one after another
  std::vector<size_t> batch_ends_;           // where each one ends in batch_json_
  uint64_t unjournalled_ = 0;                // finished, but the journal write failed: not reported
  uint64_t cancelled_unstarted_ = 0;         // counted, not shown one line each
  std::vector<std::string> write_failures_;  // "PATH: cannot write: WHY", each once

  // Incoming frames are parsed on this arena, reset after each drain: no
  // malloc/free per result. Its first block is ours, so Reset() keeps it.
  std::vector<char> arena_block_ = std::vector<char>(1 << 20);
  google::protobuf::Arena arena_{MakeArenaOptions(arena_block_)};
  pb::Frame dispatch_frame_;
  std::string send_buffer_;
  static google::protobuf::ArenaOptions MakeArenaOptions(std::vector<char>& block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block.data();
    o.initial_block_size = block.size();
    return o;
  }
};

bool CoordinatorLoop::OpenOutputs(std::string* error) {
  // The report files are written at the end; a path that cannot take them
  // is found now, before an hour of work, not after.
  if (config_.output_path == "-" && config_.json_path == "-") {
    *error = "--output - and --json - would both write to standard output: give one of them a file";
    return false;
  }
  for (const auto& [flag, path] : {std::pair{"--report", &config_.report_path}, {"--json", &config_.json_path}}) {
    bool to_stdout = path == &config_.json_path && *path == "-";
    if (Status s = path->empty() || to_stdout ? Status::Ok() : CheckCanWrite(*path); !s.ok()) {
      *error = std::string(flag) + " " + s.message();
      return false;
    }
  }
  if (!config_.journal_path.empty()) {
    StatusOr<std::unique_ptr<Journal>> journal =
        Journal::Open(config_.journal_path, source_.fingerprint(), source_.total(), config_.resume, &recovered_);
    if (!journal.ok()) {
      *error = journal.status().message();
      return false;
    }
    journal_ = std::move(journal).value();
    if (!recovered_.note.empty()) std::fprintf(stderr, "%s\n", recovered_.note.c_str());
  } else if (config_.resume) {
    *error = "--resume needs --journal FILE (the journal of the run to continue)";
    return false;
  }
  if (!config_.output_path.empty()) {
    StatusOr<std::unique_ptr<OutputFile>> output = OutputFile::Open(config_.output_path);
    if (!output.ok()) {
      *error = output.status().message();
      return false;
    }
    output_ = std::move(output).value();
  }
  // A resumed run's output holds the whole picture: the journal's records
  // first, then what this run adds.
  auto replay = [&](const std::vector<std::string>& lines, bool ok) {
    for (const std::string& line : lines) {
      if (output_) {
        out_buffer_ += line;
        out_buffer_ += '\n';
      }
      stats_.AddResumed(ok);
    }
  };
  if (recovered_.by_position) {
    // A stream is not known before it is read: each record waits for the
    // task with its id, to be checked against it (Feed); records past the
    // stream's end are never reported.
    auto keep = [&](std::vector<std::string>& lines) {
      for (std::string& line : lines) {
        uint32_t id;
        bool ok;
        if (ParseJournalRecord(line, &id, &ok)) journal_by_id_.emplace(id, std::move(line));
      }
      std::vector<std::string>().swap(lines);
    };
    keep(recovered_.ok_lines);
    if (!config_.retry_failed) keep(recovered_.failed_lines);
  }
  replay(recovered_.ok_lines, true);
  if (!config_.retry_failed) replay(recovered_.failed_lines, false);
  bool written = !output_ || output_->Append(out_buffer_);
  out_buffer_.clear();
  out_buffer_.shrink_to_fit();
  if (!written) {
    *error = output_->error();
    return false;
  }
  return true;
}

bool CoordinatorLoop::Bind(std::string* error) {
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
  router_->set(zmq::sockopt::backlog, static_cast<int>(kMaxRegistered));
  std::string bind = config_.bind;
  if (bind.empty()) {
    if (tmp_.path().empty()) {
      *error = "cannot create a temporary directory for the worker socket";
      return false;
    }
    bind = "ipc://" + tmp_.path() + "/coordinator.sock";
  }
  if (Status s = CheckEndpoint(bind); !s.ok()) {
    *error = s.message();
    return false;
  }
  if (!IsLoopbackOrLocal(bind) && config_.curve_secret_file.empty() && !config_.insecure) {
    *error = "refusing to listen on " + bind +
             " without encryption: anyone who reaches that address could run tasks. Give "
             "--curve-secret and --authorized-keys (see `coordinator keygen`), or pass --insecure "
             "on a network you trust";
    return false;
  }
  if (!config_.curve_secret_file.empty()) {
    if (config_.authorized_keys_dir.empty()) {
      *error = "--curve-secret needs --authorized-keys DIR: the .pub files of the workers allowed in";
      return false;
    }
    try {
      // The handler first: libzmq lets every key in while none is bound.
      zap_.emplace(ctx_, config_.authorized_keys_dir);
      StatusOr<std::string> secret = ReadZ85Key(config_.curve_secret_file);
      if (!secret.ok()) {
        *error = secret.status().message();
        return false;
      }
      router_->set(zmq::sockopt::curve_server, 1);
      router_->set(zmq::sockopt::curve_secretkey, *secret);
      router_->set(zmq::sockopt::zap_domain, std::string("taskfarm"));
    } catch (const std::exception& e) {
      *error = e.what();
      return false;
    }
  } else if (!config_.authorized_keys_dir.empty()) {
    *error = "--authorized-keys needs --curve-secret FILE: the coordinator's own secret key";
    return false;
  }
  if (!IsLoopbackOrLocal(bind) && config_.curve_secret_file.empty()) {
    std::fprintf(stderr, "WARNING: listening on %s without authentication or encryption (--insecure)\n", bind.c_str());
  }
  // Handshake failures are counted, an accept that fails for want of
  // descriptors is said (DrainMonitor).
  WatchRouter(kHandshakeFailures | ZMQ_EVENT_ACCEPT_FAILED);
  try {
    router_->bind(bind);
  } catch (const zmq::error_t& e) {
    *error = "cannot listen on " + bind + ": " + e.what();
    return false;
  }
  endpoint_ = router_->get(zmq::sockopt::last_endpoint);
  listening_ = endpoint_;
  // Local workers reach a wildcard address through loopback.
  if (endpoint_.rfind("tcp://0.0.0.0:", 0) == 0) endpoint_ = "tcp://127.0.0.1:" + endpoint_.substr(14);
  return true;
}

void CoordinatorLoop::StartLocalWorkers() {
  std::vector<std::string> args{"--connect",       endpoint_,
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
  if (zap_ && config_.workers > 0) {
    // Local workers get a keypair of their own, made for this run and
    // allowed in; it lives in the run's private 0700 directory.
    std::string base = tmp_.path() + "/local-worker";
    StatusOr<std::string> secret = ReadZ85Key(config_.curve_secret_file);
    StatusOr<std::string> pub = secret.ok() ? PublicKeyOf(*secret) : secret;
    Status made = WriteKeyPair(base);
    if (made.ok()) made = pub.ok() ? WriteWholeFile(tmp_.path() + "/coordinator.pub", *pub + "\n") : pub.status();
    StatusOr<std::string> worker_pub = made.ok() ? ReadZ85Key(base + ".pub") : made;
    if (worker_pub.ok()) {
      zap_->Allow(*worker_pub);
      args.insert(args.end(), {"--curve-secret", base + ".key", "--server-key", tmp_.path() + "/coordinator.pub"});
    } else {
      console_.Note("coordinator: cannot make keys for local workers: " + worker_pub.status().message());
    }
  }
  std::string binary = config_.worker_binary.empty() ? DefaultWorkerBinary() : config_.worker_binary;
  pool_ = std::make_unique<WorkerPool>(binary, args, std::vector<std::string>{"TASKFARM_LOCAL_TOKEN=" + local_token_});
  for (int i = 0; i < config_.workers; ++i) SpawnOne();
}

void CoordinatorLoop::SpawnOne() {
  try {
    pool_->Spawn("w" + std::to_string(next_local_++));
  } catch (const SpawnError& e) {
    // A program that cannot run (missing, not executable) never will; a
    // passing shortage (EAGAIN, ENOMEM) only ends the run if it leaves
    // nobody to run it: the others carry on.
    if (fatal_) return;
    bool hopeless = e.error == ENOENT || e.error == EACCES || e.error == ENOEXEC || e.error == ENOTDIR;
    if (!hopeless && (pool_->alive() > 0 || scheduler_.live_workers() > 0)) {
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

void CoordinatorLoop::Feed() {
  // Once no task starts, a stream is read no further: what it has read is
  // cancelled below, as a file's rest is; what it never read has no record.
  if (!scheduler_.dispatching()) source_.StopReading();
  double turn_end_ms = clock_.NowMs() + kCancelTurnMs;
  size_t chunk = 0;
  while (!input_done_ && scheduler_.WantsTasks()) {
    // Replayed records (a streamed --resume) never fill the window either:
    // they are bounded the same way.
    if ((!scheduler_.dispatching() || replayed_ >= kCancelChunk) && ++chunk > kCancelChunk) {
      // Everything read now is cancelled on the spot (see kCancelChunk).
      WriteFinished();
      chunk = 0;
      if (clock_.NowMs() >= turn_end_ms) break;
    }
    std::optional<SourcedTask> task = source_.Next();
    if (!task) {
      input_done_ = source_.ended();  // else a stream has nothing yet: Run polls it
      break;
    }
    uint32_t id = task->id;
    if (id < recovered_.ok.size() && (recovered_.ok[id] || (recovered_.failed[id] && !config_.retry_failed))) {
      if (!recovered_.by_position) continue;  // already recorded by the run being resumed
      if (!ReplayJournalRecord(id, task->spec)) break;
      if (++replayed_ % kCancelChunk == 0) WriteReplayed();
      continue;
    }
    scheduler_.AddTask(id, std::move(task->spec));
  }
  for (const std::string& error : source_.TakeErrors()) console_.Note(error);  // a stream's bad lines
  WriteReplayed();
}

void CoordinatorLoop::WriteReplayed() {
  if (!out_buffer_.empty() && output_ && !output_->failed()) {
    if (!output_->Append(out_buffer_)) WriteFailed(config_.output_path, output_->error(), true);
  }
  out_buffer_.clear();
}

// A streamed resume: the journal's record for `id` is reported now, if it is
// of the same task; if not, the input is not the one that journal was
// written for, and nothing more of it is read.
bool CoordinatorLoop::ReplayJournalRecord(uint32_t id, const pb::TaskSpec& spec) {
  // Every id Feed asks about has a record here (the journal's by-id flags
  // and these lines come from the same reading).
  auto it = journal_by_id_.find(id);
  std::string task = FormatTask(spec);
  auto record = it == journal_by_id_.end() ? nlohmann::json() : nlohmann::json::parse(it->second, nullptr, false);
  std::string recorded = record.is_object() ? record.value("task", "") : "";
  if (recorded != task) {
    input_mismatch_ = true;
    console_.Note(Wrap("coordinator: " + source_.name() + ": task " + std::to_string(id) + " is " +
                       Quote(Excerpt(task, 60)) + ", but the journal's task " + std::to_string(id) + " is " +
                       Quote(Excerpt(recorded, 60)) +
                       ": this is not the input of the run being resumed; nothing more of it is read"));
    source_.StopReading();
    scheduler_.StopDispatching("the input is not the one the journal was written for");
    input_done_ = true;
    return false;
  }
  bool ok = record.value("ok", false);
  if (output_) {
    out_buffer_ += it->second;
    out_buffer_ += '\n';
  }
  stats_.AddResumed(ok);
  journal_by_id_.erase(it);
  return true;
}

bool CoordinatorLoop::SendTo(const std::string& identity, pb::Frame frame) { return SendTo(identity, &frame); }

// False when the message did not go out: the peer is gone (EHOSTUNREACH,
// router_mandatory) or not reading (its queue is full).
bool CoordinatorLoop::SendTo(const std::string& identity, pb::Frame* frame) {
  EncodeFrameTo(frame, &send_buffer_);
  try {
    if (!router_->send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    return router_->send(zmq::buffer(send_buffer_), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

void CoordinatorLoop::TellReregister(const std::string& identity, const std::string& reason) {
  pb::Frame f;
  f.mutable_reregister()->set_reason(reason);
  SendTo(identity, std::move(f));
}

bool CoordinatorLoop::SendWelcome(const std::string& identity, const std::string& name) {
  pb::Frame f;
  f.mutable_welcome()->set_worker_name(name);
  f.mutable_welcome()->set_heartbeat_ms(static_cast<uint32_t>(HeartbeatIntervalMs()));
  f.mutable_welcome()->set_run_id(run_id_);
  return SendTo(identity, std::move(f));
}

// A registered worker is no longer ours: its leases go back without blame.
void CoordinatorLoop::Unregister(WorkerId wid, const std::string& reason) {
  if (metrics_) metrics_->WorkerGone(wid, false);
  scheduler_.Forget(wid, reason);
  peers_.Remove(wid);
}

// Stops trusting a registered worker: unregistered, and told to start over
// (a real worker drops what it holds and says Hello again, with a clean
// slate).
void CoordinatorLoop::Forget(WorkerId wid, const std::string& reason) {
  if (const std::string* identity = peers_.IdentityOf(wid)) TellReregister(*identity, reason);
  Unregister(wid, reason);
}

void CoordinatorLoop::SendDispatches() {
  for (Dispatch& d : scheduler_.TakeDispatches()) {
    const std::string* identity = peers_.IdentityOf(d.worker);
    if (!identity) continue;
    // One reused frame: its repeated field keeps its elements across
    // Clear(), so steady-state dispatch allocates nothing here.
    auto* tasks = dispatch_frame_.mutable_tasks()->mutable_tasks();
    tasks->Clear();
    // The scheduler bounds the count; big tasks also split by size, since a
    // worker cannot take a frame over kMaxFrameBytes.
    FrameBudget budget(d.tasks.size());
    bool sent = true;
    for (auto& a : d.tasks) {
      size_t bytes = a.ByteSizeLong();
      if (!budget.Fits(bytes)) {
        sent = sent && SendTo(*identity, &dispatch_frame_);
        tasks->Clear();
        budget.Clear();
      }
      budget.Add(bytes);
      *tasks->Add() = std::move(a);
    }
    sent = sent && SendTo(*identity, &dispatch_frame_);
    if (!sent && scheduler_.HasWorker(d.worker)) {
      // Tasks that never left: the worker is gone or not reading. Its
      // leases go back at once, without blame, instead of waiting for a
      // timeout.
      Unregister(d.worker, "gone, or not reading its messages");
    }
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
  bool local = pool_ && !hello.local_token().empty() && hello.local_token() == local_token_ && pool_->Owns(pid) &&
               !peers_.ByPid(pid);
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
  peers_.Add(identity, wid, local ? pid : 0, info.name);
  if (local) {
    lost_local_.erase(pid);
    early_deaths_ = 0;
  }
  // Gone before it could be welcomed (a peer that says Hello and
  // vanishes): no registration to keep.
  if (!SendWelcome(identity, info.name)) Unregister(wid, "gone before it was welcomed");
}

void CoordinatorLoop::HandleMessage(const std::string& identity, std::string_view payload) {
  DropReason drop;
  pb::Frame* parsed = DecodeFrameOn(payload, &arena_, &drop);
  if (!parsed) {
    DroppedFromWorker(identity, drop);
    return;
  }
  pb::Frame& frame = *parsed;
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
    case pb::Frame::kResults: {
      for (const pb::LeaseRef& l : frame.results().started()) (void)scheduler_.OnStarted(wid, l);
      std::string invalid;
      for (pb::Outcome& o : *frame.mutable_results()->mutable_outcomes()) {
        OutcomeVerdict v = scheduler_.OnOutcome(wid, &o, &invalid);
        if (v == OutcomeVerdict::kInvalid) {
          drops_.Count(DropReason::kInvalidResult);
          break;
        }
        if (v != OutcomeVerdict::kAccepted) drops_.Count(DropReason::kUnknownTask);
      }
      if (!invalid.empty()) {
        // A worker that lies about one result is trusted with no other:
        // the rest of this message is dropped, its leases run elsewhere.
        console_.Note("coordinator: dropped an invalid result from worker " + scheduler_.Info(wid)->name + " (" +
                      invalid + "); its tasks run elsewhere");
        Forget(wid, "sent an invalid result: " + invalid);
      }
      break;
    }
    case pb::Frame::kHeartbeat:
      break;
    case pb::Frame::kRejected:
      HandleRejected(wid, frame.rejected());
      break;
    case pb::Frame::kGoodbye:
      if (metrics_) metrics_->WorkerGone(wid, true);
      scheduler_.WorkerLeft(wid);
      peers_.Remove(wid);
      break;
    default:
      drops_.Count(DropReason::kUnexpected);
  }
}

// A message from a registered worker that cannot be read may have carried
// results: waiting for them would hang the run. So its leases are re-queued
// without blame (the tasks did nothing wrong; WorkerLeft does exactly that)
// and the worker is told to Reregister: it drops what it holds and says
// Hello again, as a new registration. From a stranger it is only counted.
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

void CoordinatorLoop::OnWorkerGone(WorkerId wid, const std::string& reason) {
  if (metrics_) metrics_->WorkerGone(wid, false);
  scheduler_.WorkerGone(wid, reason);
  peers_.Remove(wid);
}

void CoordinatorLoop::HandleSignals(int signal_fd) {
  signalfd_siginfo info{};
  while (read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM) Interrupt(static_cast<int>(info.ssi_signo));
  }
  // SIGCHLD: reap every child that ended (signals coalesce, so always reap all).
  if (!pool_) {
    // No worker yet (a stream starts them with its first line): a child
    // that ended is not ours to replace (`--tasks <(generate)`'s writer).
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    return;
  }
  for (const ChildExit& c : pool_->Reap()) {
    bool was_lost = lost_local_.erase(c.pid) > 0;
    if (std::optional<WorkerId> w = peers_.ByPid(c.pid)) {
      if (scheduler_.HasWorker(*w)) OnWorkerGone(*w, c.how);
      peers_.Remove(*w);
    } else if (!c.clean && !was_lost) {
      ++early_deaths_;
      last_early_death_ = c.how;
    }
    if (!scheduler_.dispatching() || fatal_) continue;
    if (early_deaths_ >= 5) {
      GiveUpOnLocalWorkers("coordinator: local workers exit before they start (last: " + last_early_death_ +
                           "); is the worker program at " +
                           (config_.worker_binary.empty() ? DefaultWorkerBinary() : config_.worker_binary) + "?");
      continue;
    }
    ++replaced_;
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

void CoordinatorLoop::WriteFinished() {
  std::vector<FinishedTask> finished = scheduler_.TakeFinishedRaw();
  if (finished.empty()) return;
  double now_unix = UnixMs();
  double run_start_unix = now_unix - (clock_.NowMs() - RunOriginMs());
  bool to_output = output_ && !output_->failed();
  bool as_json = journal_ || to_output;
  // Names and JSON cost allocations; only pay for them if a record is shown.
  bool shown = as_json || console_.WantsRecords();

  // Durable first, then reported: the batch's finished records go to the
  // journal and are synced before any of them is written anywhere else. A
  // cancelled task never finished: it stays out of the journal, so --resume
  // runs it.
  batch_json_.clear();
  batch_ends_.clear();
  for (FinishedTask& f : finished) {
    pb::Result& r = f.result;
    // Cancelled while it ran: it started duration_ms before now, as far
    // as this clock knows (the worker never said when it ended).
    if (!r.has_start_ms() && f.worker >= 0 && !f.cancelled_waiting && IsCancelled(r)) {
      r.set_start_ms(now_unix - r.duration_ms());
    }
    if (r.has_start_ms()) r.set_start_ms(r.start_ms() - run_start_unix);
    if (shown || IsRefused(r)) scheduler_.Decorate(f);
    size_t begin = batch_json_.size();
    if (as_json) AppendResultJson(r, &batch_json_);
    if (journal_ && !IsCancelled(r)) journal_->Append(std::string_view(batch_json_).substr(begin));
    batch_ends_.push_back(batch_json_.size());
  }
  bool journalled = true;
  if (journal_) {
    bool failed_before = journal_->failed();
    double sync_start_ms = clock_.NowMs();
    Status synced = journal_->Sync();
    journalled = synced.ok();
    if (metrics_) metrics_->CountJournalSync((clock_.NowMs() - sync_start_ms) / 1000);
    if (!journalled && !failed_before) WriteFailed(config_.journal_path, synced.message(), true);
  }

  size_t begin = 0;
  for (size_t i = 0; i < finished.size(); ++i) {
    FinishedTask& f = finished[i];
    pb::Result& r = f.result;
    std::string_view json = std::string_view(batch_json_).substr(begin, batch_ends_[i] - begin);
    begin = batch_ends_[i];
    bool cancelled = IsCancelled(r);
    if (!journalled && !cancelled) {
      ++unjournalled_;  // not durable, so not done: --resume runs it again
      continue;
    }
    stats_.Add(KindName(f.spec), r);
    if (metrics_) metrics_->CountRecord(KindName(f.spec), r, f.spec, f.worker);
    if (want_spans_ && spans_.size() < config_.report_max_spans) {
      if (!shown) scheduler_.Decorate(f);
      spans_.push_back(
          TaskSpan{r.id(), r.worker(), r.kind(), r.start_ms(), r.duration_ms(), r.ok(), r.attempts(), r.error()});
    } else if (want_spans_) {
      ++spans_left_out_;
    }
    if (to_output) {
      out_buffer_ += json;
      out_buffer_ += '\n';
    }
    // A task cancelled while it waited says nothing one line at a time
    // (an interrupted run may have millions): they are counted, and said
    // in one line at the end.
    if (cancelled && f.cancelled_waiting) {
      ++cancelled_unstarted_;
    } else if (shown || IsRefused(r)) {
      console_.TaskLine(r);
    }
  }
  if (to_output && !out_buffer_.empty()) {
    if (!output_->Append(out_buffer_)) WriteFailed(config_.output_path, output_->error(), true);
    out_buffer_.clear();
  }
  console_.Flush();
}

void CoordinatorLoop::WriteFailed(const std::string& path, const std::string& what, bool during_run) {
  write_failures_.push_back(what);
  bool stopping = during_run && scheduler_.dispatching();
  console_.Note("coordinator: " + what + (stopping ? "; no new tasks start" : ""));
  // Running tasks finish into what can still be written (the console, the
  // other file); queued ones are cancelled, so --resume knows to run them.
  if (during_run) scheduler_.StopDispatching(path + " could not be written");
}

void CoordinatorLoop::WriteReport(const RunSummary& summary) {
  double run_ms = summary.run_ms;
  ReportData data;
  data.title = "taskfarm run";
  char buf[64];
  std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  data.generated_at = buf;
  data.machine = std::to_string(std::thread::hardware_concurrency()) + " cores";
  data.command = config_.command_line;
  // The terminal's own tables, cell for cell, with captions for the page.
  for (auto [table, caption] : {std::pair{summary.KindTable(), "by kind"},
                                {summary.HostTable(), "by host"},
                                {summary.WorkerTable(), "by worker"}}) {
    if (table.rows.empty()) continue;
    table.title = caption;
    data.tables.push_back(std::move(table));
  }
  RunTimeline t;
  t.title = "Tasks per worker: " + std::to_string(summary.completed()) + " tasks on " +
            std::to_string(summary.workers.size()) + " workers";
  if (spans_left_out_) t.title += " (the first " + std::to_string(spans_.size()) + " shown)";
  t.wall_ms = run_ms;
  data.histograms = BuildHistograms(spans_);
  t.spans = std::move(spans_);
  data.timelines.push_back(std::move(t));
  // The terminal's words and numbers (cancelled tasks apart).
  std::string done = Format("Completed %llu tasks (%llu failed", static_cast<unsigned long long>(summary.completed()),
                            static_cast<unsigned long long>(summary.failed));
  if (summary.cancelled) done += Format(", %llu cancelled", static_cast<unsigned long long>(summary.cancelled));
  data.conclusions.push_back(done + Format(") in %.2f seconds.", run_ms / 1000));
  WriteWhole(config_.report_path, RenderHtmlReport(data));
}

// The --json of a run: the summary's numbers ("-": standard output, where
// nothing else goes then; see Console::out).
void CoordinatorLoop::WriteRunJson(const RunSummary& summary) {
  // The command line as typed: JoinShellWords in main() reads back word for word.
  std::string json = summary.Json(SplitShellWords(config_.command_line).words);
  if (config_.json_path != "-") {
    WriteWhole(config_.json_path, json);
    return;
  }
  if (std::fwrite(json.data(), 1, json.size(), stdout) != json.size() || std::fflush(stdout) != 0) {
    WriteFailed(config_.json_path, std::string("standard output: cannot write: ") + std::strerror(errno), false);
  }
}

void CoordinatorLoop::WriteWhole(const std::string& path, const std::string& contents) {
  if (Status s = WriteWholeFile(path, contents); s.ok()) {
    console_.Note("wrote " + path);
  } else {
    WriteFailed(path, s.message(), false);
  }
}

// Tells every worker the run is over and waits (bounded) for each to answer
// Goodbye: closing the socket at once could drop a Shutdown still queued,
// and a worker that never hears it would wait for a coordinator that is gone.
void CoordinatorLoop::ShutDownWorkers() {
  std::set<std::string> waiting;
  pb::Frame shutdown;
  shutdown.mutable_shutdown()->set_reason("run complete");
  peers_.ForEach([&](WorkerId, const std::string& identity) {
    if (SendTo(identity, &shutdown)) waiting.insert(identity);
  });
  // Workers forgotten during the run (lost, stalled, stopped) may still be
  // listening: tell them too, or a remote one reconnects to nobody forever.
  // Not waited for: most are gone.
  for (const std::string& identity : peers_.forgotten()) {
    if (!waiting.count(identity)) SendTo(identity, &shutdown);
  }
  double deadline = clock_.NowMs() + 1500;
  while (!waiting.empty() && clock_.NowMs() < deadline) {
    zmq::pollitem_t item{router_->handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(20));
    for (;;) {
      zmq::message_t identity, payload;
      if (!router_->recv(identity, zmq::recv_flags::dontwait)) break;
      if (!identity.more() || !router_->recv(payload, zmq::recv_flags::dontwait)) continue;
      while (payload.more()) {
        zmq::message_t rest;
        if (!router_->recv(rest, zmq::recv_flags::dontwait)) break;
        payload = std::move(rest);
      }
      DropReason drop;
      pb::Frame* frame = DecodeFrameOn(payload.to_string_view(), &arena_, &drop);
      if (frame && frame->has_goodbye()) waiting.erase(identity.to_string());
    }
    arena_.Reset();
  }
}

void CoordinatorLoop::WatchRouter(int events) {
  monitor_.reset();
  // A new endpoint each time: the old monitor may still be closing.
  std::string endpoint = "inproc://taskfarm-router-monitor-" + std::to_string(++monitors_);
  if (zmq_socket_monitor(router_->handle(), endpoint.c_str(), events) == 0) {
    monitor_.emplace(ctx_, zmq::socket_type::pair);
    ConfigureSocket(*monitor_, 0);
    monitor_->connect(endpoint);
  }
}

void CoordinatorLoop::DrainMonitor() {
  for (;;) {
    zmq::message_t event;
    if (!monitor_->recv(event, zmq::recv_flags::dontwait)) return;
    bool more = event.more();
    if (more) {
      zmq::message_t address;
      (void)monitor_->recv(address, zmq::recv_flags::dontwait);
    }
    if (event.size() < 6) continue;
    uint16_t id;
    uint32_t value;
    std::memcpy(&id, event.data(), sizeof(id));
    std::memcpy(&value, static_cast<const char*>(event.data()) + sizeof(id), sizeof(value));
    if (id == ZMQ_EVENT_ACCEPT_FAILED) {
      // Out of descriptors: more workers are connecting than this process
      // may hold connections for (see CheckOpenFileLimit). libzmq then
      // retries the accept in a loop, an event each time: said once, and no
      // longer watched, so the flood does not keep this thread busy too.
      if (value == EMFILE || value == ENFILE) {
        rlimit limit{};
        getrlimit(RLIMIT_NOFILE, &limit);
        console_.Note(
            Wrap(Format("coordinator: cannot accept more worker connections: too many open files "
                        "(%zu workers registered; this process may open %llu, `ulimit -Hn`)",
                        scheduler_.live_workers(), static_cast<unsigned long long>(limit.rlim_cur))));
        WatchRouter(kHandshakeFailures);
        return;
      }
      continue;
    }
    drops_.Count(DropReason::kHandshake);
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !warned_auth_) {
      warned_auth_ = true;  // the ZAP handler names the key; this is the fallback
    }
  }
}

void CoordinatorLoop::HeartbeatWorkers() {
  double now = clock_.NowMs();
  if (now - last_heartbeat_ms_ < HeartbeatIntervalMs()) return;
  last_heartbeat_ms_ = now;
  peers_.ForEach([&](WorkerId, const std::string& identity) {
    pb::Frame f;
    f.mutable_heartbeat()->set_seq(static_cast<uint64_t>(now));
    SendTo(identity, std::move(f));
  });
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
  g.replaced = replaced_;
  g.starts = scheduler_.start_stats().starts;
  g.late_results = scheduler_.late_results();
  g.drops = drops_;
  g.workers = &scheduler_.worker_stats();
  g.connected = scheduler_.live_workers();
  g.run_s = started_ ? (clock_.NowMs() - dispatch_start_ms_) / 1000 : 0;
  return g;
}

void CoordinatorLoop::PublishMetrics() {
  if (metrics_ && metrics_->Due(clock_.NowMs())) metrics_server_->Publish(metrics_->Snapshot(Gauges(), clock_.NowMs()));
}

// The run's final numbers, served --metrics-linger longer so that a scrape
// after the last record sees them (Prometheus scrapes at intervals; the
// process ending first would leave its last seconds unscraped). A signal
// ends the wait.
void CoordinatorLoop::PublishFinalMetrics(const RunSummary& summary, int signal_fd) {
  MetricsGauges g = Gauges();
  g.run_s = summary.run_ms / 1000;
  std::string report = want_spans_ && write_failures_.empty() ? config_.report_path : "";
  metrics_server_->Publish(metrics_->Final(g, clock_.NowMs(), summary.Text(), report));
  if (config_.metrics_linger_s <= 0) return;
  console_.Note("metrics: the final numbers stay on " + metrics_server_->url() + " for " +
                FormatDuration(config_.metrics_linger_s) + " (Ctrl-C ends this)");
  pollfd wait{signal_fd, POLLIN, 0};
  double until = clock_.NowMs() + config_.metrics_linger_s * 1000;
  for (double left; (left = until - clock_.NowMs()) > 0;) {
    if (poll(&wait, 1, static_cast<int>(std::ceil(left))) <= 0) continue;
    signalfd_siginfo info{};
    bool stop = false;
    while (read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
      stop = stop || info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM;
    }
    if (stop) return;
  }
}

// Dispatch starts once --min-workers have said Hello (as long as
// --wait-workers allows). Local workers are not waited for: credit keeps the
// first one from taking more than it can start, and the others take their
// share as they arrive, so waiting would only add their start-up time.
bool CoordinatorLoop::Ready() {
  if (started_) return true;
  // A stream's workers start with its first line (pool_): before it, the
  // input is awaited, not workers, and no wait is counted or given up on.
  if (!pool_) return false;
  double now = clock_.NowMs();
  double waited = now - workers_started_ms_;
  size_t live = scheduler_.live_workers();
  size_t wanted = static_cast<size_t>(std::max(1, config_.min_workers));
  if (live >= wanted) {
    started_ = true;
    dispatch_start_ms_ = now;
    if (wait_notes_ > 0) {
      console_.Note(
          Format("coordinator: %zu of %zu workers connected after %.1f s; starting", live, wanted, waited / 1000));
    }
    return true;
  }
  if (config_.wait_workers_s > 0 && waited > config_.wait_workers_s * 1000 && !fatal_) {
    fatal_ = true;
    console_.Note(Wrap(Format("coordinator: %zu of %zu workers connected to %s within %s (--wait-workers); giving up",
                              live, wanted, listening_.c_str(), FormatDuration(config_.wait_workers_s).c_str())));
    scheduler_.StopDispatching("not enough workers connected");
  }
  // Local workers alone are not waited for aloud: they are ours, starting,
  // and a slow start on a busy machine is no news (a failed one is said).
  bool remote = !config_.bind.empty();
  if (!fatal_ && scheduler_.dispatching() && remote) SayWaiting(waited, live, wanted);
  return false;
}

// A wait for workers is never silent: said after a second, again when the
// count changes (at most once a second), else after 5 s, then less and
// less often (at most once a minute), so an unattended wait does not fill
// a log. True when it is time to say it again.
bool CoordinatorLoop::TimeToSayWaiting(double waited_ms, size_t live) {
  if (waited_ms < 1000) return false;
  double since = clock_.NowMs() - last_wait_note_ms_;
  if (wait_notes_ > 0) {
    bool changed = live != said_live_;
    if (changed ? since < 1000 : since < wait_note_every_ms_) return false;
    wait_note_every_ms_ = changed ? 5000 : std::min(60000.0, 2 * wait_note_every_ms_);
  }
  ++wait_notes_;
  said_live_ = live;
  last_wait_note_ms_ = clock_.NowMs();
  return true;
}

void CoordinatorLoop::SayWaiting(double waited_ms, size_t live, size_t wanted) {
  if (!TimeToSayWaiting(waited_ms, live)) return;
  std::string limit = config_.wait_workers_s > 0
                          ? Format("giving up in %.1f s", std::max(0.0, config_.wait_workers_s - waited_ms / 1000))
                          : std::string("no time limit");
  console_.Note(Wrap(Format("coordinator: waiting for workers on %s: %zu of %zu connected (%s)", listening_.c_str(),
                            live, wanted, limit.c_str())));
}

int CoordinatorLoop::Run(int signal_fd) {
  if (!source_.streamed() && source_.share() == 0) {
    SayNoTasks(source_);  // no worker starts for nothing
    return 0;
  }
  std::string error;
  if (!Bind(&error)) {
    std::fprintf(stderr, "coordinator: %s\n", error.c_str());
    return 2;
  }
  if (!StartMetrics()) return 2;
  start_ms_ = workers_started_ms_ = clock_.NowMs();
  // A stream's local workers start with its first task: an empty stream
  // starts none, and a slow one does not count against --wait-workers.
  if (!source_.streamed()) StartLocalWorkers();
  for (;;) {
    Feed();
    if (!pool_ && !scheduler_.idle()) {
      workers_started_ms_ = clock_.NowMs();
      StartLocalWorkers();
    }
    if (Ready()) SendDispatches();
    WriteFinished();
    // A stream's total is 0 (unknown) until it ends.
    console_.Progress(stats_.done(), source_.share(), stats_.failed(),
                      started_ ? clock_.NowMs() - dispatch_start_ms_ : 0);
    PublishMetrics();
    if (input_done_ && scheduler_.idle()) break;
    if (interrupted_ && !hard_stop_ && clock_.NowMs() >= grace_deadline_ms_) {
      scheduler_.CancelInFlight("the grace period (--grace) ended before it finished");
      hard_stop_ = true;
      continue;
    }

    zmq::pollitem_t items[5] = {{router_->handle(), 0, ZMQ_POLLIN, 0}, {nullptr, signal_fd, ZMQ_POLLIN, 0}};
    size_t n_items = 2;
    if (monitor_) items[n_items++] = {monitor_->handle(), 0, ZMQ_POLLIN, 0};
    if (zap_) items[n_items++] = {zap_->socket().handle(), 0, ZMQ_POLLIN, 0};
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
    if (monitor_) DrainMonitor();
    if (zap_) {
      zap_->Drain([&](const std::string& key, const std::string& peer) {
        console_.Note("coordinator: refused a worker from " + peer + ": its key " + key + " is not in " +
                      config_.authorized_keys_dir + " (copy its .pub file there to let it in)");
      });
    }
    // Drain the socket. Each message marks its sender heard as it is read
    // (HandleMessage), and silence is judged only once the socket had
    // nothing more (HeardEverything, then Tick): a worker whose heartbeat
    // waits unread behind others' results is not silent. Bounded per turn,
    // in messages and in time, so signals, dispatch and our own heartbeats
    // keep up with a burst of big results; a turn cut short judges nobody.
    bool heard_everything = false;
    const double drain_until_ms = clock_.NowMs() + HeartbeatIntervalMs() / 2;
    for (int i = 0; i < 4096; ++i) {
      if (i % 64 == 63 && clock_.NowMs() > drain_until_ms) break;
      zmq::message_t identity;
      if (!router_->recv(identity, zmq::recv_flags::dontwait)) {
        heard_everything = true;
        break;
      }
      if (!identity.more()) {
        drops_.Count(DropReason::kNotProtobuf);
        continue;
      }
      zmq::message_t payload;
      (void)router_->recv(payload, zmq::recv_flags::dontwait);
      bool extra = payload.more();
      while (payload.more()) {  // workers send exactly one frame: drop the rest
        zmq::message_t rest;
        if (!router_->recv(rest, zmq::recv_flags::dontwait)) break;
        if (!rest.more()) break;
      }
      if (extra) {
        DroppedFromWorker(identity.to_string(), DropReason::kUnexpected);
        continue;
      }
      HandleMessage(identity.to_string(), payload.to_string_view());
    }
    arena_.Reset();
    if (heard_everything) scheduler_.HeardEverything();
    if (items[1].revents & ZMQ_POLLIN) HandleSignals(signal_fd);

    Scheduler::TickResult tick = scheduler_.Tick();
    for (WorkerId wid : tick.lost) {
      if (pid_t pid = peers_.PidOf(wid)) lost_local_[pid] = clock_.NowMs();
      peers_.Remove(wid);
    }
    for (WorkerId wid : tick.stalled) {
      // It answers heartbeats and does no work: a local one is killed (its
      // exit is reaped as usual), a remote one told to start over.
      if (pid_t pid = peers_.PidOf(wid)) {
        lost_local_[pid] = clock_.NowMs();
        pool_->Kill(pid, SIGKILL);
      } else if (const std::string* identity = peers_.IdentityOf(wid)) {
        TellReregister(*identity, "took tasks and did no work");
      }
      peers_.Remove(wid);
    }
    for (WorkerId wid : tick.stuck) {
      // A task ran past its timeout and its worker did not stop it: stop the
      // worker. Local: kill (the exit brings the leases back and a
      // replacement). Remote: forget it and tell it to start over.
      if (pid_t pid = peers_.PidOf(wid)) {
        pool_->Kill(pid, SIGKILL);
        continue;
      }
      if (const std::string* identity = peers_.IdentityOf(wid)) {
        TellReregister(*identity, "a task ran past --task-timeout and was not stopped");
      }
      OnWorkerGone(wid, "a task ran past --task-timeout");
    }
    // A local worker lost for another heartbeat timeout is stuck for good.
    for (auto it = lost_local_.begin(); it != lost_local_.end(); ++it) {
      if (clock_.NowMs() - it->second > config_.heartbeat_timeout_s * 1000) {
        pool_->Kill(it->first, SIGKILL);
        it->second = clock_.NowMs() + 1e9;  // once
      }
    }
    HeartbeatWorkers();
    // Mid-run, the last worker left (remote ones do): the tasks wait for
    // one, and that is said as at the start, not left to a frozen
    // progress line.
    if (started_ && scheduler_.dispatching() && !scheduler_.idle() && scheduler_.live_workers() == 0) {
      if (no_workers_since_ms_ < 0) no_workers_since_ms_ = clock_.NowMs();
      if (TimeToSayWaiting(clock_.NowMs() - no_workers_since_ms_, 0)) {
        console_.Note(Format("coordinator: no worker is connected: %zu task(s) wait for one on %s",
                             scheduler_.in_memory(), listening_.c_str()));
      }
    } else {
      no_workers_since_ms_ = -1;
    }
  }
  WriteFinished();
  // The run's end: shutting the workers down is not part of its time.
  double end_ms = clock_.NowMs();
  console_.ClearProgress();
  if (cancelled_unstarted_ > 0) {
    console_.Text(std::to_string(cancelled_unstarted_) + " task(s) cancelled before they started" +
                  (output_ && !output_->failed() ? " (each has a record in " + output_->path() + ")" : ""));
    console_.Flush();
  }

  ShutDownWorkers();
  if (pool_) {
    // A local worker that never registered (still starting when a short
    // run ended) hears no Shutdown: ask it to leave now rather than wait
    // out StopAll's bound for it.
    for (pid_t pid : pool_->pids()) {
      if (!peers_.ByPid(pid)) pool_->Kill(pid, SIGTERM);
    }
    pool_->StopAll(1000);
  }
  if (output_) {
    bool failed_before = output_->failed();
    if (!output_->Close() && !failed_before) WriteFailed(config_.output_path, output_->error(), false);
  }
  output_.reset();
  journal_.reset();

  RunStats::Extras x;
  // For a stream, the time before its first line is neither: nothing was asked yet.
  x.wait_ms = !pool_ ? 0 : (started_ ? dispatch_start_ms_ : end_ms) - workers_started_ms_;
  x.run_ms = started_ ? end_ms - dispatch_start_ms_ : 0;
  x.drops = drops_;
  x.late_results = scheduler_.late_results();
  x.workers_replaced = replaced_;
  x.interrupted = interrupted_;
  x.peak_rss_kb = PeakRssKb();
  x.unjournalled = unjournalled_;
  x.write_failures = write_failures_;
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
  if (source_.share() == 0 && x.bad_input_lines == 0 && !interrupted_ && write_failures_.empty() && !input_mismatch_ &&
      !fatal_) {
    SayNoTasks(source_);  // an empty stream: no summary of nothing
    return 0;
  }
  RunSummary summary = stats_.Summary(scheduler_.worker_stats(), x);
  std::fputs(summary.Text().c_str(), console_.out());
  std::fflush(console_.out());
  if (want_spans_) WriteReport(summary);
  if (!config_.json_path.empty()) WriteRunJson(summary);
  if (metrics_) PublishFinalMetrics(summary, signal_fd);
  // A file that could not be written outranks an interrupt: the user knows
  // they pressed Ctrl-C, not that a result file is incomplete.
  if (!write_failures_.empty()) return 3;
  if (input_mismatch_) return 2;  // the wrong input for --resume: a usage error
  if (interrupted_) return 130;
  // A stream's bad line was skipped: not everything asked for was done.
  return stats_.failed() > 0 || fatal_ || x.bad_input_lines > 0 ? 1 : 0;
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
    signalfd_siginfo info{};
    while (read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM) return flush() ? 130 : 3;
    }
  }
  if (!flush()) return 3;
  if (source.share() == 0 && source.bad_lines() == 0) SayNoTasks(source);
  return source.bad_lines() > 0 ? 1 : 0;
}

}  // namespace

std::vector<std::string> DemoTaskLines(const std::string& base_url, int delay_ms) {
  std::vector<std::string> lines;
  lines.push_back("# the tutorial's 90 pages: 30 x three pages, served with a delay");
  for (int i = 0; i < 30; ++i) {
    for (int page = 1; page <= 3; ++page) {
      lines.push_back("url " + base_url + "/page/" + std::to_string(page) + "?delay=" + std::to_string(delay_ms));
    }
  }
  lines.push_back("# CPU-bound work: count primes");
  for (int i = 0; i < 20; ++i) lines.push_back("cpu primes 1000000");
  return lines;
}

int RunCoordinator(const CoordinatorConfig& config_in) {
  CoordinatorConfig config = config_in;
  if (config.workers <= 0 && config.workers != 0) config.workers = 1;
  // Signals arrive on a signalfd polled by the loop. Blocked before any
  // thread starts, so every thread inherits the mask; children unblock.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  UniqueFd signal_fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));

  std::unique_ptr<TempDir> demo_tls;  // before the server: it outlives the run
  std::unique_ptr<testserver::HttpTestServer> demo_server;
  std::string demo_file;
  TaskSourceOptions src;
  bool demo = false;
  if (Status s = InputOptions(config, &src, &demo); !s.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", s.message().c_str());
    return 2;
  }
  if (std::string error = config.dry_run ? "" : CheckOpenFileLimit(config); !error.empty()) {
    std::fprintf(stderr, "%s\n", Wrap("coordinator: " + error).c_str());
    return 2;
  }
  if (demo) {
    // The built-in demo: a loopback server and the tutorial's workload.
    try {
      testserver::Options options;
      if (config.demo_https) {
        // The run's own CA, trusted by the workers this run starts.
        demo_tls = std::make_unique<TempDir>("taskfarm-demo-tls");
        const testserver::TestCa ca = testserver::MakeTestCa(demo_tls->path());
        options.tls_cert_file = ca.cert_file;
        options.tls_key_file = ca.key_file;
        if (config.cacert.empty() && !config.insecure_tls) config.cacert = ca.ca_file;
      }
      demo_server = std::make_unique<testserver::HttpTestServer>(options);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "coordinator: cannot start the demo web server: %s\n", e.what());
      return 1;
    }
    char tmpl[] = "/tmp/taskfarm-demo-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
      std::fprintf(stderr, "coordinator: cannot write the demo task list: %s\n", std::strerror(errno));
      return 1;
    }
    demo_file = tmpl;
    std::string text;
    for (const auto& l : DemoTaskLines(demo_server->BaseUrl(), config.demo_delay_ms)) text += l + "\n";
    if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      close(fd);
      return 1;
    }
    close(fd);
    src.path = demo_file;
    std::fprintf(stderr,
                 "No task file given: running the built-in demo. A web server on %s\n"
                 "serves the tutorial's three pages with a %d ms delay; %d workers fetch 90 pages and count\n"
                 "primes 20 times.\n",
                 demo_server->BaseUrl().c_str(), config.demo_delay_ms, config.workers);
    // `generate | coordinator` without --tasks -: what was piped in is not
    // read, and a user expecting xargs' habit should hear why.
    struct stat in {};
    if (fstat(STDIN_FILENO, &in) == 0 && (S_ISFIFO(in.st_mode) || (S_ISREG(in.st_mode) && in.st_size > 0))) {
      std::fprintf(stderr, "(standard input is not read: give --tasks - to run the task lines piped in)\n");
    }
  }
  TaskSource::Opened opened = TaskSource::Open(src);
  if (!demo_file.empty()) unlink(demo_file.c_str());
  if (!opened.errors.empty()) {
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
    return 2;
  }
  if (config.dry_run) return DryRun(*opened.source, signal_fd.get());
  int code;
  {
    CoordinatorLoop loop(config, *opened.source);
    std::string error;
    if (!loop.OpenOutputs(&error)) {
      std::fprintf(stderr, "coordinator: %s\n", error.c_str());
      return 2;
    }
    code = loop.Run(signal_fd.get());
  }
  return code;
}

}  // namespace taskfarm
