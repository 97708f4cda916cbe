// `cpu primes N`: a CPU kernel on a thread of the worker's CPU pool (the
// tutorials' CPU-bound workload: count the primes below N).
#include "common/quote.h"
#include "common/task_kind.h"

namespace taskfarm {
namespace {

Status Parse(std::string_view args, const ParseOptions&, pb::TaskSpec* spec) {
  Words words = SplitWords(args);
  if (words.size != 2) return InvalidArgument("'cpu' takes a kernel and a number: cpu primes N");
  if (words[0] != "primes") return InvalidArgument("unknown cpu kernel " + Quote(words[0]) + " (known: primes)");
  // Primes below 2^32 keep the answer in 32 bits and any run finite.
  StatusOr<uint64_t> n = ParseNumber(words[1], 0, 4'000'000'000ULL, "'cpu primes N': N");
  if (!n.ok()) return std::move(n).status();
  spec->mutable_cpu()->set_kernel("primes");
  spec->mutable_cpu()->set_n(*n);
  return Status::Ok();
}

std::string Print(const pb::TaskSpec& spec) {
  return "cpu " + spec.cpu().kernel() + " " + std::to_string(spec.cpu().n());
}

std::string Describe(const pb::Result& r, const std::string& who) {
  if (r.task().rfind("cpu primes ", 0) != 0) return DescribeDone(r, who);
  return "primes below " + r.task().substr(11) + ": " + std::to_string(r.result()) + " (" + who + ")";
}

bool HasOwnFields(const pb::Result& r) { return r.has_result(); }

Status Check(const pb::TaskSpec&, const pb::Result& r) {
  if (r.ok() && !r.has_result()) return InvalidArgument("a cpu task reported ok without its result");
  return Status::Ok();
}

}  // namespace

extern const TaskKind kCpuKind{
    .name = "cpu",
    .resource = Resource::kCpu,
    .text = {"cpu primes N", "cpu primes 125000", "count the primes below N (deterministic CPU work)", "#f59e0b"},
    .code = {Parse, Print, Describe, HasOwnFields, Check},
};

}  // namespace taskfarm
