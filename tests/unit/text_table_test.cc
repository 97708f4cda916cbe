#include "coordinator/report/text_table.h"

#include <gtest/gtest.h>

namespace taskfarm {
namespace {

TEST(TextTableTest, PadsColumnsAndRightAlignsNumbers) {
  TextTable t{.title = "by kind", .header = {"kind", "tasks", "verdict"}, .numeric = {false, true, false}};
  t.rows.push_back({"url", "90", "I/O-bound"});
  t.rows.push_back({"cpu", "1000", "CPU-bound"});
  EXPECT_EQ(RenderText(t),
            "by kind\n"
            "kind  tasks  verdict\n"
            "url      90  I/O-bound\n"
            "cpu    1000  CPU-bound\n");
}

TEST(TextTableTest, ShortRowsAndANoteUnderTheTable) {
  TextTable t{.header = {"worker", "tasks"}, .numeric = {false, true}};
  t.rows.push_back({"w1"});
  t.note = "... and 3 more workers";
  EXPECT_EQ(RenderText(t), "worker  tasks\nw1\n... and 3 more workers\n");
}

TEST(TextTableTest, WidthsCountCharactersNotBytes) {
  TextTable t{.header = {"host", "tasks"}, .numeric = {false, true}};
  t.rows.push_back({"h\xc3\xb4te", "1"});  // "hôte": 4 characters, 5 bytes
  t.rows.push_back({"node", "22"});
  EXPECT_EQ(RenderText(t), "host  tasks\nh\xc3\xb4te      1\nnode     22\n");
}

TEST(TextTableTest, ClipCutsToCharactersWithAnEllipsis) {
  EXPECT_EQ(Clip("short", 10), "short");
  EXPECT_EQ(Clip("exactly10!", 10), "exactly10!");
  EXPECT_EQ(Clip("a-very-long-worker-name", 8), "a-very-\xe2\x80\xa6");
  EXPECT_EQ(Clip("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3), "\xc3\xa9\xc3\xa9\xe2\x80\xa6");  // never half an é
  EXPECT_EQ(Clip("abc", 0), "");
  TextTable t{.header = {"worker", "tasks"}, .numeric = {false, true}};
  t.rows.push_back({Clip("a-very-long-worker-name", 8), "5"});
  EXPECT_EQ(RenderText(t), "worker    tasks\na-very-\xe2\x80\xa6      5\n");
}

}  // namespace
}  // namespace taskfarm
