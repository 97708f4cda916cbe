// The url task line: curl's options (-X, -H, -d, -d @FILE) and --expect,
// each checked with a sentence the user can act on, the body file read and
// bounded, the run's defaults folded in, and Print giving back a line that
// parses to the same task. Also the HTTP syntax the line and the run-wide
// options share (common/http_syntax.h).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/http_syntax.h"
#include "common/shell_words.h"
#include "common/task_parser.h"
#include "common/temp_dir.h"

namespace taskfarm {
namespace {

using namespace std::string_literals;

const ParseOptions kNoDefaults{};

pb::UrlTask MustParse(std::string_view line, const ParseOptions& options = kNoDefaults) {
  ParsedLine p = ParseTaskLine(line, options);
  EXPECT_EQ(p.error, "") << line;
  EXPECT_TRUE(p.spec.has_value() && p.spec->has_url()) << line;
  return p.spec ? p.spec->url() : pb::UrlTask{};
}

// The whole error sentence for `line`.
std::string ErrorOf(std::string_view line, const ParseOptions& options = kNoDefaults) {
  ParsedLine p = ParseTaskLine(line, options);
  EXPECT_FALSE(p.spec.has_value()) << line;
  return p.error;
}

std::vector<std::string> Headers(const pb::UrlTask& task) { return {task.headers().begin(), task.headers().end()}; }
std::vector<uint32_t> Expect(const pb::UrlTask& task) { return {task.expect().begin(), task.expect().end()}; }

std::string Printed(std::string_view line, const ParseOptions& options = kNoDefaults) {
  ParsedLine p = ParseTaskLine(line, options);
  EXPECT_EQ(p.error, "") << line;
  return p.spec ? FormatTask(*p.spec) : "";
}

class BodyFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_.File(name), std::ios::binary) << bytes;
    return dir_.File(name);
  }
  TempDir dir_{"taskfarm-url-kind"};
};

TEST(UrlKindTest, APlainUrlLineIsAGetAndPrintsBackExactlyAsWritten) {
  for (std::string line : {"url http://127.0.0.1:8080/page/1", "url http://x/a?b=1&c=2;d=$HOME~[x]!*(y)",
                           "url https://h/page#frag", "url HTTP://h"}) {
    pb::UrlTask task = MustParse(line);
    EXPECT_EQ("url " + task.url(), line);
    EXPECT_EQ(task.method(), "");
    EXPECT_TRUE(task.headers().empty());
    EXPECT_FALSE(task.has_body());
    EXPECT_TRUE(task.expect().empty());
    EXPECT_EQ(Printed(line), line);
  }
}

TEST(UrlKindTest, EveryOptionInCurlsSpellingShortLongAndJoinedToItsValue) {
  pb::UrlTask a = MustParse("url -X POST -H 'Content-Type: application/json' -d '{\"a\": 1}' --expect 201 http://h/");
  EXPECT_EQ(a.method(), "POST");
  EXPECT_EQ(Headers(a), (std::vector<std::string>{"Content-Type: application/json"}));
  EXPECT_EQ(a.body(), "{\"a\": 1}");
  EXPECT_EQ(Expect(a), (std::vector<uint32_t>{201}));
  EXPECT_EQ(a.url(), "http://h/");

  pb::UrlTask b = MustParse("url --request PUT --header 'X-A: 1' --data a=1 --expect 200,204 http://h/");
  EXPECT_EQ(b.method(), "PUT");
  EXPECT_EQ(Headers(b), (std::vector<std::string>{"X-A: 1"}));
  EXPECT_EQ(b.body(), "a=1");
  EXPECT_EQ(Expect(b), (std::vector<uint32_t>{200, 204}));

  pb::UrlTask c = MustParse("url -XDELETE -H'X-B: 2' -db=2 http://h/");
  EXPECT_EQ(c.method(), "DELETE");
  EXPECT_EQ(Headers(c), (std::vector<std::string>{"X-B: 2"}));
  EXPECT_EQ(c.body(), "b=2");
}

