// A shard: one of N coordinators that split one input between them, each
// with its own workers, journal and output (`--shard K/N`), so a run can
// outgrow one coordinator on the engines a user already has (a Slurm job
// array, a Kubernetes Indexed Job). Shard K runs the tasks whose id (their
// position in the input, from 0) is K modulo N: every id has exactly one
// shard whatever the input holds, and the shards' shares differ by at most
// one task, and by kind only as much as the input's order does.
// `coordinator merge` (merge.h) joins their outputs again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace taskfarm {

struct Shard {
  uint32_t index = 0;  // K: 0 to count - 1 (a job array's or Indexed Job's own index)
  uint32_t count = 1;  // N

  // Whether task `id` is this shard's.
  [[nodiscard]] bool Owns(uint64_t id) const { return id % count == index; }
  // How many of an input's `total` tasks (ids 0 to total - 1) are this shard's.
  [[nodiscard]] uint64_t ShareOf(uint64_t total) const { return total > index ? (total - index - 1) / count + 1 : 0; }
  // "K/N", as it is written on the command line.
  [[nodiscard]] std::string Name() const;
};

// Parses "K/N" (0 <= K < N, 1 <= N <= 1000000). InvalidArgument when the
// text is not one: the message says what is wanted.
StatusOr<Shard> ParseShard(std::string_view text);

}  // namespace taskfarm
