// Durations on the command line: one unit for both programs, seconds, with
// an optional suffix for people who think in another (`0.2`, `200ms`, `5s`,
// `2m`, `1h`).
//
//   std::optional<double> s = ParseSeconds("250ms");  // 0.25
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskfarm {

// Seconds in `text`: a non-negative decimal number, optionally followed by
// ms, s, m or h. nullopt if it is not one.
[[nodiscard]] std::optional<double> ParseSeconds(std::string_view text);

// For CLI11's ->transform(): turns a duration into its seconds, or returns
// a sentence saying what is wrong (CLI11 reports it with the option name).
[[nodiscard]] std::string DurationToSeconds(std::string& text);

}  // namespace taskfarm
