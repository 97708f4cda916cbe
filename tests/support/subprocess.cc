// Subprocess: fork/execve with pipes drained concurrently through poll(),
// plus /proc helpers for asserting on process trees in integration tests.
#include "tests/support/subprocess.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>
#include <utility>

extern char** environ;

namespace taskfarm::testing {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void ThrowErrno(const std::string& what, int error = errno) {
  throw std::system_error(error, std::generic_category(), what);
}

// Both ends of a pipe, closed on scope exit unless released.
struct Pipe {
  int read_end = -1;
  int write_end = -1;

  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) ThrowErrno("pipe2");
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  void CloseRead() {
    if (read_end >= 0) close(read_end);
    read_end = -1;
  }
  void CloseWrite() {
    if (write_end >= 0) close(write_end);
    write_end = -1;
  }
  int ReleaseRead() { return std::exchange(read_end, -1); }
  int ReleaseWrite() { return std::exchange(write_end, -1); }
};

// A NULL-terminated char* array viewing `strings`, built before fork()
// because the child of a multi-threaded parent must not allocate.
std::vector<char*> CStringArray(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (std::string& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

// The inherited environment with `extra` "K=V" entries added or replacing.
std::vector<std::string> MergedEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  for (const std::string& entry : extra) {
    const std::string key = entry.substr(0, entry.find('=') + 1);  // "K=" (or whole entry)
    std::erase_if(env, [&](const std::string& e) { return e.compare(0, key.size(), key) == 0; });
    env.push_back(entry);
  }
  return env;
}

// Only async-signal-safe calls: runs in the child between fork and exec.
[[noreturn]] void ExecChild(int stdin_fd, int stdout_fd, int stderr_fd, int error_fd, pid_t parent, char* const* argv,
                            char* const* envp) {
  // Kill the child if the test dies; the re-check covers a parent that
  // died before the prctl took effect.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  // Own process group, so cleanup can reach grandchildren (e.g. workers
  // of a killed coordinator) with one kill(-pid).
  setpgid(0, 0);

  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, nullptr);  // fails harmlessly for glibc-reserved signals
  }
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);

  // dup2 clears O_CLOEXEC on the copies; the originals close at exec.
  if (dup2(stdin_fd, STDIN_FILENO) < 0 || dup2(stdout_fd, STDOUT_FILENO) < 0 || dup2(stderr_fd, STDERR_FILENO) < 0) {
    const int error = errno;
    [[maybe_unused]] ssize_t n = write(error_fd, &error, sizeof(error));
    _exit(127);
  }
  execve(argv[0], argv, envp);
  const int error = errno;
  [[maybe_unused]] ssize_t n = write(error_fd, &error, sizeof(error));
  _exit(127);
}

