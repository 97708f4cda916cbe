// Who is registered: each worker's ZeroMQ routing id and its scheduler id,
// kept in step in one place, which registrations are this run's own local
// workers (and their pids), and how many may be registered at once.
//
// A local worker is recognised by the per-run token it was given at spawn
// (environment TASKFARM_LOCAL_TOKEN), which a remote peer cannot know; a pid
// in a Hello is only a claim and never decides what the coordinator kills.
//
//   PeerRegistry peers(4096);
//   if (peers.Full()) refuse();
//   peers.Add(identity, wid, local_pid_or_0, peers.UniqueName(name));
//   if (auto wid = peers.Find(identity)) ...;
//   peers.Remove(wid);  // remembered, so it can still be told Shutdown
//
// Not thread-safe: the coordinator's loop thread owns it.
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
#include <vector>

#include "coordinator/scheduler.h"

namespace taskfarm {

class PeerRegistry {
 public:
  // At most `max_registered` at once: a Hello flood fills this and no more.
  explicit PeerRegistry(size_t max_registered) : max_(max_registered) {}

  [[nodiscard]] bool Full() const { return by_identity_.size() >= max_; }
  [[nodiscard]] size_t size() const { return by_identity_.size(); }

  // `wanted`, or if a registered worker has that name, "wanted#2" (#3...):
  // unique among the workers registered now (a name freed by a worker that
  // left may be handed out again).
  [[nodiscard]] std::string UniqueName(const std::string& wanted) const;
  // Registers `identity` as `wid` under `name` (from UniqueName).
  // local_pid: the local worker's pid, 0 for a remote one.
  void Add(const std::string& identity, WorkerId wid, pid_t local_pid, const std::string& name);
  // Forgets `wid`. Its identity is remembered (boundedly) as one that may
  // still be listening, to be told Shutdown at the end of the run.
  void Remove(WorkerId wid);

  [[nodiscard]] std::optional<WorkerId> Find(std::string_view identity) const;
  [[nodiscard]] const std::string* IdentityOf(WorkerId wid) const;
  // The local worker with this pid, if registered.
  [[nodiscard]] std::optional<WorkerId> ByPid(pid_t pid) const;
  // 0 unless `wid` is a local worker.
  [[nodiscard]] pid_t PidOf(WorkerId wid) const;

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
};

}  // namespace taskfarm
