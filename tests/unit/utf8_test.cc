// ValidUtf8 against the Unicode Standard's replacement practice (the cases
// agree with Python's bytes.decode("utf-8", "replace")), and tails cut
// through a character.
//
//   build/bin/unit_tests --gtest_filter='Utf8Test.*'
#include "common/utf8.h"

#include <gtest/gtest.h>

namespace taskfarm {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8Test, WellFormedTextComesBackUnchanged) {
  for (std::string s :
       {std::string(""), std::string("plain ascii"), std::string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
        std::string("nul \0 inside", 12), std::string("\xEF\xBF\xBF\xF4\x8F\xBF\xBF")}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(ValidUtf8(s), s);
  }
}

TEST(Utf8Test, EachStrayByteBecomesOneReplacementCharacter) {
  EXPECT_EQ(ValidUtf8("a\xFF"
                      "b"),
            "a" + kFffd + "b");
  EXPECT_EQ(ValidUtf8("\xFF\xFE"), kFffd + kFffd);
  EXPECT_EQ(ValidUtf8("\x80\xBF"), kFffd + kFffd);  // continuations with no lead
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), kFffd + kFffd);  // C0 and C1 never start a sequence
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));
}

TEST(Utf8Test, ASequenceCutShortBecomesOneReplacementCharacter) {
  EXPECT_EQ(ValidUtf8("\xE2\x82"), kFffd);
  EXPECT_EQ(ValidUtf8("\xE2\x82x"), kFffd + "x");
  EXPECT_EQ(ValidUtf8("\xF0\x9F\x98"), kFffd);
  EXPECT_EQ(ValidUtf8("\xF0\x9F\x98\xC3\xA9"), kFffd + "\xC3\xA9");
}

TEST(Utf8Test, OverlongFormsSurrogatesAndValuesPastTheLastCodePointAreReplacedBytewise) {
  EXPECT_EQ(ValidUtf8("\xE0\x80\xAF"), kFffd + kFffd + kFffd);              // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);              // U+D800
  EXPECT_EQ(ValidUtf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // U+110000
  EXPECT_EQ(ValidUtf8("\xF5\x80"), kFffd + kFffd);
}

TEST(Utf8Test, BinaryCanTripleInSize) {
  std::string binary(1000, '\xFF');
  EXPECT_EQ(ValidUtf8(binary).size(), 3000u);
}

TEST(Utf8Test, ATailCutThroughACharacterStartsAtTheNextOne) {
  std::string text =
      "\xE2\x82\xAC"
      "ab";  // "€ab"
  EXPECT_EQ(SkipPartialCharacter(text.substr(1)), "ab");
  EXPECT_EQ(SkipPartialCharacter(text.substr(2)), "ab");
  EXPECT_EQ(SkipPartialCharacter(text), text);
  EXPECT_EQ(SkipPartialCharacter("\x9F\x98\x80!"), "!");
  EXPECT_EQ(SkipPartialCharacter("\x80\x80\x80\x80x"), "\x80\x80\x80\x80x");  // not a cut: ill-formed
  EXPECT_EQ(SkipPartialCharacter(""), "");
}

}  // namespace
}  // namespace taskfarm
