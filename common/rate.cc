// Parsing and printing of command-line rates.
#include "common/rate.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace taskfarm {

std::optional<double> ParseRate(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || !std::isfinite(value) || value < 0) return std::nullopt;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  double per = 0;  // seconds in the unit
  if (unit.empty() || unit == "/s")
    per = 1;
  else if (unit == "/min" || unit == "/m")
    per = 60;
  else if (unit == "/h")
    per = 3600;
  else
    return std::nullopt;
  return value / per;
}

std::string FormatRate(double per_s, int digits) {
  double value = per_s;
  const char* unit = "/s";
  // A rate below one a second reads better in a longer unit (0.5/s is
  // 30/min), down to per hour.
  if (per_s > 0 && per_s < 1) {
    value = per_s * 60, unit = "/min";
    if (value < 1) value = per_s * 3600, unit = "/h";
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g%s", digits, value, unit);
  return buf;
}

}  // namespace taskfarm
