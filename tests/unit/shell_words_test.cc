// SplitShellWords, ShellQuote, JoinShellWords and HasShellSyntax, with the
// real /bin/sh as the judge of what quoted text means.
//
//   build/bin/unit_tests --gtest_filter='ShellWords*'
#include "common/shell_words.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace taskfarm {
namespace {

using Words = std::vector<std::string>;
using namespace std::string_literals;  // "a\0b"s keeps its NUL

Words Split(std::string_view text) {
  ShellSplit split = SplitShellWords(text);
  EXPECT_EQ(split.error, "") << "text: " << text;
  return split.words;
}

std::string SplitError(std::string_view text) {
  ShellSplit split = SplitShellWords(text);
  EXPECT_TRUE(split.words.empty()) << "an invalid text yields no words: " << text;
  return split.error;
}

// What /bin/sh -c COMMAND writes to stdout.
std::string ShellOutput(const std::string& command) {
  testing::Subprocess sh({"/bin/sh", "-c", command});
  testing::ProcessResult result = sh.Wait(std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 0) << "command: " << command << "\nstderr: " << result.err;
  return result.out;
}

// Random bytes, mostly the ones quoting is about: quotes, backslashes,
// blanks, shell operators, '#', '~', NUL, and bytes that are not UTF-8.
std::string RandomWord(std::mt19937& rng, bool allow_nul) {
  static const std::string kTricky = "'\"\\ \t\r\n\v\f#~$`*?[]{}()|&;<>=!%@:,./-_aZ9"s + "\0\x80\xff\xc3\xa9"s;
  std::uniform_int_distribution<size_t> length(0, 12);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> tricky(0, kTricky.size() - 1);
  std::string word;
  for (size_t n = length(rng); word.size() < n;) {
    char c = rng() % 2 == 0 ? kTricky[tricky(rng)] : static_cast<char>(byte(rng));
    if (c != '\0' || allow_nul) word += c;
  }
  return word;
}

TEST(ShellWordsTest, AnyBlankSeparatesWordsAndRunsOfBlanksCountOnce) {
  EXPECT_EQ(Split("gzip -9  file"), (Words{"gzip", "-9", "file"}));
  EXPECT_EQ(Split(" \t a\rb\nc\vd\fe \t "), (Words{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Split(""), Words{});
  EXPECT_EQ(Split(" \t\r\n"), Words{});
}

TEST(ShellWordsTest, SingleQuotesKeepEverythingLiteral) {
  EXPECT_EQ(Split(R"('a b' '$x \n "q" #c' '\')"), (Words{"a b", R"($x \n "q" #c)", "\\"}));
  EXPECT_EQ(Split("'line\nbreak\ttab'"), Words{"line\nbreak\ttab"});
}

TEST(ShellWordsTest, InDoubleQuotesABackslashEscapesOnlyDollarBacktickQuoteAndBackslash) {
  EXPECT_EQ(Split(R"("\$ \` \" \\")"), Words{R"($ ` " \)"});
  EXPECT_EQ(Split(R"("\a \n \' \#")"), Words{R"(\a \n \' \#)"});
  EXPECT_EQ(Split(R"("it's" "$HOME")"), (Words{"it's", "$HOME"}));
}

TEST(ShellWordsTest, OutsideQuotesABackslashEscapesTheNextByte) {
  EXPECT_EQ(Split(R"(a\ b \'q\' \"d\" \\ \# \a)"), (Words{"a b", "'q'", "\"d\"", "\\", "#", "a"}));
  EXPECT_EQ(Split("a\\\tb"), Words{"a\tb"});
}

TEST(ShellWordsTest, BackslashNewlineIsALineContinuationAsInTheShell) {
  EXPECT_EQ(Split("ab\\\ncd"), Words{"abcd"});
  EXPECT_EQ(Split("a \\\n b"), (Words{"a", "b"}));
  EXPECT_EQ(Split("\"ab\\\ncd\""), Words{"abcd"});
  EXPECT_EQ(Split("'ab\\\ncd'"), Words{"ab\\\ncd"});
  EXPECT_EQ(Split("a\\\n"), Words{"a"});
  EXPECT_EQ(ShellOutput("printf '[%s]' ab\\\ncd \"ef\\\ngh\""), "[abcd][efgh]");
}

TEST(ShellWordsTest, EmptyQuotesMakeAnEmptyWord) {
  EXPECT_EQ(Split("'' \"\""), (Words{"", ""}));
  EXPECT_EQ(Split("a '' b"), (Words{"a", "", "b"}));
  EXPECT_EQ(Split("a''b\"\"c"), Words{"abc"});
}

TEST(ShellWordsTest, QuotedAndUnquotedPartsWithoutBlanksBetweenThemAreOneWord) {
  EXPECT_EQ(Split(R"(a'b c'"d e"f\ g)"), Words{"ab cd ef g"});
  EXPECT_EQ(Split(R"(--name='a b')"), Words{"--name=a b"});
}

TEST(ShellWordsTest, AnUnquotedHashStartingAWordBeginsACommentToTheEndOfTheText) {
  EXPECT_EQ(Split("a b # c 'unbalanced\nd"), (Words{"a", "b"}));
  EXPECT_EQ(Split("#all comment"), Words{});
  EXPECT_EQ(Split("a#b c#"), (Words{"a#b", "c#"}));
  EXPECT_EQ(Split(R"('#' "#" \# ''#)"), (Words{"#", "#", "#", "#"}));
}

TEST(ShellWordsTest, NothingIsExpanded) {
  EXPECT_EQ(Split("$HOME ${x} $(rm -rf x) `id` * ?.c [ab] ~ ~/x {a,b} a|b;c&d"),
            (Words{"$HOME", "${x}", "$(rm", "-rf", "x)", "`id`", "*", "?.c", "[ab]", "~", "~/x", "{a,b}", "a|b;c&d"}));
}

TEST(ShellWordsTest, AnyBytesPassThroughIncludingNulAndInvalidUtf8) {
  EXPECT_EQ(Split("a\0b 'c\0'"s), (Words{"a\0b"s, "c\0"s}));
  EXPECT_EQ(Split("\xff\xfe \xc3\xa9t\xc3\xa9"), (Words{"\xff\xfe", "\xc3\xa9t\xc3\xa9"}));
}

TEST(ShellWordsTest, AnUnbalancedQuoteNamesTheQuoteAndTheColumnItOpenedAt) {
  EXPECT_EQ(SplitError("echo 'abc"), "unbalanced ' quote (opened at column 6)");
  EXPECT_EQ(SplitError("'"), "unbalanced ' quote (opened at column 1)");
  EXPECT_EQ(SplitError("a \"b c"), "unbalanced \" quote (opened at column 3)");
  EXPECT_EQ(SplitError("'ok' \"it's"), "unbalanced \" quote (opened at column 6)");
  EXPECT_EQ(SplitError("\"say 'hi\" 'x"), "unbalanced ' quote (opened at column 11)");
  EXPECT_EQ(SplitError(R"("ends in \")"), "unbalanced \" quote (opened at column 1)");
  EXPECT_EQ(SplitError("\xc3\xa9 '"), "unbalanced ' quote (opened at column 4)") << "columns count bytes";
}

TEST(ShellWordsTest, ATrailingBackslashIsAnErrorButAnEscapedOneIsNot) {
  EXPECT_EQ(SplitError("gzip file\\"), "trailing backslash at column 10 escapes nothing");
  EXPECT_EQ(SplitError("\\"), "trailing backslash at column 1 escapes nothing");
  EXPECT_EQ(Split("a\\\\"), Words{"a\\"});
  EXPECT_EQ(Split("'a\\'"), Words{"a\\"});
}

TEST(ShellWordsTest, EscapedQuotesDoNotOpenAQuote) { EXPECT_EQ(Split(R"(\' \")"), (Words{"'", "\""})); }

TEST(ShellWordsTest, ShellQuoteLeavesPlainWordsAlone) {
  for (std::string word : {"gzip", "-9", "a.txt", "/usr/bin/x", "--level=9", "user@host:path,x", "50%", "a+b", "_"}) {
    EXPECT_EQ(ShellQuote(word), word);
  }
}

TEST(ShellWordsTest, ShellQuoteWrapsEverythingElseInSingleQuotes) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("$(rm -rf x)"), "'$(rm -rf x)'");
  EXPECT_EQ(ShellQuote("*"), "'*'");
  EXPECT_EQ(ShellQuote("#x"), "'#x'");
  EXPECT_EQ(ShellQuote("~"), "'~'");
  EXPECT_EQ(ShellQuote("caf\xc3\xa9"), "'caf\xc3\xa9'");
  EXPECT_EQ(ShellQuote("a\nb"), "'a\nb'");
}

TEST(ShellWordsTest, ShellQuoteWritesASingleQuoteAsCloseEscapeReopen) {
  EXPECT_EQ(ShellQuote("it's"), R"('it'\''s')");
  EXPECT_EQ(ShellQuote("'"), R"(\')");
  EXPECT_EQ(ShellQuote("''"), R"(\'''\')");
  EXPECT_EQ(ShellQuote("'a'"), R"(\''a'\')");
}

TEST(ShellWordsTest, ShellQuoteQuotesWhatWouldReadAsAnAssignment) {
  EXPECT_EQ(ShellQuote("FOO=1"), "'FOO=1'");
  EXPECT_EQ(ShellQuote("_x9="), "'_x9='");
  EXPECT_EQ(ShellQuote("9x=1"), "9x=1");
  EXPECT_EQ(ShellQuote("a-b=1"), "a-b=1");
  EXPECT_EQ(ShellQuote("=x"), "=x");
  // Unquoted, /bin/sh would set FOO and succeed without running anything.
  EXPECT_EQ(ShellOutput(ShellQuote("FOO=1") + " 2>/dev/null || printf 'ran as a command'"), "ran as a command");
}

TEST(ShellWordsTest, JoinShellWordsQuotesEachWordAndJoinsWithSingleSpaces) {
  EXPECT_EQ(JoinShellWords({}), "");
  EXPECT_EQ(JoinShellWords({""}), "''");
  EXPECT_EQ(JoinShellWords({"gzip", "-9", "my file.txt", "", "it's"}), R"(gzip -9 'my file.txt' '' 'it'\''s')");
}

TEST(ShellWordsTest, QuotedRandomBytesSplitBackToTheSameWord) {
  std::mt19937 rng(20240611);
  for (int i = 0; i < 5000; ++i) {
    const std::string word = RandomWord(rng, /*allow_nul=*/true);
    const std::string quoted = ShellQuote(word);
    ShellSplit split = SplitShellWords(quoted);
    ASSERT_EQ(split.error, "") << "quoted: " << quoted;
    ASSERT_EQ(split.words, Words{word}) << "quoted: " << quoted;
  }
}

TEST(ShellWordsTest, JoinedRandomWordsSplitBackToTheSameWords) {
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    Words words(rng() % 6);
    for (std::string& word : words) word = RandomWord(rng, /*allow_nul=*/true);
    ASSERT_EQ(Split(JoinShellWords(words)), words) << "joined: " << JoinShellWords(words);
  }
}

TEST(ShellWordsTest, BinShPrintsEachQuotedRandomWordByteForByte) {
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    const std::string word = RandomWord(rng, /*allow_nul=*/false);
    ASSERT_EQ(ShellOutput("printf %s " + ShellQuote(word)), word) << "quoted: " << ShellQuote(word);
  }
}

TEST(ShellWordsTest, BinShSeesJoinedWordsAsTheSameArguments) {
  std::mt19937 rng(99);
  for (int i = 0; i < 50; ++i) {
    Words words(1 + rng() % 5);
    std::string expected;
    for (std::string& word : words) {
      word = RandomWord(rng, /*allow_nul=*/false);
      expected += "[" + word + "]";
    }
    ASSERT_EQ(ShellOutput("printf '[%s]' " + JoinShellWords(words)), expected) << JoinShellWords(words);
  }
}

TEST(ShellWordsTest, PlainWordsAndQuotingAreNotShellSyntax) {
  for (std::string_view text :
       {"", "gzip -9 file.txt", "cp 'a b' \"c d\"", R"(echo \$HOME \* \| \~)", "echo '$(x) * | ; `y`'",
        R"(echo "plain \$ \` text")", "awk '{print $1}'", "echo {} {.} {a,b}", "echo a~b x=~", "echo a # $(x) | y",
        "--level=9 x", "'FOO=1' x", "a \\\n b", "echo '!' ok", "iffy done", "echo 'unbalanced $x"}) {
    EXPECT_FALSE(HasShellSyntax(text)) << text;
  }
}

TEST(ShellWordsTest, OperatorsAreShellSyntax) {
  for (std::string_view text :
       {"a | b", "a || b", "a & b", "a && b", "a; b", "a < f", "a > f", "a >> f", "(a)", "a)"}) {
    EXPECT_TRUE(HasShellSyntax(text)) << text;
  }
}

TEST(ShellWordsTest, ExpansionsAreShellSyntaxAlsoInsideDoubleQuotes) {
  for (std::string_view text : {"echo `id`", "echo $HOME", "echo ${x}", "echo $(id)", "echo \"$HOME\"", "echo \"`id`\"",
                                R"(echo "\\$x")", "echo 'q'$x", R"(x\"$y)"}) {
    EXPECT_TRUE(HasShellSyntax(text)) << text;
  }
}

TEST(ShellWordsTest, GlobsLeadingTildesAndNewlinesAreShellSyntax) {
  for (std::string_view text : {"ls *.c", "ls ?.c", "ls [ab]", "cd ~", "ls ~/x", "a\nb", "a # a comment, then\nb"}) {
    EXPECT_TRUE(HasShellSyntax(text)) << text;
  }
}

TEST(ShellWordsTest, ALeadingAssignmentOrReservedWordIsShellSyntax) {
  for (std::string_view text :
       {"LC_ALL=C sort x", "  A_1=\"a b\" cmd", "X= cmd", "! grep -q x f", "if true", "{ a", "while x", "for x"}) {
    EXPECT_TRUE(HasShellSyntax(text)) << text;
  }
}

}  // namespace
}  // namespace taskfarm
