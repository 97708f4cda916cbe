// Signals on a signalfd, posix_spawn, the self path and the timestamp.
#include "common/posix.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>

extern char** environ;

namespace taskfarm {

UniqueFd BlockSignalsToFd(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : signals) sigaddset(&mask, sig);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw std::system_error(errno, std::generic_category(), "signalfd");
  return fd;
}

int NextSignal(int signal_fd) {
  signalfd_siginfo info{};
  if (read(signal_fd, &info, sizeof(info)) != sizeof(info)) return 0;
  return static_cast<int>(info.ssi_signo);
}

// The const_cast is for the C signatures of posix_spawn and execve, which
// never write through them.
std::vector<char*> PointersTo(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

pid_t SpawnProcess(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) throw SpawnError("cannot start a program: no argv", EINVAL);
  SpawnActions fa;
  if (!options.output_file.empty()) {
    posix_spawn_file_actions_addopen(&fa.value, STDOUT_FILENO, options.output_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa.value, STDOUT_FILENO, STDERR_FILENO);
  }
  if (options.stdin_null) posix_spawn_file_actions_addopen(&fa.value, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  SpawnAttr sa;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.own_process_group) {
    posix_spawnattr_setpgroup(&sa.value, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&sa.value, &none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&sa.value, &defaults);
  posix_spawnattr_setflags(&sa.value, flags);
  std::vector<char*> arg_ptrs = PointersTo(argv);
  std::vector<char*> env_ptrs = options.env ? PointersTo(*options.env) : std::vector<char*>{};
  pid_t pid = 0;
  int rc =
      posix_spawn(&pid, arg_ptrs[0], &fa.value, &sa.value, arg_ptrs.data(), options.env ? env_ptrs.data() : environ);
  if (rc != 0) throw SpawnError("cannot start " + argv[0] + ": " + std::strerror(rc), rc);
  return pid;
}

std::string SelfExePath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
  return n > 0 && static_cast<size_t>(n) < sizeof(buf) ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string LocalTimestamp(std::time_t when) {
  std::tm local{};
  char buf[64];
  if (!localtime_r(&when, &local) || std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &local) == 0) return "";
  return buf;
}

}  // namespace taskfarm
