// Plain-text rendering of a TextTable; see text_table.h.
#include "coordinator/report/text_table.h"

#include <algorithm>
#include <sstream>

namespace taskfarm {
namespace {

bool Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Characters as a terminal counts them, near enough: UTF-8 code points.
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return !Continuation(c); }));
}

}  // namespace

std::string Clip(std::string_view text, size_t max_chars) {
  if (Width(text) <= max_chars) return std::string(text);
  if (max_chars == 0) return "";
  // Keep max_chars - 1 characters, then the ellipsis.
  size_t kept = 0, i = 0;
  for (; i < text.size(); ++i) {
    if (!Continuation(text[i]) && kept++ == max_chars - 1) break;
  }
  return std::string(text.substr(0, i)) + "…";
}

std::string RenderText(const TextTable& t) {
  size_t columns = t.header.size();
  for (const auto& row : t.rows) columns = std::max(columns, row.size());
  std::vector<size_t> width(columns, 0);
  auto cell = [](const std::vector<std::string>& row, size_t i) -> const std::string& {
    static const std::string empty;
    return i < row.size() ? row[i] : empty;
  };
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < columns; ++i) width[i] = std::max(width[i], Width(cell(row, i)));
  };
  measure(t.header);
  for (const auto& row : t.rows) measure(row);

  std::string out;
  if (!t.title.empty()) out += t.title + "\n";
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (size_t i = 0; i < columns; ++i) {
      const std::string& c = cell(row, i);
      bool right = i < t.numeric.size() && t.numeric[i];
      bool last = i + 1 == columns;
      size_t pad = width[i] - Width(c);
      if (i > 0) text += "  ";
      if (right) text.append(pad, ' ');
      text += c;
      if (!right && !last) text.append(pad, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  if (!t.header.empty()) line(t.header);
  for (const auto& row : t.rows) line(row);
  if (!t.note.empty()) out += t.note + "\n";
  return out;
}

std::string Wrap(const std::string& text, size_t columns) {
  std::string out, line;
  std::istringstream words(text);
  std::string word;
  while (words >> word) {
    if (!line.empty() && Width(line) + 1 + Width(word) > columns) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line;
}

}  // namespace taskfarm
