// posix_spawn, the pipes and the reaping behind `exec`/`sh` tasks. Spawning
// follows coordinator/worker_pool.cc; the failure sentences are worked out
// only after posix_spawn failed, so a good spawn pays for none of them.
#include "worker/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "common/posix.h"
#include "common/quote.h"

extern char** environ;

namespace taskfarm {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kReadBudget = 1024 * 1024;  // per stream per Advance
// A 1 MiB stdout pipe: a writer that fills the pipe sleeps until the loop's
// next turn, so a command writes at most a pipeful per turn; 1 MiB instead of
// the default 64 KiB lets a busy loop still take output at ~1 GB/s.
constexpr int kPipeSize = 1024 * 1024;
// But pipe buffers are counted per user (fs.pipe-user-pages-soft: 64 MiB for
// a user without CAP_SYS_RESOURCE), and once a user is over that, every new
// pipe of theirs, anywhere on the machine, gets a single page. So a worker
// enlarges at most this much at a time; later commands get the default.
constexpr int64_t kPipeBudget = 16 * 1024 * 1024;
std::atomic<int64_t> g_enlarged{0};  // bytes enlarged by live ChildProcesses of this process
constexpr int64_t kGiveUpMs = 10000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Errno(int err) { return std::strerror(err); }

// `path` as the child sees it: a relative one is taken after its chdir.
std::string InWorkdir(const std::string& path, const std::string& workdir) {
  if (path.empty() || path[0] == '/' || workdir.empty()) return path;
  return workdir + "/" + path;
}

// The variable's name in "NAME=VALUE", with its '='.
std::string_view NameOf(std::string_view entry) { return entry.substr(0, entry.find('=') + 1); }

// The #! line's interpreter, or "" if the file does not start with one.
std::string Interpreter(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  char buf[256];
  ssize_t n = fd ? ::read(fd.get(), buf, sizeof(buf)) : -1;
  if (n < 2 || buf[0] != '#' || buf[1] != '!') return "";
  std::string_view line(buf + 2, static_cast<size_t>(n) - 2);
  line = line.substr(0, line.find('\n'));
  size_t start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos) return "";
  line = line.substr(start);
  return std::string(line.substr(0, line.find_first_of(" \t")));
}

bool IsElf(const std::string& path) {
  constexpr char kMagic[4] = {0x7f, 'E', 'L', 'F'};
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  char buf[4];
  return fd && ::read(fd.get(), buf, 4) == 4 && std::memcmp(buf, kMagic, 4) == 0;
}

std::string Mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Why posix_spawn failed with `err`, as a sentence about `shown` (the
// program as the user named it, maybe with where PATH found it), worked out
// from the file at `path` (as the worker can reach it).
std::string WhyNotStarted(const std::string& shown, const std::string& path, int err, bool* missing) {
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  int stat_err = exists ? 0 : errno;
  switch (err) {
    case ENOENT: {
      if (!exists) {
        *missing = true;
        return "no such program " + shown;
      }
      std::string interp = Interpreter(path);
      if (!interp.empty()) {
        return shown + " cannot start: its interpreter '" + interp + "' (its #! line) does not exist";
      }
      if (IsElf(path)) {
        return shown + " cannot start: its dynamic loader does not exist (a binary built for another system?)";
      }
      return shown + " cannot start: a file it needs does not exist";
    }
    case EACCES: {
      if (!exists && stat_err == EACCES) {
        return shown + " cannot be reached: a directory on its path does not let this worker through";
      }
      if (exists && S_ISDIR(st.st_mode)) return shown + " is a directory";
      if (exists && !S_ISREG(st.st_mode)) return shown + " is not a regular file, so it cannot be run";
      if (exists && ::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0) {
        return shown + " is not executable (mode " + Mode(st.st_mode) + "): chmod +x it";
      }
      std::string interp = exists ? Interpreter(path) : "";
      if (!interp.empty()) return shown + " cannot start: its interpreter '" + interp + "' (its #! line) cannot be run";
      return shown + " cannot be run: permission denied (is its file system mounted noexec?)";
    }
    case ENOEXEC:
      if (exists && IsElf(path)) return shown + " is a binary for another kind of machine";
      return shown + " is not a program this system can run: a script needs a first line such as #!/bin/sh";
    case ENOTDIR:
      return shown + " cannot be found: a part of its path is not a directory";
    case ETXTBSY:
      return shown + " is open for writing by another process (text file busy); run it once that is done";
    case E2BIG:
      return "the arguments and environment for " + shown + " are longer than the system allows";
    case EAGAIN:
    case ENOMEM:
      return "cannot start " + shown + ": " + Errno(err) + " (too many processes, or out of memory?)";
    default:
      return "cannot start " + shown + ": " + Errno(err);
  }
}

// Keeps pipe ends off descriptors 0-2: if the worker runs with one of them
// closed, pipe2 can hand it out, and the child's dup2 onto 1 and 2 would
// then overwrite one end with the other.
bool AboveStdio(UniqueFd* fd) {
  if (fd->get() > 2) return true;
  int moved = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return false;
  *fd = UniqueFd(moved);
  return true;
}

struct Pipe {
  UniqueFd read, write;
};

// A pipe for one output stream: both ends close-on-exec (the child gets the
// write end through dup2, which clears the flag on the copy), the read end
// non-blocking (O_NONBLOCK belongs to each end's open file, so the child's
// end stays blocking, as programs expect).
Status MakePipe(Pipe* p) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Unavailable("cannot make a pipe for the command's output: " + Errno(errno));
  p->read = UniqueFd(fds[0]);
  p->write = UniqueFd(fds[1]);
  if (!AboveStdio(&p->read) || !AboveStdio(&p->write) || ::fcntl(p->read.get(), F_SETFL, O_NONBLOCK) != 0) {
    return Unavailable("cannot set up a pipe for the command's output: " + Errno(errno));
  }
  return Status::Ok();
}

