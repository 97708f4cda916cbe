// PeerRegistry: one place maps routing id, worker id and local pid onto
// each other; unique names stay unique and cheap to find; a lost local
// worker is named once when it has stayed lost too long. On a FakeClock:
// no processes, no sleeps.
#include "coordinator/peer_registry.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/clock.h"

namespace taskfarm {
namespace {

constexpr double kLostTooLongMs = 5000;

TEST(PeerRegistryTest, NamesAreUniqueAcrossAddsAndRemoves) {
  FakeClock clock;
  PeerRegistry peers(100000, clock, kLostTooLongMs);
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
  FakeClock clock;
  PeerRegistry peers(1000000, clock, kLostTooLongMs);
  for (WorkerId wid = 1; wid <= 50000; ++wid) {
    peers.Add("id" + std::to_string(wid), wid, 0, peers.UniqueName("flood"));
  }
  EXPECT_EQ(peers.size(), 50000u);
  EXPECT_EQ(peers.UniqueName("flood"), "flood#50001");
}

TEST(PeerRegistryTest, EachIdentityWorkerAndPidFindsTheOthers) {
  FakeClock clock;
  PeerRegistry peers(10, clock, kLostTooLongMs);
  peers.Add("local", 1, 4242, "w1");
  peers.Add("remote", 2, 0, "far");
  EXPECT_EQ(peers.Find("local"), WorkerId{1});
  EXPECT_EQ(peers.Find("remote"), WorkerId{2});
  EXPECT_EQ(peers.Find("stranger"), std::nullopt);
  ASSERT_NE(peers.IdentityOf(2), nullptr);
  EXPECT_EQ(*peers.IdentityOf(2), "remote");
  EXPECT_EQ(peers.ByPid(4242), WorkerId{1});
  EXPECT_EQ(peers.PidOf(1), 4242);
  EXPECT_EQ(peers.PidOf(2), 0);  // remote: no process of ours
  EXPECT_EQ(peers.ByPid(0), std::nullopt);
  std::map<WorkerId, std::string> seen;
  peers.ForEach([&](WorkerId wid, const std::string& identity) { seen[wid] = identity; });
  EXPECT_EQ(seen, (std::map<WorkerId, std::string>{{1, "local"}, {2, "remote"}}));
}

TEST(PeerRegistryTest, RemoveForgetsEveryMappingAndRemembersTheIdentity) {
  FakeClock clock;
  PeerRegistry peers(10, clock, kLostTooLongMs);
  peers.Add("local", 1, 4242, "w1");
  peers.Remove(1);
  EXPECT_EQ(peers.size(), 0u);
  EXPECT_EQ(peers.Find("local"), std::nullopt);
  EXPECT_EQ(peers.IdentityOf(1), nullptr);
  EXPECT_EQ(peers.ByPid(4242), std::nullopt);
  EXPECT_EQ(peers.PidOf(1), 0);
  EXPECT_EQ(peers.UniqueName("w1"), "w1");  // its name is free again
  ASSERT_EQ(peers.forgotten().size(), 1u);
  EXPECT_EQ(peers.forgotten().front(), "local");  // still told Shutdown at the end
  peers.Remove(1);                                // twice: nothing more
  EXPECT_EQ(peers.forgotten().size(), 1u);
}

TEST(PeerRegistryTest, FullAtTheBoundAndRoomAgainAfterARemove) {
  FakeClock clock;
  PeerRegistry peers(2, clock, kLostTooLongMs);
  peers.Add("a", 1, 0, "a");
  EXPECT_FALSE(peers.Full());
  peers.Add("b", 2, 0, "b");
  EXPECT_TRUE(peers.Full());
  peers.Remove(1);
  EXPECT_FALSE(peers.Full());
}

TEST(PeerRegistryTest, ALostLocalWorkerIsNamedOnceWhenLostTooLong) {
  FakeClock clock;
  PeerRegistry peers(10, clock, kLostTooLongMs);
  peers.Add("local", 1, 4242, "w1");
  peers.Remove(1, PeerRegistry::Why::kLost);
  EXPECT_EQ(peers.ByPid(4242), std::nullopt);  // no longer registered
  clock.Advance(kLostTooLongMs);
  EXPECT_TRUE(peers.TakeLostTooLong().empty()) << "not past the bound yet";
  clock.Advance(1);
  EXPECT_EQ(peers.TakeLostTooLong(), std::vector<pid_t>{4242});
  clock.Advance(kLostTooLongMs * 10);
  EXPECT_TRUE(peers.TakeLostTooLong().empty()) << "named once only";
  // Its exit, when it comes, is of a lost worker (not an early death).
  PeerRegistry::Ended ended = peers.ProcessEnded(4242);
  EXPECT_EQ(ended.registered, std::nullopt);
  EXPECT_TRUE(ended.was_lost);
  EXPECT_FALSE(peers.ProcessEnded(4242).was_lost) << "the pid is forgotten";
}

TEST(PeerRegistryTest, LostWorkersAreNamedOldestFirst) {
  FakeClock clock;
  PeerRegistry peers(10, clock, kLostTooLongMs);
  for (WorkerId wid = 1; wid <= 3; ++wid) peers.Add("id" + std::to_string(wid), wid, 100 + wid, "w");
  peers.Remove(2, PeerRegistry::Why::kLost);
  clock.Advance(1000);
  peers.Remove(1, PeerRegistry::Why::kLost);
  clock.Advance(1000);
  peers.Remove(3, PeerRegistry::Why::kLost);
  clock.Advance(kLostTooLongMs - 1500);
  EXPECT_EQ(peers.TakeLostTooLong(), std::vector<pid_t>{102});
  clock.Advance(2000);
  EXPECT_EQ(peers.TakeLostTooLong(), (std::vector<pid_t>{101, 103}));
}

TEST(PeerRegistryTest, ALostWorkerThatEndsOrRegistersAgainIsNotNamed) {
  FakeClock clock;
  PeerRegistry peers(10, clock, kLostTooLongMs);
  peers.Add("a", 1, 101, "a");
  peers.Add("b", 2, 102, "b");
  peers.Remove(1, PeerRegistry::Why::kLost);
  peers.Remove(2, PeerRegistry::Why::kLost);
  EXPECT_TRUE(peers.ProcessEnded(101).was_lost);  // reaped while lost
  peers.Add("b again", 3, 102, "b");              // heard again: no longer lost
  clock.Advance(kLostTooLongMs + 1);
  EXPECT_TRUE(peers.TakeLostTooLong().empty());
  PeerRegistry::Ended ended = peers.ProcessEnded(102);
  EXPECT_EQ(ended.registered, WorkerId{3});
  EXPECT_FALSE(ended.was_lost);
}

// Lost, back, lost again: it is named a full bound after the second loss,
// not after the first.
TEST(PeerRegistryTest, ALostWorkerLostAgainCountsFromTheLastLoss) {
  FakeClock clock;
  PeerRegistry peers(10, clock, kLostTooLongMs);
  peers.Add("a", 1, 101, "a");
  peers.Remove(1, PeerRegistry::Why::kLost);
  clock.Advance(3000);
  peers.Add("a", 2, 101, "a");
  peers.Remove(2, PeerRegistry::Why::kLost);
  clock.Advance(kLostTooLongMs - 3000 + 1);
  EXPECT_TRUE(peers.TakeLostTooLong().empty());
  clock.Advance(3000);
  EXPECT_EQ(peers.TakeLostTooLong(), std::vector<pid_t>{101});
}

TEST(PeerRegistryTest, OnlyALostLocalWorkerIsWatched) {
  FakeClock clock;
  PeerRegistry peers(10, clock, kLostTooLongMs);
  peers.Add("remote", 1, 0, "far");
  peers.Add("left", 2, 202, "w2");
  peers.Remove(1, PeerRegistry::Why::kLost);  // no process of ours to watch
  peers.Remove(2, PeerRegistry::Why::kGone);  // it left: nothing to watch
  clock.Advance(kLostTooLongMs * 2);
  EXPECT_TRUE(peers.TakeLostTooLong().empty());
  EXPECT_FALSE(peers.ProcessEnded(202).was_lost);
}

}  // namespace
}  // namespace taskfarm
