// libFuzzer target: whatever a worker puts in an Outcome goes through
// CheckOutcome for every kind of task without crashing, and every Result
// is printed by the hand-written JSON writer exactly as protobuf prints it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "coordinator/result_check.h"
#include "coordinator/result_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  taskfarm::pb::Outcome outcome;
  if (!outcome.ParseFromArray(data, static_cast<int>(size))) return 0;
  taskfarm::pb::TaskSpec specs[4];
  specs[0].mutable_url()->set_url("http://127.0.0.1/");
  specs[1].mutable_cpu()->set_kernel("primes");
  specs[2].mutable_sleep()->set_ms(1);
  specs[3].set_noop(true);
  for (const auto& spec : specs) (void)taskfarm::CheckOutcome(spec, outcome);
  taskfarm::pb::Result result = outcome.result();
  for (int pass = 0; pass < 2; ++pass) {
    std::string fast;
    taskfarm::AppendResultJson(result, &fast);
    if (fast != taskfarm::ResultJsonByProtobuf(result)) std::abort();
    taskfarm::ClearCoordinatorFields(&result);
  }
  return 0;
}
