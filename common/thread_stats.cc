// getrusage(RUSAGE_THREAD) and /proc/thread-self/schedstat.
#include "common/thread_stats.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

namespace taskfarm {

ThreadTimes CurrentThreadTimes() {
  ThreadTimes t;
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  t.user_ms = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
  t.sys_ms = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
  // "on-cpu-ns runqueue-wait-ns timeslices"
  int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[128];
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    if (n > 0) {
      buf[n] = 0;
      unsigned long long on_cpu = 0, waited = 0;
      if (std::sscanf(buf, "%llu %llu", &on_cpu, &waited) == 2) t.wait_ms = waited / 1e6;
    }
  }
  return t;
}

namespace {

uint64_t VmHwmKb(const char* status_path) {
  std::FILE* f = std::fopen(status_path, "re");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb;
}

}  // namespace

uint64_t PeakRssKb() { return VmHwmKb("/proc/self/status"); }

uint64_t PeakRssKbOf(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(pid));
  return VmHwmKb(path);
}

}  // namespace taskfarm
