// What HTTP (RFC 9110) allows in the parts of a request a user writes: a
// method, a header line, an expected status. Checked the same way in a url
// task line (-X, -H, --expect) and in the coordinator's run-wide --method,
// --header and --expect, with sentences a person can act on.
//
//   if (Status s = MethodProblem("P OST"); !s.ok()) return "-X: " + s.message();
//   if (Status s = HeaderProblem("Accept text/html"); !s.ok()) ...
//   std::vector<uint32_t> codes;
//   if (Status s = ParseStatusCodes("200,204", &codes); !s.ok()) ...
//
// Pure functions; they never throw.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace taskfarm {

// Whether `word` is a non-empty RFC 9110 token: letters, digits and
// !#$%&'*+-.^_`|~ (what a method and a header name are made of).
[[nodiscard]] bool IsHttpToken(std::string_view word);

// OK when `method` is a token; else InvalidArgument("the method must be an HTTP token
// (letters, digits and !#$%&'*+-.^_`|~, RFC 9110), not 'P OST'". Case is
// kept: methods are case-sensitive, and sent as written.
Status MethodProblem(std::string_view method);

// OK when `header` is `Name: value` (curl's -H): a token name, a colon, any
// value (empty too: `Accept:` tells libcurl not to send its own), no CR, LF
// or NUL anywhere, so one header can never become two, and UTF-8 text. Else
// InvalidArgument with the sentence that says which of these it misses.
Status HeaderProblem(std::string_view header);

// Whether `text` begins with `prefix`, ASCII letters of either case alike
// (schemes and header names are case-insensitive).
[[nodiscard]] bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix);
// Whether the two are the same, ASCII letters of either case alike.
[[nodiscard]] bool EqualsIgnoringCase(std::string_view a, std::string_view b);

// Reads CODE[,CODE...], each from 100 to 599, into `codes` (replacing what
// it held). OK, or InvalidArgument with a sentence naming the bad code.
Status ParseStatusCodes(std::string_view text, std::vector<uint32_t>* codes);

}  // namespace taskfarm
