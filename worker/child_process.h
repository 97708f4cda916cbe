// A user's command (an `exec` or `sh` task) run as a child process without
// ever blocking the worker's event loop: posix_spawn into a process group of
// its own, stdout and stderr read through non-blocking pipes (streamed to
// files, the last bytes kept for the record), the exit seen through a pidfd,
// and every process the command started killed with it.
//
//   GroupReaper reaper;  // one per worker: makes the worker a child subreaper
//   bool missing = false;
//   auto child = ChildProcess::Spawn({.argv = {"sh", "-c", "make test"}, .stdout_path = "out.txt"}, &reaper,
//                                    &missing);
//   if (!child.ok()) return Failed(missing ? "not found" : "cannot start", child.status().message());
//   // each loop turn: wait for readability on child->AppendFds(&fds), then
//   if (child->Advance()) Report(child->exit_status(), child->stdout_tail(), child->write_error());
//   if (reaper.lingering()) { wake again within ~10 ms; } reaper.Reap();
//
// Not thread-safe: one thread (the loop) drives its ChildProcesses and their
// GroupReaper. The process must not ignore SIGCHLD (SIG_IGN or SA_NOCLDWAIT
// let the kernel reap children unasked, and their exit status is lost), and
// nothing else in it may reap with waitpid(-1): a command's leader is reaped
// by its own ChildProcess, with wait4, for its resource usage.
//
// Known limits: a process that leaves the group (setsid, setpgid) escapes the
// kill; a worker killed with SIGKILL leaves its commands running (the group is
// not tied to the worker's life).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace taskfarm {

// (The `{}` initializers let designated initializers leave fields out
// without GCC 12's -Wmissing-field-initializers.)
struct SpawnSpec {
  // argv[0] is searched in the command's PATH (env_extra's if it sets one, else
  // the worker's) when it has no '/'; a relative path is taken from workdir.
  std::vector<std::string> argv{};
  // "NAME=VALUE": added to the worker's environment, replacing a same-named
  // entry (of same-named extras, the last).
  std::vector<std::string> env_extra{};
  std::string workdir{};  // "": the worker's own
  // "": not kept. Else created or truncated (mode 0644, relative to the
  // worker's directory, not workdir) once the command has started, and
  // written as output arrives: never held in memory.
  std::string stdout_path{};
  std::string stderr_path{};
  size_t capture_bytes = 4096;  // the last this-many bytes of each stream are kept for the record
};

// How a command ended. (Not ChildExit: coordinator/worker_pool.h has one.)
struct ProcessExit {
  bool exited = false;  // it exited normally, with exit_code
  int exit_code = 0;
  int signal = 0;  // it was killed by this signal (0: it was not)
  // The leader's own resource usage from wait4, including its descendants
  // that it waited for (not the background ones the kill took).
  double user_ms = 0;
  double sys_ms = 0;
  uint64_t max_rss_kb = 0;  // peak resident set of the leader or its largest waited-for descendant
};

class GroupReaper;

class ChildProcess {
  struct Key {};  // Spawn is the only way to make one

 public:
  // Starts spec.argv in its own process group (its pgid is its pid) with
  // stdin from /dev/null, stdout and stderr into pipes, no other descriptor
  // of the worker's, an empty signal mask and every signal at its default
  // disposition (the worker blocks SIGINT/SIGTERM and ignores SIGPIPE; both
  // survive exec and would break `yes | head`). Costs one posix_spawn: the
  // worker is paused only until the child has exec'd (glibc uses CLONE_VFORK).
  // A failure's message is a sentence naming the program and the cause ("no
  // such program 'foo' (searched PATH=/usr/bin:/bin)", "'/etc' is a
  // directory", "'./x.sh' is not executable (mode 0644): chmod +x it"), its
  // code InvalidArgument (Unavailable when the worker is out of pipes), and
  // *missing (when not null) says whether the program does not exist. An
  // output file that cannot be created does not stop the command: see
  // write_error().
  // `reaper` (may be null) takes over the group once the leader is reaped;
  // it must outlive this ChildProcess.
  static StatusOr<std::unique_ptr<ChildProcess>> Spawn(const SpawnSpec& spec, GroupReaper* reaper,
                                                       bool* missing = nullptr);

  ChildProcess(Key, pid_t pid, UniqueFd pidfd, UniqueFd out, UniqueFd err, int64_t enlarged, const SpawnSpec& spec,
               GroupReaper* reaper);
  // If the command is still running: SIGKILL to its whole group and a
  // blocking reap of the leader (quick: SIGKILL cannot be caught).
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Appends the descriptors to wait on for readability: the pidfd until the
  // leader is reaped, and the pipes still open. Nothing once finished().
  void AppendFds(std::vector<int>* out) const;

  // Never blocks. Reads what the pipes hold (at most ~1 MiB per stream per
  // call, so one chatty command cannot starve the loop), writes it to the
  // files and keeps the tails; once the leader has exited, SIGKILLs its whole
  // group (a `sleep 1000 &` dies with the task), reaps the leader, reads what
  // is left in the pipes and closes them. True once that is done; exit_status()
  // is then final. Cheap to call when nothing happened.
  bool Advance();

