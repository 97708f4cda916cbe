// PeerRegistry: unique names stay unique and cheap to find.
#include "coordinator/peer_registry.h"

#include <gtest/gtest.h>

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

// A Hello flood names every peer alike: naming the next one must not probe
// every suffix before it (that kept the loop thread too busy to read its
// socket). Not timed here: probing from #2 each time would be 1.25 billion
// lookups, minutes, far past this test's timeout.
TEST(PeerRegistryTest, ManyPeersOfOneNameAreNamedOnce) {
  PeerRegistry peers(1000000);
  for (WorkerId wid = 1; wid <= 50000; ++wid) {
    peers.Add("id" + std::to_string(wid), wid, 0, peers.UniqueName("flood"));
  }
  EXPECT_EQ(peers.size(), 50000u);
  EXPECT_EQ(peers.UniqueName("flood"), "flood#50001");
}

}  // namespace
}  // namespace taskfarm
