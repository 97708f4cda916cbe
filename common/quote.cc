// Bounded quoting of input in messages.
#include "common/quote.h"

namespace taskfarm {
namespace {

// The cut, moved back off UTF-8 continuation bytes so a multi-byte
// character is never split into invalid text.
size_t CutPoint(std::string_view text, size_t max_bytes) {
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

std::string Length(size_t bytes) { return " (" + WithThousands(bytes) + " bytes)"; }

}  // namespace

std::string WithThousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Excerpt(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return std::string(text.substr(0, CutPoint(text, max_bytes))) + "…" + Length(text.size());
}

std::string Quote(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, CutPoint(text, max_bytes))) + "…'" + Length(text.size());
}

}  // namespace taskfarm