TEST(UrlKindTest, OptionsMayFollowTheUrlAndHeadersKeepTheirOrder) {
  pb::UrlTask t = MustParse("url http://h/x -H 'B: 2' -H 'A: 1' -H 'Accept:' -H 'B: 3' -X PATCH");
  EXPECT_EQ(t.url(), "http://h/x");
  EXPECT_EQ(t.method(), "PATCH");
  // As written, in order, duplicates and an empty value too (libcurl's
  // `Accept:` drops its own Accept header).
  EXPECT_EQ(Headers(t), (std::vector<std::string>{"B: 2", "A: 1", "Accept:", "B: 3"}));
}

TEST(UrlKindTest, AnEmptyBodyIsABodyAndMethodsAreTokensKeptAsWritten) {
  pb::UrlTask t = MustParse("url -d '' http://h/");
  EXPECT_TRUE(t.has_body());
  EXPECT_EQ(t.body(), "");
  EXPECT_EQ(t.method(), "");  // the worker's: POST, as curl's -d
  EXPECT_EQ(MustParse("url -X get http://h/").method(), "get");
  EXPECT_EQ(MustParse("url -X 'M-SEARCH' http://h/").method(), "M-SEARCH");
  EXPECT_EQ(MustParse("url -X \"A'B\" http://h/").method(), "A'B");
}

TEST(UrlKindTest, CommentsAndQuotesFollowTheShellsRules) {
  pb::UrlTask t = MustParse("url -H 'X-Tag: #1' -d \"it's\" http://h/page#frag  # a comment -X POST");
  EXPECT_EQ(Headers(t), (std::vector<std::string>{"X-Tag: #1"}));
  EXPECT_EQ(t.body(), "it's");
  EXPECT_EQ(t.url(), "http://h/page#frag");
  EXPECT_EQ(t.method(), "");
  EXPECT_EQ(MustParse("url http://h/a\\'b").url(), "http://h/a'b");
}

TEST(UrlKindTest, EachMistakeIsASentenceThatSaysWhatToWrite) {
  const char* cases[][2] = {
      {"url --heder 'A: b' http://h/", "'url': unknown option '--heder' (did you mean '--header'?)"},
      {"url --data-binary @x http://h/", "'url': unknown option '--data-binary' (did you mean '--data'?)"},
      {"url -v http://h/",
       "'url': unknown option '-v' (the options are -X METHOD, -H 'Name: value', -d DATA, -d @FILE and --expect "
       "CODES)"},
      {"url -X 'P OST' http://h/",
       "'url': -X: the method must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~, RFC 9110), not 'P OST'"},
      {"url -X '' http://h/",
       "'url': -X: the method must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~, RFC 9110), not ''"},
      {"url -X GET -X POST http://h/", "'url': -X is given twice; a request has one method"},
      {"url -H 'Accept text/html' http://h/", "'url': -H: a header is 'Name: value', not 'Accept text/html'"},
      {"url -H 'Content Type: x' http://h/",
       "'url': -H: a header's name must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~, RFC 9110), not "
       "'Content Type' in 'Content Type: x'"},
      {"url -H ': x' http://h/",
       "'url': -H: a header's name must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~, RFC 9110), not '' "
       "in ': x'"},
      {"url -H Accept: text/html http://h/",
       "'url' takes an http:// or https:// URL: 'text/html' (a header with a space in it is quoted: -H 'Name: "
       "value')"},
      {"url -d a -d b http://h/",
       "'url': -d is given twice; a request has one body (curl would join the two with '&')"},
      {"url --expect 99 http://h/", "'url': --expect: a status code must be a whole number from 100 to 599, not '99'"},
      {"url --expect 600 http://h/",
       "'url': --expect: a status code must be a whole number from 100 to 599, not '600'"},
      {"url --expect 200,,204 http://h/",
       "'url': --expect: a status code must be a whole number from 100 to 599, not ''"},
      {"url --expect ok http://h/", "'url': --expect: a status code must be a whole number from 100 to 599, not 'ok'"},
      {"url --expect 200 --expect 204 http://h/",
       "'url': --expect is given twice; list the codes once: --expect 200,204"},
      {"url -X", "'url': -X needs a value: -X POST"},
      {"url http://h/ -H", "'url': -H needs a value: -H 'Name: value'"},
      {"url http://h/ --data", "'url': --data needs a value: -d 'DATA' or -d @FILE"},
      {"url http://h/ --expect", "'url': --expect needs a value: --expect 200,204"},
      {"url", "'url' takes one URL: url [-X METHOD] [-H 'Name: value']... [-d DATA | -d @FILE] [--expect CODES] URL"},
      {"url -X POST # http://h/",
       "'url' takes one URL: url [-X METHOD] [-H 'Name: value']... [-d DATA | -d @FILE] [--expect CODES] URL"},
      {"url http://a/ http://b/", "'url' takes one URL, not two: 'http://a/' and 'http://b/'"},
      {"url ftp://h/", "'url' takes an http:// or https:// URL: 'ftp://h/'"},
      {"url -", "'url' takes an http:// or https:// URL: '-'"},
      {"url http:///x", "'url' takes an http:// or https:// URL with a host: 'http:///x'"},
      {"url 'http://h/a b'",
       "'url' takes an http:// or https:// URL without spaces or control characters (a space is %20): 'http://h/a "
       "b'"},
      {"url http://h/it's",
       "'url': unbalanced ' quote (opened at column 12); the line is read as shell words, so a ' in a URL is "
       "written %27"},
      {"url -d @- http://h/",
       "'url': -d @- (standard input) is not supported: standard input may be the task list itself; name a file: "
       "-d @body.json"},
      {"url -d @ http://h/", "'url': -d @ needs a file name: -d @body.json"},
  };
  for (auto& [line, error] : cases) EXPECT_EQ(ErrorOf(line), error) << line;
}

