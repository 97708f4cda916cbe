// ParseTaskLine, KindName and FormatTask: the task-file language.
#include "common/task_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/utf8.h"

namespace taskfarm {
namespace {

const ParseOptions kDefault{};
const ParseOptions kFaults{.allow_test_kinds = true};

// Parses a line that must be a task; fails the test otherwise.
pb::TaskSpec MustParse(std::string_view line, const ParseOptions& options = kDefault) {
  ParsedLine p = ParseTaskLine(line, options);
  EXPECT_TRUE(p.error.empty()) << "line '" << line << "': " << p.error;
  EXPECT_TRUE(p.spec.has_value()) << "line '" << line << "'";
  return p.spec.value_or(pb::TaskSpec{});
}

// Expects `line` to be rejected with an error mentioning `fragment`.
void ExpectError(std::string_view line, std::string_view fragment, const ParseOptions& options = kDefault) {
  ParsedLine p = ParseTaskLine(line, options);
  EXPECT_FALSE(p.spec.has_value()) << "line '" << line << "'";
  EXPECT_FALSE(p.error.empty()) << "line '" << line << "'";
  EXPECT_NE(p.error.find(fragment), std::string::npos)
      << "line '" << line << "': error '" << p.error << "' lacks '" << fragment << "'";
}

TEST(TaskParserTest, ParsesUrl) {
  pb::TaskSpec s = MustParse("url http://127.0.0.1:8080/x?y=1");
  ASSERT_TRUE(s.has_url());
  EXPECT_EQ(s.url().url(), "http://127.0.0.1:8080/x?y=1");
  EXPECT_EQ(KindName(s), "url");
}

TEST(TaskParserTest, AUrlMustBeHttpOrHttpsWithAHost) {
  ExpectError("url ftp://x", "'url' takes an http:// or https:// URL: 'ftp://x'");
  ExpectError("url file:///etc/passwd", "'url' takes an http:// or https:// URL: 'file:///etc/passwd'");
  ExpectError("url x", "'url' takes an http:// or https:// URL: 'x'");
  ExpectError("url http:/x", "'url' takes an http:// or https:// URL: 'http:/x'");
  ExpectError("url http://", "'url' takes an http:// or https:// URL with a host: 'http://'");
  ExpectError("url https:///path", "with a host");
  // The scheme in any case, as libcurl takes it; the rest is the worker's
  // to judge, as a failed task.
  EXPECT_EQ(MustParse("url HTTPS://h/").url().url(), "HTTPS://h/");
  EXPECT_EQ(MustParse("url http://h").url().url(), "http://h");
  EXPECT_EQ(MustParse("url http://[::1/").url().url(), "http://[::1/");
}

TEST(TaskParserTest, AWordStartingWithHashEndsTheLineOnEveryKind) {
  EXPECT_EQ(MustParse("url http://x/a # the front page").url().url(), "http://x/a");
  EXPECT_EQ(MustParse("url http://x/page#frag").url().url(), "http://x/page#frag");
  EXPECT_EQ(MustParse("url http://x/page#frag\t#comment").url().url(), "http://x/page#frag");
  EXPECT_EQ(MustParse("cpu primes 5 # small").cpu().n(), 5u);
  EXPECT_EQ(MustParse("sleep 250\t#why").sleep().ms(), 250u);
  EXPECT_TRUE(MustParse("noop #").has_noop());
  EXPECT_TRUE(MustParse("noop # nothing 1 2 3").has_noop());
  EXPECT_EQ(MustParse("fault kill # test", kFaults).fault().action(), "kill");
  // Before the comment, the line is as strict as ever.
  ExpectError("sleep 5 6 # two numbers", "'sleep' takes milliseconds");
  ExpectError("cpu primes # no number", "'cpu' takes a kernel and a number");
  ExpectError("noop#", "unknown task kind 'noop#'");
  // exec and sh keep the shell's rules: a quoted or mid-word # stays.
  pb::TaskSpec e = MustParse("exec echo a#b '#' \\#x # comment");
  ASSERT_EQ(e.exec().argv_size(), 4);
  EXPECT_EQ(e.exec().argv(1), "a#b");
  EXPECT_EQ(e.exec().argv(2), "#");
  EXPECT_EQ(e.exec().argv(3), "#x");
  EXPECT_EQ(MustParse("sh 'echo # not a comment' # a comment").sh().argv(2), "echo # not a comment");
}

TEST(TaskParserTest, TheReadmeExampleParsesAsWritten) {
  const char* lines[][2] = {
      {"url https://example.org/page        # HTTP(S) GET: status, bytes, libcurl timings",
       "url https://example.org/page"},
      {"cpu primes 2000000                  # count primes below N (deterministic CPU work)", "cpu primes 2000000"},
      {"sleep 250                           # wait 250 ms (stands in for waiting on something)", "sleep 250"},
      {"noop                                # nothing: measures the farm's own overhead", "noop"},
  };
  for (auto& [line, task] : lines) EXPECT_EQ(FormatTask(MustParse(line)), task);
}

TEST(TaskParserTest, ParsesCpuPrimes) {
  pb::TaskSpec s = MustParse("cpu primes 125000");
  ASSERT_TRUE(s.has_cpu());
  EXPECT_EQ(s.cpu().kernel(), "primes");
  EXPECT_EQ(s.cpu().n(), 125000u);
  EXPECT_EQ(KindName(s), "cpu");
}

TEST(TaskParserTest, ParsesSleep) {
  pb::TaskSpec s = MustParse("sleep 250");
  ASSERT_TRUE(s.has_sleep());
  EXPECT_EQ(s.sleep().ms(), 250u);
  EXPECT_EQ(KindName(s), "sleep");
}

TEST(TaskParserTest, ParsesNoop) {
  pb::TaskSpec s = MustParse("noop");
  EXPECT_TRUE(s.has_noop());
  EXPECT_EQ(KindName(s), "noop");
}

TEST(TaskParserTest, KindNameOfEmptySpec) {
  EXPECT_EQ(KindName(pb::TaskSpec{}), "unknown");
  EXPECT_EQ(FormatTask(pb::TaskSpec{}), "");
}

TEST(TaskParserTest, ToleratesSurroundingWhitespaceAndTabs) {
  pb::TaskSpec s = MustParse("  \tcpu\t primes   42  \t");
  EXPECT_EQ(s.cpu().n(), 42u);
  EXPECT_TRUE(MustParse("   noop   ").has_noop());
}

TEST(TaskParserTest, BlankAndCommentLinesAreNotTasks) {
  for (std::string_view line : {"", "   ", "\t \t", "\r", "  \r", "#", "# a comment", "   # indented comment",
                                "#url http://x/", "\t#cpu primes 5\r"}) {
    ParsedLine p = ParseTaskLine(line, kDefault);
    EXPECT_FALSE(p.spec.has_value()) << "line '" << line << "'";
    EXPECT_TRUE(p.error.empty()) << "line '" << line << "': " << p.error;
  }
}

TEST(TaskParserTest, StripsCarriageReturn) {
  EXPECT_EQ(MustParse("url http://h/p\r").url().url(), "http://h/p");
  EXPECT_EQ(MustParse("cpu primes 10\r").cpu().n(), 10u);
  EXPECT_EQ(MustParse("sleep 5\r").sleep().ms(), 5u);
  EXPECT_TRUE(MustParse("noop\r").has_noop());
  EXPECT_TRUE(MustParse("fault kill\r", kFaults).has_fault());
}

TEST(TaskParserTest, WrongArgumentCounts) {
  ExpectError("url", "'url' takes one URL");
  ExpectError("url http://a/ http://b/", "'url' takes one URL");
  ExpectError("cpu", "'cpu' takes a kernel and a number");
  ExpectError("cpu primes", "'cpu' takes a kernel and a number");
  ExpectError("cpu primes 10 20", "'cpu' takes a kernel and a number");
  ExpectError("sleep", "'sleep' takes milliseconds");
  ExpectError("sleep 1 2", "'sleep' takes milliseconds");
  ExpectError("noop 1", "'noop' takes no argument");
  ExpectError("fault", "'fault' takes kill or hang", kFaults);
  ExpectError("fault kill now", "'fault' takes kill or hang", kFaults);
}

TEST(TaskParserTest, UnknownKindAndKernel) {
  ExpectError("fetch http://x/", "unknown task kind 'fetch'");
  ExpectError("URL http://x/", "unknown task kind 'URL'");
  ExpectError("cpu fib 10", "unknown cpu kernel 'fib'");
}

TEST(TaskParserTest, ErrorsQuoteAtMostAFewHundredCharactersOfTheLine) {
  std::string word(100'000, 'x');
  for (const std::string& line :
       {word, "cpu " + word + " 5", "cpu primes " + word, "sleep " + word, "cpu primes 9" + word}) {
    ParsedLine p = ParseTaskLine(line, kDefault);
    EXPECT_FALSE(p.spec.has_value());
    EXPECT_FALSE(p.error.empty());
    EXPECT_LT(p.error.size(), 300u) << p.error.substr(0, 400);
    EXPECT_NE(p.error.find("…' (100,"), std::string::npos) << p.error.substr(0, 400);
  }
}

TEST(TaskParserTest, ALineOverTheLimitIsAnErrorWhateverItHolds) {
  std::string url = "http://127.0.0.1/?q=" + std::string(kMaxTaskLineBytes, 'a');
  ExpectError("url " + url, "the task line is 1,048,600 bytes; the limit is 1 MiB");
  ExpectError("# " + url, "the limit is 1 MiB");
  std::string just_fits = "url " + url.substr(0, kMaxTaskLineBytes - 4);
  EXPECT_EQ(MustParse(just_fits).url().url().size(), kMaxTaskLineBytes - 4);
  EXPECT_LT(TaskLineTooLong(10'000'004).size(), 100u);
}

// A number that is wrong says what is wanted, whatever is wrong with it.
TEST(TaskParserTest, NumberErrorsSayWhatIsWanted) {
  EXPECT_EQ(ParseTaskLine("cpu primes -5", kDefault).error,
            "'cpu primes N': N must be a whole number from 0 to 4000000000, not '-5'");
  EXPECT_EQ(ParseTaskLine("sleep 1.5", kDefault).error,
            "'sleep MS': milliseconds must be a whole number from 0 to 86400000, not '1.5'");
  for (const char* word : {"ten", "10x", "-5", "+5", "1.5", "0x10", "1e3", "4000000001", "99999999999999999999999"}) {
    ExpectError(std::string("cpu primes ") + word,
                std::string("must be a whole number from 0 to 4000000000, not '") + word + "'");
  }
  for (const char* word : {"soon", "0x10", "1e3", "-1", "86400001", "18446744073709551616"}) {
    ExpectError(std::string("sleep ") + word,
                std::string("must be a whole number from 0 to 86400000, not '") + word + "'");
  }
}

TEST(TaskParserTest, RangeLimits) {
  EXPECT_EQ(MustParse("cpu primes 0").cpu().n(), 0u);
  EXPECT_EQ(MustParse("cpu primes 4000000000").cpu().n(), 4'000'000'000u);
  EXPECT_EQ(MustParse("sleep 0").sleep().ms(), 0u);
  EXPECT_EQ(MustParse("sleep 86400000").sleep().ms(), 86'400'000u);
}

TEST(TaskParserTest, FaultTasksOnlyWhenAllowed) {
  ExpectError("fault kill", "unknown task kind 'fault'");
  ExpectError("fault hang", "unknown task kind 'fault'");
  pb::TaskSpec kill = MustParse("fault kill", kFaults);
  ASSERT_TRUE(kill.has_fault());
  EXPECT_EQ(kill.fault().action(), "kill");
  EXPECT_EQ(KindName(kill), "fault");
  EXPECT_EQ(MustParse("fault hang", kFaults).fault().action(), "hang");
  ExpectError("fault explode", "'fault' takes kill or hang", kFaults);
}

TEST(TaskParserTest, FormatTaskRoundTrips) {
  const std::vector<std::string> lines = {
      "url http://127.0.0.1:1/a?b=c",
      "url https://example.com/",
      "cpu primes 0",
      "cpu primes 125000",
      "cpu primes 4000000000",
      "sleep 0",
      "sleep 86400000",
      "noop",
      "fault kill",
      "fault hang",
  };
  for (const std::string& line : lines) {
    pb::TaskSpec spec = MustParse(line, kFaults);
    std::string formatted = FormatTask(spec);
    EXPECT_EQ(formatted, line);
    ParsedLine again = ParseTaskLine(formatted, kFaults);
    ASSERT_TRUE(again.spec.has_value()) << formatted << ": " << again.error;
    EXPECT_EQ(again.spec->SerializeAsString(), spec.SerializeAsString()) << formatted;
  }
}

TEST(TaskParserTest, FormatTaskNormalizesSpacing) {
  EXPECT_EQ(FormatTask(MustParse("\tcpu   primes  007 \r")), "cpu primes 7");
  EXPECT_EQ(FormatTask(MustParse("  url   http://h/  ")), "url http://h/");
}

TEST(TaskParserTest, FormatTaskOfBuiltSpecsParsesBack) {
  pb::TaskSpec cpu;
  cpu.mutable_cpu()->set_kernel("primes");
  cpu.mutable_cpu()->set_n(1000);
  pb::TaskSpec sleep;
  sleep.mutable_sleep()->set_ms(3);
  pb::TaskSpec url;
  url.mutable_url()->set_url("http://x/y");
  for (const pb::TaskSpec& spec : {cpu, sleep, url}) {
    ParsedLine p = ParseTaskLine(FormatTask(spec), kDefault);
    ASSERT_TRUE(p.spec.has_value()) << p.error;
    EXPECT_EQ(p.spec->SerializeAsString(), spec.SerializeAsString());
  }
}

// Found by the fuzzer: a CR inside the line used to stay in the URL, and
// the line did not read back the same after formatting.
TEST(TaskParserTest, AnyWhitespaceSeparatesWords) {
  EXPECT_FALSE(ParseTaskLine("url http://a/\rb", {}).error.empty());
  ParsedLine p = ParseTaskLine("sleep\f10\r\r", {});
  ASSERT_TRUE(p.spec.has_value()) << p.error;
  EXPECT_EQ(p.spec->sleep().ms(), 10u);
}

// A worker cannot decode a task whose line is not UTF-8 (protobuf strings),
// so such a line is refused where it is read, not sent and refused forever.
TEST(TaskParserTest, ALineThatIsNotUtf8IsRefusedForEveryKind) {
  for (std::string line : {"exec echo \xff", "sh 'echo \xc3'", "url http://h/\xff", "exec echo ok # \xfe"}) {
    ParsedLine parsed = ParseTaskLine(line, {});
    EXPECT_FALSE(parsed.spec) << line;
    EXPECT_FALSE(parsed.error.empty()) << line;
    EXPECT_TRUE(IsValidUtf8(parsed.error)) << parsed.error;
  }
  EXPECT_TRUE(ParseTaskLine("exec echo caf\xc3\xa9", {}).spec);
}

}  // namespace
}  // namespace taskfarm
