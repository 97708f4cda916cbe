#include "coordinator/text_table.h"

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

}  // namespace
}  // namespace taskfarm
