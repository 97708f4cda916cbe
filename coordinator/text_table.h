// A table as the terminal and the HTML report both show it: the summary
// builds the cells once, so the page and the terminal say the same numbers
// in the same units.
//
//   TextTable t{.title = "by kind", .header = {"kind", "tasks"}, .numeric = {false, true}};
//   t.rows.push_back({"url", "90"});
//   std::fputs(RenderText(t).c_str(), stdout);
#pragma once

#include <string>
#include <vector>

namespace taskfarm {

struct TextTable {
  std::string title;                // what the table shows; "" for none
  std::vector<std::string> header;  // one cell per column
  std::vector<bool> numeric;        // per column: right-aligned (missing: false)
  std::vector<std::vector<std::string>> rows;
  std::string note;  // under the table, e.g. "... and 990 more workers"
};

// Columns padded to their widest cell, two spaces apart, numbers
// right-aligned, the last column never padded. Rows shorter than the header
// are padded with empty cells. Ends with a newline.
[[nodiscard]] std::string RenderText(const TextTable& table);

}  // namespace taskfarm
