#include "coordinator/shard.h"

#include <charconv>
#include <optional>

namespace taskfarm {

namespace {

constexpr uint32_t kMaxShards = 1000000;

std::optional<uint32_t> Number(std::string_view text) {
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

}  // namespace

std::string Shard::Name() const { return std::to_string(index) + "/" + std::to_string(count); }

StatusOr<Shard> ParseShard(std::string_view text) {
  size_t slash = text.find('/');
  std::optional<uint32_t> k = Number(text.substr(0, slash));
  std::optional<uint32_t> n = slash == std::string_view::npos ? std::nullopt : Number(text.substr(slash + 1));
  if (!k || !n || *n == 0 || *n > kMaxShards) {
    return InvalidArgument("'" + std::string(text) +
                           "' is not a shard: write K/N, this shard's number K (from 0) of N shards, " +
                           "e.g. 0/4 ($SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)");
  }
  if (*k >= *n) {
    // Job arrays and Indexed Jobs count from 0: 4/4 is the likely slip.
    return InvalidArgument("'" + std::string(text) + "': shards are numbered from 0, so K is 0 to " +
                           std::to_string(*n - 1) + " of " + std::to_string(*n));
  }
  return Shard{*k, *n};
}

}  // namespace taskfarm
