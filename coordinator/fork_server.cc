// The fork server: one small single-threaded process, forked before the
// coordinator has anything to inherit, that forks workers on request.
#include "coordinator/fork_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/posix.h"

extern char** environ;

// Built with AddressSanitizer (gcc says so by a macro, clang by a feature):
// LeakSanitizer checks at exit().
#if defined(__SANITIZE_ADDRESS__)
#define TASKFARM_LEAK_CHECKED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TASKFARM_LEAK_CHECKED 1
#endif
#endif

namespace taskfarm {
namespace {

// A request is one SOCK_SEQPACKET message: argc and envc (uint32 each), then
// argc + envc NUL-terminated strings. The reply: one int32, the worker's pid
// or -errno.
constexpr size_t kMaxRequest = 256 * 1024;
// How long the server may take to answer before the coordinator spawns.
constexpr int kReplyTimeoutMs = 5000;

struct Request {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

std::string Encode(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::string out(8, '\0');
  auto counts = std::array<uint32_t, 2>{static_cast<uint32_t>(argv.size()), static_cast<uint32_t>(env.size())};
  std::memcpy(out.data(), counts.data(), 8);
  for (const auto* list : {&argv, &env}) {
    for (const std::string& s : *list) out.append(s.c_str(), s.size() + 1);  // a NUL inside ends it early, as exec
  }
  return out;
}

bool Decode(const char* data, size_t size, Request* r) {
  if (size < 8) return false;
  uint32_t counts[2];
  std::memcpy(counts, data, 8);
  size_t at = 8;
  for (int list = 0; list < 2; ++list) {
    for (uint32_t i = 0; i < counts[list]; ++i) {
      const void* nul = std::memchr(data + at, '\0', size - at);
      if (nul == nullptr) return false;
      size_t end = static_cast<const char*>(nul) - data;
      (list == 0 ? r->argv : r->env).emplace_back(data + at, end - at);
      at = end + 1;
    }
  }
  return at == size && !r->argv.empty();
}

// The original argv and environ strings lie end to end in [arg_start,
// env_end) (proc(5), /proc/self/stat fields 48 to 51). Writing the worker's
// command line there is what `ps aux` then shows; if it is longer than the
// old argv, the kernel reads on into the old environment as setproctitle(3)
// relies on (this process's environ no longer points there).
void SetCommandLine(const std::vector<std::string>& argv) {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return;
  std::istringstream fields(stat.substr(paren + 2));  // field 3 onwards
  std::string skip;
  for (int field = 3; field < 48 && fields >> skip; ++field) {
  }
  uintptr_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  if (!(fields >> arg_start >> arg_end >> env_start >> env_end) || arg_end <= arg_start) return;
  if (env_start != arg_end || env_end < env_start) env_end = arg_end;
  // An address the kernel gave as a number: there is no other way to it.
  char* area = reinterpret_cast<char*>(arg_start);  // NOLINT(performance-no-int-to-ptr)
  size_t args_size = arg_end - arg_start, size = env_end - arg_start;
  std::string nul_separated;
  for (const std::string& a : argv) nul_separated.append(a.c_str(), a.size() + 1);
  if (nul_separated.size() <= args_size) {
    std::fill(std::copy(nul_separated.begin(), nul_separated.end(), area), area + args_size, '\0');
    return;
  }
  // One string, spaces between the words: the last byte of the old argv is
  // then not a NUL, which is how the kernel knows to read past it.
  std::string title = nul_separated;
  title.pop_back();
  std::replace(title.begin(), title.end(), '\0', ' ');
  title.resize(std::min(title.size(), size - 1));
  std::fill(std::copy(title.begin(), title.end(), area), area + size, '\0');
}

// In the worker (the grandchild): becomes the coordinator's child, then runs
// the worker program. Never returns.
[[noreturn]] void BecomeWorker(int server_socket, pid_t middle, ForkServer::Program run, Request* r) {
  // Named, its environment and command line its own, before it is the
  // coordinator's child: no one looking at the coordinator's children ever
  // sees a worker that still bears the server's name or command line.
  std::string name = r->argv[0].substr(r->argv[0].rfind('/') + 1);
  prctl(PR_SET_NAME, name.substr(0, 15).c_str());
  close(server_socket);
  std::vector<char*> env_ptrs = PointersTo(r->env);
  environ = env_ptrs.data();
  SetCommandLine(r->argv);
  // The middle process exits as soon as it has said this pid; then this
  // process is the subreaper's, the coordinator's (bounded: 5 s). `middle`
  // is its pid from before the fork: by the time this process first asks,
  // it may already be gone.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (getppid() == middle) {
    if (std::chrono::steady_clock::now() > deadline) _exit(EX_OSERR);
    usleep(50);
  }
  setpgid(0, 0);  // a terminal's Ctrl-C reaches the coordinator only, as with SpawnProcess
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGCHLD}) signal(sig, SIG_DFL);
  std::vector<char*> arg_ptrs = PointersTo(r->argv);
  int code = run(static_cast<int>(r->argv.size()), arg_ptrs.data());
  // The worker program has returned: everything it owned is closed. What
  // exit() would add is the exit handlers of libraries (OpenSSL's cleanup)
  // that the kernel's teardown makes moot, a millisecond of every worker's
  // exit. Under the sanitizers exit() runs, for LeakSanitizer's check.
  std::fflush(nullptr);
#if !defined(TASKFARM_LEAK_CHECKED)
  _exit(code);
#endif
  std::exit(code);
}

