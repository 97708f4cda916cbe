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
  EXPECT_EQ(ParseSeconds("200ms"), 0.2);
  EXPECT_EQ(ParseSeconds("250ms"), 0.25);
  EXPECT_EQ(ParseSeconds("5s"), 5.0);
  EXPECT_EQ(ParseSeconds("1.5s"), 1.5);
  EXPECT_EQ(ParseSeconds("1m"), 60.0);
  EXPECT_EQ(ParseSeconds("2min"), 120.0);
  EXPECT_EQ(ParseSeconds("1h"), 3600.0);
  EXPECT_EQ(ParseSeconds("0s"), 0.0);
}

TEST(DurationTest, ABareNumberCountsTheUnitTheOptionSays) {
  EXPECT_EQ(ParseSeconds("100", 1e-3), 0.1);  // compare --delay: ms, like ?delay=MS
  EXPECT_EQ(ParseSeconds("2s", 1e-3), 2.0);   // a unit wins
  EXPECT_EQ(ParseSeconds("0", 1e-3), 0.0);
}

TEST(DurationTest, AnythingElseIsRefused) {
  for (const char* bad : {"", "s", "ms", "-1", "-1s", "5x", "5 s", " 5", "5s ", "1e999", "nan", "inf", "ms5", "5sec"}) {
    EXPECT_FALSE(ParseSeconds(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(DurationTest, BareNumbersAreToldFromOnesWithAUnit) {
  EXPECT_TRUE(IsBareNumber("5000"));
  EXPECT_TRUE(IsBareNumber("1.5"));
  EXPECT_FALSE(IsBareNumber("5000ms"));
  EXPECT_FALSE(IsBareNumber("5s"));
  EXPECT_FALSE(IsBareNumber(""));
}

TEST(DurationTest, FormatsInTheLargestWholeUnitAndReadsBack) {
  EXPECT_EQ(FormatDuration(0), "0");
  EXPECT_EQ(FormatDuration(0.002), "2ms");
  EXPECT_EQ(FormatDuration(0.25), "250ms");
  EXPECT_EQ(FormatDuration(5), "5s");
  EXPECT_EQ(FormatDuration(1.5), "1.5s");
  EXPECT_EQ(FormatDuration(90), "90s");
  EXPECT_EQ(FormatDuration(120), "2m");
  EXPECT_EQ(FormatDuration(3600), "1h");
  for (double s : {0.0, 0.002, 0.25, 1.5, 5.0, 90.0, 120.0, 5400.0, 7200.0}) {
    EXPECT_EQ(ParseSeconds(FormatDuration(s)), s) << FormatDuration(s);
  }
}

}  // namespace
}  // namespace taskfarm