// Writes all of `data` to the non-blocking `fd`, then closes it and
// `cancel_fd`. Stops early when `cancel_fd` becomes readable (its write end
// was closed): a grandchild holding the child's stdin open without reading
// must not hang Wait() or the destructor. A child that exits without reading
// makes write() fail with EPIPE; SIGPIPE is blocked in this thread so that
// cannot kill the test process.
void WriteAllAndClose(int fd, int cancel_fd, std::string data) {
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  size_t written = 0;
  while (written < data.size()) {
    pollfd fds[2] = {{fd, POLLOUT, 0}, {cancel_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;  // cancelled
    ssize_t n = write(fd, data.data() + written, data.size() - written);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) break;  // EPIPE: nobody will read the rest
    written += static_cast<size_t>(n);
  }
  close(fd);
  close(cancel_fd);
}

std::optional<std::string> ReadStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// Fields after "pid (comm)": the command may itself contain ") ", so
// split at the last ')'.
struct StatFields {
  char state = '?';
  pid_t ppid = -1;
  pid_t pgrp = -1;
};
std::optional<StatFields> ParseStat(const std::string& line) {
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  StatFields fields;
  if (!(rest >> fields.state >> fields.ppid >> fields.pgrp)) return std::nullopt;
  return fields;
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv, std::vector<std::string> env_extra,
                       std::optional<std::string> stdin_data) {
  if (argv.empty()) throw std::invalid_argument("Subprocess: empty argv");
  std::vector<std::string> env = MergedEnvironment(env_extra);
  std::vector<char*> c_argv = CStringArray(argv);
  std::vector<char*> c_env = CStringArray(env);

  Pipe out_pipe;
  Pipe err_pipe;
  Pipe exec_error_pipe;  // CLOEXEC: closes silently when execve succeeds
  std::optional<Pipe> in_pipe;
  int stdin_fd = -1;
  if (stdin_data) {
    in_pipe.emplace();
    stdin_fd = in_pipe->read_end;
  } else {
    stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (stdin_fd < 0) ThrowErrno("open /dev/null");
  }

  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) {
    const int error = errno;
    if (!stdin_data) close(stdin_fd);
    ThrowErrno("fork", error);
  }
  if (pid_ == 0) {
    ExecChild(stdin_fd, out_pipe.write_end, err_pipe.write_end, exec_error_pipe.write_end, parent, c_argv.data(),
              c_env.data());
  }

  // Parent: keep only our ends, so EOF arrives when the child's side closes.
  if (stdin_data) {
    in_pipe->CloseRead();
  } else {
    close(stdin_fd);
  }
  out_pipe.CloseWrite();
  err_pipe.CloseWrite();
  exec_error_pipe.CloseWrite();

  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(exec_error_pipe.read_end, &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    ThrowErrno("exec " + argv[0], exec_errno);
  }

  fcntl(out_pipe.read_end, F_SETFL, fcntl(out_pipe.read_end, F_GETFL) | O_NONBLOCK);
  fcntl(err_pipe.read_end, F_SETFL, fcntl(err_pipe.read_end, F_GETFL) | O_NONBLOCK);
  if (stdin_data) {
    try {
      Pipe cancel;
      const int fd = in_pipe->write_end;
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);  // our end only
      stdin_writer_ = std::thread(WriteAllAndClose, fd, cancel.read_end, std::move(*stdin_data));
      in_pipe->ReleaseWrite();  // the writer thread closes these two now
      cancel.ReleaseRead();
      writer_cancel_fd_ = cancel.ReleaseWrite();
    } catch (...) {
      // No destructor runs for a throwing constructor: reap here.
      kill(pid_, SIGKILL);
      while (waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      throw;
    }
  }
  out_fd_ = out_pipe.ReleaseRead();
  err_fd_ = err_pipe.ReleaseRead();
}

Subprocess::~Subprocess() {
  // The group id stays pinned to our pid while any member lives, so this
  // reaches only the child's own descendants (or nothing).
  if (pid_ > 0) kill(-pid_, SIGKILL);
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  StopStdinWriter();
  CloseFd(&out_fd_);
  CloseFd(&err_fd_);
}

void Subprocess::StopStdinWriter() {
  CloseFd(&writer_cancel_fd_);  // wakes the writer if it is still blocked
  if (stdin_writer_.joinable()) stdin_writer_.join();
}

void Subprocess::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

bool Subprocess::TryReap() {
  if (reaped_) return true;
  pid_t r = waitpid(pid_, &wait_status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return reaped_;
}

bool Subprocess::Running() { return !TryReap(); }

void Subprocess::CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

void Subprocess::ReadAvailable(int* fd, std::string* sink) {
  char buf[65536];
  while (*fd >= 0) {
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n > 0) {
      sink->append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      CloseFd(fd);  // EOF or a real error: nothing more will come
    }
  }
}

