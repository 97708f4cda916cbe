// Rates on the command line (--rate): tasks per unit of time, written as a
// person says it (`200/s`, `12000/min`, `3/h`, `0.5/s`; a bare number is
// per second), kept in one unit, per second.
//
//   std::optional<double> r = ParseRate("12000/min");  // 200
//   FormatRate(200) == "200/s";  FormatRate(0.05) == "3/min"
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskfarm {

// Per second in `text`: a non-negative decimal number, optionally followed
// by /s, /min (or /m) or /h. nullopt if it is not one. 0 parses: whether
// it means anything is the option's to say.
[[nodiscard]] std::optional<double> ParseRate(std::string_view text);

// `per_s` in the unit that keeps the number at 1 or more (per second, else
// per minute, else per hour), with at most `digits` significant digits, in
// a form ParseRate reads back: "200/s", "0.5/s" is "30/min", "3/h".
[[nodiscard]] std::string FormatRate(double per_s, int digits = 6);

}  // namespace taskfarm
