// The kinds table: every row is whole, and each kind's example line reads
// back as itself.
#include "common/task_kind.h"

#include <gtest/gtest.h>

#include <set>

#include "common/task_parser.h"

namespace taskfarm {
namespace {

TEST(TaskKindTest, EveryKindHasAUniqueNameAndAWholeRow) {
  std::set<std::string_view> names;
  for (const TaskKind* k : AllKinds()) {
    EXPECT_TRUE(names.insert(k->name).second) << k->name;
    EXPECT_EQ(FindKind(k->name), k);
    EXPECT_FALSE(k->text.usage.empty()) << k->name;
    EXPECT_FALSE(k->text.color.empty()) << k->name;
    EXPECT_TRUE(k->code.parse && k->code.format && k->code.describe && k->code.has_own_fields && k->code.check)
        << k->name;
  }
}

TEST(TaskKindTest, EachExampleLineParsesToItsKindAndFormatsBackUnchanged) {
  for (const TaskKind* k : AllKinds()) {
    ParsedLine p = ParseTaskLine(k->text.example, {.allow_test_kinds = true});
    ASSERT_TRUE(p.error.empty()) << k->text.example << ": " << p.error;
    ASSERT_TRUE(p.spec.has_value()) << k->text.example;
    EXPECT_EQ(&KindOf(*p.spec), k) << "the row's TaskSpec field is not the one its parse sets";
    EXPECT_EQ(FormatTask(*p.spec), k->text.example);
  }
}

TEST(TaskKindTest, ASpecOfNoKnownKindIsTheUnknownKindAndFormatsToNothing) {
  pb::TaskSpec empty;
  EXPECT_EQ(KindOf(empty).name, "unknown");
  EXPECT_EQ(FormatTask(empty), "");
  EXPECT_EQ(FindKind("unknown"), nullptr);
}

TEST(TaskKindTest, TheKindListNamesEveryKindAUserMayWriteButNotTestOnlyOnes) {
  std::string list = KindList();
  for (const TaskKind* k : AllKinds()) {
    EXPECT_EQ(list.find(k->name) != std::string::npos, !k->test_only) << k->name << " in " << list;
  }
  ParsedLine p = ParseTaskLine("frobnicate 3", {});
  EXPECT_EQ(p.error, "unknown task kind 'frobnicate' (expected " + list + ")");
}

TEST(TaskKindTest, ResultFieldsOfOneKindAreClaimedByThatKindOnly) {
  pb::Result url_fields;
  url_fields.set_http_status(200);
  pb::Result cpu_fields;
  cpu_fields.set_result(7);
  EXPECT_TRUE(FindKind("url")->code.has_own_fields(url_fields));
  EXPECT_FALSE(FindKind("url")->code.has_own_fields(cpu_fields));
  EXPECT_TRUE(FindKind("cpu")->code.has_own_fields(cpu_fields));
  EXPECT_FALSE(FindKind("sleep")->code.has_own_fields(url_fields));
}

TEST(TaskKindTest, UrlResultsDigestWireBytesAndSavedFileAreCheckedAndClaimed) {
  const TaskKind& url = *FindKind("url");
  pb::TaskSpec spec;
  spec.mutable_url()->set_url("http://h/");
  pb::Result r;
  r.set_ok(true);
  r.set_bytes(100);
  r.set_wire_bytes(40);
  r.set_sha256(std::string(64, 'a'));
  r.set_saved_as("out/7");
  EXPECT_EQ(url.code.check(spec, r), Status::Ok());
  pb::Result digest_only;
  digest_only.set_sha256("x");
  EXPECT_TRUE(url.code.has_own_fields(digest_only));
  EXPECT_FALSE(FindKind("sleep")->code.has_own_fields(digest_only)) << "a sleep with a digest is not believed";
  for (const std::string& bad : {std::string(63, 'a'), std::string(64, 'A'), std::string(63, 'a') + "g"}) {
    pb::Result b = r;
    b.set_sha256(bad);
    EXPECT_EQ(url.code.check(spec, b), InvalidArgument("sha256 is not 64 lower-case hex digits")) << bad;
  }
  pb::Result swollen = r;
  swollen.set_wire_bytes(10'000);
  EXPECT_EQ(url.code.check(spec, swollen), InvalidArgument("wire_bytes is over twice bytes"));
  swollen.clear_saved_as();
  swollen.set_ok(false);  // cut short: the decoder may hold back what it has
  EXPECT_EQ(url.code.check(spec, swollen), Status::Ok());
  pb::Result unsaved = r;
  unsaved.set_ok(false);
  EXPECT_EQ(url.code.check(spec, unsaved), InvalidArgument("saved_as is set but no file was saved"));
}

TEST(TaskKindTest, HttpUrlWantedTakesHttpAndHttpsWithAHostOnly) {
  for (const char* url : {"http://h", "https://h/p?q#f", "HTTP://H/", "hTtPs://[::1]:8080/"}) {
    EXPECT_EQ(HttpUrlWanted(url), Status::Ok()) << url;
  }
  for (const char* url :
       {"", "h", "ftp://h/", "file:///etc/passwd", "http:/h", "https//h", "http\x1a//h", "httpx://h"}) {
    EXPECT_EQ(HttpUrlWanted(url), InvalidArgument("an http:// or https:// URL")) << url;
  }
  for (const char* url : {"http://", "https:///p", "http://?q", "http://#f"}) {
    EXPECT_EQ(HttpUrlWanted(url), InvalidArgument("an http:// or https:// URL with a host")) << url;
  }
}

}  // namespace
}  // namespace taskfarm
