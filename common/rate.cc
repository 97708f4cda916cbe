// Parsing and printing of command-line rates.
#include "common/rate.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/duration.h"

namespace taskfarm {

std::optional<double> ParseRate(std::string_view text) {
  // Each unit's size in seconds: a rate is the number over it.
  std::optional<Quantity> q = ParseQuantity(text, {{"", 1}, {"/s", 1}, {"/min", 60}, {"/m", 60}, {"/h", 3600}});
  if (!q) return std::nullopt;
  return q->value / q->unit_size;
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