// In the server: one request, one worker. The reply is its pid or -errno.
// The middle process is reaped after the reply has gone (Serve), so the
// coordinator does not wait out its exit.
int32_t ForkOne(int server_socket, ForkServer::Program run, Request* r) {
  int pid_pipe[2];
  if (pipe2(pid_pipe, O_CLOEXEC) != 0) return -errno;
  pid_t middle = fork();
  if (middle < 0) {
    int e = errno;
    close(pid_pipe[0]);
    close(pid_pipe[1]);
    return -e;
  }
  if (middle == 0) {
    close(pid_pipe[0]);
    pid_t self = getpid();
    pid_t worker = fork();
    if (worker == 0) {
      close(pid_pipe[1]);
      BecomeWorker(server_socket, self, run, r);
    }
    int32_t said = worker < 0 ? -errno : worker;
    (void)!write(pid_pipe[1], &said, sizeof(said));
    _exit(0);
  }
  close(pid_pipe[1]);
  int32_t said = -EPIPE;
  ssize_t n;
  do {
    n = read(pid_pipe[0], &said, sizeof(said));
  } while (n < 0 && errno == EINTR);
  if (n != sizeof(said)) said = -EPIPE;
  close(pid_pipe[0]);
  return said;
}

[[noreturn]] void Serve(int server_socket, pid_t coordinator, ForkServer::Program run, void (*warm_up)()) {
  // Dies with the coordinator; out of its process group, so a terminal's
  // Ctrl-C, meant for the coordinator, does not take the server too.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != coordinator) _exit(0);
  setpgid(0, 0);
  // `ps aux` would show the coordinator's own command line twice. The new
  // one may run on over the environment's strings, so environ moves to a
  // copy first (as setproctitle does): the warm-up below reads it.
  static std::vector<std::string> env_copy;
  for (char** e = environ; e && *e; ++e) env_copy.emplace_back(*e);
  static std::vector<char*> env_ptrs = PointersTo(env_copy);
  environ = env_ptrs.data();
  SetCommandLine({std::string(kForkServerName) + " (for coordinator " + std::to_string(coordinator) + ")"});
  // Nothing but stdio and the socket: whatever this process was started
  // with beyond that is the coordinator's business, not a worker's.
  int fd = dup2(server_socket, 3);
  if (fd != 3) _exit(EX_OSERR);
  close_range(4, ~0U, 0);
  if (warm_up) warm_up();
  std::vector<char> buffer(kMaxRequest);
  for (;;) {
    ssize_t n = recv(3, buffer.data(), buffer.size(), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0);  // the coordinator closed its end
    Request r;
    int32_t reply =
        static_cast<size_t>(n) <= buffer.size() && Decode(buffer.data(), n, &r) ? ForkOne(3, run, &r) : -EINVAL;
    if (send(3, &reply, sizeof(reply), MSG_NOSIGNAL) < 0) _exit(0);
    while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {  // the middle process: its exit is quick
    }
  }
}

}  // namespace

std::unique_ptr<ForkServer> ForkServer::Start(Program run, void (*warm_up)()) {
  // Orphans of this process's descendants come to it: a worker whose
  // middle parent exits becomes the coordinator's child.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return nullptr;
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) return nullptr;
  UniqueFd ours(sockets[0]), theirs(sockets[1]);
  // Below 3, stdio was closed when this process started: the server's
  // socket would become a worker's stdin or stdout. Spawn instead.
  if (ours.get() < 3 || theirs.get() < 3) return nullptr;
  // Unwritten stdio buffers would be written again by every worker.
  std::fflush(nullptr);
  pid_t coordinator = getpid();
  // The server is born with its own name (the child takes the parent's):
  // no one looking at the coordinator's children ever sees a second
  // "coordinator" that is in fact the server.
  char own_name[16] = {};
  prctl(PR_GET_NAME, own_name);
  prctl(PR_SET_NAME, kForkServerName);
  pid_t pid = fork();
  if (pid == 0) {
    ours = UniqueFd();
    Serve(theirs.get(), coordinator, run, warm_up);
  }
  prctl(PR_SET_NAME, own_name);
  if (pid < 0) return nullptr;
  return std::unique_ptr<ForkServer>(new ForkServer(pid, std::move(ours)));
}

ForkServer::~ForkServer() {
  socket_ = UniqueFd();
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);  // ECHILD if the coordinator's reaping got it first
}

Status ForkServer::Ask(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  if (broken_) return Unavailable("the fork server is gone");
  std::string request = Encode(argv, env);
  if (request.size() > kMaxRequest) return InvalidArgument("a worker's command line and environment are too long");
  if (send(socket_.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    broken_ = true;
    return Unavailable(std::string("the fork server cannot be reached: ") + std::strerror(errno));
  }
  ++asked_;
  return Status::Ok();
}

StatusOr<pid_t> ForkServer::Answer() {
  if (asked_ == 0) return Unavailable("the fork server was asked nothing");
  --asked_;
  if (broken_) return Unavailable("the fork server is gone");
  pollfd p{socket_.get(), POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, kReplyTimeoutMs);
  } while (ready < 0 && errno == EINTR);
  int32_t reply = 0;
  if (ready != 1 || recv(socket_.get(), &reply, sizeof(reply), 0) != sizeof(reply)) {
    broken_ = true;  // what it answers from now on cannot be matched to a question
    return Unavailable("the fork server did not answer");
  }
  if (reply < 0) return Unavailable(std::string("the fork server cannot fork: ") + std::strerror(-reply));
  return static_cast<pid_t>(reply);
}

}  // namespace taskfarm
