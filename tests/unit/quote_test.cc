// Quote, Excerpt and WithThousands: how messages echo input.
#include "common/quote.h"

#include <gtest/gtest.h>

#include <string>

namespace taskfarm {
namespace {

TEST(QuoteTest, ShortTextIsQuotedWhole) {
  EXPECT_EQ(Quote("fetch"), "'fetch'");
  EXPECT_EQ(Quote(""), "''");
  EXPECT_EQ(Excerpt("http://h/x"), "http://h/x");
  std::string exactly(kQuoteMaxBytes, 'a');
  EXPECT_EQ(Quote(exactly), "'" + exactly + "'");
  EXPECT_EQ(Excerpt(exactly), exactly);
}

TEST(QuoteTest, LongTextIsCutWithAnEllipsisAndItsLength) {
  std::string huge = "url http://127.0.0.1/?q=" + std::string(10'000'000, 'a');
  std::string quoted = Quote(huge);
  EXPECT_EQ(quoted, "'" + huge.substr(0, kQuoteMaxBytes) + "…' (10,000,024 bytes)");
  EXPECT_LE(quoted.size(), kQuoteMaxBytes + 40);
  EXPECT_EQ(Excerpt(huge), huge.substr(0, kQuoteMaxBytes) + "… (10,000,024 bytes)");
  EXPECT_EQ(Excerpt(huge, 3), "url… (10,000,024 bytes)");
}

TEST(QuoteTest, NeverSplitsAUtf8Character) {
  // "é" is two bytes: a cut after 3 bytes would fall inside the second one.
  std::string text = "aéé" + std::string(10, 'b');
  EXPECT_EQ(Excerpt(text, 4), "aé… (15 bytes)");
  EXPECT_EQ(Excerpt(text, 3), "aé… (15 bytes)");
  EXPECT_EQ(Excerpt(text, 2), "a… (15 bytes)");
  EXPECT_EQ(Quote("ééé", 0), "'…' (6 bytes)");
}

TEST(QuoteTest, WithThousands) {
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(1000), "1,000");
  EXPECT_EQ(WithThousands(1'048'576), "1,048,576");
  EXPECT_EQ(WithThousands(10'000'004), "10,000,004");
  EXPECT_EQ(WithThousands(18'446'744'073'709'551'615ULL), "18,446,744,073,709,551,615");
}

}  // namespace
}  // namespace taskfarm