  // kill(-pgid, sig), followed by SIGCONT unless sig is SIGKILL or SIGCONT,
  // so that a stopped command acts on it (as coreutils' timeout does). For
  // SIGTERM at a timeout and SIGKILL after. Does nothing once the leader is
  // reaped (the group was SIGKILLed then).
  void SignalGroup(int sig);

  [[nodiscard]] bool finished() const { return reaped_ && !out_.pipe && !err_.pipe; }
  const ProcessExit& exit_status() const { return exit_; }
  pid_t pid() const { return pid_; }  // also its process group id
  // True only on kernels without pidfd_open (before 5.3): AppendFds then has
  // no descriptor that wakes at the exit, and the loop must call Advance
  // every ~10 ms until finished().
  bool needs_polling() const { return !reaped_ && !pidfd_; }

  uint64_t stdout_bytes() const { return out_.bytes; }  // all it wrote, kept or not
  uint64_t stderr_bytes() const { return err_.bytes; }
  // The last min(capture_bytes, *_bytes()) bytes, raw (binary, NULs, a
  // character cut in half: see common/utf8.h before putting it in a message).
  std::string stdout_tail() const { return Tail(out_); }
  std::string stderr_tail() const { return Tail(err_); }
  // Non-empty if an output file could not be created or written
  // ("PATH: cannot write: WHY"); the first failure only. That file is then
  // incomplete; the output is still read, counted and kept in the tail.
  const std::string& write_error() const { return write_error_; }

 private:
  struct Stream {
    UniqueFd pipe;  // our read end, non-blocking; closed at EOF or after the last read
    UniqueFd file;  // the *_path file; closed at the end or after a failed write
    std::string path;
    uint64_t bytes = 0;
    std::string tail;  // up to 2 × capture_bytes, cut back to capture_bytes when it gets there
  };
  // Reads up to `budget` bytes from s.pipe, closing it at EOF.
  void Pump(Stream& s, size_t budget);
  void Keep(Stream& s, const char* data, size_t n);
  void WriteOut(Stream& s, const char* data, size_t n);
  void CloseStream(Stream& s);
  // Whether the leader has exited, without reaping it: while its zombie
  // stands, its pid and so its process group id cannot be reused, so the
  // kill that follows cannot reach an unrelated group.
  bool LeaderExited();
  // SIGKILLs the group, reaps the leader (blocking unless `nohang`) and hands
  // the group to the reaper.
  void KillAndReap(bool nohang);
  std::string Tail(const Stream& s) const;

  pid_t pid_;
  UniqueFd pidfd_;
  Stream out_, err_;
  size_t capture_;
  int64_t enlarged_;  // bytes of the worker's pipe budget this one's stdout pipe took
  GroupReaper* reaper_;
  bool reaped_ = false;
  ProcessExit exit_;
  std::string write_error_;
};

// Reaps what is left of killed groups. A group's background members (a
// `sleep 1000 &` whose shell was the leader) were the leader's children; once
// it is gone they are reparented to the nearest child subreaper, which this
// makes the worker, so that they are reaped here instead of piling up as
// zombies (or, without it, living on under init). Only groups it was given
// are reaped (waitpid(-pgid)), so leaders, reaped by their ChildProcess, and
// any other children of the worker are never taken.
class GroupReaper {
 public:
  // Marks this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER; it
  // stays one after this object is gone).
  GroupReaper();
  // ReapAll with a short bound (200 ms).
  ~GroupReaper();
  GroupReaper(const GroupReaper&) = delete;
  GroupReaper& operator=(const GroupReaper&) = delete;

  // A group that was SIGKILLed and whose leader was reaped.
  void Add(pid_t pgid);
  // A new process got this pid, so the group of that number that Add was
  // given is empty (a pid is not reused while a group holds it), and its
  // number now names the new process's group: stop reaping it, or its
  // waitpid(-pgid) could take the new leader's exit. Spawn calls this.
  void Forget(pid_t pid);
  // Non-blocking: reaps the groups' members that have exited and forgets the
  // groups that are empty. One waitpid and one kill(-pgid, 0) per lingering
  // group; nothing when there is none. A group still there after 10 s (a
  // member stuck in the kernel, or one whose parent escaped the group and
  // does not reap it) is forgotten, so the loop does not wake for it forever.
  void Reap();
  // Groups not yet empty: the loop should wake within ~10 ms to Reap again.
  [[nodiscard]] bool lingering() const { return !groups_.empty(); }
  // At exit: SIGKILL each lingering group again, then Reap until all are
  // empty or timeout_ms has passed; forgets them all either way.
  void ReapAll(double timeout_ms);

 private:
  struct Group {
    pid_t pgid;
    int64_t since_ms;  // steady clock
  };
  std::vector<Group> groups_;
};

}  // namespace taskfarm