TEST(UrlKindTest, NoByteThatWouldChangeTheRequestOnTheWayGetsIn) {
  // A header line break would be a second header; a NUL would cut it.
  EXPECT_EQ(ErrorOf("url -H 'A: b\rX-Evil: 1' http://h/"),
            "'url': -H: a header cannot hold a line break or a NUL byte: 'A: b\rX-Evil: 1'");
  EXPECT_EQ(ErrorOf("url -H 'A: b\0c' http://h/"s),
            "'url': -H: a header cannot hold a line break or a NUL byte: 'A: b\0c'"s);
  EXPECT_EQ(ErrorOf("url http://h/a\0b"s),
            "'url' takes an http:// or https:// URL without spaces or control characters (a space is %20): "
            "'http://h/a\0b'"s);
  // A task travels in protobuf strings: UTF-8 only (and the error itself is
  // UTF-8: the bad bytes are shown as U+FFFD).
  EXPECT_EQ(ErrorOf("url http://h/\xff"),
            "'url' takes an http:// or https:// URL in UTF-8 (other bytes are written %XX): 'http://h/\uFFFD'");
  EXPECT_EQ(ErrorOf("url -H 'A: \xe9t\xe9' http://h/"), "'url': -H: a header must be UTF-8 text: 'A: \uFFFDt\uFFFD'");
  EXPECT_EQ(MustParse("url -H 'A: \xc3\xa9t\xc3\xa9' http://h/caf\xc3\xa9").url(), "http://h/caf\xc3\xa9");
  // The line is every record's `task`: what it holds is text; a body of
  // other bytes comes from a file.
  EXPECT_EQ(ErrorOf("url -d '\xff' http://h/"),
            "'url': -d: the data on the line must be UTF-8 text (other bytes are sent from a file: -d @FILE)");
  EXPECT_EQ(ErrorOf("url -d @b\xffn.dat http://h/"),
            "'url': -d @FILE: the file's name must be UTF-8 text: 'b\uFFFDn.dat'");
  // The body's framing is libcurl's: a length of the line's own would leave
  // the rest of the body to be read as the next request on the connection.
  EXPECT_EQ(ErrorOf("url -H 'content-length: 2' -d okGET http://h/"),
            "'url': -H: 'content-length' is set from the body (-d), not by a header: 'content-length: 2'");
  EXPECT_EQ(ErrorOf("url -H 'Transfer-Encoding: chunked' -d x http://h/"),
            "'url': -H: 'Transfer-Encoding' is set from the body (-d), not by a header: "
            "'Transfer-Encoding: chunked'");
  // Checked with the line, not left for the worker to refuse.
  EXPECT_EQ(ErrorOf("url -X HEAD -d x http://h/"), "'url': a HEAD request has no body: drop -d, or use -X POST");
}

