// Parsing and printing of command-line durations.
#include "common/duration.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace taskfarm {

std::optional<Quantity> ParseQuantity(std::string_view text, std::initializer_list<Unit> units) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
  std::string_view rest(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  for (const Unit& unit : units) {
    if (unit.name == rest) return Quantity{value, unit.size};
  }
  return std::nullopt;
}

std::optional<double> ParseSeconds(std::string_view text, double bare_unit_s) {
  std::optional<Quantity> q =
      ParseQuantity(text, {{"", bare_unit_s}, {"s", 1}, {"ms", 0.001}, {"m", 60}, {"min", 60}, {"h", 3600}});
  if (!q) return std::nullopt;
  return q->value * q->unit_size;
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
