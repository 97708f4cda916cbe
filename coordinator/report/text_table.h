// A table as the terminal and the HTML report both show it: the summary
// builds the cells once, so the page and the terminal say the same numbers
// in the same units.
//
//   TextTable t{.title = "by kind", .header = {"kind", "tasks"}, .numeric = {false, true}};
//   t.rows.push_back({"url", "90"});
//   std::fputs(RenderText(t).c_str(), stdout);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace taskfarm {

// Default member initializers, so designated initializers may leave any
// field out without -Wmissing-field-initializers.
struct TextTable {
  std::string title = "";                // what the table shows; "" for none
  std::vector<std::string> header = {};  // one cell per column
  std::vector<bool> numeric = {};        // per column: right-aligned (missing: false)
  std::vector<std::vector<std::string>> rows = {};
  std::string note = "";  // under the table, e.g. "... and 990 more workers"
};

// Columns padded to their widest cell, two spaces apart, numbers
// right-aligned, the last column never padded. Rows shorter than the header
// are padded with empty cells. Widths count characters (UTF-8 code points),
// not bytes. Ends with a newline.
[[nodiscard]] std::string RenderText(const TextTable& table);

// `text` cut to at most `max_chars` characters, the last of them "…" when
// cut: for cells that must keep a line within 100 columns (a 128-byte
// worker name). Never splits a UTF-8 character.
[[nodiscard]] std::string Clip(std::string_view text, size_t max_chars);

// A table of workers (and the report's timeline) shows every worker up to
// kMaxWorkerRows, else the kBusiestAndIdlest busiest and idlest (and the
// summary a table by host when there are several).
constexpr size_t kMaxWorkerRows = 12;
constexpr size_t kBusiestAndIdlest = 5;

// The terminal is 100 columns: `text` broken at spaces into lines of at
// most `columns` characters (a word longer than a line stays whole), no
// trailing newline.
constexpr size_t kTerminalColumns = 100;
[[nodiscard]] std::string Wrap(const std::string& text, size_t columns = kTerminalColumns);

}  // namespace taskfarm