TEST_F(BodyFileTest, ABodyFileIsReadWhenTheLineIsCheckedAndSentAsItIs) {
  std::string bytes = "{\"a\": 1}\r\n\0binary\xff\n"s;
  std::string path = Write("body.json", bytes);
  pb::UrlTask t = MustParse("url -X POST -d @" + path + " http://h/api");
  EXPECT_EQ(t.body(), bytes);  // newlines and NUL kept (curl's -d would strip them; --data-binary not)
  EXPECT_EQ(t.body_file(), path);
  EXPECT_EQ(MustParse("url -d@" + path + " http://h/").body(), bytes);
  EXPECT_EQ(MustParse("url --data @" + path + " http://h/").body(), bytes);
  // The task keeps only what the file holds, not the 1 MiB it may be.
  EXPECT_LT(t.body().capacity(), 4096u);
  // An empty file is an empty body.
  pb::UrlTask empty = MustParse("url -d @" + Write("empty", "") + " http://h/");
  EXPECT_TRUE(empty.has_body());
  EXPECT_EQ(empty.body(), "");
}

TEST_F(BodyFileTest, ABodyFileOfOneMebibyteIsTakenAndOneByteMoreIsRefusedWithItsSize) {
  std::string fits = Write("fits.bin", std::string(kMaxBodyFileBytes, 'x'));
  EXPECT_EQ(MustParse("url -d @" + fits + " http://h/").body().size(), kMaxBodyFileBytes);
  std::string big = Write("big.bin", std::string(kMaxBodyFileBytes + 1, 'x'));
  EXPECT_EQ(ErrorOf("url -d @" + big + " http://h/"),
            "'url': the body file '" + big + "' is 1,048,577 bytes; the limit is 1 MiB (1,048,576 bytes)");
}

TEST_F(BodyFileTest, ABodyFileThatCannotBeReadIsAnErrorNamingIt) {
  std::string missing = dir_.File("missing.json");
  EXPECT_EQ(ErrorOf("url -d @" + missing + " http://h/"),
            "'url': the body file '" + missing + "' cannot be opened: No such file or directory");
  EXPECT_EQ(ErrorOf("url -d @" + dir_.path() + " http://h/"),
            "'url': the body file '" + dir_.path() + "' is not a regular file");
  // A FIFO is refused at once: reading it would wait for a writer.
  std::string fifo = dir_.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ErrorOf("url -d @" + fifo + " http://h/"), "'url': the body file '" + fifo + "' is not a regular file");
  if (geteuid() != 0) {  // root reads anything
    std::string secret = Write("secret", "x");
    ASSERT_EQ(chmod(secret.c_str(), 0), 0);
    EXPECT_EQ(ErrorOf("url -d @" + secret + " http://h/"),
              "'url': the body file '" + secret + "' cannot be opened: Permission denied");
  }
}

TEST_F(BodyFileTest, PrintGivesBackALineThatParsesToTheSameTask) {
  std::string path = Write("my body.json", "{}");
  for (std::string line : std::vector<std::string>{
           "url http://h/",
           "url -X POST http://h/",
           "url -H 'A: 1' -H 'B:' -H 'C: it'\\''s' http://h/",
           "url -d 'a=1&b=2' http://h/",
           "url -d '' http://h/",
           "url -d \"it's\" --expect 200,204,404 http://h/x?q=1",
           "url -X \"A'B\" http://h/",
           "url -d @" + ShellQuote(path) + " -X PUT http://h/",
           "url 'http://h/it'\\''s'",
           "url -XPOST -H'X: y' -d@" + ShellQuote(path) + " http://h/",
       }) {
    ParsedLine first = ParseTaskLine(line, {});
    ASSERT_EQ(first.error, "") << line;
    std::string printed = FormatTask(*first.spec);
    ParsedLine again = ParseTaskLine(printed, {});
    ASSERT_EQ(again.error, "") << printed;
    EXPECT_EQ(again.spec->SerializeAsString(), first.spec->SerializeAsString()) << line << " -> " << printed;
    EXPECT_EQ(FormatTask(*again.spec), printed);
  }
  // Canonical: options first, in one order; -d @FILE as the file's name.
  EXPECT_EQ(Printed("url http://h/ --expect 201 -d @" + ShellQuote(path) + " -H 'A: 1' -XPOST"),
            "url -X POST -H 'A: 1' -d " + ShellQuote("@" + path) + " --expect 201 http://h/");
}

