// Parsing and printing of command-line durations.
#include "common/duration.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace taskfarm {

std::optional<double> ParseSeconds(std::string_view text, double bare_unit_s) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  double scale = 0;
  if (unit.empty())
    scale = bare_unit_s;
  else if (unit == "s")
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

bool IsBareNumber(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::string FormatDuration(double seconds) {
  if (seconds == 0) return "0";
  auto whole = [&](double unit) { return seconds >= unit && std::fmod(seconds, unit) == 0; };
  double value = seconds;
  const char* unit = "s";
  if (whole(3600)) {
    value = seconds / 3600, unit = "h";
  } else if (whole(60)) {
    value = seconds / 60, unit = "m";
  } else if (seconds < 1) {
    value = seconds * 1000, unit = "ms";
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g%s", value, unit);
  return buf;
}

}  // namespace taskfarm
