// Command-line rates: per second by default, with /s, /min and /h.
#include <gtest/gtest.h>

#include "common/rate.h"

namespace taskfarm {
namespace {

TEST(RateParseTest, BareNumbersArePerSecond) {
  EXPECT_EQ(ParseRate("200"), 200.0);
  EXPECT_EQ(ParseRate("0.5"), 0.5);
  EXPECT_EQ(ParseRate("0"), 0.0);  // the option decides whether 0 means anything
}

TEST(RateParseTest, UnitsScale) {
  EXPECT_EQ(ParseRate("200/s"), 200.0);
  EXPECT_EQ(ParseRate("0.5/s"), 0.5);
  EXPECT_EQ(ParseRate("12000/min"), 200.0);
  EXPECT_EQ(ParseRate("120/m"), 2.0);
  EXPECT_EQ(ParseRate("7200/h"), 2.0);
}

TEST(RateParseTest, AnythingElseIsRefused) {
  for (const char* bad : {"", "/s", "-1", "-1/s", "200/", "200 /s", "200/ s", " 200", "200/sec", "200/ms", "200s",
                          "1e999", "nan", "inf", "200/S", "fast"}) {
    EXPECT_FALSE(ParseRate(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(RateParseTest, FormatsInAUnitThatKeepsTheNumberAboveOne) {
  EXPECT_EQ(FormatRate(200), "200/s");
  EXPECT_EQ(FormatRate(1.5), "1.5/s");
  EXPECT_EQ(FormatRate(0.5), "30/min");
  EXPECT_EQ(FormatRate(3.0 / 3600), "3/h");
  EXPECT_EQ(FormatRate(199.4321, 4), "199.4/s");
}

TEST(RateParseTest, WhatIsFormattedParsesBack) {
  for (double r : {200.0, 0.5, 1.0 / 60, 3.0 / 3600, 12345.0}) {
    std::optional<double> back = ParseRate(FormatRate(r));
    ASSERT_TRUE(back.has_value()) << FormatRate(r);
    EXPECT_NEAR(*back, r, r * 1e-5) << FormatRate(r);
  }
}

}  // namespace
}  // namespace taskfarm
