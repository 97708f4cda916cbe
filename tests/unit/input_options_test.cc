// InputOptions: the run-wide url options (--method, --header, --expect,
// --save, --save-name, --compressed) checked as a line's own are and handed
// to the task source as its url defaults.
#include "coordinator/input_options.h"

#include <gtest/gtest.h>

#include <string>

#include "common/task_parser.h"

namespace taskfarm {
namespace {

// InputOptions' error for `config` reading a task file ("" when fine).
std::string ErrorOf(CoordinatorConfig config, TaskSourceOptions* src = nullptr) {
  config.tasks_path = "t.txt";
  TaskSourceOptions local;
  bool demo = false;
  return InputOptions(config, src ? src : &local, &demo).message();
}

TEST(InputOptionsTest, TheRunsUrlOptionsBecomeTheUrlDefaults) {
  CoordinatorConfig config;
  config.method = "PUT";
  config.headers = {"Authorization: Bearer t0k3n", "Accept:"};
  config.expect = {200, 204};
  config.save_dir = "/data/out";
  config.save_name = "url";
  config.compressed = true;
  TaskSourceOptions src;
  ASSERT_EQ(ErrorOf(config, &src), "");
  ASSERT_TRUE(src.url_defaults.has_value());
  const pb::UrlTask& d = *src.url_defaults;
  EXPECT_EQ(d.method(), "PUT");
  ASSERT_EQ(d.headers_size(), 2);
  EXPECT_EQ(d.headers(0), "Authorization: Bearer t0k3n");
  EXPECT_EQ(d.headers(1), "Accept:");
  ASSERT_EQ(d.expect_size(), 2);
  EXPECT_EQ(d.expect(1), 204u);
  EXPECT_EQ(d.save_dir(), "/data/out");
  EXPECT_EQ(d.save_name(), "url");
  EXPECT_TRUE(d.compressed());

  // The defaults: nothing set, files named by task id.
  TaskSourceOptions plain;
  ASSERT_EQ(ErrorOf(CoordinatorConfig{}, &plain), "");
  ASSERT_TRUE(plain.url_defaults.has_value());
  EXPECT_EQ(plain.url_defaults->SerializeAsString(), "");
}

TEST(InputOptionsTest, ABadRunWideUrlOptionIsASentenceNamingTheOption) {
  CoordinatorConfig method;
  method.method = "GET /";
  EXPECT_EQ(ErrorOf(method),
            "--method: the method must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~, RFC 9110), not 'GET /'");
  CoordinatorConfig header;
  header.headers = {"A: 1", "Content-Type application/json"};
  EXPECT_EQ(ErrorOf(header), "--header: a header is 'Name: value', not 'Content-Type application/json'");
  header.headers = {"A: 1\nB: 2"};
  EXPECT_EQ(ErrorOf(header), "--header: a header cannot hold a line break or a NUL byte: 'A: 1\nB: 2'");
  CoordinatorConfig expect;
  expect.expect = {200, 99};
  EXPECT_EQ(ErrorOf(expect), "--expect: a status code must be a whole number from 100 to 599, not 99");
  CoordinatorConfig name;
  name.save_name = "url";
  EXPECT_EQ(ErrorOf(name), "--save-name url names the files of --save DIR: give --save too");
  name.save_name = "hash";
  name.save_dir = "out";
  EXPECT_EQ(ErrorOf(name), "--save-name is id or url, not 'hash'");
  CoordinatorConfig dir;
  dir.save_dir = "out\xff";
  EXPECT_EQ(ErrorOf(dir), "--save: the directory's name must be UTF-8 text");
}

// They travel in every url task, next to a line and a body of up to 1 MiB
// each: together they stay within a frame.
TEST(InputOptionsTest, TheRunsHeadersTakeAtMostOneMebibyteTogether) {
  CoordinatorConfig config;
  std::string value(kMaxRunHeaderBytes / 4 - 3, 'v');
  config.headers.assign(4, "A: " + value);
  EXPECT_EQ(ErrorOf(config), "");
  config.headers.push_back("B:");
  EXPECT_EQ(ErrorOf(config),
            "--header: the headers are 1,048,578 bytes together; the limit is 1 MiB (1,048,576 bytes)");
}

}  // namespace
}  // namespace taskfarm
