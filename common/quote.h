// Quoting input in messages: a person needs to recognize the bad word or
// URL, not to read ten megabytes of it back, so every message that echoes
// input goes through here.
//
//   return "unknown task kind " + Quote(kind);   // 'fetch'
//   // a 10 MB word: 'aaaa…' (10,000,004 bytes), at most ~200 characters
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace taskfarm {

// How much of an input a message quotes.
inline constexpr size_t kQuoteMaxBytes = 200;

// `text` as it is when it has at most `max_bytes` bytes; otherwise its first
// `max_bytes` (cut back to a UTF-8 character boundary), an ellipsis, and how
// long it was: "aaaa… (10,000,004 bytes)". Never throws.
[[nodiscard]] std::string Excerpt(std::string_view text, size_t max_bytes = kQuoteMaxBytes);

// Excerpt in single quotes, the length outside them: 'abc', or
// 'aaaa…' (10,000,004 bytes).
[[nodiscard]] std::string Quote(std::string_view text, size_t max_bytes = kQuoteMaxBytes);

// 10000004 -> "10,000,004".
[[nodiscard]] std::string WithThousands(uint64_t n);

}  // namespace taskfarm
