// Deterministic CPU kernels: the work `cpu` tasks do. Deterministic so every
// result can be checked; cancellable so a timed-out task stops promptly.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace taskfarm {

// Counts the primes p < n by trial division with odd divisors up to sqrt(p):
// deliberately the naive kernel the tutorials time (primes below 125000
// take about 4 ms, below 2,000,000 about 0.4 s). Returns nullopt when
// `cancel` becomes true before it finishes. Thread-safe.
[[nodiscard]] std::optional<uint64_t> CountPrimesBelow(uint64_t n, const std::atomic<bool>* cancel = nullptr);

}  // namespace taskfarm
