// File names for --save-name url: each url task's body is saved under a name
// from its URL's path, made safe for a file system and unique in the run,
// wget's way (page, page.1, page.2, ...). Names are given in input order and
// depend on nothing else, so the same input gives every task the same name
// in every run: a --resume writes where the first run did.
//
//   SaveNames names;
//   names.Next("http://h/a/report.pdf");  // "report.pdf"
//   names.Next("http://h/b/report.pdf");  // "report.pdf.1"
//   names.Next("http://h/");              // "index.html"
//
// Not thread-safe: the task source, one thread, asks it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace taskfarm {

// The most bytes of a name taken from a URL, before a suffix makes it
// unique: room under NAME_MAX (255) for the suffix and the worker's
// temporary name.
inline constexpr size_t kMaxSaveNameBytes = 200;

// The name a URL's path suggests: its last non-empty segment (the query
// and fragment ignored), percent-decoded, then made safe: a '/', a control
// byte, a byte that is not part of UTF-8 text and a leading '.' are written
// %XX (so no name is "..", hidden, or outside the directory), UTF-8 text is
// kept, and it is cut to kMaxSaveNameBytes on a character boundary. A URL
// with no such segment ("http://h/") gives "index.html".
[[nodiscard]] std::string SaveNameOf(std::string_view url);

class SaveNames {
 public:
  // SaveNameOf(url), or when an earlier call gave that name, the first of
  // NAME.1, NAME.2, ... that none did.
  [[nodiscard]] std::string Next(std::string_view url);

 private:
  // Every name given, each with the next suffix to try when it comes again
  // (a few tens of bytes a task).
  std::unordered_map<std::string, uint32_t> given_;
};

}  // namespace taskfarm
