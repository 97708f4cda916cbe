// Durations on the command line: one unit for both programs, seconds, with
// an optional suffix for people who think in another (`0.2`, `200ms`, `5s`,
// `2m`, `1h`).
//
//   std::optional<double> s = ParseSeconds("250ms");   // 0.25
//   std::optional<double> d = ParseSeconds("100", 1e-3);  // 0.1: a bare number counts ms here
//   FormatDuration(0.25) == "250ms"
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace taskfarm {

// Seconds in `text`: a non-negative decimal number, optionally followed by
// ms, s, m (or min) or h. A bare number counts `bare_unit_s` seconds each
// (1: seconds, 1e-3: milliseconds). nullopt if it is not one.
[[nodiscard]] std::optional<double> ParseSeconds(std::string_view text, double bare_unit_s = 1);

// A number with a unit after it, for ParseSeconds and ParseRate: `text`
// as a non-negative decimal number and the first of `units` whose name is
// exactly what follows it ("" for none), with that unit's size in the
// caller's base unit. nullopt if the number or the unit is not one.
struct Unit {
  std::string_view name;
  double size;
};
struct Quantity {
  double value;
  double unit_size;
};
[[nodiscard]] std::optional<Quantity> ParseQuantity(std::string_view text, std::initializer_list<Unit> units);

// True if `text` is a number without a unit ("5000", "1.5").
[[nodiscard]] bool IsBareNumber(std::string_view text);

// `seconds` as a person writes it, in the largest unit it is a whole number
// of, and that ParseSeconds reads back: "0", "250ms", "5s", "1.5s", "2m", "1h".
[[nodiscard]] std::string FormatDuration(double seconds);

}  // namespace taskfarm
