// Bytes made fit for a protobuf `string` field, which must hold valid UTF-8
// (a command's output is whatever bytes it wrote: binary, Latin-1, a
// character cut in half by a tail).
//
//   std::string tail = child.stdout_tail();              // the last N raw bytes
//   bool cut = child.stdout_bytes() > tail.size();       // it began mid-stream
//   result.set_stdout_tail(ValidUtf8(cut ? SkipPartialCharacter(tail) : tail));
#pragma once

#include <string>
#include <string_view>

namespace taskfarm {

// Whether `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF).
[[nodiscard]] bool IsValidUtf8(std::string_view bytes);

// `bytes` with every ill-formed part replaced by U+FFFD: a stray byte, a
// sequence cut short, an overlong form, a surrogate, a value past U+10FFFF.
// One U+FFFD per maximal ill-formed subpart, as Unicode recommends (what
// Python's errors="replace" and browsers do): "\xE2\x82" is one U+FFFD,
// "\xFF\xFF" two. Well-formed text comes back unchanged. The result can be
// three times as long as the input (each byte of binary output becomes the
// three bytes of U+FFFD), so size limits apply to the result, not the input.
[[nodiscard]] std::string ValidUtf8(std::string_view bytes);

// `tail`, the last bytes of a longer stream, without the one to three
// continuation bytes that cutting it through a character left at its start,
// so that it starts on a character boundary. Unchanged when it already does,
// or when four or more continuation bytes lead it (that is not a cut
// character but ill-formed text, left to ValidUtf8). Use it only on a tail
// that was cut: at the real start of a stream those bytes are output.
[[nodiscard]] std::string_view SkipPartialCharacter(std::string_view tail);

}  // namespace taskfarm
