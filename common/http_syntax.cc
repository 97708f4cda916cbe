// RFC 9110 section 5.6.2 (tokens) and 5.5 (field values), as far as a user's
// request needs them.
#include "common/http_syntax.h"

#include <algorithm>

#include "common/quote.h"
#include "common/task_kind.h"
#include "common/utf8.h"

namespace taskfarm {
namespace {

constexpr std::string_view kTokenChars = "letters, digits and !#$%&'*+-.^_`|~, RFC 9110";

bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

bool IsHttpToken(std::string_view word) {
  if (word.empty()) return false;
  for (char c : word) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

Status MethodProblem(std::string_view method) {
  if (IsHttpToken(method)) return Status::Ok();
  return InvalidArgument("the method must be an HTTP token (" + std::string(kTokenChars) + "), not " + Quote(method));
}

Status HeaderProblem(std::string_view header) {
  if (header.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return InvalidArgument("a header cannot hold a line break or a NUL byte: " + Quote(header));
  }
  // It travels in a protobuf string, which must be UTF-8 (RFC 9110 wants
  // US-ASCII anyway).
  if (!IsValidUtf8(header)) return InvalidArgument("a header must be UTF-8 text: " + Quote(header));
  size_t colon = header.find(':');
  if (colon == std::string_view::npos) return InvalidArgument("a header is 'Name: value', not " + Quote(header));
  std::string_view name = header.substr(0, colon);
  if (!IsHttpToken(name)) {
    return InvalidArgument("a header's name must be an HTTP token (" + std::string(kTokenChars) + "), not " +
                           Quote(name) + " in " + Quote(header));
  }
  // The body's framing is libcurl's to say, from -d: a length that differs
  // from the bytes sent would leave the rest to be read, on a reused
  // connection, as the next task's request.
  for (std::string_view framing : {"Content-Length", "Transfer-Encoding"}) {
    if (EqualsIgnoringCase(name, framing)) {
      return InvalidArgument(Quote(name) + " is set from the body (-d), not by a header: " + Quote(header));
    }
  }
  return Status::Ok();
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && EqualsIgnoringCase(text.substr(0, prefix.size()), prefix);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

Status ParseStatusCodes(std::string_view text, std::vector<uint32_t>* codes) {
  codes->clear();
  for (;;) {
    size_t comma = text.find(',');
    StatusOr<uint64_t> code = ParseNumber(text.substr(0, comma), 100, 599, "a status code");
    if (!code.ok()) return std::move(code).status();
    codes->push_back(static_cast<uint32_t>(*code));
    if (comma == std::string_view::npos) return Status::Ok();
    text.remove_prefix(comma + 1);
  }
}

}  // namespace taskfarm
