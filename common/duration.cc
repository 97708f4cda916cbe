// Parsing of command-line durations.
#include "common/duration.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace taskfarm {

std::optional<double> ParseSeconds(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  double scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1;
  else if (unit == "ms")
    scale = 0.001;
  else if (unit == "m" || unit == "min")
    scale = 60;
  else if (unit == "h")
    scale = 3600;
  else
    return std::nullopt;
  return value * scale;
}

std::string DurationToSeconds(std::string& text) {
  std::optional<double> s = ParseSeconds(text);
  if (!s) return "'" + text + "' is not a duration (seconds, or a number with ms, s, m or h: 0.2, 200ms, 5s)";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", *s);
  text = buf;
  return "";
}

}  // namespace taskfarm
