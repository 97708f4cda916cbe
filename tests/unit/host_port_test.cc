// HOST:PORT parsing and the loopback test that --bind and --metrics share.
#include "common/host_port.h"

#include <gtest/gtest.h>

namespace taskfarm {
namespace {

TEST(HostPort, SplitsAtTheLastColonAndDropsBrackets) {
  auto v6 = SplitHostPort("[::1]:9464");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "9464");
  auto any = SplitHostPort("0.0.0.0:*");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->port, "*");
  EXPECT_FALSE(SplitHostPort("localhost"));
}

TEST(HostPort, PortsAreDigitsUpTo65535) {
  EXPECT_EQ(ParsePort("0"), 0);
  EXPECT_EQ(ParsePort("65535"), 65535);
  EXPECT_FALSE(ParsePort("65536"));
  EXPECT_FALSE(ParsePort("*"));
  EXPECT_FALSE(ParsePort(""));
  EXPECT_FALSE(ParsePort("-1"));
}

TEST(HostPort, LoopbackIsByValueNotByPrefix) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.3.2.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("127.evil.example"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.nip.io"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost(""));
}

}  // namespace
}  // namespace taskfarm
