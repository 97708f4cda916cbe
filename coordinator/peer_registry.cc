// The registry of connected workers.
#include "coordinator/peer_registry.h"

namespace taskfarm {
namespace {

// Forgotten identities kept for a last Shutdown: enough for every worker of
// a large farm, not a Hello flood.
constexpr size_t kMaxForgotten = 4096;

// A lost worker already named by TakeLostTooLong: still lost (its exit is
// not an early death), never named again.
constexpr double kNamed = -1;

}  // namespace

std::string PeerRegistry::UniqueName(const std::string& wanted) const {
  if (!names_.count(wanted)) return wanted;
  // Amortized O(log n): the probe starts past the suffixes handed out before.
  uint64_t& n = next_suffix_.try_emplace(wanted, 2).first->second;
  std::string unique;
  do {
    unique = wanted + "#" + std::to_string(n++);
  } while (names_.count(unique));
  return unique;
}

void PeerRegistry::Add(const std::string& identity, WorkerId wid, pid_t local_pid, const std::string& name) {
  names_.insert(name);
  by_identity_[identity] = wid;
  by_wid_[wid] = Peer{identity, name, local_pid};
  if (local_pid > 0) {
    by_pid_[local_pid] = wid;
    lost_.erase(local_pid);
  }
}

void PeerRegistry::Remove(WorkerId wid, Why why) {
  auto it = by_wid_.find(wid);
  if (it == by_wid_.end()) return;
  Peer& peer = it->second;
  by_identity_.erase(peer.identity);
  names_.erase(peer.name);
  next_suffix_.erase(peer.name);
  if (peer.pid > 0) {
    by_pid_.erase(peer.pid);
    if (why == Why::kLost) {
      double now = clock_.NowMs();
      lost_[peer.pid] = now;
      lost_order_.emplace_back(peer.pid, now);
    }
  }
  forgotten_.push_back(std::move(peer.identity));
  if (forgotten_.size() > kMaxForgotten) forgotten_.pop_front();
  by_wid_.erase(it);
}

PeerRegistry::Ended PeerRegistry::ProcessEnded(pid_t pid) {
  Ended ended;
  ended.registered = ByPid(pid);
  ended.was_lost = lost_.erase(pid) > 0;
  return ended;
}

std::vector<pid_t> PeerRegistry::TakeLostTooLong() {
  std::vector<pid_t> named;
  double now = clock_.NowMs();
  while (!lost_order_.empty() && now - lost_order_.front().second > lost_too_long_ms_) {
    auto [pid, since] = lost_order_.front();
    lost_order_.pop_front();
    auto it = lost_.find(pid);
    if (it == lost_.end() || it->second != since) continue;  // stale
    it->second = kNamed;
    named.push_back(pid);
  }
  return named;
}

std::optional<WorkerId> PeerRegistry::Find(std::string_view identity) const {
  auto it = by_identity_.find(std::string(identity));
  if (it == by_identity_.end()) return std::nullopt;
  return it->second;
}

const std::string* PeerRegistry::IdentityOf(WorkerId wid) const {
  auto it = by_wid_.find(wid);
  return it == by_wid_.end() ? nullptr : &it->second.identity;
}

std::optional<WorkerId> PeerRegistry::ByPid(pid_t pid) const {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return std::nullopt;
  return it->second;
}

pid_t PeerRegistry::PidOf(WorkerId wid) const {
  auto it = by_wid_.find(wid);
  return it == by_wid_.end() ? 0 : it->second.pid;
}

}  // namespace taskfarm