void Subprocess::Pump(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  int count = 0;
  if (out_fd_ >= 0) fds[count++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[count++] = {err_fd_, POLLIN, 0};
  if (count == 0) return;
  const int ms = static_cast<int>(std::max<int64_t>(0, timeout.count()));
  if (poll(fds, static_cast<nfds_t>(count), ms) <= 0) return;
  // Both pipes are drained on every wakeup, so a child blocked on a full
  // stderr can never stall us while we wait for stdout (or vice versa).
  ReadAvailable(&out_fd_, &out_);
  ReadAvailable(&err_fd_, &err_);
}

ProcessResult Subprocess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  // No child-exit fd to poll on, so wake at least every 10 ms to reap.
  constexpr std::chrono::milliseconds kSlice(10);
  ProcessResult result;
  while (!TryReap()) {
    const auto now = Clock::now();
    if (now >= deadline) {
      kill(-pid_, SIGKILL);  // with any descendants still in its group
      kill(pid_, SIGKILL);
      while (waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      result.timed_out = true;
      break;
    }
    Pump(std::min<std::chrono::milliseconds>(kSlice, std::chrono::ceil<std::chrono::milliseconds>(deadline - now)));
  }
  // Everything the child wrote before exiting is in the pipe buffers now.
  ReadAvailable(&out_fd_, &out_);
  ReadAvailable(&err_fd_, &err_);
  // The child is gone; stdin data it did not read has no reader left.
  StopStdinWriter();

  if (WIFEXITED(wait_status_)) result.exit_code = WEXITSTATUS(wait_status_);
  if (WIFSIGNALED(wait_status_)) result.term_signal = WTERMSIG(wait_status_);
  result.out = out_;
  result.err = err_;
  return result;
}

std::optional<std::string> Subprocess::WaitForLine(const std::function<bool(const std::string&)>& pred,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    size_t newline;
    while ((newline = out_.find('\n', line_start_)) != std::string::npos) {
      std::string line = out_.substr(line_start_, newline - line_start_);
      line_start_ = newline + 1;
      if (pred(line)) return line;
    }
    if (out_fd_ < 0) {
      // stdout is closed: the unterminated last line, if any, is complete.
      if (line_start_ >= out_.size()) return std::nullopt;
      std::string line = out_.substr(line_start_);
      line_start_ = out_.size();
      return pred(line) ? std::optional<std::string>(line) : std::nullopt;
    }
    const auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    Pump(std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
  }
}

std::string BinaryPath(const std::string& name) {
  if (const char* dir = std::getenv("TASKFARM_BIN_DIR"); dir != nullptr && *dir != '\0') {
    return std::string(dir) + "/" + name;
  }
  return std::string(TASKFARM_BIN_DIR) + "/" + name;
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), &closedir);
  if (!proc) return pids;
  while (const dirent* entry = readdir(proc.get())) {
    pid_t pid = 0;
    const char* name = entry->d_name;
    const char* end = name + std::char_traits<char>::length(name);
    auto [ptr, ec] = std::from_chars(name, end, pid);
    if (ec == std::errc() && ptr == end) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

namespace {

// The processes whose /proc/PID/stat passes `keep`; one that vanishes
// between the listing and the read is skipped.
template <typename Keep>
std::vector<pid_t> WhereStat(Keep keep) {
  std::vector<pid_t> out;
  for (pid_t pid : AllPids()) {
    auto line = ReadStat(pid);
    if (!line) continue;
    auto fields = ParseStat(*line);
    if (fields && keep(*fields)) out.push_back(pid);
  }
  return out;
}

}  // namespace

std::vector<pid_t> ChildrenOf(pid_t parent) {
  return WhereStat([parent](const StatFields& f) { return f.ppid == parent; });
}

std::vector<pid_t> InGroup(pid_t pgid) {
  return WhereStat([pgid](const StatFields& f) { return f.pgrp == pgid; });
}

std::vector<pid_t> ProcessesRunning(const std::vector<std::string>& argv) {
  std::string wanted;
  for (const std::string& a : argv) wanted += a + '\0';
  std::vector<pid_t> out;
  for (pid_t pid : AllPids()) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline == wanted) out.push_back(pid);
  }
  return out;
}

bool IsZombie(pid_t pid) {
  auto line = ReadStat(pid);
  if (!line) return false;
  auto fields = ParseStat(*line);
  return fields && fields->state == 'Z';
}

bool ProcessExists(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace taskfarm::testing
