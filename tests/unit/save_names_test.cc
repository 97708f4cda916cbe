// --save-name url: a file name from each URL's path, safe on a file system,
// unique in the run in wget's way, and the same for the same input.
#include "coordinator/save_names.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace taskfarm {
namespace {

std::vector<std::string> Names(const std::vector<std::string>& urls) {
  SaveNames names;
  std::vector<std::string> out;
  for (const std::string& url : urls) out.push_back(names.Next(url));
  return out;
}

TEST(SaveNamesTest, ANameIsTheLastNonEmptySegmentOfThePathWithoutQueryOrFragment) {
  EXPECT_EQ(SaveNameOf("http://h/a/report.pdf"), "report.pdf");
  EXPECT_EQ(SaveNameOf("http://h/docs/"), "docs");
  EXPECT_EQ(SaveNameOf("http://h/a//b//"), "b");
  EXPECT_EQ(SaveNameOf("http://h/x?y=1"), "x");
  EXPECT_EQ(SaveNameOf("http://h/x?y=/z"), "x");
  EXPECT_EQ(SaveNameOf("http://h/x#y/z"), "x");
  EXPECT_EQ(SaveNameOf("https://user@h:8443/p/page.html"), "page.html");
}

TEST(SaveNamesTest, AUrlWithNoSegmentIsIndexHtml) {
  for (const char* url : {"http://h/", "http://h", "http://h?q=/a", "http://h#/a", "http://h//", "HTTPS://h:80/"}) {
    EXPECT_EQ(SaveNameOf(url), "index.html") << url;
  }
}

TEST(SaveNamesTest, PercentEscapesAreDecodedAndWhatAFileNameMustNotHoldIsWrittenBack) {
  EXPECT_EQ(SaveNameOf("http://h/my%20file.txt"), "my file.txt");
  EXPECT_EQ(SaveNameOf("http://h/caf%C3%A9"), "caf\xc3\xa9");  // UTF-8 kept
  EXPECT_EQ(SaveNameOf("http://h/caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(SaveNameOf("http://h/a%2Fb"), "a%2Fb");  // never a directory
  EXPECT_EQ(SaveNameOf("http://h/a%00b%0Ac%7F"), "a%00b%0Ac%7F");
  EXPECT_EQ(SaveNameOf("http://h/%FFx%C3"), "%FFx%C3");  // not UTF-8: escaped, so names are text
  // No name is `.`, `..` or hidden.
  EXPECT_EQ(SaveNameOf("http://h/%2e%2e"), "%2E.");
  EXPECT_EQ(SaveNameOf("http://h/a/.."), "%2E.");
  EXPECT_EQ(SaveNameOf("http://h/.bashrc"), "%2Ebashrc");
  EXPECT_EQ(SaveNameOf("http://h/a.b."), "a.b.");
  // A % that starts no escape stays.
  EXPECT_EQ(SaveNameOf("http://h/100%"), "100%");
  EXPECT_EQ(SaveNameOf("http://h/%zz%4"), "%zz%4");
}

TEST(SaveNamesTest, ALongNameIsCutTo200BytesOnACharacterBoundary) {
  EXPECT_EQ(SaveNameOf("http://h/" + std::string(300, 'a')), std::string(kMaxSaveNameBytes, 'a'));
  // 199 bytes, then a two-byte character that does not fit: cut before it.
  std::string name = SaveNameOf("http://h/" + std::string(199, 'a') + "\xc3\xa9z");
  EXPECT_EQ(name, std::string(199, 'a'));
  // Nor is an escape cut in half.
  EXPECT_EQ(SaveNameOf("http://h/" + std::string(198, 'a') + "%0A"), std::string(198, 'a'));
}

TEST(SaveNamesTest, ANameAlreadyGivenGetsTheFirstFreeSuffixInInputOrder) {
  EXPECT_EQ(Names({"http://a/1", "http://b/1", "http://c/1.1", "http://d/1", "http://e/1"}),
            (std::vector<std::string>{"1", "1.1", "1.1.1", "1.2", "1.3"}));
  EXPECT_EQ(Names({"http://a/1", "http://c/1.1", "http://b/1"}), (std::vector<std::string>{"1", "1.1", "1.2"}));
  EXPECT_EQ(Names({"http://h/", "http://h/?page=2", "http://g", "http://h/%2e%2e", "http://h/a/.."}),
            (std::vector<std::string>{"index.html", "index.html.1", "index.html.2", "%2E.", "%2E..1"}));
  EXPECT_EQ(Names({"http://h/x?y=1", "http://h/x?y=2", "http://h/x"}), (std::vector<std::string>{"x", "x.1", "x.2"}));
}

TEST(SaveNamesTest, TheSameInputGivesTheSameNamesAndNoNameTwice) {
  std::vector<std::string> urls;
  for (int i = 0; i < 3000; ++i) {
    // Few distinct segments, some of which look like suffixed names.
    urls.push_back("http://h" + std::to_string(i % 7) + "/" + std::to_string(i % 5) +
                   (i % 3 == 0 ? "" : "." + std::to_string(i % 4)));
  }
  std::vector<std::string> first = Names(urls);
  EXPECT_EQ(Names(urls), first);  // a --resume names every task the same way
  EXPECT_EQ(std::set<std::string>(first.begin(), first.end()).size(), urls.size());
}

}  // namespace
}  // namespace taskfarm