TEST(UrlKindTest, TheRunsDefaultsFillWhatTheLineDoesNotSayAndItsHeadersGoFirst) {
  pb::UrlTask run;
  run.set_method("PUT");
  run.add_headers("Authorization: Bearer t0k3n");
  run.add_headers("X-Run: 1");
  run.add_expect(200);
  run.set_save_dir("/data/out");
  run.set_save_name("url");
  run.set_compressed(true);
  ParseOptions options{.url_defaults = &run};

  pb::UrlTask plain = MustParse("url http://h/", options);
  EXPECT_EQ(plain.method(), "PUT");
  EXPECT_EQ(Headers(plain), (std::vector<std::string>{"Authorization: Bearer t0k3n", "X-Run: 1"}));
  EXPECT_EQ(Expect(plain), (std::vector<uint32_t>{200}));
  EXPECT_EQ(plain.save_dir(), "/data/out");
  EXPECT_TRUE(plain.compressed());
  EXPECT_EQ(plain.save_name(), "");  // the task source's to give

  pb::UrlTask own = MustParse("url -X POST -H 'X-Line: 2' --expect 201,202 http://h/", options);
  EXPECT_EQ(own.method(), "POST");
  EXPECT_EQ(Headers(own), (std::vector<std::string>{"Authorization: Bearer t0k3n", "X-Run: 1", "X-Line: 2"}));
  EXPECT_EQ(Expect(own), (std::vector<uint32_t>{201, 202}));

  // The record's `task` is the request as sent: the run's method, headers
  // and expect folded in (--save and --compressed are not line options).
  EXPECT_EQ(Printed("url http://h/", options),
            "url -X PUT -H 'Authorization: Bearer t0k3n' -H 'X-Run: 1' --expect 200 http://h/");
  // Without defaults, nothing changes.
  EXPECT_EQ(Printed("url http://h/", ParseOptions{}), "url http://h/");
}

TEST(HttpSyntaxTest, TokensAreRfc9110Tchars) {
  for (std::string_view ok : {"GET", "M-SEARCH", "x", "!#$%&'*+-.^_`|~09azAZ"}) EXPECT_TRUE(IsHttpToken(ok)) << ok;
  for (std::string_view bad : {"", "A B", "A:B", "A\"", "(x)", "a/b", "\xc3\xa9", "a\tb", "[x]", "a,b", "{}"}) {
    EXPECT_FALSE(IsHttpToken(bad)) << bad;
  }
  EXPECT_EQ(MethodProblem("POST").ToString(), "ok");
  EXPECT_EQ(HeaderProblem("X-A:  spaced  value ").ToString(), "ok");
  EXPECT_EQ(HeaderProblem("X-A:").ToString(), "ok");
  EXPECT_EQ(HeaderProblem("X-A: a:b: c").ToString(), "ok");
}

TEST(HttpSyntaxTest, CaseIsIgnoredForAsciiLettersOnly) {
  EXPECT_TRUE(EqualsIgnoringCase("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(EqualsIgnoringCase("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(EqualsIgnoringCase("caf\xc3\xa9", "CAF\xc3\x89"));  // not Unicode folding
  EXPECT_TRUE(StartsWithIgnoringCase("HTTPS://h/", "https://"));
  EXPECT_FALSE(StartsWithIgnoringCase("http://h/", "https://"));
  EXPECT_FALSE(StartsWithIgnoringCase("http", "https://"));
}

TEST(HttpSyntaxTest, StatusCodesAreACommaListFrom100To599) {
  std::vector<uint32_t> codes{7};
  EXPECT_EQ(ParseStatusCodes("100", &codes).ToString(), "ok");
  EXPECT_EQ(codes, (std::vector<uint32_t>{100}));
  EXPECT_EQ(ParseStatusCodes("599,200,200", &codes).ToString(), "ok");
  EXPECT_EQ(codes, (std::vector<uint32_t>{599, 200, 200}));
  EXPECT_EQ(ParseStatusCodes("200,", &codes).message(), "a status code must be a whole number from 100 to 599, not ''");
  EXPECT_EQ(ParseStatusCodes("-200", &codes).message(),
            "a status code must be a whole number from 100 to 599, not '-200'");
  EXPECT_EQ(ParseStatusCodes(" 200", &codes).message(),
            "a status code must be a whole number from 100 to 599, not ' 200'");
}

}  // namespace
}  // namespace taskfarm
