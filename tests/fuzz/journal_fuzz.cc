// libFuzzer target: --resume reads journal lines written by a run that may
// have been killed mid-write (or a file that is not a journal at all).
#include <cstddef>
#include <cstdint>
#include <string>

#include "coordinator/journal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  uint32_t id = 0;
  bool ok = false;
  (void)taskfarm::ParseJournalRecord(line, &id, &ok);
  return 0;
}
