// Command-line durations: seconds by default, with ms/s/m/h suffixes.
#include "common/duration.h"

#include <gtest/gtest.h>

namespace taskfarm {
namespace {

TEST(DurationTest, BareNumbersAreSeconds) {
  EXPECT_EQ(ParseSeconds("5"), 5.0);
  EXPECT_EQ(ParseSeconds("0.2"), 0.2);
  EXPECT_EQ(ParseSeconds("0"), 0.0);
}

TEST(DurationTest, SuffixesScale) {
  EXPECT_EQ(ParseSeconds("250ms"), 0.25);
  EXPECT_EQ(ParseSeconds("5s"), 5.0);
  EXPECT_EQ(ParseSeconds("2m"), 120.0);
  EXPECT_EQ(ParseSeconds("1h"), 3600.0);
}

TEST(DurationTest, AnythingElseIsRefused) {
  for (const char* bad : {"", "s", "-1", "5x", "5 s", "1e999", "nan", "ms5"}) {
    EXPECT_FALSE(ParseSeconds(bad).has_value()) << bad;
  }
  std::string text = "5x";
  EXPECT_NE(DurationToSeconds(text), "");
  text = "1500ms";
  EXPECT_EQ(DurationToSeconds(text), "");
  EXPECT_EQ(text, "1.5");
}

}  // namespace
}  // namespace taskfarm
