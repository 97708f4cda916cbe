// C1's baseline: K x "primes below N" with taskfarm's own kernel, either in
// this one process or split statically over P forked processes (process i
// takes tasks i, i+P, ...), with no messaging at all. Prints
//   total=<sum of the K counts> tasks=K procs=P seconds=S
// so scripts/bench can check it against taskfarm's results.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "worker/cpu_kernels.h"

namespace {

void Usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--n N (125000)] [--tasks K (400)] [--procs P (1)]\n", argv0);
  std::exit(2);
}

uint64_t RunShare(uint64_t n, uint64_t tasks, uint64_t procs, uint64_t index) {
  uint64_t total = 0;
  for (uint64_t t = index; t < tasks; t += procs) {
    auto count = taskfarm::CountPrimesBelow(n);
    if (!count) std::exit(3);
    total += *count;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 125000, tasks = 400, procs = 1;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> uint64_t {
      if (i + 1 >= argc) Usage(argv[0]);
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (!std::strcmp(argv[i], "--n"))
      n = next();
    else if (!std::strcmp(argv[i], "--tasks"))
      tasks = next();
    else if (!std::strcmp(argv[i], "--procs"))
      procs = next();
    else
      Usage(argv[0]);
  }
  if (procs < 1) Usage(argv[0]);
  auto start = std::chrono::steady_clock::now();
  uint64_t total = 0;
  if (procs == 1) {
    total = RunShare(n, tasks, 1, 0);
  } else {
    // Each child writes its partial sum to a pipe; the parent adds them up.
    std::vector<pid_t> children;
    std::vector<int> reads;
    for (uint64_t p = 0; p < procs; ++p) {
      int fds[2];
      if (pipe(fds) != 0) {
        std::perror("pipe");
        return 1;
      }
      pid_t pid = fork();
      if (pid < 0) {
        std::perror("fork");
        return 1;
      }
      if (pid == 0) {
        close(fds[0]);
        uint64_t part = RunShare(n, tasks, procs, p);
        if (write(fds[1], &part, sizeof part) != sizeof part) _exit(1);
        _exit(0);
      }
      close(fds[1]);
      children.push_back(pid);
      reads.push_back(fds[0]);
    }
    for (size_t p = 0; p < children.size(); ++p) {
      uint64_t part = 0;
      if (read(reads[p], &part, sizeof part) != sizeof part) {
        std::fprintf(stderr, "child %zu failed\n", p);
        return 1;
      }
      close(reads[p]);
      total += part;
      int status = 0;
      waitpid(children[p], &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("total=%llu tasks=%llu procs=%llu seconds=%.3f\n", (unsigned long long)total, (unsigned long long)tasks,
              (unsigned long long)procs, seconds);
  return 0;
}
