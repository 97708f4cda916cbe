// Integration-test helpers: run a real child process with captured output,
// locate built binaries, and inspect the process table (/proc).
#ifndef TASKFARM_TESTS_SUPPORT_SUBPROCESS_H_
#define TASKFARM_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace taskfarm::testing {

struct ProcessResult {
  int exit_code = -1;      // exit status if the child exited normally, else -1
  int term_signal = 0;     // signal that killed the child, else 0
  bool timed_out = false;  // Wait() gave up and SIGKILLed the child
  std::string out;         // everything read from stdout so far
  std::string err;         // everything read from stderr so far
};

// A real child process (fork + execve) with stdout and stderr captured
// through pipes and optional stdin data. The child starts with default
// signal dispositions and an empty signal mask, inherits the environment
// plus `env_extra`, leads its own process group, and gets SIGKILL if the
// thread that created this object exits (PR_SET_PDEATHSIG), so a crashed
// test leaves no stray servers. Not thread-safe: use one Subprocess from one
// thread at a time.
class Subprocess {
 public:
  // argv[0] is the program path (not searched in PATH). env_extra: "K=V"
  // entries that add to or replace the inherited environment. stdin_data:
  // written to the child's stdin (then closed) from a background thread so
  // large inputs don't deadlock; without it stdin is /dev/null.
  // Throws std::system_error if the pipes, fork or the exec fail (a failed
  // exec is reported here, with the child already reaped).
  Subprocess(std::vector<std::string> argv, std::vector<std::string> env_extra = {},
             std::optional<std::string> stdin_data = std::nullopt);
  // SIGKILLs the child's process group (descendants that stayed in it, even
  // after the child itself was waited for), then reaps the child if it was
  // not yet. Never leaves a zombie.
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // Sends `sig` to the child only (not its group); does nothing once it has
  // been reaped (so a recycled pid is never hit).
  void Signal(int sig);

  // Waits up to `timeout` for the child to exit while draining its output;
  // on timeout SIGKILLs it (and its process group), reaps it and sets
  // timed_out. Output the child wrote before exiting is always included;
  // output from grandchildren still holding the pipes after that is
  // collected only if already there, and stdin data the child did not read
  // is abandoned. May be called again; later calls return the same status
  // plus any output read since.
  ProcessResult Wait(std::chrono::milliseconds timeout);

  // Reads stdout until a complete line (without its '\n') satisfies `pred`
  // or `timeout` passes; returns that line, or nullopt on timeout or when
  // stdout closes first. The next call continues after the returned line.
  // Everything read stays in the result of Wait().
  std::optional<std::string> WaitForLine(const std::function<bool(const std::string&)>& pred,
                                         std::chrono::milliseconds timeout);

  // True until the child has exited (reaps it if it has).
  bool Running();

 private:
  // Reaps the child without blocking; true if it has been reaped.
  bool TryReap();
  // Waits up to `timeout` for output and appends what is available.
  void Pump(std::chrono::milliseconds timeout);
  void ReadAvailable(int* fd, std::string* sink);
  void CloseFd(int* fd);
  // Cancels the stdin writer if it is still blocked, and joins it.
  void StopStdinWriter();

  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  int out_fd_ = -1;  // parent's read end of the child's stdout, non-blocking
  int err_fd_ = -1;  // parent's read end of the child's stderr, non-blocking
  std::string out_;
  std::string err_;
  size_t line_start_ = 0;  // WaitForLine resumes scanning out_ here
  std::thread stdin_writer_;
  int writer_cancel_fd_ = -1;  // closing it tells stdin_writer_ to give up
};

// Path of a built binary: $TASKFARM_BIN_DIR/NAME if that environment
// variable is set, else the build's bin directory (compile definition
// TASKFARM_BIN_DIR, i.e. build/bin) + "/" + NAME.
std::string BinaryPath(const std::string& name);

// Pids of every process on the machine (zombies included), from /proc.
std::vector<pid_t> AllPids();
// Pids of the processes (zombies included) whose parent is `parent`, sorted
// (reads /proc/*/stat).
std::vector<pid_t> ChildrenOf(pid_t parent);
// Pids of the processes (zombies included) in process group `pgid`, sorted.
std::vector<pid_t> InGroup(pid_t pgid);
// Pids of the live processes whose argv is exactly `argv` (a zombie's
// cmdline reads empty, so only live ones count).
std::vector<pid_t> ProcessesRunning(const std::vector<std::string>& argv);
// True if `pid` exists and is a zombie (exited, not yet reaped).
bool IsZombie(pid_t pid);
// True if a process with this pid exists, zombies included.
bool ProcessExists(pid_t pid);

}  // namespace taskfarm::testing

#endif  // TASKFARM_TESTS_SUPPORT_SUBPROCESS_H_