// Enlarges the pipe to kPipeSize if the budget allows; returns the bytes
// taken from the budget (0: it keeps its size).
int64_t Enlarge(int fd) {
  int64_t before = ::fcntl(fd, F_GETPIPE_SZ);
  if (before < 0 || before >= kPipeSize) return 0;
  int64_t extra = kPipeSize - before;
  if (g_enlarged.fetch_add(extra) + extra > kPipeBudget || ::fcntl(fd, F_SETPIPE_SZ, kPipeSize) < 0) {
    g_enlarged.fetch_sub(extra);  // over budget, or over the user's limit
    return 0;
  }
  return extra;
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(const SpawnSpec& spec, GroupReaper* reaper, bool* missing) {
  bool unasked = false;
  if (missing == nullptr) missing = &unasked;
  *missing = false;
  if (spec.argv.empty()) {
    return InvalidArgument("no command to run: its argument list is empty");
  }
  const std::string& program = spec.argv[0];
  if (program.empty()) {
    *missing = true;
    return InvalidArgument("no such program '' (the command's first word is empty)");
  }
  for (size_t i = 0; i < spec.argv.size(); ++i) {
    if (HasNul(spec.argv[i])) {
      return InvalidArgument("argument " + std::to_string(i) + " of " + Quote(program.c_str()) +
                             " holds a NUL byte, which no command line can carry");
    }
  }
  // Most commands bring no environment of their own: they get the worker's
  // environ as it is. Otherwise a copy of its pointers (not of the strings),
  // leaving out the names an extra replaces; the last of same-named extras wins.
  char** envp = environ;
  std::vector<char*> env;
  const char* path_var = nullptr;  // the PATH the command will see
  if (!spec.env_extra.empty()) {
    std::vector<std::string_view> names;
    for (const std::string& kv : spec.env_extra) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0 || HasNul(kv)) {
        return InvalidArgument("environment entry " + Quote(kv.c_str()) + " is not NAME=VALUE");
      }
      names.push_back(NameOf(kv));
    }
    auto replaced = [&](std::string_view entry, size_t from) {
      for (size_t i = from; i < names.size(); ++i) {
        if (entry.starts_with(names[i])) return true;
      }
      return false;
    };
    for (char** e = environ; e && *e; ++e) {
      if (!replaced(*e, 0)) env.push_back(*e);
    }
    for (size_t i = 0; i < spec.env_extra.size(); ++i) {
      if (!replaced(spec.env_extra[i], i + 1)) env.push_back(const_cast<char*>(spec.env_extra[i].c_str()));
    }
    env.push_back(nullptr);
    envp = env.data();
    for (char** e = envp; *e; ++e) {
      if (std::string_view(*e).starts_with("PATH=")) path_var = *e + 5;
    }
  } else {
    path_var = std::getenv("PATH");
  }
  if (!spec.workdir.empty()) {
    std::string shown_dir = "the working directory " + Quote(spec.workdir.c_str());
    struct stat st {};
    if (HasNul(spec.workdir)) {
      return InvalidArgument(shown_dir + " holds a NUL byte, which no path can carry");
    }
    if (::stat(spec.workdir.c_str(), &st) != 0) {
      return InvalidArgument(shown_dir + " cannot be used: " + Errno(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
      return InvalidArgument(shown_dir + " is not a directory");
    }
    if (::faccessat(AT_FDCWD, spec.workdir.c_str(), X_OK, AT_EACCESS) != 0) {
      return InvalidArgument(shown_dir + " cannot be entered: " + Errno(errno));
    }
  }
  // Relative paths in messages say what they were relative to.
  auto where = [&](const std::string& path) {
    return spec.workdir.empty() || path[0] == '/' ? std::string() : " (in " + Quote(spec.workdir) + ")";
  };

  // What to exec: searched in PATH the way execvp does, but in the command's
  // PATH, and keeping what a failed search needs for its sentence.
  std::string exe = program;
  std::string shown = Quote(program) + where(program);
  // A file of thousands of `exec true` searches PATH once: the search is a
  // stat and an access check per directory, the cost of a task's own start.
  // A hit that no longer runs (the program was removed) searches again.
  static std::unordered_map<std::string, std::string> found_in_path;
  std::string cache_key = program + '\0' + (path_var ? path_var : "") + '\0' + spec.workdir;
  auto cached = program.find('/') == std::string::npos ? found_in_path.find(cache_key) : found_in_path.end();
  bool from_cache = cached != found_in_path.end();
  if (from_cache) {
    exe = cached->second;
    shown = Quote(program) + " (found in PATH as " + Quote(exe) + ")";
  } else if (program.find('/') == std::string::npos) {
    std::string_view dirs = path_var ? path_var : "/bin:/usr/bin";  // glibc's default, confstr(_CS_PATH)
    std::string found, not_executable;
    while (found.empty()) {
      size_t colon = dirs.find(':');
      std::string_view dir = dirs.substr(0, colon);
      std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + program;
      std::string reachable = InWorkdir(candidate, spec.workdir);
      struct stat st {};
      // A directory of that name is passed over, as execvp does.
      if (::stat(reachable.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        if (::faccessat(AT_FDCWD, reachable.c_str(), X_OK, AT_EACCESS) == 0) {
          found = candidate;
        } else if (not_executable.empty()) {
          not_executable = candidate;
        }
      }
      if (colon == std::string_view::npos) break;
      dirs.remove_prefix(colon + 1);
    }
    if (found.empty() && !not_executable.empty()) {
      struct stat st {};
      ::stat(InWorkdir(not_executable, spec.workdir).c_str(), &st);
      return InvalidArgument(Quote(not_executable) + where(not_executable) + ", found in PATH for " + Quote(program) +
                             ", is not executable (mode " + Mode(st.st_mode) + "): chmod +x it");
    }
    if (found.empty()) {
      *missing = true;
      return InvalidArgument("no such program " + Quote(program) + " (searched PATH=" +
                             (path_var ? Excerpt(path_var) : std::string("/bin:/usr/bin, as PATH is not set")) + ")");
    }
    exe = found;
    shown = Quote(program) + " (found in PATH as " + Quote(found) + where(found) + ")";
    if (found[0] == '/' && found_in_path.size() < 1024) found_in_path.emplace(cache_key, found);
  }

  Pipe out, err;
  if (Status made = MakePipe(&out); !made.ok()) return made;
  if (Status made = MakePipe(&err); !made.ok()) return made;
  // stderr keeps the default: it is rarely where the volume is.
  int64_t enlarged = Enlarge(out.read.get());

  SpawnActions fa;
  posix_spawn_file_actions_addopen(&fa.value, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa.value, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa.value, err.write.get(), 2);
  // Nothing else of the worker's: libcurl 7.88 opens its TCP sockets without
  // SOCK_CLOEXEC, and a command (or its `sleep 1000 &`) that inherited one
  // would hold that connection open.
  posix_spawn_file_actions_addclosefrom_np(&fa.value, 3);
  if (!spec.workdir.empty()) posix_spawn_file_actions_addchdir_np(&fa.value, spec.workdir.c_str());
  SpawnAttr sa;
  // Its own group: one kill(-pgid) reaches everything it starts, and the
  // terminal's Ctrl-C is the worker's to handle, not the command's.
  posix_spawnattr_setpgroup(&sa.value, 0);
  sigset_t none, all;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&sa.value, &none);
  // Handled signals are reset by exec anyway; ignored ones (the worker's
  // SIGPIPE) would be inherited, hence all of them. All, and not sigfillset:
  // that leaves out the C library's own two (glibc's SIGCANCEL and SIGSETXID,
  // 32 and 33), which glibc's posix_spawn then sets to SIG_IGN in the child
  // (so that they cannot interrupt it before the exec), and SIG_IGN outlives
  // the exec. (SIGKILL and SIGSTOP in the set are skipped by the kernel.)
  std::memset(&all, 0xff, sizeof(all));
  posix_spawnattr_setsigdefault(&sa.value, &all);
  posix_spawnattr_setflags(&sa.value, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  // glibc runs the child on our memory until it has exec'd (CLONE_VFORK) and
  // returns the exec's errno here, so a failed start is known now.
  int rc = posix_spawn(&pid, exe.c_str(), &fa.value, &sa.value, argv.data(), envp);
  if (rc != 0 && from_cache) {
    found_in_path.erase(cache_key);
    return Spawn(spec, reaper, missing);
  }
  if (rc != 0) {
    return InvalidArgument(WhyNotStarted(shown, InWorkdir(exe, spec.workdir), rc, missing));
  }
  if (reaper) reaper->Forget(pid);
  UniqueFd pidfd;
#ifdef SYS_pidfd_open
  pidfd = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#endif
  // out.write and err.write close on return: the child then holds the only
  // write ends, so EOF comes when it and its descendants are gone.
  return std::make_unique<ChildProcess>(Key{}, pid, std::move(pidfd), std::move(out.read), std::move(err.read),
                                        enlarged, spec, reaper);
}

ChildProcess::ChildProcess(Key, pid_t pid, UniqueFd pidfd, UniqueFd out, UniqueFd err, int64_t enlarged,
                           const SpawnSpec& spec, GroupReaper* reaper)
    : pid_(pid), pidfd_(std::move(pidfd)), capture_(spec.capture_bytes), enlarged_(enlarged), reaper_(reaper) {
  out_.pipe = std::move(out);
  err_.pipe = std::move(err);
  out_.path = spec.stdout_path;
  err_.path = spec.stderr_path;
  for (Stream* s : {&out_, &err_}) {
    if (s->path.empty()) continue;
    // O_NONBLOCK: opening a FIFO nobody reads would wait for a reader
    // forever; with it the open fails (ENXIO) and writes that would wait fail
    // (EAGAIN). A regular file ignores it.
    s->file = UniqueFd(::open(s->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0644));
    if (!s->file && write_error_.empty()) write_error_ = s->path + ": cannot write: " + Errno(errno);
  }
}

ChildProcess::~ChildProcess() {
  if (!reaped_) KillAndReap(false);
  g_enlarged.fetch_sub(enlarged_);
}

void ChildProcess::AppendFds(std::vector<int>* out) const {
  if (!reaped_ && pidfd_) out->push_back(pidfd_.get());
  if (out_.pipe) out->push_back(out_.pipe.get());
  if (err_.pipe) out->push_back(err_.pipe.get());
}

bool ChildProcess::Advance() {
  if (finished()) return true;
  Pump(out_, kReadBudget);
  Pump(err_, kReadBudget);
  if (!reaped_) {
    if (!LeaderExited()) return false;
    KillAndReap(true);
  }
  if (!reaped_) return false;
  // All it wrote is in the pipes now; the group's other members are dead or
  // dying. One pipeful more ends it, even if a writer escaped the group.
  for (Stream* s : {&out_, &err_}) {
    int capacity = s->pipe ? ::fcntl(s->pipe.get(), F_GETPIPE_SZ) : 0;
    Pump(*s, static_cast<size_t>(std::max(capacity, 0)) + kReadChunk);
  }
  CloseStream(out_);
  CloseStream(err_);
  return true;
}

void ChildProcess::SignalGroup(int sig) {
  if (reaped_) return;
  ::kill(-pid_, sig);
  if (sig != SIGKILL && sig != SIGCONT) ::kill(-pid_, SIGCONT);
}

bool ChildProcess::LeaderExited() {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;  // reaped behind our back (SIGCHLD ignored?): nothing left to wait for
  }
  return info.si_pid == pid_;
}

void ChildProcess::KillAndReap(bool nohang) {
  ::kill(-pid_, SIGKILL);
  int status = 0;
  rusage ru{};
  pid_t got;
  do {
    got = ::wait4(pid_, &status, nohang ? WNOHANG : 0, &ru);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return;  // not yet (LeaderExited said it had: cannot happen)
  reaped_ = true;
  pidfd_ = UniqueFd();
  if (got == pid_) {
    exit_.exited = WIFEXITED(status);
    exit_.exit_code = exit_.exited ? WEXITSTATUS(status) : 0;
    exit_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    exit_.user_ms = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
    exit_.sys_ms = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
    exit_.max_rss_kb = static_cast<uint64_t>(ru.ru_maxrss);
  }
  if (reaper_) reaper_->Add(pid_);
}

void ChildProcess::Pump(Stream& s, size_t budget) {
  char buf[kReadChunk];
  while (s.pipe && budget > 0) {
    ssize_t n = ::read(s.pipe.get(), buf, std::min(budget, sizeof(buf)));
    if (n > 0) {
      s.bytes += static_cast<uint64_t>(n);
      Keep(s, buf, static_cast<size_t>(n));
      WriteOut(s, buf, static_cast<size_t>(n));
      budget -= static_cast<size_t>(n);
    } else if (n == 0) {
      CloseStream(s);  // EOF: every writer is gone
    } else if (errno != EINTR) {
      return;  // EAGAIN: nothing more for now
    }
  }
}

void ChildProcess::Keep(Stream& s, const char* data, size_t n) {
  if (capture_ == 0) return;
  if (n >= capture_) {
    s.tail.assign(data + n - capture_, capture_);
    return;
  }
  s.tail.append(data, n);
  if (s.tail.size() >= 2 * capture_) s.tail.erase(0, s.tail.size() - capture_);
}

std::string ChildProcess::Tail(const Stream& s) const {
  return s.tail.size() <= capture_ ? s.tail : s.tail.substr(s.tail.size() - capture_);
}

void ChildProcess::WriteOut(Stream& s, const char* data, size_t n) {
  while (s.file && n > 0) {
    ssize_t w = ::write(s.file.get(), data, n);
    if (w > 0) {
      data += w;
      n -= static_cast<size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      int why = w < 0 ? errno : ENOSPC;
      if (write_error_.empty()) {
        write_error_ = s.path + ": cannot write: " +
                       (why == EAGAIN ? "its reader is not keeping up (a full pipe or FIFO)" : Errno(why));
      }
      s.file = UniqueFd();
    }
  }
}

void ChildProcess::CloseStream(Stream& s) {
  s.pipe = UniqueFd();
  // close(2) is where some file systems (NFS) report a failed write.
  if (s.file && !s.file.Close() && write_error_.empty()) write_error_ = s.path + ": cannot write: " + Errno(errno);
}

GroupReaper::GroupReaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

GroupReaper::~GroupReaper() { ReapAll(200); }

void GroupReaper::Add(pid_t pgid) { groups_.push_back({pgid, NowMs()}); }

void GroupReaper::Forget(pid_t pid) {
  std::erase_if(groups_, [pid](const Group& g) { return g.pgid == pid; });
}

void GroupReaper::Reap() {
  if (groups_.empty()) return;
  int64_t now = NowMs();
  std::erase_if(groups_, [now](const Group& g) {
    int status;
    while (::waitpid(-g.pgid, &status, WNOHANG) > 0) {
    }
    // kill(-pgid, 0) counts zombies too, so an empty group is one whose
    // members are all reaped (by us, or by init for those not reparented
    // here). EPERM: what is left cannot be signalled by us, nor killed.
    if (::kill(-g.pgid, 0) != 0 && (errno == ESRCH || errno == EPERM)) return true;
    return now - g.since_ms > kGiveUpMs;
  });
}

void GroupReaper::ReapAll(double timeout_ms) {
  Reap();
  // The group ids are still held by their members (Reap just saw them), so
  // these kills cannot reach a reused one.
  for (const Group& g : groups_) ::kill(-g.pgid, SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(timeout_ms);
  while (!groups_.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    Reap();
  }
  groups_.clear();
}

}  // namespace taskfarm
