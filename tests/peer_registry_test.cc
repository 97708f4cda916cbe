// PeerRegistry: unique names stay unique and cheap to find.
#include "coordinator/peer_registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

namespace taskfarm {
namespace {

TEST(PeerRegistryTest, NamesAreUniqueAcrossAddsAndRemoves) {
  PeerRegistry peers(100000);
  std::map<WorkerId, std::string> live;
  WorkerId next = 1;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 20; ++i, ++next) {
      std::string name = peers.UniqueName("w");
      for (const auto& [wid, other] : live) ASSERT_NE(name, other) << "round " << round;
      peers.Add("id" + std::to_string(next), next, 0, name);
      live[next] = name;
    }
    // Remove every third, the plain "w" among them in the first round.
    for (auto it = live.begin(); it != live.end();) {
      if (it->first % 3 == 1) {
        peers.Remove(it->first);
        it = live.erase(it);
      } else {
        ++it;
      }
    }
  }
  EXPECT_EQ(peers.UniqueName("other"), "other");
  EXPECT_EQ(peers.size(), live.size());
}

// A Hello flood names every peer alike: naming the 4,096th must not probe
// every suffix before it (that kept the loop thread too busy to read).
TEST(PeerRegistryTest, ManyPeersOfOneNameAreNamedQuickly) {
  PeerRegistry peers(1000000);
  auto start = std::chrono::steady_clock::now();
  for (WorkerId wid = 1; wid <= 50000; ++wid) {
    peers.Add("id" + std::to_string(wid), wid, 0, peers.UniqueName("flood"));
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(s, 2.0);
  EXPECT_EQ(peers.size(), 50000u);
}

}  // namespace
}  // namespace taskfarm
