// UTF-8 validation and repair, following the Unicode Standard's table 3-7 of
// well-formed byte sequences and its "maximal subpart" replacement practice.
#include "common/utf8.h"

namespace taskfarm {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The length of the well-formed sequence starting at bytes[i], or 0 if none
// starts there; *subpart is then the length of the maximal ill-formed
// subpart to replace (at least 1). Table 3-7 narrows the second byte's range
// after E0 (no overlongs), ED (no surrogates), F0 (no overlongs) and F4
// (nothing past U+10FFFF); every other continuation byte is 80..BF.
size_t SequenceAt(std::string_view bytes, size_t i, size_t* subpart) {
  auto c = static_cast<unsigned char>(bytes[i]);
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *subpart = 1;  // 80..C1 (a stray continuation, an overlong lead), F5..FF
    return 0;
  }
  size_t j = i + 1;
  if (j < bytes.size() && static_cast<unsigned char>(bytes[j]) >= lo && static_cast<unsigned char>(bytes[j]) <= hi) {
    ++j;
    while (j - i < len && j < bytes.size() && IsContinuation(static_cast<unsigned char>(bytes[j]))) ++j;
  }
  if (j - i == len) return len;
  *subpart = j - i;
  return 0;
}

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0, subpart = 0;
  while (i < bytes.size()) {
    size_t len = SequenceAt(bytes, i, &subpart);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string ValidUtf8(std::string_view bytes) {
  if (IsValidUtf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  size_t i = 0, subpart = 0;
  while (i < bytes.size()) {
    size_t len = SequenceAt(bytes, i, &subpart);
    if (len > 0) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      out.append(kReplacement);
      i += subpart;
    }
  }
  return out;
}

std::string_view SkipPartialCharacter(std::string_view tail) {
  size_t n = 0;
  while (n < tail.size() && n < 4 && IsContinuation(static_cast<unsigned char>(tail[n]))) ++n;
  return n <= 3 ? tail.substr(n) : tail;
}

}  // namespace taskfarm
