// The host key --per-host counts by: one key per server, however its URL
// is spelled.
#include "common/url_host.h"

#include <gtest/gtest.h>

namespace taskfarm {
namespace {

TEST(UrlHostKeyTest, IsSchemeHostAndPort) {
  EXPECT_EQ(UrlHostKey("http://example.com:8080/a/b?c=d#e"), "http://example.com:8080");
  EXPECT_EQ(UrlHostKey("https://example.com:8443"), "https://example.com:8443");
}

TEST(UrlHostKeyTest, TheDefaultPortIsWrittenOut) {
  EXPECT_EQ(UrlHostKey("http://example.com/"), "http://example.com:80");
  EXPECT_EQ(UrlHostKey("https://example.com/"), "https://example.com:443");
  EXPECT_EQ(UrlHostKey("http://example.com:80/"), UrlHostKey("http://example.com/"));
  EXPECT_EQ(UrlHostKey("http://example.com:/x"), "http://example.com:80");  // an empty port is the default
  EXPECT_EQ(UrlHostKey("http://example.com:080/"), "http://example.com:80");
}

TEST(UrlHostKeyTest, SchemeAndHostAreCaseInsensitive) {
  EXPECT_EQ(UrlHostKey("HTTP://Example.COM/Path"), "http://example.com:80");
  EXPECT_EQ(UrlHostKey("HttpS://EXAMPLE.com/"), UrlHostKey("https://example.com/"));
}

TEST(UrlHostKeyTest, TheQueryOrFragmentEndsTheHostWithoutAPath) {
  EXPECT_EQ(UrlHostKey("http://example.com?x=1"), "http://example.com:80");
  EXPECT_EQ(UrlHostKey("http://example.com#top"), "http://example.com:80");
}

TEST(UrlHostKeyTest, UserInfoIsNotPartOfTheHost) {
  EXPECT_EQ(UrlHostKey("http://user:pa:ss@example.com:81/"), "http://example.com:81");
  EXPECT_EQ(UrlHostKey("http://a@b@example.com/"), "http://example.com:80");
}

TEST(UrlHostKeyTest, AnIpv6LiteralKeepsItsColons) {
  EXPECT_EQ(UrlHostKey("http://[::1]:8080/x"), "http://[::1]:8080");
  EXPECT_EQ(UrlHostKey("https://[FE80::1]/"), "https://[fe80::1]:443");
  EXPECT_EQ(UrlHostKey("http://[::1/"), "");  // unclosed
}

TEST(UrlHostKeyTest, DifferentServersAreDifferentKeys) {
  EXPECT_NE(UrlHostKey("http://example.com/"), UrlHostKey("https://example.com/"));
  EXPECT_NE(UrlHostKey("http://127.0.0.1:8080/"), UrlHostKey("http://127.0.0.1:8081/"));
  // Names are not resolved: two spellings of loopback are two origins.
  EXPECT_NE(UrlHostKey("http://localhost:8080/"), UrlHostKey("http://127.0.0.1:8080/"));
}

TEST(UrlHostKeyTest, NotAUrlHasNoKey) {
  for (const char* bad : {"", "example.com", "://example.com", "http://", "http:///path", "http://user@/"}) {
    EXPECT_EQ(UrlHostKey(bad), "") << "'" << bad << "'";
  }
}

TEST(UrlHostKeyTest, APortThatIsNotANumberIsKeptAsWritten) {
  EXPECT_EQ(UrlHostKey("http://example.com:http/"), "http://example.com:http");
  EXPECT_EQ(UrlHostKey("http://example.com:99999/"), "http://example.com:99999");
}

}  // namespace
}  // namespace taskfarm
