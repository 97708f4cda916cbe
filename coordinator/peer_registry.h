// Who is registered: the one place that maps a worker's ZeroMQ routing id,
// its scheduler id and, for this run's own local workers, its process id
// onto each other; which local workers were lost while their process still
// runs; and how many may be registered at once.
//
// A local worker is recognised by the per-run token it was given at spawn
// (environment TASKFARM_LOCAL_TOKEN), which a remote peer cannot know; a pid
// in a Hello is only a claim and never decides what the coordinator kills.
//
//   PeerRegistry peers(4096, clock, heartbeat_timeout_ms);
//   if (peers.Full()) refuse();
//   peers.Add(identity, wid, local_pid_or_0, peers.UniqueName(name));
//   if (auto wid = peers.Find(identity)) ...;
//   peers.Remove(wid, PeerRegistry::Why::kLost);  // silent: its process is watched
//   for (pid_t pid : peers.TakeLostTooLong()) kill(pid);
//   PeerRegistry::Ended e = peers.ProcessEnded(pid);  // reaped
//
// Every lookup is a hash lookup; nothing here scans all peers. Not
// thread-safe: the coordinator's loop thread owns it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "coordinator/scheduler.h"

namespace taskfarm {

class PeerRegistry {
 public:
  // At most `max_registered` at once: a Hello flood fills this and no more.
  // A local worker removed as lost is named by TakeLostTooLong once it has
  // stayed lost `lost_too_long_ms` on `clock`.
  PeerRegistry(size_t max_registered, const Clock& clock, double lost_too_long_ms)
      : max_(max_registered), clock_(clock), lost_too_long_ms_(lost_too_long_ms) {}

  [[nodiscard]] bool Full() const { return by_identity_.size() >= max_; }
  [[nodiscard]] size_t size() const { return by_identity_.size(); }

  // `wanted`, or if a registered worker has that name, "wanted#2" (#3...):
  // unique among the workers registered now (a name freed by a worker that
  // left may be handed out again).
  [[nodiscard]] std::string UniqueName(const std::string& wanted) const;
  // Registers `identity` as `wid` under `name` (from UniqueName).
  // local_pid: the local worker's pid, 0 for a remote one. A local worker
  // that was lost and registers again is no longer lost.
  void Add(const std::string& identity, WorkerId wid, pid_t local_pid, const std::string& name);

  // Why a worker leaves the registry.
  enum class Why {
    kGone,  // it left, died, or is no longer trusted: nothing more to watch
    kLost,  // silent or doing no work while its process may still run: a
            // local one is watched until it ends (ProcessEnded) or is
            // named by TakeLostTooLong
  };
  // Forgets `wid` (Goodbye, death, loss, a stuck task: every removal comes
  // here). Its identity is remembered (boundedly) as one that may still be
  // listening, to be told Shutdown at the end of the run. Unknown: no-op.
  void Remove(WorkerId wid, Why why = Why::kGone);

  [[nodiscard]] std::optional<WorkerId> Find(std::string_view identity) const;
  [[nodiscard]] const std::string* IdentityOf(WorkerId wid) const;
  // The local worker with this pid, if registered.
  [[nodiscard]] std::optional<WorkerId> ByPid(pid_t pid) const;
  // 0 unless `wid` is a local worker.
  [[nodiscard]] pid_t PidOf(WorkerId wid) const;

  // A local worker's process ended. `registered`: the registration it still
  // had (the caller removes it); `was_lost`: it had been removed as lost.
  // Either way the registry forgets the pid.
  struct Ended {
    std::optional<WorkerId> registered;
    bool was_lost = false;
  };
  [[nodiscard]] Ended ProcessEnded(pid_t pid);
  // The lost local workers that have stayed lost `lost_too_long_ms` (stuck
  // for good: the caller kills them), each named once, oldest first. Cost:
  // the number named, not the number lost.
  [[nodiscard]] std::vector<pid_t> TakeLostTooLong();

  // Every registered (scheduler id, routing id).
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [wid, peer] : by_wid_) f(wid, peer.identity);
  }
  // Identities forgotten during the run (most recent, bounded).
  [[nodiscard]] const std::deque<std::string>& forgotten() const { return forgotten_; }

 private:
  struct Peer {
    std::string identity;
    std::string name;
    pid_t pid = 0;
  };
  size_t max_;
  const Clock& clock_;
  double lost_too_long_ms_;
  std::unordered_map<std::string, WorkerId> by_identity_;
  std::unordered_map<WorkerId, Peer> by_wid_;
  std::unordered_map<pid_t, WorkerId> by_pid_;
  std::set<std::string, std::less<>> names_;
  // For a wanted name that is taken: the suffix to try first, past those
  // already handed out. Without it each Hello named like thousands of
  // registered peers ("flood", "flood#2", ... "flood#4096") probed every
  // suffix from #2: a Hello flood then kept the loop thread so busy that
  // libzmq's unread Hellos from closed connections piled up, each holding a
  // pipe pair (~33 KB): ~1 GB of heap at 100,000 Hellos. Dropped when the
  // wanted name itself is removed, so it holds no more entries than names_.
  mutable std::unordered_map<std::string, uint64_t> next_suffix_;
  std::deque<std::string> forgotten_;
  // Lost local workers: pid -> when lost, and the same in the order they
  // were lost (the clock only goes forward), so TakeLostTooLong pops from
  // the front. A queued entry whose time no longer matches lost_ is stale
  // (the pid ended, or registered again and was lost anew).
  std::unordered_map<pid_t, double> lost_;
  std::deque<std::pair<pid_t, double>> lost_order_;
};

}  // namespace taskfarm
