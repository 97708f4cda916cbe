// A name from a URL, the way wget's --restrict-file-names=unix makes one:
// decode what the URL encoded, then write back as %XX only what a file name
// must not hold.
#include "coordinator/save_names.h"

#include "common/utf8.h"

namespace taskfarm {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The path's last non-empty segment, still percent-encoded.
std::string_view LastSegment(std::string_view url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t path = url.find_first_of("/?#", start);
  if (path == std::string_view::npos || url[path] != '/') return "";
  std::string_view rest = url.substr(path);
  rest = rest.substr(0, rest.find_first_of("?#"));
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return rest.substr(rest.rfind('/') + 1);
}

std::string PercentDecoded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int hi = 0, lo = 0;
    if (text[i] == '%' && i + 2 < text.size() && (hi = HexValue(text[i + 1])) >= 0 &&
        (lo = HexValue(text[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The length of the UTF-8 character that starts `text`, or 0 when none
// does (a stray byte, a sequence cut short or ill-formed).
size_t CharacterAt(std::string_view text) {
  auto c = static_cast<unsigned char>(text[0]);
  size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || len > text.size() || !IsValidUtf8(text.substr(0, len))) return 0;
  return len;
}

std::string Escaped(unsigned char c) {
  constexpr char kHex[] = "0123456789ABCDEF";
  return {'%', kHex[c >> 4], kHex[c & 15]};
}

}  // namespace

std::string SaveNameOf(std::string_view url) {
  std::string decoded = PercentDecoded(LastSegment(url));
  std::string name;
  for (size_t i = 0; i < decoded.size();) {
    std::string_view rest = std::string_view(decoded).substr(i);
    size_t len = CharacterAt(rest);
    auto c = static_cast<unsigned char>(rest[0]);
    bool unsafe = len == 0 || c == '/' || c < 0x20 || c == 0x7F || (c == '.' && i == 0);
    std::string piece = unsafe ? Escaped(c) : std::string(rest.substr(0, len));
    if (name.size() + piece.size() > kMaxSaveNameBytes) break;
    name += piece;
    i += unsafe ? 1 : len;
  }
  return name.empty() ? "index.html" : name;
}

std::string SaveNames::Next(std::string_view url) {
  std::string name = SaveNameOf(url);
  auto [it, fresh] = given_.try_emplace(name, 1);
  if (fresh) return name;
  // A reference, not the iterator: adding names may rehash, which moves no
  // element but invalidates iterators.
  uint32_t& suffix = it->second;
  for (;;) {
    std::string candidate = name + "." + std::to_string(suffix++);
    if (given_.try_emplace(candidate, 1).second) return candidate;
  }
}

}  // namespace taskfarm
